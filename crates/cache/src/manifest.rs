//! `manifest.json`: what a cache holds and where it came from.

use std::path::Path;

use distill_core::{ParseError, Preprocess, Shard, SkippedSample, ViewSpec};
use serde::{Deserialize, Serialize};

use crate::{CacheError, OutputKind};

/// The cache format version of a cache of one row per sample (v1): what this crate writes
/// for caches without views, so that readers of v1 read them.
pub const FORMAT_VERSION: u32 = 1;
/// The cache format version of a cache of views or top-k storage (v2: K rows per sample
/// with the view's parameters as columns; top-k columns instead of `logits`). This crate
/// reads both versions.
pub const VIEWS_FORMAT_VERSION: u32 = 2;
/// The manifest's file name in a cache directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How the files of shard `shard` are told apart: `shard-00002-of-00004`.
pub(crate) fn shard_tag(shard: Shard) -> String {
    format!("shard-{:05}-of-{:05}", shard.index, shard.count)
}

/// The file name of shard `shard`'s manifest: `manifest.shard-00002-of-00004.json`.
pub fn shard_manifest_name(shard: Shard) -> String {
    format!("manifest.{}.json", shard_tag(shard))
}

/// The shard whose manifest is named `name`, if it is a shard manifest's name.
pub fn shard_of_manifest_name(name: &str) -> Option<Shard> {
    let (i, n) = name
        .strip_prefix("manifest.shard-")?
        .strip_suffix(".json")?
        .split_once("-of-")?;
    let all_digits = |d: &str| d.len() == 5 && d.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(i) || !all_digits(n) {
        return None;
    }
    format!("{}/{}", i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)
        .parse()
        .ok()
}

/// Element type of the stored logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogitDtype {
    /// 32-bit floats.
    F32,
    /// 16-bit floats: half the size, within half-precision rounding.
    F16,
}

impl std::str::FromStr for LogitDtype {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(LogitDtype::F32),
            "f16" => Ok(LogitDtype::F16),
            _ => Err(ParseError::new("logit type", s, "expected f32 or f16")),
        }
    }
}

/// How the logits of a row are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// Every class's logit, in a `logits` list column.
    #[default]
    Dense,
    /// The `k` largest logits and their classes, and a summary of the rest (format v2;
    /// see [`crate::TopKRows`]).
    TopK {
        /// Logits kept per row.
        k: usize,
    },
}

impl Storage {
    /// Checks the storage against the teacher's class count: top-k keeps fewer classes
    /// than there are (else it is dense storage with more columns).
    pub fn check(&self, classes: usize) -> Result<(), String> {
        match *self {
            Storage::TopK { k } if k == 0 || k >= classes => Err(format!(
                "top-k storage keeps between 1 and {} of the teacher's {classes} classes, not {k}",
                classes.saturating_sub(1)
            )),
            _ => Ok(()),
        }
    }

    /// Whether only the top classes are stored.
    pub fn is_topk(&self) -> bool {
        matches!(self, Storage::TopK { .. })
    }
}

impl std::fmt::Display for Storage {
    /// `dense` or `topk:K`, as the command line and the manifest write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Dense => f.write_str("dense"),
            Storage::TopK { k } => write!(f, "topk:{k}"),
        }
    }
}

