use serde::{Deserialize, Serialize};

/// What is measured of one ONNX model, the same way for every model compared (the teacher
/// and the students of a sweep).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelMeasure {
    /// Elements of the graph's initializers (weights, biases, batch-norm statistics),
    /// counted the same way for the teacher and the students.
    pub params: u64,
    /// Size of the ONNX file.
    pub onnx_bytes: u64,
    /// Mean milliseconds per sample at batch 1 (ONNX Runtime, one intra-op thread).
    pub latency_ms_batch1: f64,
    /// Mean milliseconds per sample at batch 256 (none for a fixed-batch model).
    pub latency_ms_batch256: Option<f64>,
}
