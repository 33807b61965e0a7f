//! Reading a cache for training and inspection: part by part (bounded memory) or all at
//! once into one `[rows, classes]` array, every part checked against the manifest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::part::{CachePart, read_part};
use crate::{CacheError, Manifest, ShardState, TopKRows};

/// A cache opened for reading: its manifest, checked against the part files on disk.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # write_example_cache(dir.path())?;
/// use distill_cache::CacheReader;
///
/// let reader = CacheReader::open(dir.path())?;
/// reader.require_complete()?;
/// let m = reader.manifest();
/// println!("{} rows of {} classes from teacher {}", m.rows(), m.num_classes, m.teacher.sha256);
///
/// // Part by part, memory bounded by one part:
/// for part in reader.parts() {
///     let part = part?; // checksum, row count and schema verified
///     assert_eq!(part.logits.len(), part.sample_ids.len() * m.num_classes);
/// }
/// // Or all at once, with lookup by sample id:
/// let cache = reader.load()?;
/// let first = cache.logits_of(cache.sample_ids[0]).expect("every row has an id");
/// assert_eq!(first.len(), m.num_classes);
/// # assert_eq!(reader.teacher_accuracy()?.map(|a| a.labelled), Some(3));
/// # Ok(()) }
/// # fn write_example_cache(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
/// #     use distill_cache::*;
/// #     let manifest = Manifest {
/// #         format_version: FORMAT_VERSION, num_classes: 2, dtype: LogitDtype::F32,
/// #         storage: Storage::Dense, rows_per_part: 2,
/// #         teacher: TeacherInfo { file: "t.onnx".into(), sha256: "0".repeat(64),
/// #             input: "x".into(), input_shape: vec![None, Some(4)], output: "y".into(),
/// #             output_shape: vec![None, Some(2)], output_kind: OutputKind::Logits },
/// #         dataset: DatasetInfo { source: "csv:t.csv".into(), split: "train".into(),
/// #             samples: 3, fingerprint: "f".into(), content: None, classes: vec![],
/// #             skipped: vec![] },
/// #         preprocess: distill_core::Preprocess::default(), tool_version: "doc".into(),
/// #         parts: vec![], complete: false, views: None, shard: None, shards: None,
/// #     };
/// #     let mut w = CacheWriter::open(dir, manifest, false)?;
/// #     w.push(&[0, 1, 2], &[Some(0), Some(1), Some(1)], &[1., 0., 0., 1., 0.5, 0.], &[])?;
/// #     w.finish()?;
/// #     Ok(())
/// # }
/// ```
pub struct CacheReader {
    dir: PathBuf,
    manifest: Manifest,
    /// Where each shard of a cache written in shards stands (empty otherwise).
    shards: Vec<ShardState>,
}

/// A whole cache in memory, rows in part order (= dataset order).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheArray {
    /// The sample id of each row.
    pub sample_ids: Vec<u64>,
    /// The label of each row, where known.
    pub labels: Vec<Option<i32>>,
    /// `[rows, classes]`, row-major; empty for a top-k cache.
    pub logits: Vec<f32>,
    /// The rows of a top-k cache.
    pub topk: Option<TopKRows>,
    /// The relative path or source key of each row, for file-based datasets; empty
    /// otherwise.
    pub keys: Vec<String>,
    /// Classes per row.
    pub classes: usize,
    /// Row of each sample id.
    index: HashMap<u64, usize>,
}

impl CacheArray {
    /// Rows held.
    pub fn rows(&self) -> usize {
        self.sample_ids.len()
    }

    /// Logits of row `i` (of a dense cache).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }

    /// The row of sample `id`, if the cache holds it.
    pub fn position_of(&self, id: u64) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// The logits of sample `id`, if the dense cache holds it.
    pub fn logits_of(&self, id: u64) -> Option<&[f32]> {
        self.position_of(id).map(|i| self.row(i))
    }
}

impl CacheReader {
    /// Opens the cache in `dir`: reads its manifest and checks that every listed part file
    /// exists and that the row counts add up. Contents are checked as parts are read.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        if !dir.is_dir() {
            return Err(CacheError::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such cache directory"),
            ));
        }
        // A cache written in shards and not yet merged is read through its shards'
        // manifests.
        let (manifest, shards) = match crate::merge_shards(dir)? {
            Some((merged, states)) if !dir.join(crate::MANIFEST_FILE).exists() => (merged, states),
            Some((_, states)) => (Manifest::read(dir)?, states),
            None => (Manifest::read(dir)?, Vec::new()),
        };
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
        if manifest.complete && manifest.rows() != manifest.total_rows() {
            return Err(CacheError::Corrupt {
                path: dir.join(crate::MANIFEST_FILE),
                reason: format!(
                    "marked complete with {} of {} rows",
                    manifest.rows(),
                    manifest.total_rows()
                ),
            });
        }
        Ok(CacheReader {
            dir: dir.to_path_buf(),
            manifest,
            shards,
        })
    }

    /// Where each shard stands, for a cache written in shards (empty otherwise).
    pub fn shards(&self) -> &[ShardState] {
        &self.shards
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An error unless every part of the cache was written.
    pub fn require_complete(&self) -> Result<(), CacheError> {
        if self.manifest.complete {
            return Ok(());
        }
        if let Some(first) = self.shards.first() {
            let missing: Vec<String> = self
                .shards
                .iter()
                .filter(|s| !s.complete)
                .map(|s| format!("{} ({})", s.shard.index, s))
                .collect();
            return Err(CacheError::ShardsIncomplete {
                path: self.dir.clone(),
                missing: missing.join(", "),
                count: first.shard.count,
            });
        }
        Err(CacheError::Incomplete {
            path: self.dir.clone(),
            rows: self.manifest.rows(),
            expected: self.manifest.total_rows(),
        })
    }

    /// Bytes on disk of the manifest and the listed parts.
    pub fn size_on_disk(&self) -> u64 {
        self.manifest.size_on_disk(&self.dir)
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

    /// Every written row in one array, with its keys and an index by sample id.
    pub fn load(&self) -> Result<CacheArray, CacheError> {
        let rows = self.manifest.rows();
        let classes = self.manifest.num_classes;
        let mut all = CacheArray {
            sample_ids: Vec::with_capacity(rows),
            labels: Vec::with_capacity(rows),
            logits: Vec::new(),
            topk: None,
            keys: Vec::new(),
            classes,
            index: HashMap::with_capacity(rows),
        };
        for part in self.parts() {
            let part = part?;
            all.sample_ids.extend(part.sample_ids);
            all.labels.extend(part.labels);
            all.logits.extend(part.logits);
            if let Some(t) = part.topk {
                let to = all.topk.get_or_insert_with(|| TopKRows::new(t.k));
                to.extend_from(&t, 0..t.rows());
            }
            all.keys.extend(part.keys);
        }
        all.index = all
            .sample_ids
            .iter()
            .enumerate()
            .map(|(row, &id)| (id, row))
            .collect();
        Ok(all)
    }
}
