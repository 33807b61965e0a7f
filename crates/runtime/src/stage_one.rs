//! Stage one as a library: a teacher over a dataset into a logit cache.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use distill_data::{DatasetSpec, SourceOptions};
//! use distill_runtime::CacheLogits;
//!
//! let data = "idx:datasets/fashion-mnist-mini".parse::<DatasetSpec>()?
//!     .load("train", &SourceOptions::default())?;
//! let summary = CacheLogits::new("teacher.onnx")
//!     .batch_size(128)
//!     .prepare(&data)?          // opens the teacher, plans, runs the first batch
//!     .open(Path::new("cache"))? // a new cache, or the one to resume
//!     .run(&|_rows| {})?;        // the pipeline; the closure sees progress
//! println!("{} rows, {:.0} samples/s", summary.samples, summary.samples_per_second);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use distill_cache::{
    CacheWriter, DatasetInfo, LogitDtype, MAX_VIEWS, Manifest, OutputKind, Storage, TeacherInfo,
    ViewsInfo,
};
use distill_data::{ComputeDevice, Dataset, PreprocessOverrides, Shard, ViewSpec};
use serde::Serialize;

use crate::pipeline::{Job, cache_logits};
use crate::{OnnxModel, PreparedModel, RuntimeError, looks_like_probs};

/// How a teacher is run over a dataset and its logits stored.
#[derive(Debug, Clone)]
pub struct CacheLogits {
    teacher: PathBuf,
    preprocess: PreprocessOverrides,
    output: Option<String>,
    output_kind: OutputKind,
    batch_size: usize,
    threads: Option<usize>,
    device: ComputeDevice,
    dtype: LogitDtype,
    storage: Storage,
    rows_per_part: usize,
    overwrite: bool,
    allow_nonfinite: bool,
    views: Option<ViewsInfo>,
    shard: Option<Shard>,
}

/// What a finished (or resumed and finished) stage one did.
#[derive(Debug, Clone, Serialize)]
pub struct CacheSummary {
    /// The cache directory.
    pub cache: PathBuf,
    /// Rows in the cache.
    pub samples: usize,
    /// Rows computed by this run (fewer than `samples` when it resumed).
    pub computed: usize,
    /// Rows that were already cached when this run started.
    pub resumed_from: usize,
    /// Seconds of this run's pipeline.
    pub seconds: f64,
    /// Rows computed per second.
    pub samples_per_second: f64,
    /// Size of the manifest and the parts.
    pub bytes_on_disk: u64,
    /// `bytes_on_disk` per row.
    pub bytes_per_sample: f64,
    /// Classes of the teacher's output.
    pub num_classes: usize,
    /// The shard written, when the cache is written in shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl std::fmt::Display for CacheSummary {
    /// One line: rows (one per sample, or one per view of a cache of views), throughput,
    /// size, where.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(shard) = self.shard {
            write!(f, "shard {shard}: ")?;
        }
        write!(
            f,
            "cached {} rows ({} computed) in {:.1} s, {:.0} rows/s; {} bytes on disk, {:.1} bytes/row -> {}",
            self.samples,
            self.computed,
            self.seconds,
            self.samples_per_second,
            self.bytes_on_disk,
            self.bytes_per_sample,
            self.cache.display()
        )
    }
}

impl CacheLogits {
    /// Stage one for the ONNX teacher at `teacher`, with the defaults: its output read as
    /// logits, batches of 256, f32 logits in parts of 10,000 rows, an existing cache of
    /// other settings refused, non-finite outputs refused.
    pub fn new(teacher: impl Into<PathBuf>) -> Self {
        CacheLogits {
            teacher: teacher.into(),
            preprocess: PreprocessOverrides::default(),
            output: None,
            output_kind: OutputKind::Logits,
            batch_size: 256,
            threads: None,
            device: ComputeDevice::Cpu,
            dtype: LogitDtype::F32,
            storage: Storage::Dense,
            rows_per_part: 10_000,
            overwrite: false,
            allow_nonfinite: false,
            views: None,
            shard: None,
        }
    }

