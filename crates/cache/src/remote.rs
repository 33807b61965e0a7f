//! Caches on S3-compatible object storage (`s3://bucket/prefix`), through the
//! `object_store` crate, with credentials, region and endpoint from the standard `AWS_*`
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP` for a local server).
//!
//! A store has no rename, so nothing is ever half-visible: a writer writes each file in a
//! local copy of the cache first (atomically, as for any cache), then PUTs it whole under
//! its final key, parts before the manifest that lists them. A reader (or a resumed writer)
//! brings the cache's files down into the local copy one at a time, so memory holds one
//! file; parts whose size or checksum does not match their manifest are left behind and
//! rewritten as on a local disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::CacheError;

/// The scheme of a cache on S3-compatible object storage.
pub const S3_SCHEME: &str = "s3://";

/// A cache's place in a bucket.
#[derive(Clone)]
pub struct RemoteCache {
    url: String,
    store: Arc<AmazonS3>,
    prefix: Key,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// Whether `location` names a cache on object storage (`s3://…`).
pub fn is_remote(location: &Path) -> bool {
    location.to_str().is_some_and(|s| s.starts_with(S3_SCHEME))
}

impl RemoteCache {
    /// The cache at `url` (`s3://bucket/prefix`), with the client the `AWS_*` variables
    /// configure.
    pub fn open(url: &str) -> Result<RemoteCache, CacheError> {
        let bad = |reason: &str| CacheError::Remote {
            url: url.to_string(),
            reason: reason.to_string(),
            source: None,
        };
        let rest = url
            .strip_prefix(S3_SCHEME)
            .ok_or_else(|| bad("expected s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket: expected s3://BUCKET/PREFIX"));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| CacheError::Remote {
                url: url.to_string(),
                reason: "cannot configure the S3 client from the AWS_* variables".into(),
                source: Some(Box::new(e)),
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CacheError::io(Path::new(url), e))?;
        Ok(RemoteCache {
            url: url.trim_end_matches('/').to_string(),
            store: Arc::new(store),
            prefix: Key::from(prefix.trim_matches('/')),
            runtime: Arc::new(runtime),
        })
    }

    /// The cache's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the local copy of this cache lives by default: a folder named by the URL's
    /// hash under `$DISTILL_STAGE`, else `$XDG_CACHE_HOME/distill/remote`, else
    /// `~/.cache/distill/remote`.
    pub fn default_local_copy(&self) -> PathBuf {
        let root = std::env::var_os("DISTILL_STAGE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("distill/remote"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/distill/remote"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("distill-remote"));
        let hash = distill_core::sha256_hex(self.url.as_bytes());
        root.join(&hash[..16])
    }

    fn key(&self, name: &str) -> Key {
        self.prefix.clone().join(name)
    }

    fn failed(&self, what: String, e: object_store::Error) -> CacheError {
        CacheError::Remote {
            url: self.url.clone(),
            reason: what,
            source: Some(Box::new(e)),
        }
    }

    /// The files directly under the prefix, with their sizes.
    pub fn list(&self) -> Result<Vec<(String, u64)>, CacheError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(prefix))
            .map_err(|e| self.failed("cannot list the cache".into(), e))?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| Some((o.location.filename()?.to_string(), o.size)))
            .collect())
    }

    /// The bytes of file `name`.
    pub fn get(&self, name: &str) -> Result<Vec<u8>, CacheError> {
        let key = self.key(name);
        self.runtime
            .block_on(async {
                let got = self.store.get(&key).await?;
                got.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| self.failed(format!("cannot read {name}"), e))
    }

    /// Stores `bytes` whole as file `name` (one PUT: a reader sees the old file or the
    /// new one, never part of it).
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), CacheError> {
        distill_core::fault::point("uploading a cache file")
            .map_err(|e| CacheError::io(Path::new(&self.url), e))?;
        let key = self.key(name);
        self.runtime
            .block_on(self.store.put(&key, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.failed(format!("cannot write {name}"), e))
    }

    /// Removes file `name`.
    pub fn delete(&self, name: &str) -> Result<(), CacheError> {
        let key = self.key(name);
        self.runtime
            .block_on(self.store.delete(&key))
            .map_err(|e| self.failed(format!("cannot remove {name}"), e))
    }

    /// Brings the cache files (manifests and parts) down into `local`, one at a time,
    /// replacing what `local` held of them; files `local` already holds with the same size
    /// and name are kept (the manifests' checksums are checked when the cache is opened).
    /// Other files under the prefix are refused, as in a local cache folder.
    pub fn pull(&self, local: &Path) -> Result<(), CacheError> {
        self.pull_some(local, |_| true)
    }

    /// [`RemoteCache::pull`] of the files for which `wanted` holds (a shard's own), and
    /// the manifests.
    pub(crate) fn pull_some(
        &self,
        local: &Path,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<(), CacheError> {
        std::fs::create_dir_all(local).map_err(|e| CacheError::io(local, e))?;
        let listed = self.list()?;
        if let Some((other, _)) = listed
            .iter()
            .find(|(n, _)| !crate::writer::is_cache_file(n))
        {
            return Err(CacheError::NotACache {
                path: PathBuf::from(&self.url),
                found: other.clone(),
            });
        }
        let remote: Vec<&String> = listed.iter().map(|(n, _)| n).collect();
        // What the local copy holds that the store does not is stale.
        if let Ok(entries) = std::fs::read_dir(local) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if crate::writer::is_cache_file(&name)
                    && !name.starts_with(distill_core::LOCK_FILE)
                    && !remote.contains(&&name)
                {
                    let path = entry.path();
                    std::fs::remove_file(&path).map_err(|e| CacheError::io(&path, e))?;
                }
            }
        }
        for (name, size) in &listed {
            let path = local.join(name);
            let manifest = !name.ends_with(".parquet");
            if !manifest && !wanted(name) {
                continue;
            }
            let same = std::fs::metadata(&path).is_ok_and(|m| m.len() == *size);
            if manifest || !same {
                crate::atomic::write_bytes_atomic(&path, &self.get(name)?)?;
            }
        }
        Ok(())
    }
}
