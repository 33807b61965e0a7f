//! The distill logit-cache format, v1 (DESIGN.md, "The cache format"): a directory with
//! `manifest.json` and zstd-compressed Parquet part files of `sample_id` (uint64), `label`
//! (int32, nullable) and `logits` (FixedSizeList<float32|float16>[classes]). Raw logits are
//! stored, never softened probabilities, so every temperature trains from one cache.
//!
//! Parts are written to a temporary name, synced and renamed; the manifest is written last.
//! The reader validates parts against the manifest (row counts, sha256) and names a corrupt
//! or missing part. Any Parquet reader can open the parts; each part's key-value metadata
//! repeats the manifest essentials.

mod error;
mod manifest;
mod part;

pub use error::CacheError;
pub use manifest::{FORMAT_VERSION, LogitDtype, Manifest, PartInfo};
pub use part::{CachePart, part_file_name, read_part, write_part};
