//! Writing a cache: resumable, one part at a time, manifest last.
//!
//! Rows arrive in dataset order. They fill part files of `rows_per_part` rows; each part is
//! written to a temporary name, synced and renamed, then the manifest is rewritten (with
//! `complete: false` until the last part). A rerun of the same job finds the parts the
//! manifest lists, checks them, and continues from the first missing one, so an interrupted
//! and an uninterrupted run leave the same files.

use std::fs;
use std::path::{Path, PathBuf};

use crate::part::{CachePart, part_file_name, write_part};
use crate::{CacheError, MANIFEST_FILE, Manifest, PartInfo};

/// Writes a cache: resumable, one part at a time, manifest last.
pub struct CacheWriter {
    dir: PathBuf,
    manifest: Manifest,
    pending: CachePart,
}

/// Whether `name` is a file this crate writes into a cache directory.
fn is_cache_file(name: &str) -> bool {
    let part = |n: &str| {
        n.strip_prefix("part-")
            .and_then(|n| n.strip_suffix(".parquet"))
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    };
    name == MANIFEST_FILE
        || part(name)
        || name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial"))
            .is_some_and(|n| n == MANIFEST_FILE || part(n))
}

fn io_err(path: &Path, e: std::io::Error) -> CacheError {
    CacheError::io(path, e)
}

/// Names of the entries of `dir`.
fn entries(dir: &Path) -> Result<Vec<String>, CacheError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Removes the cache files of `dir` for which `doomed` holds.
fn remove_cache_files(dir: &Path, doomed: impl Fn(&str) -> bool) -> Result<(), CacheError> {
    for name in entries(dir)? {
        if is_cache_file(&name) && doomed(&name) {
            let path = dir.join(&name);
            fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
    }
    Ok(())
}

/// The finished parts of `old` that are still intact on disk, in order, up to the first
/// one that is missing, altered or of the wrong size.
fn intact_prefix(dir: &Path, old: &Manifest) -> Vec<PartInfo> {
    let mut kept = Vec::new();
    for (index, info) in old.parts.iter().enumerate() {
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

impl CacheWriter {
    /// Opens `dir` for the cache `template` describes (its `parts` are ignored).
    ///
    /// A missing or empty directory starts a new cache. One holding a cache with the same
    /// identity ([`Manifest::identity`]) resumes after its intact parts. One holding a cache
    /// with another identity is refused, naming every difference, unless `overwrite`. A
    /// directory with other files and no cache in it is always refused.
    pub fn open(dir: &Path, template: Manifest, overwrite: bool) -> Result<Self, CacheError> {
        if template.rows_per_part == 0 {
            return Err(CacheError::BadData("rows per part must be positive".into()));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(CacheError::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                ),
            ));
        }
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let names = entries(dir)?;
        let mut manifest = template;
        manifest.parts.clear();
        manifest.complete = false;
        if names.iter().any(|n| n == MANIFEST_FILE) {
            match Manifest::read(dir) {
                Ok(old) => {
                    let diffs = old.identity_diff(&manifest);
                    if !diffs.is_empty() && !overwrite {
                        return Err(CacheError::Mismatch {
                            path: dir.to_path_buf(),
                            diffs: diffs.join("; "),
                        });
                    }
                    if diffs.is_empty() && !overwrite {
                        manifest.parts = intact_prefix(dir, &old);
                    }
                }
                Err(e) if !overwrite => {
                    return Err(CacheError::Mismatch {
                        path: dir.to_path_buf(),
                        diffs: e.to_string(),
                    });
                }
                Err(_) => {}
            }
        } else if let Some(other) = names.iter().find(|n| !is_cache_file(n)) {
            return Err(CacheError::NotACache {
                path: dir.to_path_buf(),
                found: other.clone(),
            });
        }
        // Everything not kept is rewritten: stale temporaries, parts after the first gap,
        // and the manifest, which must not list parts that are about to change.
        let kept: Vec<String> = manifest.parts.iter().map(|p| p.file.clone()).collect();
        remove_cache_files(dir, |name| !kept.iter().any(|k| k == name))?;
        if manifest.parts.len() == manifest.expected_parts() {
            manifest.complete = true;
        }
        if !kept.is_empty() {
            manifest.write(dir)?;
        }
        let pending = CachePart {
            sample_ids: Vec::new(),
            labels: Vec::new(),
            logits: Vec::new(),
            keys: Vec::new(),
        };
        Ok(CacheWriter {
            dir: dir.to_path_buf(),
            manifest,
            pending,
        })
    }

    /// Rows already on disk: the dataset position the job continues from.
    pub fn rows_done(&self) -> usize {
        self.manifest.rows()
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
    /// datasets without keys), writing every part that fills up.
    pub fn push(
        &mut self,
        sample_ids: &[u64],
        labels: &[Option<i32>],
        logits: &[f32],
        keys: &[String],
    ) -> Result<(), CacheError> {
        let classes = self.manifest.num_classes;
        if labels.len() != sample_ids.len()
            || logits.len() != sample_ids.len() * classes
            || !(keys.is_empty() || keys.len() == sample_ids.len())
        {
            return Err(CacheError::BadData(format!(
                "{} ids, {} labels, {} keys and {} logits for {classes} classes",
                sample_ids.len(),
                labels.len(),
                keys.len(),
                logits.len()
            )));
        }
        let mut offset = 0;
        while offset < sample_ids.len() {
            let index = self.manifest.parts.len();
            let want = self.manifest.expected_rows(index);
            if want == 0 {
                return Err(CacheError::BadData(format!(
                    "more rows than the {} samples the manifest announces",
                    self.manifest.dataset.samples
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
            self.pending
                .logits
                .extend_from_slice(&logits[rows.start * classes..rows.end * classes]);
            offset += take;
            if self.pending.sample_ids.len() == want {
                self.flush_part()?;
            }
        }
        Ok(())
    }

    fn flush_part(&mut self) -> Result<(), CacheError> {
        let index = self.manifest.parts.len();
        let info = write_part(&self.dir, &self.manifest, index, &self.pending)?;
        self.manifest.parts.push(info);
        self.pending.sample_ids.clear();
        self.pending.labels.clear();
        self.pending.logits.clear();
        self.pending.keys.clear();
        self.manifest.write(&self.dir)
    }

    /// Marks the cache complete; every row must have been pushed.
    pub fn finish(mut self) -> Result<Manifest, CacheError> {
        if self.manifest.parts.len() != self.manifest.expected_parts() {
            return Err(CacheError::BadData(format!(
                "{} of {} rows were written",
                self.manifest.rows() + self.pending.sample_ids.len(),
                self.manifest.dataset.samples
            )));
        }
        self.manifest.complete = true;
        self.manifest.write(&self.dir)?;
        Ok(self.manifest)
    }
}
