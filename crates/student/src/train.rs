//! The training loop: AdamW with a cosine schedule, checkpoint after every epoch, resumable.

use std::time::Instant;

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use distill_data::{ComputeDevice, Dataset, Preprocess, ViewParams, accuracy};

use crate::adamw::FusedAdamW;
use crate::batcher::Batcher;
use crate::evaluate::predict_logits;
use crate::model::compute_device;
use crate::observer::TrainObserver;
use crate::order::{OrderSettings, RowGroups, epoch_windows};
use crate::run_dir::RunDir;
use crate::targets::{Segment, SegmentData, Targets};
use crate::teacher_rows::RowFormat;
use crate::{EpochMetrics, HardLoss, HardTargets, KdLoss, Student, StudentError, TrainConfig};

/// Per-sample sums over an epoch's steps.
#[derive(Default)]
struct EpochSums {
    total: f64,
    kd: f64,
    hard: f64,
    correct: usize,
    seen: usize,
    /// Learning rate of the last step.
    lr: f64,
}

/// One batch of a segment: its rows of the buffer, the buffer, the epoch, and its index in
/// the epoch (1-based, as error messages count).
struct Batch<'r, 'b> {
    rows: &'r [usize],
    buffer: Option<&'r SegmentData<'b>>,
    epoch: usize,
    index: usize,
}

/// Evaluation batch size: large batches amortise per-call overhead; memory stays small.
const EVAL_BATCH: usize = 500;

/// Learning rate at `step` of `total`: cosine from `peak` down to 0.
pub fn cosine_lr(peak: f64, step: usize, total: usize) -> f64 {
    peak * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
}

/// AdamW, fused on Flex (bit for bit burn's `AdamW`, whose checkpoints it shares).
fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let weight_decay = config.optimisation.weight_decay as f32;
    ModuleOptimizer::from(FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay))
}

/// The model, its optimizer and the metrics so far: fresh, or from the run's checkpoint.
struct State {
    model: Student,
    optim: ModuleOptimizer,
    metrics: Vec<EpochMetrics>,
    /// The first epoch still to train (1-based).
    next_epoch: usize,
}

impl State {
    fn start(
        config: &TrainConfig,
        train: &Dataset,
        run: &RunDir,
        device: &Device,
        observer: &mut dyn TrainObserver,
    ) -> Result<State, StudentError> {
        let model = Student::new(&config.arch, train.shape, config.num_classes, device);
        let optim = optimizer(config);
        let Some(checkpoint) = run.resume_point()? else {
            return Ok(State {
                model,
                optim,
                metrics: Vec::new(),
                next_epoch: 1,
            });
        };
        let restored = run.restore(&checkpoint, model, optim)?;
        let epoch = restored.epoch;
        // Dropout draws from burn's global RNG: give the resumed epochs their own stream.
        device.seed(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9));
        observer.resumed(epoch);
        Ok(State {
            model: restored.model,
            optim: restored.optim,
            metrics: restored.metrics,
            next_epoch: epoch + 1,
        })
    }
}

/// What every epoch of a run shares: the data, the loss, the order of visits.
struct Epochs<'a> {
    config: &'a TrainConfig,
    train: &'a Dataset,
    test: &'a Dataset,
    batcher: Batcher<'a>,
    preprocess: &'a Preprocess,
    kd: Option<(&'a KdLoss, Targets<'a>)>,
    loss_fn: CrossEntropyLoss,
    /// `held_out[p]`: position `p` of the training split is a validation sample.
    held_out: Option<Vec<bool>>,
    val: Option<Dataset>,
    /// The teacher's rows of the test split, and their layout.
    test_teacher: Option<(RowFormat, Vec<f32>)>,
    /// The training split's row groups, when it is read a row group at a time (the first
    /// epoch's order follows them).
    row_groups: Option<RowGroups>,
    /// Whether views mix samples with partners drawn from the whole split (mixup).
    mixes: bool,
    steps_per_epoch: usize,
    total_steps: usize,
    /// Where the model is evaluated (the training device without gradients).
    eval_device: Device,
}

