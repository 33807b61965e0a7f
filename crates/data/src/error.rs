use std::path::PathBuf;

/// Everything that can be wrong with a dataset. Each variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not an IDX file (magic number {found:#010x}; expected 0x000008NN for unsigned bytes)"
    )]
    BadMagic { path: PathBuf, found: u32 },
    #[error("{path}: truncated IDX file: header promises {expected} bytes of data, found {actual}")]
    Truncated {
        path: PathBuf,
        expected: usize,
        actual: usize,
    },
    #[error("{path}: IDX file has {actual} dimensions, expected {expected}")]
    WrongRank {
        path: PathBuf,
        expected: usize,
        actual: usize,
    },
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },
    #[error("{dir}: no {what} file for split '{split}' (looked for {candidates})")]
    MissingSplitFile {
        dir: PathBuf,
        split: String,
        what: &'static str,
        candidates: String,
    },
    #[error("unknown split '{split}' for {path}: an IDX directory holds 'train' and 'test'")]
    UnknownSplit { path: PathBuf, split: String },
    #[error("bad dataset '{spec}': {reason}")]
    BadSpec { spec: String, reason: String },
    #[error("{path}: not a readable image: {reason}")]
    BadImage { path: PathBuf, reason: String },
    /// Anything else wrong with a source file or folder, said in `reason`.
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("bad preprocessing: {0}")]
    BadPreprocess(String),
}

impl DataError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