    /// Write shard `shard` of the cache only: its contiguous share of the parts (the parts
    /// an unsharded run writes, under the same names) and its own manifest, beside the
    /// other shards, which other processes write at the same time. The shard that finds
    /// every shard complete writes the merged `manifest.json`.
    pub fn shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard.filter(|s| s.count > 1);
        self
    }

    /// Cache `count` augmented views of every sample instead of the plain image (a v2
    /// cache): view `v` of sample `id` is `augment.draw(seed, id, v, …)`, rendered at the
    /// teacher's input size, one row per view.
    pub fn views(mut self, count: usize, augment: ViewSpec, seed: u64) -> Self {
        self.views = Some(ViewsInfo {
            count,
            augment,
            seed,
        });
        self
    }

    /// Preprocessing over the teacher's own (recorded in its metadata, or read from its
    /// input shape).
    pub fn preprocess(mut self, overrides: PreprocessOverrides) -> Self {
        self.preprocess = overrides;
        self
    }

    /// The output to cache [default: the first float output shaped `[batch, classes]`].
    pub fn output(mut self, name: Option<String>) -> Self {
        self.output = name;
        self
    }

    /// What the output holds.
    pub fn output_kind(mut self, kind: OutputKind) -> Self {
        self.output_kind = kind;
        self
    }

    /// Samples per session run (a model with a fixed batch size uses its own).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// ONNX Runtime's intra-op threads [default: one per physical core].
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }

    /// Where the teacher runs: the CPU (the default) or a CUDA GPU, through ONNX Runtime's
    /// CUDA execution provider (an error where it cannot start, never a fall-back).
    pub fn device(mut self, device: ComputeDevice) -> Self {
        self.device = device;
        self
    }

    /// The stored logit type.
    pub fn dtype(mut self, dtype: LogitDtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// How rows are stored: every logit (dense), or each row's top k with a summary of
    /// the rest (a v2 cache, for many classes).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Rows per Parquet part; an interrupted run resumes at a part boundary.
    pub fn rows_per_part(mut self, rows: usize) -> Self {
        self.rows_per_part = rows;
        self
    }

    /// Replace an existing cache made with other settings (never a folder that holds no
    /// cache).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Store NaN/Inf outputs instead of refusing them.
    pub fn allow_nonfinite(mut self, allow: bool) -> Self {
        self.allow_nonfinite = allow;
        self
    }

    /// Opens the teacher for `data`, plans its input and output, and runs the first batch
    /// to learn the class count: everything that can be wrong with the teacher is found
    /// before anything is written.
    pub fn prepare(self, data: &Dataset) -> Result<PreparedCache<'_>, RuntimeError> {
        let model = OnnxModel::open_on(&self.teacher, self.threads, self.device)?;
        self.prepare_with(model, data)
    }

    /// [`CacheLogits::prepare`] for data that may have been listed without reading its
    /// files ([`Dataset::headers_read`]): it stays so when the teacher's preprocessing
    /// fixes its input's channels and size, and each image is read first by the batch that
    /// needs it. Otherwise, and for views (drawn from each image's size), the images'
    /// headers are read now.
    pub fn prepare_listed(self, data: &mut Dataset) -> Result<PreparedCache<'_>, RuntimeError> {
        let model = OnnxModel::open_on(&self.teacher, self.threads, self.device)?;
        if self.views.is_some()
            || !PreparedModel::preprocess_for(&model, data, &self.preprocess)?.fixes_output()
        {
            data.read_headers()?;
        }
        self.prepare_with(model, data)
    }

    fn prepare_with(
        self,
        model: OnnxModel,
        data: &Dataset,
    ) -> Result<PreparedCache<'_>, RuntimeError> {
        for (setting, value) in [
            ("batch_size", self.batch_size),
            ("rows_per_part", self.rows_per_part),
        ] {
            if value == 0 {
                return Err(RuntimeError::Setting {
                    setting,
                    reason: format!("{setting} must be positive"),
                });
            }
        }
        if let Some(views) = &self.views {
            check_views(views, data)?;
        }
        let mut model = PreparedModel::new(model, data, &self.preprocess, self.output.as_deref())?;
        let rows = model.plan.batch_rows(self.batch_size).min(data.len());
        let positions: Vec<usize> = (0..rows).collect();
        let (num_classes, first) = model.run(data, &positions)?;
        model.plan.check_classes(&model.model.path, num_classes)?;
        self.storage
            .check(num_classes)
            .map_err(|reason| RuntimeError::Setting {
                setting: "storage",
                reason,
            })?;
        let looks_like_probs =
            self.output_kind == OutputKind::Logits && looks_like_probs(&first, num_classes);
        Ok(PreparedCache {
            settings: self,
            model,
            data,
            num_classes,
            looks_like_probs,
        })
    }
}