impl std::str::FromStr for Storage {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError::new("storage", s, "expected dense or topk:K (K ≥ 1)");
        match s.split_once(':') {
            None if s == "dense" => Ok(Storage::Dense),
            Some(("topk", k)) => match k.parse::<usize>() {
                Ok(k) if k >= 1 => Ok(Storage::TopK { k }),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

/// The tail reconstruction a top-k manifest names ([`crate::TopKRow::tail_log_mass`]): a
/// reader that does not know the rule a cache names refuses it.
pub const TOPK_RECONSTRUCTION: &str = "b = 1/T; L = clamp(ln n + mean b + std^2 b^2/2 + (tail_logsumexp - ln n - mean - std^2/2) b^3, low, high); low = max(ln n + mean b, ln n + b (tail_logsumexp - ln n) if b > 1); high = min(ln n + b max(z_K, mean), (1 - b) ln n + b tail_logsumexp if b < 1)";

/// A top-k storage as the manifest writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopKManifest {
    kind: String,
    k: usize,
    reconstruction: String,
}

impl Serialize for Storage {
    /// `"dense"` (as v1 wrote it), or `{"kind": "topk", "k": K, "reconstruction": RULE}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Storage::Dense => serializer.serialize_str("dense"),
            Storage::TopK { k } => TopKManifest {
                kind: "topk".into(),
                k,
                reconstruction: TOPK_RECONSTRUCTION.into(),
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Storage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Name(String),
            TopK(TopKManifest),
        }
        match Written::deserialize(deserializer)? {
            Written::Name(name) if name == "dense" => Ok(Storage::Dense),
            Written::Name(name) => Err(D::Error::custom(format!("unknown storage '{name}'"))),
            Written::TopK(t) if t.kind != "topk" || t.k == 0 => Err(D::Error::custom(format!(
                "unknown storage kind '{}' with k = {}",
                t.kind, t.k
            ))),
            Written::TopK(t) if t.reconstruction != TOPK_RECONSTRUCTION => {
                Err(D::Error::custom(format!(
                    "top-k storage with an unknown tail reconstruction '{}'",
                    t.reconstruction
                )))
            }
            Written::TopK(t) => Ok(Storage::TopK { k: t.k }),
        }
    }
}

/// One finished part file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// File name in the cache directory.
    pub file: String,
    /// Rows it holds.
    pub rows: usize,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The content hash of the samples it holds, for a streamed split (see
    /// `distill_data::Dataset::content_of`): a resumed run checks that they are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// The teacher that produced the logits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherInfo {
    /// The ONNX file as it was given (informational: the hash identifies the teacher).
    pub file: String,
    /// SHA-256 of the ONNX file.
    pub sha256: String,
    /// The input fed.
    pub input: String,
    /// Declared input shape; `null` marks a dynamic dim.
    pub input_shape: Vec<Option<usize>>,
    /// The output cached.
    pub output: String,
    /// Declared output shape.
    pub output_shape: Vec<Option<usize>>,
    /// What the output holds: `logits`, `probs` (stored as `ln(max(p, 1e-30))`) or
    /// `log-probs`. The cache always holds values usable as logits.
    pub output_kind: OutputKind,
}

/// The dataset split the rows come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// `KIND:PATH` as it was given (informational: the fingerprint identifies the data).
    pub source: String,
    /// The split's name.
    pub split: String,
    /// Samples in the split: rows of the finished cache.
    pub samples: usize,
    /// The split's fingerprint (see `distill_data::Dataset::fingerprint`): its content, or
    /// for a streamed split (an image folder) its listing, `listing:<hex>`.
    pub fingerprint: String,
    /// For a streamed split, the hash of its content (`distill_data::Dataset::content`),
    /// computed as the files stream through and recorded when the cache is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Class names by class id, where the source names them (image folders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Samples left out with `--skip-bad`, by key, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedSample>,
}

/// The most views per sample: the `view` column is a uint16.
pub const MAX_VIEWS: usize = 1 << 16;

/// The augmented views of a v2 cache: K rows per sample, view `v` of sample `id` drawn by
/// `augment.draw(seed, id, v, …)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewsInfo {
    /// Views per sample (K).
    pub count: usize,
    /// The augmentation the views were drawn from (its canonical text).
    pub augment: ViewSpec,
    /// The seed of the view generator.
    pub seed: u64,
}

/// `manifest.json` (DESIGN.md, "The cache format (v1)" and "v2").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Classes of the teacher's output: the length of every row of logits.
    pub num_classes: usize,
    /// Element type of the stored logits.
    pub dtype: LogitDtype,
    /// How rows are stored: `"dense"`, or `{"kind": "topk", "k": K, "reconstruction": …}`
    /// (v2).
    pub storage: Storage,
    /// Rows per part file (the last part may hold fewer).
    pub rows_per_part: usize,
    /// The teacher that produced the logits.
    pub teacher: TeacherInfo,
    /// The dataset split the rows come from.
    pub dataset: DatasetInfo,
    /// How the samples were fed to the teacher.
    pub preprocess: Preprocess,
    /// The distill version that wrote the cache.
    pub tool_version: String,
    /// The finished part files, in order.
    pub parts: Vec<PartInfo>,
    /// Whether every part is written.
    pub complete: bool,
    /// The views of a v2 cache; none for one row per sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewsInfo>,
    /// In a shard's manifest (`manifest.shard-I-of-N.json`): which shard of the cache's
    /// parts it lists ([`Manifest::part_range`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// In a manifest merged from shards: how many there were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
}

