//! The teacher's cached logits joined to a dataset by `sample_id` (never by position), and
//! the order in which an epoch visits them.
//!
//! A cache that fits the memory budget is loaded once into one `[samples * views, width]`
//! array in dataset order (rows as [`RowFormat`] lays them out: dense logits, or a top-k
//! cache's packed rows); a larger one is streamed: every epoch visits the parts in a
//! shuffled order and each part's rows in a shuffled order, holding one part in memory at a
//! time.
//!
//! A cache of K views per sample (v2) is replayed: every epoch sees each sample once,
//! through one of its views, in an order drawn per sample that uses every view once in each
//! run of K epochs ([`epoch_view`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use distill_cache::{CachePart, CacheReader, Manifest, OutputKind, ViewsInfo};
use distill_data::{Dataset, ViewParams};
use serde::{Deserialize, Serialize};

use crate::StudentError;
use crate::order::{OrderSettings, epoch_windows};
use crate::rng::SplitMix64;
use crate::teacher_rows::{MAX_TOPK_CLASSES, RowFormat};

/// What a run records of a cache, so every result can be traced to the teacher that
/// produced it (and a rerun against another cache is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheIdentity {
    /// The cache directory as given.
    pub dir: String,
    /// The teacher's ONNX file as it was given to `cache-logits`.
    pub teacher_file: String,
    /// SHA-256 of the teacher's ONNX file.
    pub teacher_sha256: String,
    /// What the teacher's output held.
    pub output_kind: OutputKind,
    /// The split cached.
    pub split: String,
    /// Its samples.
    pub samples: usize,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The content hash of a streamed split (an image folder), checked after the first
    /// epoch has read its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Classes of the teacher's output.
    pub num_classes: usize,
    /// The views of a cache of views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewsInfo>,
}

impl CacheIdentity {
    /// The identity of the cache in `dir` with manifest `m`.
    pub fn of(dir: &Path, m: &Manifest) -> Self {
        CacheIdentity {
            dir: dir.display().to_string(),
            teacher_file: m.teacher.file.clone(),
            teacher_sha256: m.teacher.sha256.clone(),
            output_kind: m.teacher.output_kind,
            split: m.dataset.split.clone(),
            samples: m.dataset.samples,
            fingerprint: m.dataset.fingerprint.clone(),
            content: m.dataset.content.clone(),
            num_classes: m.num_classes,
            views: m.views.clone(),
        }
    }
}

/// Where a cache row belongs: the dataset position of its sample and its view index.
type RowPlace = Option<(usize, u16)>;

enum Storage {
    /// `[samples * views, width]` in dataset position order (view `v` of position `p` at
    /// row `p * views + v`), and each row's view (empty for a cache without views).
    InMemory {
        logits: Vec<f32>,
        views: Vec<ViewParams>,
    },
    /// Parts read on demand; `part_rows[p][r]` is the dataset position and view of row `r`
    /// of part `p` (none for a row of a sample the data, cut to a limit, does not hold).
    Streamed {
        reader: Box<CacheReader>,
        part_rows: Vec<Vec<RowPlace>>,
    },
}

/// The teacher's logits a distillation run learns from: for the training split, and
/// optionally for the test split (for agreement and KL after every epoch).
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    /// The training split's logits.
    pub train: &'a TeacherTargets,
    /// The test split's logits.
    pub test: Option<&'a TeacherTargets>,
}

/// Teacher logits for every sample of one dataset split.
pub struct TeacherTargets {
    /// The cache they come from.
    pub identity: CacheIdentity,
    /// Classes of the teacher.
    pub classes: usize,
    /// How each row is held (dense logits, or a packed top-k row).
    pub format: RowFormat,
    storage: Storage,
    /// The cache's manifest, whose parts record the content hash their samples must have
    /// once their files are read (a streamed split joined whole); none when the data is cut
    /// from the cached split, so there is nothing to check.
    content_check: Option<Manifest>,
}

impl std::fmt::Display for TeacherTargets {
    /// `DIR (10 classes, teacher FILE, sha256 0123456789ab…) loaded`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = &self.identity;
        let sha = &id.teacher_sha256;
        let storage = match self.format {
            RowFormat::TopK { k, .. } => format!(", top-{k}"),
            RowFormat::Dense { .. } => String::new(),
        };
        write!(
            f,
            "{} ({} classes{storage}, teacher {}, sha256 {}…) {}",
            id.dir,
            self.classes,
            id.teacher_file,
            &sha[..12.min(sha.len())],
            if self.is_streamed() {
                "indexed for streaming"
            } else {
                "loaded"
            }
        )
    }
}