impl<'a> Epochs<'a> {
    fn new(
        config: &'a TrainConfig,
        train: &'a Dataset,
        test: &'a Dataset,
        preprocess: &'a Preprocess,
        kd: Option<(&'a KdLoss, Targets<'a>)>,
        device: &Device,
        eval_device: Device,
    ) -> Result<Self, StudentError> {
        let mixes = config.augment.mixup.is_some()
            || kd.is_some_and(|(_, t)| {
                t.train
                    .identity
                    .views
                    .as_ref()
                    .is_some_and(|v| v.augment.mixup.is_some())
            });
        // The validation samples stay in `train` (the cache is joined to the whole split)
        // and are skipped by every epoch.
        let mut epochs = Epochs {
            config,
            train,
            test,
            batcher: Batcher::new(
                train,
                preprocess,
                &config.augment,
                kd.is_some_and(|(_, t)| t.train.has_views()),
            ),
            preprocess,
            kd,
            loss_fn: CrossEntropyLossConfig::new().init(device),
            held_out: config.validation.map(|v| v.mask(train.len())),
            val: config
                .validation
                .map(|v| train.select(&v.positions(train.len()))),
            test_teacher: match kd.and_then(|(_, t)| t.test) {
                Some(t) => Some((t.format, t.all()?)),
                None => None,
            },
            // With mixup every sample is read before the first batch: no windows then.
            row_groups: train
                .read_groups()
                .filter(|_| !mixes)
                .map(|groups| RowGroups::new(groups, &train.labels)),
            mixes,
            steps_per_epoch: 0,
            total_steps: 0,
            eval_device,
        };
        epochs.steps_per_epoch = epochs
            .segments(1)
            .iter()
            .map(|s| s.rows.len().div_ceil(config.optimisation.batch_size))
            .sum();
        epochs.total_steps = epochs.steps_per_epoch * config.optimisation.epochs;
        Ok(epochs)
    }

    /// The order in which `epoch` visits the training samples.
    fn segments(&self, epoch: usize) -> Vec<Segment> {
        let settings = OrderSettings {
            seed: self.config.seed,
            held_out: self.held_out.as_deref(),
            row_groups: self.row_groups.as_ref(),
            batch_size: self.config.optimisation.batch_size,
        };
        match self.kd {
            Some((_, t)) => t.train.epoch_segments(&self.train.ids, epoch, &settings),
            None => epoch_windows(self.train.len(), epoch, &settings)
                .into_iter()
                .map(Segment::plain)
                .collect(),
        }
    }

    /// Trains `model` one epoch, a step per batch.
    fn train_epoch(
        &self,
        mut model: Student,
        optim: &mut ModuleOptimizer,
        epoch: usize,
        device: &Device,
        observer: &mut dyn TrainObserver,
    ) -> Result<(Student, EpochSums), StudentError> {
        let batch_size = self.config.optimisation.batch_size;
        let mut sums = EpochSums {
            lr: self.config.optimisation.lr,
            ..EpochSums::default()
        };
        let first_step = (epoch - 1) * self.steps_per_epoch;
        let mut step = first_step;
        if self.mixes {
            // Mixup partners come from the whole split: every sample is read before the
            // first batch (once; later epochs find them kept).
            let all: Vec<usize> = (0..self.train.len()).collect();
            self.train.prefill(&all)?;
        }
        for segment in self.segments(epoch) {
            let buffer = match self.kd {
                Some((_, t)) => Some(t.train.load(&segment)?),
                None => None,
            };
            // The segment's samples brought to the student's size together (Parquet rows,
            // a few whole row groups at a time), not a row group read per sample.
            let positions: Vec<usize> = match &buffer {
                Some(b) => segment.rows.iter().map(|&r| b.position(r)).collect(),
                None => segment.rows.clone(),
            };
            match &self.row_groups {
                Some(groups) => self.train.prefill(&groups.whole(&positions))?,
                None => self.train.prefill(&positions)?,
            }
            for rows in segment.rows.chunks(batch_size) {
                sums.lr = cosine_lr(self.config.optimisation.lr, step, self.total_steps);
                step += 1;
                if rows.len() < 2 {
                    continue; // batch-norm needs at least two samples for batch statistics
                }
                let batch = Batch {
                    rows,
                    buffer: buffer.as_ref(),
                    epoch,
                    index: step - first_step,
                };
                let (stepped, loss) = self.step(model, optim, &batch, &mut sums, device)?;
                model = stepped;
                observer.batch_done(rows.len(), loss);
            }
        }
        Ok((model, sums))
    }

