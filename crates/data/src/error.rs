use std::path::PathBuf;

/// Everything that can be wrong with a dataset. Each variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder that could not be read.
    #[error("cannot read {path}", path = .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An IDX file with the wrong magic number.
    #[error(
        "{path}: not an IDX file (magic number {found:#010x}; expected 0x000008NN for unsigned bytes)",
        path = .path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number found.
        found: u32,
    },
    /// An IDX file shorter than its header promises.
    #[error(
        "{path}: truncated IDX file: header promises {expected} bytes of data, found {actual}",
        path = .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: usize,
        /// Bytes found.
        actual: usize,
    },
    /// An IDX file of another rank than expected.
    #[error("{path}: IDX file has {actual} dimensions, expected {expected}", path = .path.display())]
    WrongRank {
        /// The file.
        path: PathBuf,
        /// The rank expected.
        expected: usize,
        /// The rank found.
        actual: usize,
    },
    /// Images and labels that do not pair up.
    #[error(
        "{images} holds {n_images} images but {labels} holds {n_labels} labels",
        images = .images.display(), labels = .labels.display()
    )]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images found.
        n_images: usize,
        /// Labels found.
        n_labels: usize,
    },
    /// A split whose file is missing.
    #[error(
        "{dir}: no {what} file for split '{split}' (looked for {candidates})",
        dir = .dir.display()
    )]
    MissingSplitFile {
        /// The dataset folder.
        dir: PathBuf,
        /// The split.
        split: String,
        /// Which file (images, labels).
        what: &'static str,
        /// The names looked for.
        candidates: String,
    },
    /// A split an IDX folder does not hold.
    #[error(
        "unknown split '{split}' for {path}: an IDX directory holds 'train' and 'test'",
        path = .path.display()
    )]
    UnknownSplit {
        /// The dataset folder.
        path: PathBuf,
        /// The split asked for.
        split: String,
    },
    /// A view that mixes its sample with one the data does not hold.
    #[error(transparent)]
    MissingPartner(#[from] crate::MissingPartner),
    /// An image file that cannot be decoded.
    #[error("{path}: not a readable image: {reason}", path = .path.display())]
    BadImage {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A column or array that a source setting names, or should name.
    #[error("{path}: {reason}", path = .path.display())]
    SourceSetting {
        /// The file or folder.
        path: PathBuf,
        /// The setting of [`SourceOptions`](crate::SourceOptions) that picks it.
        setting: &'static str,
        /// What is missing or wrong.
        reason: String,
    },
    /// A Parquet file that cannot be read.
    #[error("{path}: not a readable Parquet file", path = .path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Parquet rows that cannot be read.
    #[error("{path}: cannot read rows", path = .path.display())]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A CSV file that cannot be read.
    #[error("{path}: not a readable CSV table", path = .path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: csv::Error,
    },
    /// A `.npz` archive that cannot be read.
    #[error("{path}: not a readable .npz (zip) archive", path = .path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// Why.
        #[source]
        source: zip::result::ZipError,
    },
    /// Anything else wrong with a source file or folder, said in `reason`.
    #[error("{path}: {reason}", path = .path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A split that could not be loaded, and why.
    #[error("loading split '{split}' of {source_spec}")]
    Split {
        /// The split.
        split: String,
        /// `KIND:PATH` of the source.
        source_spec: String,
        /// Why.
        #[source]
        source: Box<DataError>,
    },
    /// A split (after its limit) without samples.
    #[error("split '{split}' of {source_spec} holds no samples")]
    EmptySplit {
        /// `KIND:PATH` of the source.
        source_spec: String,
        /// The split.
        split: String,
    },
    /// A test split unlike the training split.
    #[error("test samples {test} are unlike training samples {train}")]
    TestUnlikeTrain {
        /// The test split's source and sample shape.
        test: String,
        /// The training split's source and sample shape.
        train: String,
    },
    /// A test split that is the training data itself.
    #[error("the test split of {source_spec} is the training data itself ({reason})")]
    TestIsTrain {
        /// `KIND:PATH` of the source.
        source_spec: String,
        /// Why they are the same.
        reason: String,
    },
    /// A preprocessing that does not fit the data.
    #[error(transparent)]
    Preprocess(#[from] distill_core::PreprocessError),
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
