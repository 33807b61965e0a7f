//! Reading a cache for training and inspection: part by part (bounded memory) or all at
//! once into one `[rows, classes]` array, every part checked against the manifest.

use std::path::{Path, PathBuf};

use crate::part::{CachePart, read_part};
use crate::{CacheError, Manifest};

pub struct CacheReader {
    dir: PathBuf,
    manifest: Manifest,
}

/// A whole cache in memory, rows in part order (= dataset order).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheArray {
    pub sample_ids: Vec<u64>,
    pub labels: Vec<Option<i32>>,
    /// `[rows, classes]`, row-major.
    pub logits: Vec<f32>,
    pub classes: usize,
}

impl CacheArray {
    pub fn rows(&self) -> usize {
        self.sample_ids.len()
    }

    /// Logits of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }
}

impl CacheReader {
    /// Opens the cache in `dir`: reads its manifest and checks that every listed part file
    /// exists and that the row counts add up. Contents are checked as parts are read.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        if !dir.is_dir() {
            return Err(CacheError::Read {
                path: dir.to_path_buf(),
                reason: "no such cache directory".into(),
            });
        }
        let manifest = Manifest::read(dir)?;
        for (index, info) in manifest.parts.iter().enumerate() {
            let path = dir.join(&info.file);
            if !path.is_file() {
                return Err(CacheError::MissingPart { path });
            }
            if info.rows != manifest.expected_rows(index) {
                return Err(CacheError::Corrupt {
                    path,
                    reason: format!(
                        "the manifest lists {} rows for part {index}, expected {}",
                        info.rows,
                        manifest.expected_rows(index)
                    ),
                });
            }
        }
        if manifest.complete && manifest.rows() != manifest.dataset.samples {
            return Err(CacheError::Corrupt {
                path: dir.join(crate::MANIFEST_FILE),
                reason: format!(
                    "marked complete with {} of {} rows",
                    manifest.rows(),
                    manifest.dataset.samples
                ),
            });
        }
        Ok(CacheReader {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An error unless every part of the cache was written.
    pub fn require_complete(&self) -> Result<(), CacheError> {
        if self.manifest.complete {
            return Ok(());
        }
        Err(CacheError::Incomplete {
            path: self.dir.clone(),
            rows: self.manifest.rows(),
            expected: self.manifest.dataset.samples,
        })
    }

    /// Bytes on disk of the manifest and the listed parts.
    pub fn size_on_disk(&self) -> u64 {
        std::iter::once(crate::MANIFEST_FILE)
            .chain(self.manifest.parts.iter().map(|p| p.file.as_str()))
            .filter_map(|name| std::fs::metadata(self.dir.join(name)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Reads part `index` (checksum, row count and schema checked).
    pub fn part(&self, index: usize) -> Result<CachePart, CacheError> {
        let info = self.manifest.parts.get(index).ok_or_else(|| {
            CacheError::BadData(format!(
                "{}: the cache has {} parts, not {}",
                self.dir.display(),
                self.manifest.parts.len(),
                index + 1
            ))
        })?;
        read_part(&self.dir, &self.manifest, info)
    }

    /// The parts in order, one at a time: memory stays at one part however large the
    /// cache.
    pub fn parts(&self) -> impl Iterator<Item = Result<CachePart, CacheError>> + '_ {
        (0..self.manifest.parts.len()).map(|i| self.part(i))
    }

    /// Every written row in one array.
    pub fn load(&self) -> Result<CacheArray, CacheError> {
        let rows = self.manifest.rows();
        let classes = self.manifest.num_classes;
        let mut all = CacheArray {
            sample_ids: Vec::with_capacity(rows),
            labels: Vec::with_capacity(rows),
            logits: Vec::with_capacity(rows * classes),
            classes,
        };
        for part in self.parts() {
            let part = part?;
            all.sample_ids.extend(part.sample_ids);
            all.labels.extend(part.labels);
            all.logits.extend(part.logits);
        }
        Ok(all)
    }
}
