use std::path::PathBuf;

/// Everything that can be wrong with a cache; each names the file or folder it is about.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or folder that could not be read or written.
    #[error("cannot access {path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A part file that could not be encoded or decoded as Parquet.
    #[error("{path}: Parquet", path = .path.display())]
    Parquet {
        /// The part file.
        path: PathBuf,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Rows that could not be put into Arrow arrays.
    #[error("{path}: Arrow", path = .path.display())]
    Arrow {
        /// The part file.
        path: PathBuf,
        /// Why.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A manifest that is not one this version reads.
    #[error("{path}: {reason}", path = .path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A part file whose content is not what the manifest says.
    #[error("{path}: corrupt cache part: {reason}", path = .path.display())]
    Corrupt {
        /// The part file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A part file the manifest lists that is not there.
    #[error("{path}: missing cache part (listed in the manifest)", path = .path.display())]
    MissingPart {
        /// The part file.
        path: PathBuf,
    },
    /// A folder holding a cache of other settings.
    #[error("{path} holds a different cache ({diffs})", path = .path.display())]
    Mismatch {
        /// The cache directory.
        path: PathBuf,
        /// `key: old -> new` for every difference.
        diffs: String,
    },
    /// A folder that holds files and no cache.
    #[error(
        "{path} is not empty and holds no distill cache (found '{found}'); choose an empty or new directory",
        path = .path.display()
    )]
    NotACache {
        /// The folder.
        path: PathBuf,
        /// One of the files found there.
        found: String,
    },
    /// A cache not yet complete.
    #[error("{path}: incomplete cache ({rows} of {expected} rows)", path = .path.display())]
    Incomplete {
        /// The cache directory.
        path: PathBuf,
        /// Rows written.
        rows: usize,
        /// Rows of the finished cache.
        expected: usize,
    },
    /// Object storage that could not be reached or used.
    #[error("{url}: {reason}")]
    Remote {
        /// The cache's URL.
        url: String,
        /// What failed.
        reason: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A cache written in shards, some of which are not complete.
    #[error("{path}: incomplete cache: shard(s) {missing} of {count} not complete", path = .path.display())]
    ShardsIncomplete {
        /// The cache directory.
        path: PathBuf,
        /// The shards not complete, each with its state.
        missing: String,
        /// How many shards there are.
        count: usize,
    },
    /// A teacher file other than the one the cache was made with.
    #[error(
        "{cache} was not made by {teacher}: its teacher has sha256 {cached}, the file has {given}",
        cache = .cache.display(), teacher = .teacher.display()
    )]
    OtherTeacher {
        /// The cache directory.
        cache: PathBuf,
        /// The teacher file given.
        teacher: PathBuf,
        /// SHA-256 of the teacher that made the cache.
        cached: String,
        /// SHA-256 of the file given.
        given: String,
    },
    /// A dataset split other than the one the cache was made from.
    #[error("{cache} was not made from this data: {cached} cached, {given} given", cache = .cache.display())]
    OtherData {
        /// The cache directory.
        cache: PathBuf,
        /// The cached split, its size and fingerprint.
        cached: String,
        /// The given split, its size and fingerprint.
        given: String,
    },
    /// A logit too large for half precision, which would be stored as infinity.
    #[error(
        "{path}: the logit {value} of sample id {sample_id} is outside the float16 range (±65504); it would be stored as infinity: store float32 logits instead",
        path = .path.display()
    )]
    F16Range {
        /// The cache directory.
        path: PathBuf,
        /// The first sample with such a logit.
        sample_id: u64,
        /// The logit.
        value: f32,
    },
    /// Another process writes this cache.
    #[error(transparent)]
    Lock(#[from] distill_core::LockError),
    /// Rows handed to the writer that do not fit the cache (a caller's mistake).
    #[error("bad cache data: {0}")]
    BadData(String),
}

impl CacheError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CacheError::Io {
            path: path.into(),
            source,
        }
    }
}
