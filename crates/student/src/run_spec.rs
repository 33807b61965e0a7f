//! The run spec: everything a training run depends on, as plain settings. `train-student`
//! builds one from its flags (or reads one with `--spec`), a sweep builds one per run from
//! its grid and hands it to the trainer as a file; the run directory keeps it as
//! `run.json`. A new training setting is added here, once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use distill_data::{
    ComputeDevice, Dataset, Preprocess, PreprocessOverrides, Samples, TrainTestData, ViewSpec,
};
use serde::{Deserialize, Serialize};

use crate::config::check_augment;
use crate::run_dir::write_json;
use crate::{
    ArchSpec, DataIdentity, DistillConfig, KdLoss, ModelStats, Optimisation, RunDir, RunResult,
    StudentError, TeacherLogits, TrainConfig, TrainObserver, TrainingPlan, Validation, finish_run,
    model_stats,
};

/// The default seed of a run.
pub const DEFAULT_SEED: u64 = 42;
/// The default memory budget for the training split's cached logits: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;

fn default_max_memory() -> u64 {
    DEFAULT_MAX_MEMORY
}

/// Distillation from a teacher's cached logits: the caches and the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillSpec {
    /// Cache of the training split (from `cache-logits`).
    pub cache: PathBuf,
    /// Cache of the test split: agreement with the teacher and KL after every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_cache: Option<PathBuf>,
    /// The distillation loss.
    pub loss: KdLoss,
}

/// Everything a training run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The student's architecture.
    pub arch: ArchSpec,
    /// The training and test splits.
    pub data: TrainTestData,
    /// Preprocessing settings over the defaults (the student has no model to read them from).
    #[serde(default)]
    pub preprocess: PreprocessOverrides,
    /// Epochs, batch size, learning rate, weight decay.
    #[serde(default)]
    pub optimisation: Optimisation,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Augmentation drawn online in supervised training (the text of `--augment`).
    #[serde(default, skip_serializing_if = "ViewSpec::is_empty")]
    pub augment: ViewSpec,
    /// Distillation from cached logits; none: supervised training on the labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillSpec>,
    /// Samples of the training split held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// Memory budget in bytes for the training split's cached logits: a cache that fits is
    /// loaded once, a larger one is streamed part by part.
    #[serde(default = "default_max_memory")]
    pub max_memory: u64,
    /// Where the student trains: the CPU, or a CUDA GPU (a build with the `cuda` feature).
    #[serde(default, skip_serializing_if = "is_cpu")]
    pub device: ComputeDevice,
}

fn is_cpu(device: &ComputeDevice) -> bool {
    !device.is_cuda()
}

fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// The run directory already held the finished run: nothing was trained.
    AlreadyComplete(RunResult),
    /// The run was trained (or resumed) to the end.
    Trained(RunResult),
}

impl RunOutcome {
    /// The run's result either way.
    pub fn result(&self) -> &RunResult {
        match self {
            RunOutcome::AlreadyComplete(r) | RunOutcome::Trained(r) => r,
        }
    }
}

/// A run's data and teacher logits, loaded and checked against each other.
pub struct LoadedRun {
    /// The training split (as stored: not yet brought to the student's size).
    pub train: Dataset,
    /// The test split.
    pub test: Dataset,
    /// The full preprocessing of the student's input.
    pub preprocess: Preprocess,
    /// The teacher's logits joined to both splits, for a distillation run.
    pub teacher: Option<TeacherLogits>,
    /// Classes of the student's output: the teacher's, or those the labels name.
    pub num_classes: usize,
    /// Memory for the images at the student's size: encoded images (folders, Parquet)
    /// beyond it are kept in a file in the run directory while it trains.
    pub max_memory: u64,
    /// Where the student trains.
    pub device: ComputeDevice,
}

/// The image files of a run that keeps its images on disk, removed when training ends
/// (however it ends).
struct ImageFiles(Vec<PathBuf>);

impl Drop for ImageFiles {
    fn drop(&mut self) {
        for file in &self.0 {
            // Absent when the images fit in memory; a leftover is removed by the next
            // run in the directory.
            let _ = std::fs::remove_file(file);
        }
    }
}

