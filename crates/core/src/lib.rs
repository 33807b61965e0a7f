//! The vocabulary every distill crate shares, with no heavy dependencies: the shape of a
//! sample, how raw values become model input ([`Preprocess`]), top-1 scores of logit
//! arrays, what is measured of a model, content hashes, atomic file writes, folder locks,
//! fault points for the crash tests, key-by-key
//! JSON differences, and the one way settings are parsed from text ([`ParseError`]).
//!
//! Reading a logit cache needs these and nothing of the dataset sources (image decoders,
//! archives, CSV), which is why they live here rather than in `distill-data`.
#![warn(missing_docs)]

pub mod cuda_driver;
mod device;
mod error;
pub mod fault;
mod fs;
mod hash;
mod json_diff;
mod lock;
mod malloc;
mod measure;
mod overrides;
mod parse;
mod preprocess;
mod resize;
mod rng;
mod sample;
mod scores;
mod shard;
mod view;

pub use device::ComputeDevice;
pub use error::PreprocessError;
pub use fs::{is_partial, write_atomic};
pub use hash::{hex, sha256_file, sha256_hex};
pub use json_diff::json_diff;
pub use lock::{DirLock, LOCK_FILE, LockError};
pub use malloc::{keep_freed_memory, return_large_blocks, returning_large_blocks};
pub use measure::ModelMeasure;
pub use overrides::PreprocessOverrides;
pub use parse::{ParseError, parse_bytes, parse_size};
pub use preprocess::{Layout, Preprocess};
pub use rng::SplitMix64;
pub use sample::{SampleRef, SampleShape, SkippedSample};
pub use scores::{
    accuracy, accuracy_of, agreement, argmax, argmax_rows, kl_divergence, log_sum_exp, mean_kl,
};
pub use shard::Shard;
pub use view::{CropRange, Mix, ViewParams, ViewSpec, render_view};
