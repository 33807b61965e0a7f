//! Comparing models' latency fairly: every model is timed in this one process, in
//! interleaved rounds (so a slow moment of the machine hits all of them alike), and the
//! median of the rounds is reported.

use std::path::{Path, PathBuf};

use distill_data::{Dataset, ModelMeasure, PreprocessOverrides};

use crate::{LatencyProbe, PreparedModel, RuntimeError, initializer_elements};

/// Interleaved timing rounds per model; the median is reported.
pub const ROUNDS: usize = 5;
/// Timed runs per round at batch 1.
const RUNS_SMALL: usize = 100;
/// Timed runs per round at batch 256.
const RUNS_LARGE: usize = 3;

/// One model being timed.
struct Timed {
    prepared: PreparedModel,
    probe: LatencyProbe,
    params: u64,
    bytes: u64,
    small: Vec<f64>,
    large: Vec<f64>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Timed {
    fn open(path: &Path, data: &Dataset) -> Result<Timed, RuntimeError> {
        let prepared =
            PreparedModel::open(path, Some(1), data, &PreprocessOverrides::default(), None)?;
        let probe = prepared.latency_probe(data)?;
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Timed {
            prepared,
            probe,
            params: initializer_elements(&bytes).unwrap_or(0),
            bytes: bytes.len() as u64,
            small: Vec::new(),
            large: Vec::new(),
        })
    }

    fn round(&mut self) -> Result<(), RuntimeError> {
        let p = &mut self.prepared;
        let l = self
            .probe
            .measure(&mut p.model, &p.plan, RUNS_SMALL, RUNS_LARGE)?;
        self.small.push(l.batch1_ms);
        if let Some(v) = l.batch256_ms {
            self.large.push(v);
        }
        Ok(())
    }

    fn measure(mut self) -> ModelMeasure {
        ModelMeasure {
            params: self.params,
            onnx_bytes: self.bytes,
            latency_ms_batch1: median(&mut self.small),
            latency_ms_batch256: (!self.large.is_empty()).then(|| median(&mut self.large)),
        }
    }
}

/// Size and latency of every model of `paths` on ONNX Runtime with one intra-op thread,
/// fed samples of `data` preprocessed as each model asks, over `rounds` interleaved rounds.
pub fn compare_models(
    paths: &[PathBuf],
    data: &Dataset,
    rounds: usize,
) -> Result<Vec<ModelMeasure>, RuntimeError> {
    let mut timed = paths
        .iter()
        .map(|p| Timed::open(p, data))
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..rounds.max(1) {
        for t in &mut timed {
            t.round()?;
        }
    }
    Ok(timed.into_iter().map(Timed::measure).collect())
}
