use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A grid file that cannot be used: the line and the reason.
    #[error("{path}:{line}: {reason}", path = .path.display())]
    Grid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("cannot read {path}: {reason}", path = .path.display())]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}", path = .path.display())]
    Write { path: PathBuf, reason: String },
    #[error("sweep directory {path}: {reason}", path = .path.display())]
    Dir { path: PathBuf, reason: String },
    #[error("bad shard '{0}': expected I/N with 1 <= I <= N, e.g. 1/2")]
    BadShard(String),
}
