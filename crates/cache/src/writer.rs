//! Writing a cache: resumable, one part at a time, manifest last.
//!
//! Rows arrive in dataset order. They fill part files of `rows_per_part` rows; each part is
//! written to a temporary name, synced and renamed, then the manifest is rewritten (with
//! `complete: false` until the last part). A rerun of the same job finds the parts the
//! manifest lists, checks them, and continues from the first missing one, so an interrupted
//! and an uninterrupted run leave the same files.

use std::fs;
use std::path::{Path, PathBuf};

use distill_core::{DirLock, LOCK_FILE, is_partial};

use crate::manifest::{shard_of_manifest_name, shard_tag};
use crate::part::{CachePart, CachedView, part_file_name, write_part};
use crate::shards::{has_merged_manifest, shard_manifests, write_merged_if_complete};
use crate::{
    CacheError, LogitDtype, MANIFEST_FILE, Manifest, PartInfo, RemoteCache, Storage, TopKRows,
    is_remote,
};

/// Writes a cache: resumable, one part at a time, manifest last. It holds the cache
/// directory's lock: a second writer of the same directory is refused at once.
pub struct CacheWriter {
    dir: PathBuf,
    manifest: Manifest,
    pending: CachePart,
    /// The content hash of the samples of the part being filled.
    pending_content: Option<String>,
    /// Where the cache is published when it lives on object storage (`dir` is then its
    /// local copy).
    remote: Option<RemoteCache>,
    _lock: DirLock,
}

/// The largest magnitude a half-precision float holds.
const F16_MAX: f32 = 65504.0;

/// The index of the part file `name` (`part-00000.parquet`), if it is one.
fn part_index(name: &str) -> Option<usize> {
    name.strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".parquet"))
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

/// The lock a writer of `m` holds: the directory's, or its shard's own (shards write one
/// directory at once).
fn lock_name(m: &Manifest) -> String {
    m.shard.map_or_else(
        || LOCK_FILE.to_string(),
        |s| format!("{LOCK_FILE}.{}", shard_tag(s)),
    )
}

/// The final name of the cache file `name` (itself, or what a temporary file becomes), if
/// it is a file this crate writes into a cache directory: a manifest (the cache's or a
/// shard's), a part, a temporary file of either, or a lock.
fn cache_file_target(name: &str) -> Option<&str> {
    let ours = |of: &str| {
        of == MANIFEST_FILE || shard_of_manifest_name(of).is_some() || part_index(of).is_some()
    };
    if ours(name) || name == LOCK_FILE || name.starts_with(&format!("{LOCK_FILE}.shard-")) {
        return Some(name);
    }
    let inner = name.strip_prefix('.')?.strip_suffix(".partial")?;
    // `.NAME.partial`, as distill 0.1 named them.
    if ours(inner) {
        return Some(inner);
    }
    // `.NAME.PID.partial`.
    let (of, _pid) = inner.rsplit_once('.')?;
    (ours(of) && is_partial(name, of)).then_some(of)
}

/// Whether `name` is a file this crate writes into a cache directory.
pub(crate) fn is_cache_file(name: &str) -> bool {
    cache_file_target(name).is_some()
}

/// Whether the cache file `name` belongs to the writer of `m`: every cache file but the
/// lock for a whole cache; a shard's own manifest and parts (and their temporaries) for a
/// shard, which never touches another shard's files.
fn owned_by(m: &Manifest, name: &str) -> bool {
    let Some(target) = cache_file_target(name) else {
        return false;
    };
    if target == lock_name(m) {
        return false;
    }
    match m.shard {
        None => target != LOCK_FILE,
        Some(_) => {
            target == m.file_name()
                || part_index(target).is_some_and(|i| m.part_range().contains(&i))
        }
    }
}

fn io_err(path: &Path, e: std::io::Error) -> CacheError {
    CacheError::io(path, e)
}