/// The teacher's cached logits joined to a run's training split and, where a test cache is
/// given, its test split.
pub struct TeacherLogits {
    /// The training split's logits.
    pub train: TeacherTargets,
    /// The test split's logits.
    pub test: Option<TeacherTargets>,
}

impl TeacherLogits {
    /// Joins the cache `cache` to `train` and `test_cache` (if any) to `test`: the training
    /// cache loaded whole within `max_memory` (else streamed), the test cache whole; both
    /// must come from the same teacher.
    pub fn join(
        cache: &Path,
        test_cache: Option<&Path>,
        train: &Dataset,
        test: &Dataset,
        max_memory: u64,
    ) -> Result<Self, StudentError> {
        let targets = TeacherTargets::join(cache, train, max_memory)?;
        let test_targets = match test_cache {
            Some(dir) => {
                let t = TeacherTargets::join(dir, test, u64::MAX)?;
                if t.has_views() {
                    return Err(mismatch(
                        dir,
                        "the test cache holds augmented views; agreement is measured on the plain test images: cache the test split without --views".into(),
                    ));
                }
                if t.identity.teacher_sha256 != targets.identity.teacher_sha256
                    || t.classes != targets.classes
                {
                    return Err(mismatch(
                        dir,
                        format!(
                            "the test cache was made by another teacher than the training cache {}",
                            cache.display()
                        ),
                    ));
                }
                Some(t)
            }
            None => None,
        };
        Ok(TeacherLogits {
            train: targets,
            test: test_targets,
        })
    }

    /// The logits as training borrows them.
    pub fn as_targets(&self) -> Targets<'_> {
        Targets {
            train: &self.train,
            test: self.test.as_ref(),
        }
    }
}

/// A run of an epoch over rows that share one logits buffer: the whole array (in memory),
/// or one part (streamed).
pub struct Segment {
    part: Option<usize>,
    /// Rows of the buffer, in visiting order.
    pub rows: Vec<usize>,
}

impl Segment {
    /// All samples in `rows` order, with no cache behind them (supervised training).
    pub fn plain(rows: Vec<usize>) -> Self {
        Segment { part: None, rows }
    }
}

/// The logits buffer of a segment, the views of its rows and their dataset positions.
pub struct SegmentData<'a> {
    /// `[rows, width]` teacher rows ([`RowFormat`]).
    pub logits: Cow<'a, [f32]>,
    /// The view of each row (empty for a cache without views).
    views: Cow<'a, [ViewParams]>,
    /// `places[i]` is the dataset position and view of buffer row `i`; `None`: row
    /// `p * per_sample + v` is view `v` of position `p`.
    places: Option<Vec<RowPlace>>,
    per_sample: usize,
}

impl SegmentData<'_> {
    /// The dataset position of buffer row `row` (a row of a segment: segments only hold
    /// rows of samples the data holds).
    pub fn position(&self, row: usize) -> usize {
        match &self.places {
            Some(p) => p[row].map_or(0, |(pos, _)| pos),
            None => row / self.per_sample,
        }
    }

    /// The view of buffer row `row`; none for a cache without views.
    pub fn view(&self, row: usize) -> Option<ViewParams> {
        self.views.get(row).copied()
    }

    /// Whether the rows are views (a cache of views).
    pub fn has_views(&self) -> bool {
        !self.views.is_empty()
    }
}

fn mismatch(dir: &Path, what: String) -> StudentError {
    StudentError::CacheMismatch {
        path: dir.to_path_buf(),
        reason: what,
    }
}

/// Checks that the cache in `dir` is complete and was made from `data` (or from the whole
/// split `data` was cut from with a limit: then `true`, and the cache holds more rows than
/// the data) with enough classes for its labels.
fn open_for(dir: &Path, data: &Dataset) -> Result<(CacheReader, bool), StudentError> {
    let reader = CacheReader::open(dir)?;
    reader.require_complete()?;
    let m = reader.manifest();
    let refuse = |reason: String| Err(mismatch(dir, reason));
    if m.dataset.split != data.split {
        return refuse(format!(
            "the cache holds split '{}' but the data is split '{}' of {}",
            m.dataset.split, data.split, data.source
        ));
    }
    let cached = (m.dataset.samples, m.dataset.fingerprint.clone());
    let own = (data.len(), data.fingerprint());
    let whole = data.whole_split();
    let of_whole_split = whole.as_ref() == Some(&cached);
    // (A cache of an image folder made before folders were fingerprinted by their listing
    // is checked against the files' content.)
    let same = cached.0 == own.0 && data.fingerprint_matches(&cached.1)?;
    if !of_whole_split && !same {
        // Compare with what has the cache's sample count, the data itself first.
        let same_count = [Some(&own), whole.as_ref()]
            .into_iter()
            .flatten()
            .find(|(n, _)| *n == m.dataset.samples);
        let Some((_, fingerprint)) = same_count else {
            return refuse(format!(
                "the cache holds {} samples but split '{}' of {} has {}",
                m.dataset.samples,
                data.split,
                data.source,
                data.len()
            ));
        };
        return refuse(format!(
            "the cache was made from other data (dataset fingerprint {} in the cache, {fingerprint} for split '{}' of {})",
            m.dataset.fingerprint, data.split, data.source
        ));
    }
    let needed = data.num_classes();
    if m.num_classes < needed || m.num_classes < 2 {
        return refuse(format!(
            "the teacher has {} classes but the labels of {} need {needed}",
            m.num_classes, data.source
        ));
    }
    Ok((reader, of_whole_split))
}

