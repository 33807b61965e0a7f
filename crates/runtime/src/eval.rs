//! `eval`: top-1 accuracy, latency per sample at batch 1 and 256, parameter count and file
//! size of any ONNX classifier on a dataset.

use std::path::{Path, PathBuf};

use distill_data::{ComputeDevice, Dataset, PreprocessOverrides, accuracy};
use serde::Serialize;

use crate::{OnnxModel, PreparedModel, RuntimeError, initializer_elements};

/// How to evaluate a model.
#[derive(Debug, Clone, Default)]
pub struct EvalSettings {
    /// Preprocessing over the model's own.
    pub preprocess: PreprocessOverrides,
    /// The output holding the logits [default: the first float output shaped
    /// `[batch, classes]`].
    pub output: Option<String>,
    /// Intra-op threads [default: one per physical core].
    pub threads: Option<usize>,
    /// Where the model runs (the CPU, or a CUDA GPU through ONNX Runtime's CUDA provider).
    pub device: ComputeDevice,
    /// Timed runs per latency measurement (after warm-up).
    pub latency_runs: usize,
}

/// What `eval` measures.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The model file.
    pub model: PathBuf,
    /// `KIND:PATH` of the data.
    pub dataset: String,
    /// The split evaluated.
    pub split: String,
    /// Samples evaluated.
    pub samples: usize,
    /// Top-1 accuracy against the labels.
    pub accuracy: f64,
    /// Mean milliseconds per sample at batch 1.
    pub latency_ms_batch1: f64,
    /// Mean milliseconds per sample at batch 256 (null for a fixed-batch model).
    pub latency_ms_batch256: Option<f64>,
    /// Elements of the graph's initializers (weights, biases, batch-norm statistics).
    pub params: u64,
    /// Size of the model file.
    pub file_bytes: u64,
    /// Intra-op threads used.
    pub threads: Option<usize>,
    /// The device it ran on.
    pub device: ComputeDevice,
}

impl std::fmt::Display for EvalReport {
    /// The report as `distill eval` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "model        {}", self.model.display())?;
        writeln!(
            f,
            "data         {} ({}, {} samples)",
            self.dataset, self.split, self.samples
        )?;
        writeln!(f, "accuracy     {:.2}%", 100.0 * self.accuracy)?;
        writeln!(
            f,
            "latency      {:.4} ms/sample at batch 1",
            self.latency_ms_batch1
        )?;
        if let Some(l) = self.latency_ms_batch256 {
            writeln!(f, "             {l:.4} ms/sample at batch 256")?;
        }
        writeln!(f, "parameters   {}", self.params)?;
        writeln!(f, "file size    {} bytes", self.file_bytes)
    }
}

/// Evaluates the model at `path` on every sample of `data`; `on_rows` is told of every batch
/// done.
pub fn evaluate(
    path: &Path,
    data: &Dataset,
    settings: &EvalSettings,
    on_rows: &mut dyn FnMut(usize),
) -> Result<EvalReport, RuntimeError> {
    let mut prepared = PreparedModel::new(
        OnnxModel::open_on(path, settings.threads, settings.device)?,
        data,
        &settings.preprocess,
        settings.output.as_deref(),
    )?;
    let (classes, logits) = prepared.predict(data, 256, on_rows)?;
    prepared.plan.check_classes(path, classes)?;
    let runs = settings.latency_runs.max(1);
    let latency = prepared.latency_probe(data)?.measure(
        &mut prepared.model,
        &prepared.plan,
        runs,
        (runs / 20).max(3),
    )?;
    let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(EvalReport {
        model: path.to_path_buf(),
        dataset: data.source.clone(),
        split: data.split.clone(),
        samples: data.len(),
        accuracy: accuracy(&logits, classes, &data.labels),
        latency_ms_batch1: latency.batch1_ms,
        latency_ms_batch256: latency.batch256_ms,
        params: initializer_elements(&bytes).unwrap_or(0),
        file_bytes: bytes.len() as u64,
        threads: settings.threads,
        device: settings.device,
    })
}
