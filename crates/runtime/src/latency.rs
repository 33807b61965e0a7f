//! Latency of an ONNX model: mean milliseconds per sample of `session.run` alone (the input
//! is prepared beforehand), at batch 1 and batch 256, after warm-up. `eval` and the sweep
//! report measure every model this way.

use std::time::Instant;

use distill_data::{Dataset, Preprocess};

use crate::{InferencePlan, OnnxModel, RuntimeError};

/// Milliseconds per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// At batch 1 (at the model's own batch size when it is fixed to another).
    pub batch1_ms: f64,
    /// At batch 256; none for a model with a fixed batch size.
    pub batch256_ms: Option<f64>,
}

/// Prepared inputs for measuring one model: real samples, preprocessed as it expects.
pub struct LatencyProbe {
    small_batch: usize,
    small: Vec<f32>,
    large: Option<Vec<f32>>,
}

/// The batch of the large measurement.
pub const LARGE_BATCH: usize = 256;

impl LatencyProbe {
    /// Inputs for timing a model of `plan`: real samples of `data`, preprocessed, at batch 1
    /// (the model's own batch when fixed) and at batch 256.
    pub fn new(
        plan: &InferencePlan,
        data: &Dataset,
        preprocess: &Preprocess,
    ) -> Result<Self, RuntimeError> {
        let positions = |n: usize| -> Vec<usize> { (0..n).map(|i| i % data.len()).collect() };
        let small_batch = plan.fixed_batch.unwrap_or(1);
        let large = match plan.fixed_batch {
            None => Some(data.batch(preprocess, &positions(LARGE_BATCH))?),
            Some(_) => None,
        };
        Ok(LatencyProbe {
            small_batch,
            small: data.batch(preprocess, &positions(small_batch))?,
            large,
        })
    }

    /// Mean ms per sample over `runs` timed runs of `batch` samples, after a warm-up of a
    /// tenth as many (at least 3).
    fn time(
        model: &mut OnnxModel,
        plan: &InferencePlan,
        values: &[f32],
        batch: usize,
        runs: usize,
    ) -> Result<f64, RuntimeError> {
        for _ in 0..runs.div_ceil(10).max(3) {
            plan.run(model, values, batch)?;
        }
        let started = Instant::now();
        for _ in 0..runs {
            plan.run(model, values, batch)?;
        }
        Ok(started.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64)
    }

    /// One measurement: `small_runs` runs at batch 1 and `large_runs` at batch 256.
    pub fn measure(
        &self,
        model: &mut OnnxModel,
        plan: &InferencePlan,
        small_runs: usize,
        large_runs: usize,
    ) -> Result<Latency, RuntimeError> {
        let batch1_ms = Self::time(
            model,
            plan,
            &self.small,
            self.small_batch,
            small_runs.max(1),
        )?;
        let batch256_ms = match &self.large {
            Some(v) => Some(Self::time(model, plan, v, LARGE_BATCH, large_runs.max(1))?),
            None => None,
        };
        Ok(Latency {
            batch1_ms,
            batch256_ms,
        })
    }
}
