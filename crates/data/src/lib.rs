//! Dataset sources for distill.
//!
//! Every source yields a [`Dataset`]: decoded samples with stable ids (the id never depends
//! on how the data is later shuffled or batched, so a logit cache can be joined back to it),
//! labels, and a [`fingerprint`](Dataset::fingerprint) that identifies the exact content.
//! Sources are chosen on the command line as `KIND:PATH` ([`DatasetSpec`]).

mod argmax;
mod atomic;
mod dataset;
mod error;
mod fingerprint;
mod idx;
mod json_diff;
mod preprocess;
mod resize;
mod spec;

pub use argmax::argmax;
pub use atomic::write_atomic;
pub use dataset::{Dataset, SampleShape};
pub use error::DataError;
pub use fingerprint::{fingerprint, sha256_file, sha256_hex};
pub use idx::{IdxArray, read_idx, read_idx_split};
pub use json_diff::json_diff;
pub use preprocess::{Layout, Preprocess, parse_size};
pub use spec::{DatasetKind, DatasetSpec};
