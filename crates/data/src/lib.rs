//! Dataset sources for distill.
//!
//! Every source yields a [`Dataset`]: decoded samples with stable ids (the id never depends
//! on how the data is later shuffled or batched, so a logit cache can be joined back to it),
//! labels, and a [`fingerprint`](Dataset::fingerprint) that identifies the exact content.
//! Sources are chosen on the command line as `KIND:PATH` ([`DatasetSpec`]).

mod argmax;
mod atomic;
mod csv_table;
mod dataset;
mod error;
mod fingerprint;
mod hf_parquet;
mod idx;
mod image;
mod imagefolder;
mod json_diff;
mod npy;
mod options;
mod preprocess;
mod resize;
mod spec;

pub use argmax::argmax;
pub use atomic::write_atomic;
pub use csv_table::read_csv;
pub use dataset::{Dataset, EncodedImage, SampleRef, SampleShape, Samples, SkippedSample};
pub use error::DataError;
pub use fingerprint::{fingerprint, sha256_file, sha256_hex};
pub use hf_parquet::read_hf_parquet;
pub use idx::{IdxArray, read_idx, read_idx_split};
pub use imagefolder::{IMAGE_EXTENSIONS, read_image_folder};
pub use json_diff::json_diff;
pub use npy::read_npy;
pub use options::SourceOptions;
pub use preprocess::{Layout, Preprocess, parse_size};
pub use spec::{DatasetKind, DatasetSpec};