/// An error unless an epoch over `samples` training samples in batches of `batch_size`
/// takes at least one step (batch-norm needs two samples, so a batch of one is skipped).
pub(crate) fn check_steps(samples: usize, batch_size: usize) -> Result<(), StudentError> {
    if samples < 2 {
        return Err(StudentError::setting(
            "limit",
            format!(
                "{samples} training sample(s) leave nothing to train on: a step needs at least 2"
            ),
        ));
    }
    if batch_size < 2 {
        return Err(StudentError::setting(
            "batch_size",
            format!("batch_size {batch_size} trains nothing: a step needs at least 2 samples"),
        ));
    }
    Ok(())
}

impl RunSpec {
    /// A supervised run of `arch` on `data` with every other setting at its default.
    pub fn new(arch: ArchSpec, data: TrainTestData) -> Self {
        RunSpec {
            arch,
            data,
            preprocess: PreprocessOverrides::default(),
            optimisation: Optimisation::default(),
            seed: DEFAULT_SEED,
            augment: ViewSpec::default(),
            distill: None,
            validation: None,
            max_memory: DEFAULT_MAX_MEMORY,
            device: ComputeDevice::Cpu,
        }
    }

    /// Reads a spec written by [`RunSpec::write`] (or by hand).
    pub fn read(path: &Path) -> Result<Self, StudentError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudentError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| StudentError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the spec as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), StudentError> {
        write_json(path, self)
    }

    /// Checks the settings alone, before any data is read.
    pub fn validate(&self) -> Result<(), StudentError> {
        self.optimisation.validate()?;
        if let Some(v) = &self.validation {
            v.validate()?;
        }
        if let Some(d) = &self.distill {
            d.loss.validate()?;
        }
        check_augment(&self.augment, self.distill.as_ref().map(|d| d.loss.alpha))
    }

    /// Loads the training and test splits, resolves the preprocessing and joins the caches,
    /// checking everything a run needs before anything is written.
    pub fn load(&self, observer: &mut dyn TrainObserver) -> Result<LoadedRun, StudentError> {
        self.validate()?;
        let started = Instant::now();
        // Image folders are listed without reading their files, and stay so when the
        // preprocessing fixes the student's input (channels and size) and nothing is drawn
        // from an image's size (online augmentation, a views cache): each image is then
        // read first by the batch that needs it.
        let mut train = self.data.train.load_listed("train")?;
        observer.data_loaded(&train, started.elapsed().as_secs_f64());
        let started = Instant::now();
        let mut test = self.data.load_test_listed()?;
        observer.data_loaded(&test, started.elapsed().as_secs_f64());
        let preprocess = self
            .preprocess
            .resolve(Preprocess::default(), train.is_float());
        if !preprocess.fixes_output() || !self.augment.is_empty() {
            train.read_headers()?;
            test.read_headers()?;
        }
        self.data.check_alike(&train, &test)?;
        train.check(&preprocess)?;
        self.arch
            .check_input(preprocess.output_shape(train.shape))?;
        let held_out = match &self.validation {
            Some(v) => {
                v.check_room(train.len())?;
                v.count(train.len())
            }
            None => 0,
        };
        check_steps(train.len() - held_out, self.optimisation.batch_size)?;
        let teacher = match &self.distill {
            Some(d) => {
                let started = Instant::now();
                let t = TeacherLogits::join(
                    &d.cache,
                    d.test_cache.as_deref(),
                    &train,
                    &test,
                    self.max_memory,
                )?;
                if t.train.identity.views.is_some() {
                    train.read_headers()?;
                    test.read_headers()?;
                }
                if t.train.identity.views.is_some() && !self.augment.is_empty() {
                    return Err(StudentError::setting(
                        "augment",
                        format!(
                            "{} holds augmented views, which replace online augmentation: drop the augmentation",
                            d.cache.display()
                        ),
                    ));
                }
                observer.teacher_joined(&t, started.elapsed().as_secs_f64());
                Some(t)
            }
            None => None,
        };
        let num_classes = match &teacher {
            Some(t) => t.train.classes,
            None => train.num_classes().max(test.num_classes()),
        };
        Ok(LoadedRun {
            train,
            test,
            preprocess,
            teacher,
            num_classes,
            max_memory: self.max_memory,
            device: self.device,
        })
    }

    /// Trains the run into `out` (resuming from its checkpoint), exports it and writes
    /// `result.json`. A directory holding another run is refused unless `overwrite`; one
    /// holding this finished run is left as it is.
    pub fn execute(
        &self,
        out: &Path,
        overwrite: bool,
        observer: &mut dyn TrainObserver,
    ) -> Result<RunOutcome, StudentError> {
        // A GPU that cannot be had fails now, before the data is read or `out` is made.
        crate::compute_device(self.device)?;
        let loaded = self.load(observer)?;
        let config = loaded.config(self);
        config.validate()?;
        let run = RunDir::prepare(out, &config, overwrite)?;
        if let Some(result) = RunResult::read(&run) {
            return Ok(RunOutcome::AlreadyComplete(result));
        }
        self.check_same_device(&run)?;
        write_json(&run.spec_path(), self)?;
        loaded
            .train(&config, &run, observer)
            .map(RunOutcome::Trained)
    }
}

