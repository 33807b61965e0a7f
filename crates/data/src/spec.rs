use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{
    DataError, Dataset, ParseError, SourceOptions, read_csv, read_hf_parquet, read_idx_split,
    read_image_folder, read_npy,
};

/// The kinds of dataset source named on the command line (`--dataset KIND:PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// IDX files (MNIST, Fashion-MNIST).
    Idx,
    /// A torchvision-style image folder.
    ImageFolder,
    /// Hugging Face Parquet.
    Parquet,
    /// NumPy `.npz` or `.npy` arrays.
    Npy,
    /// A CSV table.
    Csv,
}

impl DatasetKind {
    /// The kind's name in `KIND:PATH`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Idx => "idx",
            DatasetKind::ImageFolder => "imagefolder",
            DatasetKind::Parquet => "parquet",
            DatasetKind::Npy => "npy",
            DatasetKind::Csv => "csv",
        }
    }
}

/// `KIND:PATH`, e.g. `idx:datasets/fashion-mnist` (stored in JSON as that text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetSpec {
    /// The kind of source.
    pub kind: DatasetKind,
    /// Its file or folder.
    pub path: PathBuf,
}

impl FromStr for DatasetSpec {
    type Err = ParseError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ParseError::new("dataset", spec, reason);
        let (kind, path) = spec
            .split_once(':')
            .ok_or_else(|| bad("expected KIND:PATH, e.g. idx:datasets/fashion-mnist"))?;
        let kind = match kind {
            "idx" => DatasetKind::Idx,
            "imagefolder" => DatasetKind::ImageFolder,
            "parquet" => DatasetKind::Parquet,
            "npy" => DatasetKind::Npy,
            "csv" => DatasetKind::Csv,
            _ => {
                return Err(bad(
                    "KIND must be one of idx, imagefolder, parquet, npy, csv",
                ));
            }
        };
        if path.is_empty() {
            return Err(bad("PATH is empty"));
        }
        Ok(DatasetSpec {
            kind,
            path: PathBuf::from(path),
        })
    }
}

impl TryFrom<String> for DatasetSpec {
    type Error = ParseError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<DatasetSpec> for String {
    fn from(spec: DatasetSpec) -> String {
        spec.to_string()
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.path.display())
    }
}

impl DatasetSpec {
    /// Reads one split of the source, with the size and colour of every image known (an
    /// image folder's headers read).
    pub fn load(&self, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
        self.load_listed(split, options)?.with_headers()
    }

    /// Reads one split of the source; an image folder is listed without reading its files
    /// (see [`Dataset::headers_read`]).
    pub fn load_listed(&self, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
        match self.kind {
            DatasetKind::Idx => read_idx_split(&self.path, split),
            DatasetKind::ImageFolder => read_image_folder(&self.path, split, options),
            DatasetKind::Parquet => read_hf_parquet(&self.path, split, options),
            DatasetKind::Npy => read_npy(&self.path, split, options),
            DatasetKind::Csv => read_csv(&self.path, split, options),
        }
    }
}
