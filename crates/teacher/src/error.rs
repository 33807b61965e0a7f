use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TeacherError {
    #[error(
        "ONNX Runtime library not found (looked in: {searched}). Run scripts/setup.sh, or set ORT_DYLIB_PATH to a libonnxruntime.so (version 1.24 or newer)"
    )]
    RuntimeNotFound { searched: String },
    #[error("cannot load ONNX Runtime: {0}")]
    RuntimeLoad(String),
    #[error("cannot open ONNX model {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error("running {path} failed: {reason}")]
    Run { path: PathBuf, reason: String },
    #[error(
        "{path} produced {value} for sample id {sample_id}; refusing to cache non-finite logits (pass --allow-nonfinite to store them anyway)"
    )]
    NonFinite {
        path: PathBuf,
        sample_id: u64,
        value: f32,
    },
    #[error("cache-logits pipeline: {0}")]
    Pipeline(String),
    #[error(transparent)]
    Cache(#[from] distill_cache::CacheError),
}