impl RunSpec {
    /// Refuses to go on with a run that began on another kind of device (CPU or GPU): its
    /// numbers would be neither the one device's nor the other's. The spec saved when the
    /// run began says where.
    fn check_same_device(&self, run: &RunDir) -> Result<(), StudentError> {
        let Ok(began) = RunSpec::read(&run.spec_path()) else {
            return Ok(());
        };
        if began.device.kind() != self.device.kind() {
            return Err(StudentError::OtherDevice {
                path: run.path.clone(),
                began: began.device.kind().into(),
                now: self.device.kind().into(),
            });
        }
        Ok(())
    }
}

impl LoadedRun {
    /// The resolved configuration of `spec` on this data (saved as `config.json`).
    pub fn config(&self, spec: &RunSpec) -> TrainConfig {
        let distill = match (&spec.distill, &self.teacher) {
            (Some(d), Some(t)) => Some(DistillConfig {
                loss: d.loss.clone(),
                cache: t.train.identity.clone(),
                test_cache: t.test.as_ref().map(|t| t.identity.clone()),
                streamed: t.train.is_streamed(),
            }),
            _ => None,
        };
        TrainConfig::new(
            spec.arch.clone(),
            self.preprocess.clone(),
            self.num_classes,
            DataIdentity::of(&self.train),
            DataIdentity::of(&self.test),
        )
        .with_optimisation(spec.optimisation.clone())
        .with_seed(spec.seed)
        .with_augment(spec.augment.clone())
        .with_distill(distill)
        .with_validation(spec.validation)
    }

    /// Parameters and multiply-accumulates of `arch` on this data
    /// (checked to fit the student's input size).
    pub fn stats(&self, arch: &ArchSpec) -> Result<ModelStats, StudentError> {
        let input = self.preprocess.output_shape(self.train.shape);
        arch.check_input(input)?;
        Ok(model_stats(arch, input, self.num_classes))
    }

    /// Brings the data to the student's input size (every image decoded once, on its first
    /// read in the first epoch, not every epoch and not before training starts), then
    /// trains and exports `config` in `run`.
    fn train(
        self,
        config: &TrainConfig,
        run: &RunDir,
        observer: &mut dyn TrainObserver,
    ) -> Result<RunResult, StudentError> {
        let stats = self.stats(&config.arch)?;
        let files = ImageFiles(vec![run.image_file_path(true), run.image_file_path(false)]);
        let (preprocess, budget) = (&self.preprocess, self.max_memory);
        // Encoded images decode to `len * output size` bytes, kept in memory within the
        // budget, else in a file read back batch by batch (memory flat in the dataset's size).
        let at_student_size = |data: Dataset, file: &Path| -> Result<Dataset, StudentError> {
            let bytes = (data.len() * preprocess.output_shape(data.shape).len()) as u64;
            Ok(match data.samples {
                Samples::Encoded(_) if bytes > budget => {
                    data.into_geometry_on_disk(preprocess, file)?
                }
                _ => data.into_geometry(preprocess)?,
            })
        };
        let train = at_student_size(self.train, &files.0[0])?;
        let test = at_student_size(self.test, &files.0[1])?;
        let image_file = match &train.samples {
            Samples::Resized(resized) => resized.file().map(Path::to_path_buf),
            _ => None,
        };
        let held_out = config.validation.map_or(0, |v| v.count(train.len()));
        observer.training_started(&TrainingPlan {
            arch: config.arch.clone(),
            stats,
            train_samples: train.len() - held_out,
            held_out,
            train_source: train.source.clone(),
            test_samples: test.len(),
            image_file,
        });
        let teacher = self.teacher.as_ref().map(TeacherLogits::as_targets);
        let (model, metrics) =
            crate::train(config, &train, &test, run, observer, teacher, self.device)?;
        finish_run(config, &model, &metrics, train.shape, run)
    }
}
