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
    #[error(
        "{path} holds a different cache ({diffs}); choose another --out or pass --overwrite to replace it"
    )]
    Mismatch { path: PathBuf, diffs: String },
    #[error(
        "{path}: incomplete cache ({rows} of {expected} rows); rerun the cache-logits command that made it to finish it"
    )]
    Incomplete {
        path: PathBuf,
        rows: usize,
        expected: usize,
    },
    #[error("bad cache data: {0}")]
    BadData(String),
}