/// The intact parts of the cache already in `dir` that the cache `new` continues: none
/// when overwriting. A cache with another identity is refused unless overwriting; a
/// `manifest.json` that is not a distill cache's is never replaced.
fn previous_parts(
    dir: &Path,
    new: &Manifest,
    overwrite: bool,
) -> Result<(Vec<PartInfo>, Option<String>), CacheError> {
    match Manifest::read_file(&dir.join(new.file_name())) {
        Ok(_) if overwrite => Ok((Vec::new(), None)),
        Ok(old) => {
            let diffs = old.identity_diff(new);
            if !diffs.is_empty() && !overwrite {
                return Err(CacheError::Mismatch {
                    path: dir.to_path_buf(),
                    diffs: diffs.join("; "),
                });
            }
            Ok((intact_prefix(dir, &old), old.dataset.content))
        }
        Err(_) if overwrite && new.shard.is_some() => Ok((Vec::new(), None)),
        Err(e) if new.shard.is_some() => Err(CacheError::Mismatch {
            path: dir.join(new.file_name()),
            diffs: e.to_string(),
        }),
        Err(_) if overwrite && Manifest::is_distills(dir) => Ok((Vec::new(), None)),
        Err(e) if Manifest::is_distills(dir) => Err(CacheError::Mismatch {
            path: dir.to_path_buf(),
            diffs: e.to_string(),
        }),
        Err(_) => Err(CacheError::NotACache {
            path: dir.to_path_buf(),
            found: format!("{MANIFEST_FILE}, which is not a distill cache manifest"),
        }),
    }
}