/// Joins the rows of a cache to the samples of a dataset by sample id, checking what it
/// gets: every row's id is a sample of the data (rows beyond a cut split are passed over),
/// no sample has two rows and every sample one, the cached label is the sample's, the logits
/// are finite.
struct Join<'a> {
    dir: &'a Path,
    data: &'a Dataset,
    position_of: HashMap<u64, usize>,
    /// `seen[p * per_sample + v]`: view `v` of position `p` had its row.
    seen: Vec<bool>,
    per_sample: usize,
    /// The data was cut from the split the cache holds.
    cut: bool,
}

impl<'a> Join<'a> {
    fn new(dir: &'a Path, data: &'a Dataset, cut: bool, per_sample: usize) -> Self {
        Join {
            dir,
            data,
            position_of: data.positions_by_id(),
            seen: vec![false; data.len() * per_sample],
            per_sample,
            cut,
        }
    }

    /// The dataset position and view of every row of `part` (none for rows the data does
    /// not hold).
    fn rows(
        &mut self,
        part: &CachePart,
        packed: &[f32],
        width: usize,
    ) -> Result<Vec<RowPlace>, StudentError> {
        let mut positions = Vec::with_capacity(part.sample_ids.len());
        for (r, &id) in part.sample_ids.iter().enumerate() {
            let Some(&pos) = self.position_of.get(&id) else {
                if self.cut {
                    positions.push(None);
                    continue;
                }
                return Err(self.refuse(format!("sample id {id} is not in {}", self.data.source)));
            };
            let view = part.views.get(r).copied().unwrap_or_default();
            if std::mem::replace(
                &mut self.seen[pos * self.per_sample + usize::from(view.index)],
                true,
            ) {
                return Err(self.refuse(if self.per_sample > 1 {
                    format!(
                        "sample id {id} has more than one row for view {}",
                        view.index
                    )
                } else {
                    format!("sample id {id} has more than one row")
                }));
            }
            if let Some(mix) = view.params.mix
                && !self.position_of.contains_key(&mix.partner)
            {
                return Err(self.refuse(format!(
                    "view {} of sample id {id} mixes it with sample id {}, which is not in {}{}",
                    view.index,
                    mix.partner,
                    self.data.source,
                    if self.cut { " as cut to a limit" } else { "" }
                )));
            }
            if let Some(label) = part.labels[r]
                && label != self.data.labels[pos]
            {
                return Err(self.refuse(format!(
                    "sample id {id} is cached with label {label} but has label {} in {}",
                    self.data.labels[pos], self.data.source
                )));
            }
            let row = &packed[r * width..(r + 1) * width];
            if let Some(v) = row.iter().find(|v| !v.is_finite()) {
                return Err(self.refuse(format!(
                    "the teacher's logits of sample id {id} hold {v} (a cache made while allowing non-finite outputs cannot teach)"
                )));
            }
            positions.push(Some((pos, view.index)));
        }
        Ok(positions)
    }

    /// An error unless every sample of the data had a row (for every view).
    fn finish(self) -> Result<(), StudentError> {
        match self.seen.iter().position(|&s| !s) {
            Some(i) if self.per_sample > 1 => Err(self.refuse(format!(
                "sample id {} has no row for view {} in the cache",
                self.data.ids[i / self.per_sample],
                i % self.per_sample
            ))),
            Some(i) => Err(self.refuse(format!(
                "sample id {} has no row in the cache",
                self.data.ids[i]
            ))),
            None => Ok(()),
        }
    }

    fn refuse(&self, reason: String) -> StudentError {
        mismatch(self.dir, reason)
    }
}