/// Refuses views that cannot be made: a count outside `1..=MAX_VIEWS`, several views
/// without an augmentation to tell them apart, float data (views render 8-bit images).
fn check_views(views: &ViewsInfo, data: &Dataset) -> Result<(), RuntimeError> {
    let bad = |reason: String| {
        Err(RuntimeError::Setting {
            setting: "views",
            reason,
        })
    };
    if views.count == 0 || views.count > MAX_VIEWS {
        return bad(format!(
            "{} views: the count must be between 1 and {MAX_VIEWS}",
            views.count
        ));
    }
    if views.augment.is_empty() {
        return bad(format!(
            "{} views without an augmentation would all be the plain image: give one",
            views.count
        ));
    }
    if data.is_float() {
        return bad(format!(
            "views crop, flip and mix 8-bit images, and {} holds float features",
            data.source
        ));
    }
    Ok(())
}

/// A teacher opened and checked for one dataset, ready to write its cache.
pub struct PreparedCache<'d> {
    settings: CacheLogits,
    /// The teacher, its plan and the preprocessing of its input.
    pub model: PreparedModel,
    data: &'d Dataset,
    /// Classes of the teacher's output.
    pub num_classes: usize,
    /// The first batch's outputs look like probabilities (rows in [0, 1] summing to 1)
    /// although they are read as logits: the teacher may end in softmax.
    pub looks_like_probs: bool,
}

/// A cache opened for writing: new, or resumed after its intact parts.
pub struct OpenCache<'d> {
    prepared: PreparedCache<'d>,
    writer: CacheWriter,
    out: PathBuf,
    /// Rows already cached by an earlier run.
    pub resumed_from: usize,
}

impl<'d> PreparedCache<'d> {
    /// The manifest the cache will have (without parts): the teacher by hash, the data by
    /// fingerprint, the preprocessing, the storage.
    pub fn manifest(&self) -> Result<Manifest, RuntimeError> {
        let s = &self.settings;
        let sha256 =
            distill_data::sha256_file(&s.teacher).map_err(|source| RuntimeError::Read {
                path: s.teacher.clone(),
                source,
            })?;
        let plan = &self.model.plan;
        let data = self.data;
        Ok(Manifest {
            format_version: Manifest::version_for(self.settings.views.as_ref(), s.storage),
            num_classes: self.num_classes,
            dtype: s.dtype,
            storage: s.storage,
            rows_per_part: s.rows_per_part,
            teacher: TeacherInfo {
                file: s.teacher.display().to_string(),
                sha256,
                input: plan.input.name.clone(),
                input_shape: plan.input.shape.clone(),
                output: plan.output.name.clone(),
                output_shape: plan.output.shape.clone(),
                output_kind: s.output_kind,
            },
            dataset: DatasetInfo {
                source: data.source.clone(),
                split: data.split.clone(),
                samples: data.len(),
                fingerprint: data.fingerprint(),
                content: None,
                classes: data.class_names.clone(),
                skipped: data.skipped.clone(),
            },
            preprocess: self.model.preprocess.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            parts: Vec::new(),
            complete: false,
            views: self.settings.views.clone(),
            shard: self.settings.shard,
            shards: None,
        })
    }