impl Manifest {
    /// Rows in the finished parts.
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|p| p.rows).sum()
    }

    /// Rows per sample: the view count of a v2 cache, else 1.
    pub fn views_per_sample(&self) -> usize {
        self.views.as_ref().map_or(1, |v| v.count)
    }

    /// Rows of the finished cache: samples times views.
    pub fn total_rows(&self) -> usize {
        self.dataset.samples * self.views_per_sample()
    }

    /// The format version a cache of these settings has: 2 with views or top-k storage,
    /// else 1 (the oldest version that holds it, so older readers read it).
    pub fn version_for(views: Option<&ViewsInfo>, storage: Storage) -> u32 {
        if storage.is_topk() || views.is_some() {
            VIEWS_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        }
    }

    /// Number of part files of the finished cache, every shard's.
    pub fn whole_parts(&self) -> usize {
        self.total_rows().div_ceil(self.rows_per_part.max(1))
    }

    /// The parts this manifest covers: all of them, or a shard's contiguous share.
    pub fn part_range(&self) -> std::ops::Range<usize> {
        let whole = self.whole_parts();
        self.shard.map_or(0..whole, |s| s.range(whole))
    }

    /// Number of part files this manifest lists when finished (a shard's, or all).
    pub fn expected_parts(&self) -> usize {
        self.part_range().len()
    }

    /// The cache row the first part of this manifest starts at.
    pub fn first_row(&self) -> usize {
        self.part_range().start * self.rows_per_part
    }

    /// The cache row after the last this manifest covers.
    pub fn end_row(&self) -> usize {
        (self.part_range().end * self.rows_per_part).min(self.total_rows())
    }

    /// The dataset positions of the samples of cache rows `rows` (rows are in position
    /// order, views of a sample together; a range cut mid-sample includes it).
    pub fn sample_range(&self, rows: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let per_sample = self.views_per_sample();
        rows.start / per_sample..rows.end.div_ceil(per_sample)
    }

    /// Each listed part with the dataset positions of its samples.
    pub fn part_samples(&self) -> Vec<(&PartInfo, std::ops::Range<usize>)> {
        let mut start = self.first_row();
        self.parts
            .iter()
            .map(|part| {
                let rows = start..start + part.rows;
                start = rows.end;
                (part, self.sample_range(rows))
            })
            .collect()
    }

    /// The first listed part whose samples' content hash now (`content_of` their dataset
    /// positions) is not the one recorded with it, with that hash; parts without a recorded
    /// hash (of a split that is not streamed) are passed over.
    pub fn first_changed_part<E>(
        &self,
        content_of: impl Fn(&[usize]) -> Result<Option<String>, E>,
    ) -> Result<Option<(&PartInfo, String)>, E> {
        for (part, positions) in self.part_samples() {
            let Some(recorded) = &part.content else {
                continue;
            };
            let now = content_of(&positions.collect::<Vec<_>>())?.unwrap_or_default();
            if &now != recorded {
                return Ok(Some((part, now)));
            }
        }
        Ok(None)
    }

    /// Bytes on disk in `dir` of this manifest's file and the parts it lists.
    pub fn size_on_disk(&self, dir: &Path) -> u64 {
        std::iter::once(self.file_name())
            .chain(self.parts.iter().map(|p| p.file.clone()))
            .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// The name of this manifest's file: `manifest.json`, or the shard's.
    pub fn file_name(&self) -> String {
        self.shard
            .map_or_else(|| MANIFEST_FILE.to_string(), shard_manifest_name)
    }

    /// Rows part `index` holds when the cache is finished.
    pub fn expected_rows(&self, index: usize) -> usize {
        let start = index * self.rows_per_part;
        self.rows_per_part
            .min(self.total_rows().saturating_sub(start))
    }

    /// What makes two caches interchangeable: the teacher (by hash), its output and how it
    /// was read, the data (by fingerprint), the preprocessing and the storage. File
    /// locations, the tool version and progress are not part of it.
    pub fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "format_version": self.format_version,
            "num_classes": self.num_classes,
            "dtype": self.dtype,
            // As the command line names it, so a difference reads `storage: topk:3 -> dense`.
            "storage": self.storage.to_string(),
            "rows_per_part": self.rows_per_part,
            "teacher": {
                "sha256": self.teacher.sha256,
                "output": self.teacher.output,
                "output_kind": self.teacher.output_kind,
            },
            "dataset": {
                "split": self.dataset.split,
                "samples": self.dataset.samples,
                "fingerprint": self.dataset.fingerprint,
            },
            "preprocess": self.preprocess,
            "views": self.views,
        })
    }

    /// `key: old -> new` for every identity difference between `self` (old) and `new`.
    pub fn identity_diff(&self, new: &Manifest) -> Vec<String> {
        let mut diffs = Vec::new();
        distill_core::json_diff(&self.identity(), &new.identity(), "", &mut diffs);
        diffs
    }

    /// The manifest essentials repeated in every part's key-value metadata, so that a single
    /// part file is self-describing.
    pub fn essentials(&self, part: usize) -> serde_json::Value {
        // The split's content hash is known when the last part is written, not before.
        let dataset = DatasetInfo {
            content: None,
            ..self.dataset.clone()
        };
        serde_json::json!({
            "format_version": self.format_version,
            "num_classes": self.num_classes,
            "dtype": self.dtype,
            "storage": self.storage,
            "teacher": self.teacher,
            "dataset": dataset,
            "preprocess": self.preprocess,
            "tool_version": self.tool_version,
            "views": self.views,
            "part": part,
        })
    }

    /// Reads `manifest.json` of the cache in `dir`, refusing another format version.
    pub fn read(dir: &Path) -> Result<Self, CacheError> {
        Manifest::read_file(&dir.join(MANIFEST_FILE))
    }

    /// Reads the manifest file at `path` (a cache's, or a shard's), refusing another format
    /// version.
    pub fn read_file(path: &Path) -> Result<Manifest, CacheError> {
        let path = path.to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|e| CacheError::io(&path, e))?;
        let bad = |reason: String| CacheError::Manifest {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a distill cache manifest: {e}")))?;
        // The version is checked before the layout, so a newer cache is named as such.
        let version = value.get("format_version").and_then(|v| v.as_u64());
        let known = [FORMAT_VERSION, VIEWS_FORMAT_VERSION].map(u64::from);
        if !version.is_some_and(|v| known.contains(&v)) {
            return Err(bad(format!(
                "cache format version {} (this distill reads versions {FORMAT_VERSION} and {VIEWS_FORMAT_VERSION})",
                version.map_or("missing".to_string(), |v| v.to_string())
            )));
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| bad(format!("not a distill cache manifest: {e}")))?;
        if u64::from(Manifest::version_for(
            manifest.views.as_ref(),
            manifest.storage,
        )) != version.unwrap_or(0)
        {
            return Err(bad(format!(
                "format version {} does not match its views ({}) and {} storage",
                version.unwrap_or(0),
                if manifest.views.is_some() {
                    "present"
                } else {
                    "absent"
                },
                manifest.storage
            )));
        }
        manifest.storage.check(manifest.num_classes).map_err(bad)?;
        if manifest
            .views
            .as_ref()
            .is_some_and(|v| v.count == 0 || v.count > MAX_VIEWS)
        {
            return Err(bad(format!(
                "the view count must be between 1 and {MAX_VIEWS}"
            )));
        }
        Ok(manifest)
    }

    /// Whether `dir` holds a `manifest.json` that distill wrote (of any format version):
    /// a JSON object with distill's `format_version`, `tool_version` and `parts`.
    pub fn is_distills(dir: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_FILE)) else {
            return false;
        };
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| {
            ["format_version", "tool_version", "parts"]
                .iter()
                .all(|k| v.get(k).is_some())
        })
    }

    /// Writes the manifest ([`Manifest::file_name`]) atomically (temporary name, fsync,
    /// rename).
    pub fn write(&self, dir: &Path) -> Result<(), CacheError> {
        let path = dir.join(self.file_name());
        let text = serde_json::to_vec_pretty(self).map_err(|e| CacheError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::atomic::write_bytes_atomic(&path, &text)
    }
}
