use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StudentError {
    #[error("bad architecture '{spec}': {reason}")]
    BadArch { spec: String, reason: String },
    #[error("bad training setting: {0}")]
    BadConfig(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("run directory {path}: {reason}")]
    RunDir { path: PathBuf, reason: String },
    #[error("ONNX export to {path} failed: {reason}")]
    Export { path: PathBuf, reason: String },
    #[error("cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error(transparent)]
    Data(#[from] distill_data::DataError),
}