    /// Opens the cache directory `out`: a new cache, or the same cache to resume (another
    /// one is refused unless overwriting).
    pub fn open(self, out: &Path) -> Result<OpenCache<'d>, RuntimeError> {
        let mut manifest = self.manifest()?;
        keep_older_channels(&mut manifest, out, self.data);
        let writer = CacheWriter::open(out, manifest, self.settings.overwrite)?;
        self.check_unchanged(&writer, out)?;
        Ok(OpenCache {
            resumed_from: writer.manifest().rows(),
            out: out.to_path_buf(),
            writer,
            prepared: self,
        })
    }
}

/// A cache written before a teacher's fixed channel count was always recorded has no
/// `channels` where the data already had that count: the same preprocessing, in the older
/// form. Resuming it keeps that form, rather than refusing it as another cache.
fn keep_older_channels(manifest: &mut Manifest, out: &Path, data: &Dataset) {
    let Some(channels) = manifest.preprocess.channels else {
        return;
    };
    // Data listed without its headers has no known channel count (0): nothing to match.
    if data.shape.channels != channels {
        return;
    }
    let Ok(old) = Manifest::read(out) else {
        return;
    };
    let older_form = distill_data::Preprocess {
        channels: None,
        ..manifest.preprocess.clone()
    };
    if old.preprocess == older_form {
        manifest.preprocess = older_form;
    }
}

impl PreparedCache<'_> {
    /// Checks that the samples of the parts a resumed cache keeps are the ones they were
    /// cached from: a streamed split is fingerprinted by its listing, so a file rewritten
    /// at the same size is found here, by reading the kept parts' files again (their
    /// digests then serve the whole split's content hash at the end).
    fn check_unchanged(&self, writer: &CacheWriter, out: &Path) -> Result<(), RuntimeError> {
        let changed = writer
            .manifest()
            .first_changed_part(|positions| self.data.content_of(positions))?;
        match changed {
            Some((part, now)) => Err(RuntimeError::DataChanged {
                cache: out.to_path_buf(),
                part: part.file.clone(),
                recorded: part.content.clone().unwrap_or_default(),
                now,
            }),
            None => Ok(()),
        }
    }
}

impl OpenCache<'_> {
    /// Rows this run's cache (or shard) holds when finished: samples times views.
    pub fn samples(&self) -> usize {
        let m = self.writer.manifest();
        m.end_row() - m.first_row()
    }

    /// Runs the pipeline to the end of the data; `on_rows` is called (from the writer
    /// thread) with the rows each written batch added.
    pub fn run(self, on_rows: &(dyn Fn(usize) + Sync)) -> Result<CacheSummary, RuntimeError> {
        let OpenCache {
            mut prepared,
            writer,
            out,
            resumed_from,
        } = self;
        let started = Instant::now();
        let s = &prepared.settings;
        let job = Job {
            data: prepared.data,
            preprocess: &prepared.model.preprocess,
            views: s.views.as_ref(),
            plan: &prepared.model.plan,
            kind: s.output_kind,
            batch_size: s.batch_size,
            allow_nonfinite: s.allow_nonfinite,
        };
        // The files on this machine: the cache, or the local copy of one on object storage.
        let local = writer.dir().to_path_buf();
        let manifest = cache_logits(&mut prepared.model.model, &job, writer, on_rows)?;
        let seconds = started.elapsed().as_secs_f64();
        let bytes_on_disk = manifest.size_on_disk(&local);
        let computed = manifest.rows() - resumed_from;
        Ok(CacheSummary {
            cache: out,
            samples: manifest.rows(),
            computed,
            resumed_from,
            seconds,
            samples_per_second: computed as f64 / seconds.max(1e-9),
            bytes_on_disk,
            bytes_per_sample: bytes_on_disk as f64 / manifest.rows().max(1) as f64,
            num_classes: manifest.num_classes,
            shard: manifest.shard,
        })
    }
}
