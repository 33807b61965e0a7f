//! Caches on object storage (`s3://bucket/prefix`) for the commands that read them
//! (`train-student`, `sweep`, `inspect`): the cache is brought down into its local copy
//! first, one file at a time, and read from there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use distill_cache::{RemoteCache, is_remote};

/// The local folder to read the cache at `location` from: the location itself, or for
/// `s3://…` its local copy, brought up to date.
pub fn fetch_cache(location: &Path) -> Result<PathBuf> {
    if !is_remote(location) {
        return Ok(location.to_path_buf());
    }
    let url = location.to_string_lossy();
    let remote = RemoteCache::open(&url)?;
    let local = remote.default_local_copy();
    eprintln!("fetching {url} into {}", local.display());
    remote
        .pull(&local)
        .with_context(|| format!("fetching the cache {url}"))?;
    Ok(local)
}

/// [`fetch_cache`] of an optional location.
pub fn fetch_optional(location: Option<PathBuf>) -> Result<Option<PathBuf>> {
    location.map(|l| fetch_cache(&l)).transpose()
}