impl TeacherTargets {
    /// Opens the cache in `dir` and joins it to `data`. Refused, naming the difference: an
    /// incomplete cache, or one made from another split, another dataset (fingerprint or
    /// sample count), or with fewer classes than the labels need. With `max_memory` bytes
    /// or more for the logits the cache is loaded whole, else streamed part by part.
    pub fn join(dir: &Path, data: &Dataset, max_memory: u64) -> Result<Self, StudentError> {
        let (reader, cut) = open_for(dir, data)?;
        let m = reader.manifest().clone();
        let classes = m.num_classes;
        let format = RowFormat::of(&m);
        if format.is_topk() && classes > MAX_TOPK_CLASSES {
            return Err(mismatch(
                dir,
                format!(
                    "a top-k cache of {classes} classes: training reads at most {MAX_TOPK_CLASSES}"
                ),
            ));
        }
        let width = format.width();
        let per_sample = m.views_per_sample();
        let mut join = Join::new(dir, data, cut, per_sample);
        let rows = data.len() * per_sample;
        let bytes = (rows * width * 4) as u64;
        let storage = if bytes <= max_memory {
            let mut logits = vec![0f32; rows * width];
            let mut views = vec![ViewParams::default(); if m.views.is_some() { rows } else { 0 }];
            for part in reader.parts() {
                let part = part?;
                let packed = format.pack(&part);
                for (r, place) in join.rows(&part, &packed, width)?.into_iter().enumerate() {
                    if let Some((pos, v)) = place {
                        let at = pos * per_sample + usize::from(v);
                        logits[at * width..(at + 1) * width]
                            .copy_from_slice(&packed[r * width..(r + 1) * width]);
                        if let Some(view) = part.views.get(r) {
                            views[at] = view.params;
                        }
                    }
                }
            }
            join.finish()?;
            Storage::InMemory { logits, views }
        } else {
            let mut part_rows = Vec::new();
            for part in reader.parts() {
                let part = part?;
                part_rows.push(join.rows(&part, &format.pack(&part), width)?);
            }
            join.finish()?;
            Storage::Streamed {
                reader: Box::new(reader),
                part_rows,
            }
        };
        Ok(TeacherTargets {
            identity: CacheIdentity::of(dir, &m),
            classes,
            format,
            storage,
            content_check: (!cut).then_some(m),
        })
    }