    /// One optimizer step over a batch; returns the stepped model and the batch's loss. A
    /// loss that is not finite stops training before the step.
    fn step(
        &self,
        model: Student,
        optim: &mut ModuleOptimizer,
        batch: &Batch<'_, '_>,
        sums: &mut EpochSums,
        device: &Device,
    ) -> Result<(Student, f64), StudentError> {
        let (rows, buffer, epoch) = (batch.rows, batch.buffer, batch.epoch);
        let chunk: Vec<usize> = match buffer {
            Some(b) => rows.iter().map(|&r| b.position(r)).collect(),
            None => rows.to_vec(),
        };
        // The views of the batch: the cache's, or drawn online from the augmentation.
        let views: Option<Vec<ViewParams>> = match buffer {
            Some(b) if b.has_views() => rows.iter().map(|&r| b.view(r)).collect(),
            _ => self
                .batcher
                .online_views(&chunk, self.config.seed, epoch as u64),
        };
        let x = self.batcher.images(&chunk, views.as_deref(), device)?;
        let classes = self.config.num_classes;
        let hard_targets =
            match self
                .batcher
                .mixed_labels(&chunk, views.as_deref(), classes, device)
            {
                Some(mixed) => HardTargets::Mixed(mixed),
                None => HardTargets::Labels(self.batcher.labels(&chunk, device)),
            };
        let logits = model.forward(x);
        let predicted: Vec<i64> = logits
            .clone()
            .detach()
            .argmax(1)
            .try_into_vec_as::<i64>()
            .expect("argmax gives integers");
        sums.correct += predicted
            .iter()
            .zip(&chunk)
            .filter(|&(&p, &pos)| p == self.train.labels[pos] as i64)
            .count();
        let weight = rows.len() as f64;
        let (loss, kd_value) = match (self.kd, buffer) {
            (Some((loss, t)), Some(b)) => {
                let teacher = t
                    .train
                    .format
                    .batch(&b.logits, rows, loss.temperature, device);
                let terms = loss.forward(logits, teacher, hard_targets);
                let kd_value = terms.kd.into_scalar::<f32>() as f64;
                sums.hard += terms.hard.into_scalar::<f32>() as f64 * weight;
                (terms.total, Some(kd_value))
            }
            _ => {
                let loss = match hard_targets {
                    HardTargets::Labels(y) => self.loss_fn.forward(logits, y),
                    mixed => HardLoss::Ce.forward(logits, mixed),
                };
                sums.hard += loss.clone().into_scalar::<f32>() as f64 * weight;
                (loss, None)
            }
        };
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            return Err(StudentError::NonFinite {
                what: format!("the loss is {loss_value}"),
                epoch,
                batch: batch.index,
            });
        }
        sums.total += loss_value * weight;
        if let Some(v) = kd_value {
            sums.kd += v * weight;
        }
        sums.seen += rows.len();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        Ok((optim.step(sums.lr, model, grads), loss_value))
    }

    /// The metrics of `epoch`: the training sums, and the model evaluated on the validation
    /// and test splits (and against the teacher's test logits).
    fn metrics(
        &self,
        model: &Student,
        epoch: usize,
        sums: &EpochSums,
        seconds: f64,
    ) -> Result<EpochMetrics, StudentError> {
        let valid = model.valid();
        let logits =
            |d: &Dataset| predict_logits(&valid, d, self.preprocess, EVAL_BATCH, &self.eval_device);
        let classes = self.config.num_classes;
        let test_logits = logits(self.test)?;
        let val_accuracy = match &self.val {
            Some(v) => Some(accuracy(&logits(v)?, classes, &v.labels)),
            None => None,
        };
        let per_sample = |sum: f64| sum / sums.seen.max(1) as f64;
        Ok(EpochMetrics {
            epoch,
            train_loss: per_sample(sums.total),
            kd_loss: self.kd.map(|_| per_sample(sums.kd)),
            hard_loss: per_sample(sums.hard),
            train_accuracy: sums.correct as f64 / sums.seen.max(1) as f64,
            val_accuracy,
            test_accuracy: accuracy(&test_logits, classes, &self.test.labels),
            teacher_agreement: self
                .test_teacher
                .as_ref()
                .map(|(format, t)| format.agreement(t, &test_logits)),
            test_kl: self
                .test_teacher
                .as_ref()
                .map(|(format, t)| format.mean_kl(t, &test_logits)),
            lr: sums.lr,
            seconds,
            samples_per_second: sums.seen as f64 / seconds.max(1e-9),
        })
    }
}

