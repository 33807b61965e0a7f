use std::path::PathBuf;

/// Everything that can stop a training run; each names the setting or file it is about.
#[derive(Debug, thiserror::Error)]
pub enum StudentError {
    /// A text that does not parse (an architecture, a loss, an augmentation).
    #[error(transparent)]
    Parse(#[from] distill_data::ParseError),
    /// A GPU that cannot be had: what is missing (the build's `cuda` feature, the NVIDIA
    /// driver, the GPU asked for).
    #[error("cannot train on CUDA: {0}")]
    Cuda(String),
    /// A run directory holding a run begun on another kind of device: resuming there would
    /// not give the numbers that not stopping gives.
    #[error(
        "{path} holds a run begun on {began}; resuming it on {now} would change its numbers (GPU and CPU arithmetic differ)",
        path = .path.display()
    )]
    OtherDevice {
        /// The run directory.
        path: PathBuf,
        /// The device kind the run began on.
        began: String,
        /// The device kind asked for now.
        now: String,
    },
    /// A setting that cannot be used: `setting` names it (`epochs`, `alpha`, …).
    #[error("{reason}")]
    Setting {
        /// The setting at fault, as the run spec names it.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file that could not be read.
    #[error("cannot read {path}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file that could not be written.
    #[error("cannot write {path}", path = .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (spec, config, result, metrics) that could not be read or written.
    #[error("{path}: not valid JSON", path = .path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Weights or optimizer state that could not be saved.
    #[error("cannot save {path}", path = .path.display())]
    Save {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: burn::store::RecordError,
    },
    /// Weights or optimizer state that could not be loaded.
    #[error("cannot load {path}", path = .path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: burn::store::RecordError,
    },
    /// A run directory that cannot be used for this run.
    #[error("run directory {path}: {reason}", path = .path.display())]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: RunDirProblem,
    },
    /// Training diverged: a loss or weight that is not finite. Nothing is exported.
    #[error(
        "training stopped at epoch {epoch}{}: {what}; nothing was exported (a lower learning rate or weight decay, or finite data, may help)",
        if *batch > 0 { format!(", batch {batch}") } else { String::new() }
    )]
    NonFinite {
        /// What was not finite.
        what: String,
        /// The epoch (1-based).
        epoch: usize,
        /// The batch of the epoch (1-based; 0: at the epoch's end).
        batch: usize,
    },
    /// The ONNX export failed.
    #[error("ONNX export to {path} failed: {reason}", path = .path.display())]
    Export {
        /// The file it was going to.
        path: PathBuf,
        /// The exporter's message.
        reason: String,
    },
    /// A cache that does not fit the data or the run.
    #[error("cache {path}: {reason}", path = .path.display())]
    CacheMismatch {
        /// The cache directory.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// Another process writes this run directory.
    #[error(transparent)]
    Lock(distill_data::LockError),
    /// A cache that could not be read.
    #[error(transparent)]
    Cache(#[from] distill_cache::CacheError),
    /// The data.
    #[error(transparent)]
    Data(#[from] distill_data::DataError),
    /// The preprocessing.
    #[error(transparent)]
    Preprocess(#[from] distill_data::PreprocessError),
}

/// Why a run directory cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunDirProblem {
    /// Something other than a directory is there.
    #[error("exists and is not a directory")]
    NotADirectory,
    /// It holds a run of another config.
    #[error("holds a run with a different config ({0})")]
    OtherRun(String),
    /// It holds files and no run.
    #[error(
        "is not empty and holds no run distill made (no .distill-run marker); distill never writes into such a directory"
    )]
    NotARun,
    /// Its checkpoint is incomplete or altered.
    #[error("its checkpoint is broken: {0}")]
    BrokenCheckpoint(String),
}

impl StudentError {
    /// A setting that cannot be used.
    pub fn setting(setting: &'static str, reason: impl Into<String>) -> Self {
        StudentError::Setting {
            setting,
            reason: reason.into(),
        }
    }
}
