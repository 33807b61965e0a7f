//! Checking a cache against what it claims to come from: the teacher (by the SHA-256 of its
//! file), the dataset split (by fingerprint), and the teacher's top-1 accuracy on the
//! cached labels.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{CacheError, CacheReader, LogitDtype, Manifest, ShardState, Storage};

/// The teacher's top-1 accuracy on the rows that have a label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TeacherAccuracy {
    /// Share of labelled rows whose largest logit is the label.
    pub accuracy: f64,
    /// Rows with a label.
    pub labelled: usize,
}

impl CacheReader {
    /// An error unless `teacher` is the file the cache was made with (same SHA-256).
    pub fn verify_teacher(&self, teacher: &Path) -> Result<(), CacheError> {
        let sha = distill_core::sha256_file(teacher).map_err(|source| CacheError::Io {
            path: teacher.to_path_buf(),
            source,
        })?;
        let cached = &self.manifest().teacher.sha256;
        if &sha != cached {
            return Err(CacheError::OtherTeacher {
                cache: self.dir().to_path_buf(),
                teacher: teacher.to_path_buf(),
                cached: cached.clone(),
                given: sha,
            });
        }
        Ok(())
    }

    /// An error unless the cache was made from a split named `split` of `samples` samples
    /// with this dataset `fingerprint` (see `distill_data::Dataset::fingerprint`) and, for
    /// a streamed split whose cache records its content hash, this `content`.
    pub fn verify_dataset(
        &self,
        split: &str,
        samples: usize,
        fingerprint: &str,
        content: Option<&str>,
    ) -> Result<(), CacheError> {
        let d = &self.manifest().dataset;
        let other_content = matches!((d.content.as_deref(), content), (Some(a), Some(b)) if a != b);
        if d.split != split || d.samples != samples || d.fingerprint != fingerprint || other_content
        {
            let with_content = |c: Option<&str>| match c {
                Some(c) if other_content => format!(", content {c}"),
                _ => String::new(),
            };
            return Err(CacheError::OtherData {
                cache: self.dir().to_path_buf(),
                cached: format!(
                    "split '{}', {} samples, fingerprint {}{}",
                    d.split,
                    d.samples,
                    d.fingerprint,
                    with_content(d.content.as_deref())
                ),
                given: format!(
                    "split '{split}', {samples} samples, fingerprint {fingerprint}{}",
                    with_content(content)
                ),
            });
        }
        Ok(())
    }

    /// The teacher's top-1 accuracy on the cached labels (none when no row has one),
    /// reading and verifying every part.
    pub fn teacher_accuracy(&self) -> Result<Option<TeacherAccuracy>, CacheError> {
        let classes = self.manifest().num_classes;
        let (mut correct, mut labelled) = (0, 0);
        for part in self.parts() {
            let (c, l) = part?.top1_correct(classes);
            correct += c;
            labelled += l;
        }
        Ok((labelled > 0).then(|| TeacherAccuracy {
            accuracy: correct as f64 / labelled as f64,
            labelled,
        }))
    }
}

/// What a cache holds, whether it is complete and intact, and its teacher's accuracy:
/// everything `distill inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct CacheReport {
    /// The cache directory.
    pub cache: PathBuf,
    /// Whether every part is written.
    pub complete: bool,
    /// Rows written.
    pub rows: usize,
    /// Rows of the finished cache.
    pub expected_rows: usize,
    /// Classes per row.
    pub num_classes: usize,
    /// Element type of the stored logits.
    pub dtype: LogitDtype,
    /// How rows are stored.
    pub storage: Storage,
    /// Part files written.
    pub parts: usize,
    /// Size of the manifest and the parts.
    pub bytes_on_disk: u64,
    /// `bytes_on_disk` per row.
    pub bytes_per_sample: f64,
    /// Teacher top-1 accuracy over the rows that have a label (null when none has one).
    pub teacher_accuracy: Option<f64>,
    /// Rows with a label.
    pub labelled_rows: usize,
    /// Where each shard stands, for a cache written in shards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardState>,
    /// The manifest itself.
    pub manifest: Manifest,
}

impl CacheReader {
    /// Reads and verifies every part, and reports what the cache holds.
    pub fn report(&self) -> Result<CacheReport, CacheError> {
        let accuracy = self.teacher_accuracy()?;
        let m = self.manifest().clone();
        let bytes_on_disk = self.size_on_disk();
        Ok(CacheReport {
            cache: self.dir().to_path_buf(),
            complete: m.complete,
            rows: m.rows(),
            expected_rows: m.total_rows(),
            num_classes: m.num_classes,
            dtype: m.dtype,
            storage: m.storage,
            parts: m.parts.len(),
            bytes_on_disk,
            bytes_per_sample: bytes_on_disk as f64 / m.rows().max(1) as f64,
            teacher_accuracy: accuracy.map(|a| a.accuracy),
            labelled_rows: accuracy.map_or(0, |a| a.labelled),
            shards: self.shards().to_vec(),
            manifest: m,
        })
    }
}

impl std::fmt::Display for CacheReport {
    /// The report as `distill inspect` prints it: one line per fact.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        writeln!(f, "cache        {}", self.cache.display())?;
        if self.complete {
            writeln!(f, "complete     yes")?;
        } else if self.shards.is_empty() {
            writeln!(
                f,
                "complete     NO ({} of {} rows; rerun cache-logits to finish)",
                self.rows, self.expected_rows
            )?;
        } else {
            writeln!(
                f,
                "complete     NO (rerun the shards that are not complete to finish)"
            )?;
        }
        for shard in &self.shards {
            writeln!(f, "shard        {shard}")?;
        }
        writeln!(
            f,
            "rows         {} in {} part(s) of up to {}",
            self.rows, self.parts, m.rows_per_part
        )?;
        writeln!(
            f,
            "logits       {} classes, {:?}, {} storage",
            self.num_classes, self.dtype, self.storage
        )?;
        writeln!(
            f,
            "size         {} bytes on disk, {:.1} bytes/sample",
            self.bytes_on_disk, self.bytes_per_sample
        )?;
        let t = &m.teacher;
        writeln!(
            f,
            "teacher      {} (sha256 {}), output '{}' as {}",
            t.file, t.sha256, t.output, t.output_kind
        )?;
        let d = &m.dataset;
        writeln!(
            f,
            "dataset      {} split '{}', {} samples, fingerprint {}",
            d.source, d.split, d.samples, d.fingerprint
        )?;
        if let Some(content) = &d.content {
            writeln!(f, "content      {content} (the files' bytes)")?;
        }
        if !d.classes.is_empty() {
            writeln!(f, "classes      {}", d.classes.join(", "))?;
        }
        for bad in &d.skipped {
            writeln!(f, "skipped      {}: {}", bad.key, bad.reason)?;
        }
        let preprocess = serde_json::to_string(&m.preprocess).map_err(|_| std::fmt::Error)?;
        writeln!(f, "preprocess   {preprocess}")?;
        if let Some(v) = &m.views {
            writeln!(
                f,
                "views        {} per sample from '{}', seed {} (format v{})",
                v.count, v.augment, v.seed, m.format_version
            )?;
        }
        match self.teacher_accuracy {
            Some(accuracy) => writeln!(
                f,
                "teacher top-1 {:.2}% on {} labelled rows{}",
                100.0 * accuracy,
                self.labelled_rows,
                if m.views.is_some() {
                    " (augmented views: the label of a mixed view is its own sample's)"
                } else {
                    ""
                }
            )?,
            None => writeln!(f, "teacher top-1 n/a (no labels)")?,
        }
        writeln!(f, "tool         distill {}", m.tool_version)
    }
}
