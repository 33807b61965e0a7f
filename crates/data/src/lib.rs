//! Dataset sources for distill.
//!
//! Every source yields a [`Dataset`]: decoded samples with stable ids (the id never depends
//! on how the data is later shuffled or batched, so a logit cache can be joined back to it),
//! labels, and a [fingerprint](Dataset::fingerprint) that identifies the exact content.
//! Sources are chosen as `KIND:PATH` ([`DatasetSpec`]); which split of which source a
//! command reads is a [`DataSelection`] (or a [`TrainTestData`] for a student).
//!
//! The vocabulary shared with the other crates (sample shapes, [`Preprocess`], scores,
//! hashes) lives in `distill-core` and is re-exported here.
#![warn(missing_docs)]

mod content;
mod csv_table;
mod dataset;
mod decode;
mod error;
mod hf_parquet;
mod idx;
mod image;
mod imagefolder;
mod npy;
mod options;
mod parquet_images;
mod resized;
mod selection;
mod spec;
mod views;

pub use content::LISTING_PREFIX;
pub use csv_table::read_csv;
pub use dataset::{Dataset, EncodedImage, ImageBytes, SampleFile, Samples};
pub use distill_core::{
    ComputeDevice, CropRange, DirLock, LOCK_FILE, Layout, LockError, Mix, ModelMeasure, ParseError,
    Preprocess, PreprocessError, PreprocessOverrides, SampleRef, SampleShape, Shard, SkippedSample,
    SplitMix64, ViewParams, ViewSpec, accuracy, accuracy_of, agreement, argmax, argmax_rows,
    cuda_driver, fault, is_partial, json_diff, mean_kl, parse_bytes, parse_size, render_view,
    sha256_file, sha256_hex, write_atomic,
};
pub use error::DataError;
pub use hf_parquet::{read_hf_parquet, write_hf_parquet};
pub use idx::{IdxArray, read_idx, read_idx_split};
pub use imagefolder::{IMAGE_EXTENSIONS, read_image_folder};
pub use npy::read_npy;
pub use options::SourceOptions;
pub use parquet_images::{ParquetCell, ParquetImages, RowGroupCache};
pub use resized::ResizedSamples;
pub use selection::{DataSelection, TrainTestData, load_split};
pub use spec::{DatasetKind, DatasetSpec};
pub use views::MissingPartner;
