use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: corrupt cache part: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: missing cache part (listed in the manifest)")]
    MissingPart { path: PathBuf },
    #[error("bad cache data: {0}")]
    BadData(String),
}
