//! A cache written by N independent processes (`cache-logits --shard I/N`): each writes
//! its contiguous share of the parts, under the part names an unsharded run uses, and its
//! own manifest (`manifest.shard-I-of-N.json`). Readers merge the shard manifests into
//! one; the shard that finds every shard complete writes the merged `manifest.json` (any
//! shard may: they write the same bytes), so plain Parquet readers see one cache too.

use std::path::Path;

use distill_core::Shard;
use serde::Serialize;

use crate::manifest::shard_of_manifest_name;
use crate::{CacheError, MANIFEST_FILE, Manifest};

/// Where one shard of a sharded cache stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardState {
    /// The shard.
    pub shard: Shard,
    /// Parts it has written.
    pub parts_done: usize,
    /// Parts it writes in all.
    pub parts: usize,
    /// Whether its manifest exists (the shard has started).
    pub started: bool,
    /// Whether it has written all its parts.
    pub complete: bool,
}

impl std::fmt::Display for ShardState {
    /// `2/4: complete (3 parts)`, `3/4: 1 of 3 parts`, `4/4: not started`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.started, self.complete) {
            (_, true) => write!(f, "{}: complete ({} parts)", self.shard, self.parts),
            (true, false) => write!(
                f,
                "{}: {} of {} parts",
                self.shard, self.parts_done, self.parts
            ),
            (false, _) => write!(f, "{}: not started", self.shard),
        }
    }
}

/// The shard manifests in `dir`, by shard index.
pub(crate) fn shard_manifests(dir: &Path) -> Result<Vec<(Shard, Manifest)>, CacheError> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(found);
    };
    for entry in entries {
        let entry = entry.map_err(|e| CacheError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(shard) = shard_of_manifest_name(&name) {
            found.push((shard, Manifest::read_file(&entry.path())?));
        }
    }
    found.sort_by_key(|(s, _)| s.index);
    Ok(found)
}

/// The cache the shard manifests in `dir` make together, with each shard's state; none
/// when `dir` holds no shard manifest. Shards of another count or identity than the
/// first are refused, naming them. The merged manifest lists the parts of the shards that
/// are complete, in order, up to the first that is not, and is complete when every shard
/// is.
pub fn merge_shards(dir: &Path) -> Result<Option<(Manifest, Vec<ShardState>)>, CacheError> {
    let found = shard_manifests(dir)?;
    let Some((first, base)) = found.first() else {
        return Ok(None);
    };
    let count = first.count;
    for (shard, m) in &found {
        let diffs = base.identity_diff(m);
        if shard.count != count || !diffs.is_empty() {
            let why = if shard.count != count {
                format!("shard counts {count} and {}", shard.count)
            } else {
                diffs.join("; ")
            };
            return Err(CacheError::Mismatch {
                path: dir.join(m.file_name()),
                diffs: format!("the shards of this cache differ ({why})"),
            });
        }
    }
    let mut merged = Manifest {
        shard: None,
        shards: Some(count),
        parts: Vec::new(),
        complete: true,
        ..base.clone()
    };
    // The split's content hash needs every file: no shard read them all.
    merged.dataset.content = None;
    let mut states = Vec::new();
    let mut contiguous = true;
    for index in 1..=count {
        let shard = Shard { index, count };
        let mine = found.iter().find(|(s, _)| *s == shard).map(|(_, m)| m);
        let parts = shard.range(base.whole_parts()).len();
        let state = ShardState {
            shard,
            parts_done: mine.map_or(0, |m| m.parts.len()),
            parts,
            started: mine.is_some(),
            complete: mine.is_some_and(|m| m.complete),
        };
        if contiguous && let Some(m) = mine {
            merged.parts.extend(m.parts.iter().cloned());
        }
        contiguous &= state.complete;
        merged.complete &= state.complete;
        states.push(state);
    }
    Ok(Some((merged, states)))
}

/// Writes the merged `manifest.json` of the sharded cache in `dir` when every shard is
/// complete (returns whether it did). Shards finishing together may both write it: the
/// bytes are the same.
pub fn write_merged_if_complete(dir: &Path) -> Result<bool, CacheError> {
    match merge_shards(dir)? {
        Some((merged, _)) if merged.complete => {
            merged.write(dir)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether `dir` holds a merged manifest (of a sharded cache).
pub(crate) fn has_merged_manifest(dir: &Path) -> bool {
    dir.join(MANIFEST_FILE).is_file() && Manifest::read(dir).is_ok_and(|m| m.shards.is_some())
}
