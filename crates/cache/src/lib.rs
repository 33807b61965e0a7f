//! The distill logit-cache format, v1 (DESIGN.md, "The cache format"): a directory with
//! `manifest.json` and zstd-compressed Parquet part files of `sample_id` (uint64), `label`
//! (int32, nullable) and `logits` (FixedSizeList<float32|float16>[classes]). Raw logits are
//! stored, never softened probabilities, so every temperature trains from one cache.
//!
//! [`CacheWriter`] writes parts to a temporary name, syncs and renames them, and writes the
//! manifest after them; it resumes an interrupted cache. [`CacheReader`] validates parts
//! against the manifest (row counts, sha256) and names a corrupt or missing part, and checks
//! a cache against the teacher and the data it claims to come from. Any Parquet reader can
//! open the parts; each part's key-value metadata (`distill.cache`) repeats the manifest
//! essentials.
//!
//! A cache may be written by N processes at once (`Manifest::shard`, the `shards`
//! module): each its own share of the parts and its own manifest; readers merge them.
//!
//! This crate reads and writes caches without the dataset sources: it compiles no image
//! decoder, archive or CSV reader.
#![warn(missing_docs)]

mod atomic;
mod error;
mod manifest;
mod output_kind;
mod part;
mod reader;
mod remote;
mod shards;
mod topk;
mod verify;
mod writer;

pub use error::CacheError;
pub use manifest::{
    DatasetInfo, FORMAT_VERSION, LogitDtype, MANIFEST_FILE, MAX_VIEWS, Manifest, PartInfo, Storage,
    TOPK_RECONSTRUCTION, TeacherInfo, VIEWS_FORMAT_VERSION, ViewsInfo, shard_manifest_name,
};
pub use output_kind::{OutputKind, PROB_FLOOR};
pub use part::{CachePart, CachedView, METADATA_KEY, part_file_name, read_part, write_part};
pub use reader::{CacheArray, CacheReader};
pub use remote::{RemoteCache, S3_SCHEME, is_remote};
pub use shards::{ShardState, merge_shards, write_merged_if_complete};
pub use topk::{TailStats, TopKRow, TopKRows};
pub use verify::{CacheReport, TeacherAccuracy};
pub use writer::CacheWriter;