/// Names of the entries of `dir` (none when it does not exist).
fn entries(dir: &Path) -> Result<Vec<String>, CacheError> {
    let mut names = Vec::new();
    if !dir.exists() {
        return Ok(names);
    }
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Removes the cache files of `dir` for which `doomed` holds; returns their names.
fn remove_cache_files(
    dir: &Path,
    doomed: impl Fn(&str) -> bool,
) -> Result<Vec<String>, CacheError> {
    let mut removed = Vec::new();
    for name in entries(dir)? {
        if is_cache_file(&name) && doomed(&name) {
            let path = dir.join(&name);
            fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The finished parts of `old` that are still intact on disk, in order, up to the first
/// one that is missing, altered or of the wrong size.
fn intact_prefix(dir: &Path, old: &Manifest) -> Vec<PartInfo> {
    let mut kept = Vec::new();
    for (k, info) in old.parts.iter().enumerate() {
        let index = old.part_range().start + k;
        let path = dir.join(&info.file);
        let intact = info.file == part_file_name(index)
            && info.rows == old.expected_rows(index)
            && fs::read(&path).is_ok_and(|bytes| distill_core::sha256_hex(&bytes) == info.sha256);
        if !intact {
            break;
        }
        kept.push(info.clone());
    }
    kept
}

/// Refuses to write `new` beside caches it would mix with: a whole cache into a directory
/// of shards, a shard into a directory of a whole (unsharded) cache, or beside shards of
/// another count or identity. Overwriting replaces a whole cache's shards, and lets a
/// shard ignore the others (each replaces its own).
fn check_neighbours(dir: &Path, new: &Manifest, overwrite: bool) -> Result<(), CacheError> {
    if overwrite {
        return Ok(());
    }
    let refuse = |path: &Path, why: String| {
        Err(CacheError::Mismatch {
            path: path.to_path_buf(),
            diffs: why,
        })
    };
    let shards = shard_manifests(dir)?;
    match new.shard {
        None => {
            if let Some((shard, _)) = shards.first() {
                return refuse(
                    dir,
                    format!("it holds a cache written in {} shards", shard.count),
                );
            }
        }
        Some(mine) => {
            if dir.join(MANIFEST_FILE).exists() && !has_merged_manifest(dir) {
                return refuse(dir, "it holds a cache written whole, not in shards".into());
            }
            for (shard, m) in &shards {
                let diffs = m.identity_diff(new);
                if shard.count != mine.count {
                    return refuse(
                        &dir.join(m.file_name()),
                        format!(
                            "shard {shard} of {} shards, this one is {mine}",
                            shard.count
                        ),
                    );
                }
                if *shard != mine && !diffs.is_empty() {
                    return refuse(
                        &dir.join(m.file_name()),
                        format!(
                            "shard {shard} was written with other settings: {}",
                            diffs.join("; ")
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

impl CacheWriter {
    /// Opens `dir` for the cache `template` describes (its `parts` are ignored).
    ///
    /// A missing or empty directory starts a new cache. One holding a cache with the same
    /// identity ([`Manifest::identity`]) resumes after its intact parts. One holding a cache
    /// with another identity is refused, naming every difference, unless `overwrite`. A
    /// directory with other files and no cache in it is always refused.
    ///
    /// `dir` may be `s3://bucket/prefix`: the cache is then written in a local copy
    /// ([`RemoteCache::default_local_copy`]) and every file PUT whole to the store after it
    /// is written there, parts before the manifest that lists them. What the store holds
    /// is brought down first, so a rerun resumes there. Two writers on one machine are
    /// refused by the local copy's lock; the store itself has none.
    pub fn open(dir: &Path, template: Manifest, overwrite: bool) -> Result<Self, CacheError> {
        if is_remote(dir) {
            let remote = RemoteCache::open(&dir.to_string_lossy())?;
            let local = remote.default_local_copy();
            // Only this writer's parts are needed (a shard's own); every manifest comes.
            remote.pull_some(&local, |name| owned_by(&template, name))?;
            return CacheWriter::open_in(&local, template, overwrite, Some(remote));
        }
        CacheWriter::open_in(dir, template, overwrite, None)
    }

    fn open_in(
        dir: &Path,
        template: Manifest,
        overwrite: bool,
        remote: Option<RemoteCache>,
    ) -> Result<Self, CacheError> {
        if template.rows_per_part == 0 {
            return Err(CacheError::BadData("rows per part must be positive".into()));
        }
        template
            .storage
            .check(template.num_classes)
            .map_err(CacheError::BadData)?;
        if dir.exists() && !dir.is_dir() {
            return Err(CacheError::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ),
            ));
        }
        // Never write among files distill did not write, overwrite or not.
        if let Some(other) = entries(dir)?.into_iter().find(|n| !is_cache_file(n)) {
            return Err(CacheError::NotACache {
                path: dir.to_path_buf(),
                found: other,
            });
        }
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let lock = DirLock::try_acquire(dir, &lock_name(&template), "writing a logit cache")?;
        let mut manifest = template;
        manifest.parts.clear();
        manifest.complete = false;
        manifest.shards = None;
        check_neighbours(dir, &manifest, overwrite)?;
        let mut content = None;
        if dir.join(manifest.file_name()).exists() {
            (manifest.parts, content) = previous_parts(dir, &manifest, overwrite)?;
        }
        // Everything of this writer's not kept is rewritten: stale temporaries, parts after
        // the first gap, and the manifest, which must not list parts that are about to
        // change.
        let kept: Vec<String> = manifest.parts.iter().map(|p| p.file.clone()).collect();
        let mut removed = remove_cache_files(dir, |name| {
            owned_by(&manifest, name) && !kept.iter().any(|k| k == name)
        })?;
        // A shard with work to do (or another identity) takes down the merged manifest of
        // the shards, which lists its parts; the last shard to finish writes it again.
        let merged = dir.join(MANIFEST_FILE);
        if manifest.shard.is_some()
            && merged.exists()
            && (manifest.parts.len() < manifest.expected_parts()
                || Manifest::read(dir).is_ok_and(|m| !m.identity_diff(&manifest).is_empty()))
        {
            fs::remove_file(&merged).map_err(|e| io_err(&merged, e))?;
            removed.push(MANIFEST_FILE.to_string());
        }
        if let Some(remote) = &remote {
            // The store loses what the local copy lost (never a temporary: none is stored).
            let stored: Vec<String> = remote.list()?.into_iter().map(|(n, _)| n).collect();
            for name in removed.iter().filter(|n| stored.contains(n)) {
                remote.delete(name)?;
            }
        }
        if manifest.parts.len() == manifest.expected_parts() {
            manifest.complete = true;
            // Nothing is written again: the content hash recorded stays.
            manifest.dataset.content = content;
        }
        let writer = CacheWriter {
            dir: dir.to_path_buf(),
            manifest,
            pending: CachePart::default(),
            pending_content: None,
            remote,
            _lock: lock,
        };
        if !kept.is_empty() {
            writer.write_manifest()?;
        }
        Ok(writer)
    }

    /// The cache row the job continues from: after the rows on disk (of this shard's).
    pub fn rows_done(&self) -> usize {
        self.manifest.first_row() + self.manifest.rows()
    }

    /// Parts already on disk.
    pub fn parts_done(&self) -> usize {
        self.manifest.parts.len()
    }

    /// The manifest as it stands (the parts written so far).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends rows (`logits` is `[rows, classes]`; `keys` one per row, or empty for
    /// datasets without keys), writing every part that fills up. A top-k cache keeps each
    /// row's top k and tail summary as the row arrives.
    pub fn push(
        &mut self,
        sample_ids: &[u64],
        labels: &[Option<i32>],
        logits: &[f32],
        keys: &[String],
    ) -> Result<(), CacheError> {
        self.push_views(sample_ids, labels, logits, keys, &[])
    }

    /// [`push`](Self::push) for a cache of views: `views` holds each row's view (one per
    /// row for a v2 cache, none for v1).
    pub fn push_views(
        &mut self,
        sample_ids: &[u64],
        labels: &[Option<i32>],
        logits: &[f32],
        keys: &[String],
        views: &[CachedView],
    ) -> Result<(), CacheError> {
        let classes = self.manifest.num_classes;
        let want_views = if self.manifest.views.is_some() {
            sample_ids.len()
        } else {
            0
        };
        if labels.len() != sample_ids.len()
            || logits.len() != sample_ids.len() * classes
            || !(keys.is_empty() || keys.len() == sample_ids.len())
            || views.len() != want_views
        {
            return Err(CacheError::BadData(format!(
                "{} ids, {} labels, {} keys, {} views and {} logits for {classes} classes",
                sample_ids.len(),
                labels.len(),
                keys.len(),
                views.len(),
                logits.len()
            )));
        }
        if self.manifest.dtype == LogitDtype::F16
            && let Some(i) = logits
                .iter()
                .position(|v| v.is_finite() && v.abs() > F16_MAX)
        {
            return Err(CacheError::F16Range {
                path: self.dir.clone(),
                sample_id: sample_ids[i / classes],
                value: logits[i],
            });
        }
        let mut offset = 0;
        while offset < sample_ids.len() {
            let index = self.manifest.part_range().start + self.manifest.parts.len();
            let want = self.manifest.expected_rows(index);
            if want == 0 || index >= self.manifest.part_range().end {
                return Err(CacheError::BadData(format!(
                    "more rows than the {} the manifest announces",
                    self.manifest.total_rows()
                )));
            }
            let take = (want - self.pending.sample_ids.len()).min(sample_ids.len() - offset);
            let rows = offset..offset + take;
            self.pending
                .sample_ids
                .extend_from_slice(&sample_ids[rows.clone()]);
            self.pending.labels.extend_from_slice(&labels[rows.clone()]);
            if !keys.is_empty() {
                self.pending.keys.extend_from_slice(&keys[rows.clone()]);
            }
            if !views.is_empty() {
                self.pending.views.extend_from_slice(&views[rows.clone()]);
            }
            let dense = &logits[rows.start * classes..rows.end * classes];
            match self.manifest.storage {
                Storage::Dense => self.pending.logits.extend_from_slice(dense),
                Storage::TopK { k } => self
                    .pending
                    .topk
                    .get_or_insert_with(|| TopKRows::new(k))
                    .push_dense(dense, classes),
            }
            offset += take;
            if self.pending.sample_ids.len() == want {
                self.flush_part()?;
            }
        }
        Ok(())
    }

    /// The content hash of the samples of the part being filled (a streamed split's), to
    /// record with it when it is written.
    pub fn part_content(&mut self, content: Option<String>) {
        self.pending_content = content;
    }

    /// The content hash of the whole split (a streamed split's), recorded when the cache
    /// is finished.
    pub fn dataset_content(&mut self, content: Option<String>) {
        self.manifest.dataset.content = content;
    }

    fn flush_part(&mut self) -> Result<(), CacheError> {
        let index = self.manifest.part_range().start + self.manifest.parts.len();
        let mut info = write_part(&self.dir, &self.manifest, index, &self.pending)?;
        info.content = self.pending_content.take();
        self.publish(&info.file)?;
        self.manifest.parts.push(info);
        self.pending = CachePart::default();
        self.write_manifest()
    }

    /// Writes the manifest, and publishes it.
    fn write_manifest(&self) -> Result<(), CacheError> {
        self.manifest.write(&self.dir)?;
        self.publish(&self.manifest.file_name())
    }

    /// PUTs the file `name` of the local copy whole to the store, for a cache on object
    /// storage.
    fn publish(&self, name: &str) -> Result<(), CacheError> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let path = self.dir.join(name);
        remote.put(name, fs::read(&path).map_err(|e| io_err(&path, e))?)
    }

    /// Marks the cache complete; every row must have been pushed.
    pub fn finish(mut self) -> Result<Manifest, CacheError> {
        if self.manifest.parts.len() != self.manifest.expected_parts() {
            return Err(CacheError::BadData(format!(
                "{} of {} rows were written",
                self.manifest.rows() + self.pending.sample_ids.len(),
                self.manifest.total_rows()
            )));
        }
        self.manifest.complete = true;
        self.write_manifest()?;
        if self.manifest.shard.is_some() {
            // The other shards' manifests as they stand now, from wherever they write.
            if let Some(remote) = &self.remote {
                remote.pull_some(&self.dir, |_| false)?;
            }
            if write_merged_if_complete(&self.dir)? {
                self.publish(MANIFEST_FILE)?;
            }
        }
        Ok(self.manifest)
    }
}