/// An error when a weight or batch-norm statistic of `model` is not finite after `epoch`:
/// such a model must not be checkpointed, let alone exported.
fn check_weights(model: &Student, epoch: usize) -> Result<(), StudentError> {
    match model.flat_weights().into_iter().find(|v| !v.is_finite()) {
        Some(v) => Err(StudentError::NonFinite {
            what: format!("a weight is {v}"),
            epoch,
            batch: 0,
        }),
        None => Ok(()),
    }
}

/// The distillation loss and teacher logits of a run, checked to come together, and the
/// data checked to be at the student's input size already.
fn check<'a>(
    config: &'a TrainConfig,
    train: &Dataset,
    test: &Dataset,
    targets: Option<Targets<'a>>,
) -> Result<Option<(&'a KdLoss, Targets<'a>)>, StudentError> {
    config.validate()?;
    let kd = match (&config.distill, targets) {
        (Some(d), Some(t)) => Some((&d.loss, t)),
        (None, None) => None,
        _ => {
            return Err(StudentError::setting(
                "distill",
                "distillation settings and teacher logits must be given together",
            ));
        }
    };
    train.check(&config.preprocess)?;
    config.arch.check_input(train.shape)?;
    // The data comes already brought to the student's input size and channels
    // (`Dataset::into_geometry`); batches are only normalised.
    let in_shape = |d: &Dataset| {
        !matches!(d.samples, distill_data::Samples::Encoded(_))
            && config.preprocess.output_shape(d.shape) == d.shape
    };
    if !in_shape(train) || !in_shape(test) {
        return Err(StudentError::setting(
            "preprocess",
            "the data must be brought to the student's input size first (Dataset::into_geometry)",
        ));
    }
    if train.is_float() && !config.augment.is_empty() {
        return Err(StudentError::setting(
            "augment",
            "augmentation crops, flips, shifts and mixes images; this data holds float features",
        ));
    }
    Ok(kd)
}

/// Trains a student on `train`, evaluating on `test` after every epoch: with hard labels,
/// or, when `config.distill` is set, with the distillation loss against `targets`.
/// Resumes from the run directory's checkpoint when there is one. Returns the inference
/// copy of the trained model and the metrics of every epoch. Trains on `device` (a GPU
/// needs the `cuda` feature; see [`compute_device`]).
pub fn train(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
    targets: Option<Targets<'_>>,
    device: ComputeDevice,
) -> Result<(Student, Vec<EpochMetrics>), StudentError> {
    let kd = check(config, train, test, targets)?;
    let preprocess = config.preprocess.normalisation_only();
    let eval_device = compute_device(device)?;
    let device = eval_device.clone().autodiff();
    device.seed(config.seed);
    let mut state = State::start(config, train, run, &device, observer)?;
    let epochs = Epochs::new(config, train, test, &preprocess, kd, &device, eval_device)?;
    let first_epoch = state.next_epoch;
    for epoch in state.next_epoch..=config.optimisation.epochs {
        observer.epoch_started(epoch, config.optimisation.epochs, train.len());
        let started = Instant::now();
        let (model, sums) =
            epochs.train_epoch(state.model, &mut state.optim, epoch, &device, observer)?;
        state.model = model;
        let seconds = started.elapsed().as_secs_f64();
        check_weights(&state.model, epoch)?;
        let m = epochs.metrics(&state.model, epoch, &sums, seconds)?;
        state.metrics.push(m.clone());
        if epoch == first_epoch
            && let Some(t) = targets
        {
            // The first epoch read every file of a streamed split: its content must be
            // the cache's before anything is saved as done.
            t.train.check_content(train)?;
            if let Some(test_targets) = t.test {
                test_targets.check_content(test)?;
            }
        }
        run.save_checkpoint(epoch, &state.model, &state.optim, &state.metrics)?;
        observer.epoch_finished(&m);
    }
    Ok((state.model.valid(), state.metrics))
}