    /// Checks that `data`, a streamed split joined by its listing, holds the bytes the cache
    /// was made from: its content hash, from the digests its files left as they were read
    /// (by the first epoch; any not read yet are read now), against the cache's. A file
    /// rewritten at the same size since the cache was made is found here.
    pub fn check_content(&self, data: &Dataset) -> Result<(), StudentError> {
        let Some(m) = &self.content_check else {
            return Ok(());
        };
        match m.first_changed_part(|positions| data.content_of(positions))? {
            Some((part, now)) => Err(mismatch(
                Path::new(&self.identity.dir),
                format!(
                    "{} was made from other bytes of the same files of {} (names, sizes and labels agree; content {} in the cache, {now} now): a file was rewritten since",
                    part.file,
                    data.source,
                    part.content.as_deref().unwrap_or_default()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Whether the cache holds augmented views (even one per sample: its rows still carry
    /// their views' parameters and mixup partners).
    pub fn has_views(&self) -> bool {
        self.identity.views.is_some()
    }

    /// Rows per sample: the view count of a cache of views, else 1.
    pub fn views_per_sample(&self) -> usize {
        self.identity.views.as_ref().map_or(1, |v| v.count)
    }

    /// Whether the logits are read part by part rather than held in memory.
    pub fn is_streamed(&self) -> bool {
        matches!(self.storage, Storage::Streamed { .. })
    }

    /// Rows of every sample in dataset order, `[samples * views, width]` (reads every part
    /// when streamed; used for the small test split, which has no views).
    pub fn all(&self) -> Result<Vec<f32>, StudentError> {
        match &self.storage {
            Storage::InMemory { logits, .. } => Ok(logits.clone()),
            Storage::Streamed { part_rows, .. } => {
                let n = part_rows.iter().flatten().flatten().count();
                let mut out = vec![0f32; n * self.format.width()];
                for (p, places) in part_rows.iter().enumerate() {
                    let seg = self.load(&Segment {
                        part: Some(p),
                        rows: Vec::new(),
                    })?;
                    let c = self.format.width();
                    for (r, place) in places.iter().enumerate() {
                        if let Some((pos, v)) = *place {
                            let at = pos * self.views_per_sample() + usize::from(v);
                            out[at * c..(at + 1) * c]
                                .copy_from_slice(&seg.logits[r * c..(r + 1) * c]);
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// The segments of `epoch` (1-based): in memory, the windows of
    /// [`epoch_windows`] (one full shuffle, as supervised training, or the first epoch's
    /// row-group windows); streamed, one per part, parts and rows shuffled. Each sample is
    /// visited once, through its view of the epoch ([`epoch_view`]). Samples held out in
    /// `settings` (the validation split) are left out; `ids` are the data's sample ids.
    pub fn epoch_segments(
        &self,
        ids: &[u64],
        epoch: usize,
        settings: &OrderSettings,
    ) -> Vec<Segment> {
        let (seed, held_out) = (settings.seed, settings.held_out);
        let kept = |position: usize| held_out.is_none_or(|h| !h[position]);
        let k = self.views_per_sample();
        let chosen = |pos: usize, v: u16| usize::from(v) == epoch_view(seed, ids[pos], epoch, k);
        match &self.storage {
            Storage::InMemory { .. } => epoch_windows(ids.len(), epoch, settings)
                .into_iter()
                .map(|mut rows| {
                    if k > 1 {
                        for row in rows.iter_mut() {
                            *row = *row * k + epoch_view(seed, ids[*row], epoch, k);
                        }
                    }
                    Segment { part: None, rows }
                })
                .collect(),
            Storage::Streamed { part_rows, .. } => {
                let mut parts: Vec<usize> = (0..part_rows.len()).collect();
                SplitMix64::derive(seed, epoch as u64, u64::MAX - 1).shuffle(&mut parts);
                parts
                    .into_iter()
                    .map(|p| {
                        let mut rows: Vec<usize> = (0..part_rows[p].len()).collect();
                        SplitMix64::derive(seed ^ 0x5eed, epoch as u64, p as u64)
                            .shuffle(&mut rows);
                        rows.retain(|&r| {
                            part_rows[p][r].is_some_and(|(pos, v)| kept(pos) && chosen(pos, v))
                        });
                        Segment {
                            part: Some(p),
                            rows,
                        }
                    })
                    .collect()
            }
        }
    }

    /// The logits buffer of a segment (a part is read and checked here when streamed).
    pub fn load(&self, segment: &Segment) -> Result<SegmentData<'_>, StudentError> {
        match (&self.storage, segment.part) {
            (Storage::InMemory { logits, views }, _) => Ok(SegmentData {
                logits: Cow::Borrowed(logits),
                views: Cow::Borrowed(views),
                places: None,
                per_sample: self.views_per_sample(),
            }),
            (Storage::Streamed { reader, part_rows }, Some(p)) => {
                let part = reader.part(p)?;
                let views = part.views.iter().map(|v| v.params).collect();
                Ok(SegmentData {
                    logits: Cow::Owned(self.format.into_rows(part)),
                    views: Cow::Owned(views),
                    places: Some(part_rows[p].clone()),
                    per_sample: self.views_per_sample(),
                })
            }
            (Storage::Streamed { reader, .. }, None) => Err(mismatch(
                reader.dir(),
                "a streamed cache is read part by part".into(),
            )),
        }
    }
}

/// The view of sample `id` that `epoch` (1-based) trains on, among `views`: each run of
/// `views` epochs uses every view once, in an order drawn per sample and run from the
/// seed.
pub fn epoch_view(seed: u64, id: u64, epoch: usize, views: usize) -> usize {
    if views <= 1 {
        return 0;
    }
    let e = epoch.saturating_sub(1);
    let mut order: Vec<usize> = (0..views).collect();
    SplitMix64::derive(seed ^ 0x0071_e50f_7e3c, id, (e / views) as u64).shuffle(&mut order);
    order[e % views]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_of_k_epochs_uses_every_view_once() {
        for id in 0..50u64 {
            for run in 0..3 {
                let mut seen: Vec<usize> =
                    (1..=8).map(|e| epoch_view(7, id, run * 8 + e, 8)).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..8).collect::<Vec<_>>(), "sample {id}, run {run}");
            }
        }
        // Orders differ between samples and between runs, and do not depend on anything
        // but the seed, the id and the epoch.
        let order = |id, run: usize| -> Vec<usize> {
            (1..=8).map(|e| epoch_view(7, id, run * 8 + e, 8)).collect()
        };
        assert_ne!(order(1, 0), order(2, 0));
        assert_ne!(order(1, 0), order(1, 1));
        assert_eq!(order(1, 0), order(1, 0));
        assert_eq!(epoch_view(7, 1, 5, 1), 0);
    }
}
