use std::path::{Path, PathBuf};

/// Everything that can stop a sweep; each names the file or folder it is about.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A grid file that cannot be used: the line and the reason.
    #[error("{path}:{line}: {reason}", path = .path.display())]
    Grid {
        /// The grid file.
        path: PathBuf,
        /// 1-based line of the mistake.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A grid that names no run.
    #[error("the grid names no run")]
    EmptyGrid,
    /// A file or folder that could not be read or written.
    #[error("cannot access {path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file that could not be read or written.
    #[error("{path}: not valid JSON for a sweep", path = .path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A folder without `sweep.json`.
    #[error("{dir} is not a sweep directory (no readable sweep.json)", dir = .dir.display())]
    NotASweep {
        /// The folder.
        dir: PathBuf,
        /// Why `sweep.json` could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A folder holding a sweep with other settings.
    #[error("{dir} holds a sweep with other settings ({diffs})", dir = .dir.display())]
    OtherSweep {
        /// The sweep directory.
        dir: PathBuf,
        /// `key: old -> new` for every difference.
        diffs: String,
    },
    /// A folder that holds other files and no sweep.
    #[error("{dir} is not empty and holds no sweep (sweep.json)", dir = .dir.display())]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
    /// A run that could not be started or failed.
    #[error("run {dir} failed", dir = .dir.display())]
    Launch {
        /// The run directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A run that ended without a result.
    #[error("run {dir} did not finish: {reason}", dir = .dir.display())]
    RunFailed {
        /// The run directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The models of the report could not be timed.
    #[error("timing the models of the report")]
    Timing {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A teacher file that did not make the test cache.
    #[error(
        "the teacher {teacher} (sha256 {sha256}) is not the teacher that made the cache {cache} (sha256 {cache_sha256})",
        teacher = .teacher.display(), cache = .cache.display()
    )]
    OtherTeacher {
        /// The teacher file.
        teacher: PathBuf,
        /// Its SHA-256.
        sha256: String,
        /// The test cache.
        cache: PathBuf,
        /// The SHA-256 of the teacher that made it.
        cache_sha256: String,
    },
    /// A lock that could not be taken.
    #[error(transparent)]
    Lock(#[from] distill_data::LockError),
    /// A run's data, settings or caches.
    #[error(transparent)]
    Student(#[from] distill_student::StudentError),
    /// The test split.
    #[error(transparent)]
    Data(#[from] distill_data::DataError),
    /// The test cache.
    #[error(transparent)]
    Cache(#[from] distill_cache::CacheError),
}

impl SweepError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        SweepError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
