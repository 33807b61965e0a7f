//! The end of a run: save the weights, export ONNX with the preprocessing in its metadata,
//! and write `result.json` last, so that its presence marks a finished run.

use std::path::PathBuf;

use distill_data::SampleShape;
use serde::{Deserialize, Serialize};

use crate::{EpochMetrics, RunDir, Student, StudentError, TrainConfig, export_onnx, model_stats};

/// `result.json` of a finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// The student's architecture.
    pub arch: String,
    /// Its learnable parameters.
    pub params: u64,
    /// Its multiply-accumulates per sample.
    pub macs: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// Accuracy on the held-out validation samples (with a validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// Accuracy on the test split after the last epoch.
    pub test_accuracy: f64,
    /// Top-1 agreement with the teacher on the test split (with a test cache).
    pub teacher_agreement: Option<f64>,
    /// KL(teacher ‖ student) at T = 1 on the test split (with a test cache).
    pub test_kl: Option<f64>,
    /// The teacher the student was distilled from (sha256 of its ONNX file).
    pub teacher_sha256: Option<String>,
    /// Seconds of training steps over all epochs (evaluation excluded).
    pub train_seconds: f64,
    /// The exported model.
    pub onnx: PathBuf,
    /// Its size.
    pub onnx_bytes: u64,
}

impl RunResult {
    /// The result of a finished run in `run`, if there is one.
    pub fn read(run: &RunDir) -> Option<RunResult> {
        let text = std::fs::read_to_string(run.result_path()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Finishes a trained run in `run`: saves the weights of `model` (trained on samples of
/// `shape`), exports it to ONNX with the preprocessing in its metadata, and writes
/// `result.json` from the epochs' `metrics`.
pub fn finish_run(
    config: &TrainConfig,
    model: &Student,
    metrics: &[EpochMetrics],
    shape: SampleShape,
    run: &RunDir,
) -> Result<RunResult, StudentError> {
    model.save(&run.model_path())?;
    // A run resumed after its last epoch's checkpoint rewrites the metrics it restored.
    run.write_metrics(metrics)?;
    let metadata = [
        ("distill.arch", config.arch.to_string()),
        ("distill.num_classes", config.num_classes.to_string()),
        (
            "distill.input_shape",
            format!("[-1,{},{},{}]", shape.channels, shape.height, shape.width),
        ),
        (
            "distill.preprocess",
            serde_json::to_string(&config.preprocess).map_err(|source| StudentError::Json {
                path: run.onnx_path(),
                source,
            })?,
        ),
        ("distill.version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    export_onnx(model, shape, &metadata, &run.onnx_path())?;
    let last = metrics
        .last()
        .ok_or_else(|| StudentError::setting("epochs", "training produced no epochs"))?;
    let stats = model_stats(&config.arch, shape, config.num_classes);
    let onnx_bytes = std::fs::metadata(run.onnx_path())
        .map_err(|source| StudentError::Read {
            path: run.onnx_path(),
            source,
        })?
        .len();
    let result = RunResult {
        arch: config.arch.to_string(),
        params: stats.params,
        macs: stats.macs,
        epochs: last.epoch,
        val_accuracy: last.val_accuracy,
        test_accuracy: last.test_accuracy,
        teacher_agreement: last.teacher_agreement,
        test_kl: last.test_kl,
        teacher_sha256: config
            .distill
            .as_ref()
            .map(|d| d.cache.teacher_sha256.clone()),
        train_seconds: metrics.iter().map(|m| m.seconds).sum(),
        onnx: run.onnx_path(),
        onnx_bytes,
    };
    run.write_json(&run.result_path(), &result)?;
    Ok(result)
}
