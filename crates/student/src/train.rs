//! The training loop: AdamW with a cosine schedule, checkpoint after every epoch, resumable.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use distill_data::Dataset;

use crate::batcher::Batcher;
use crate::evaluate::{accuracy, agreement, mean_kl, predict_logits};
use crate::model::compute_device;
use crate::run_dir::{CheckpointState, RunDir};
use crate::targets::{Segment, TeacherTargets, epoch_order};
use crate::{EpochMetrics, Student, StudentError, TrainConfig};

/// Hooks for progress reporting; the library itself prints nothing.
pub trait TrainObserver {
    fn resumed(&mut self, _from_epoch: usize) {}
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _samples: usize) {}
    fn batch_done(&mut self, _samples: usize, _loss: f64) {}
    fn epoch_finished(&mut self, _metrics: &EpochMetrics) {}
}

/// Observer that reports nothing.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// Per-sample sums of the loss terms over an epoch.
#[derive(Default)]
struct LossSums {
    total: f64,
    kd: f64,
    hard: f64,
}

/// The teacher logits of buffer `rows`, `[rows.len(), classes]`.
fn teacher_batch(logits: &[f32], rows: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = Vec::with_capacity(rows.len() * classes);
    for &r in rows {
        values.extend_from_slice(&logits[r * classes..(r + 1) * classes]);
    }
    Tensor::from_data(TensorData::new(values, [rows.len(), classes]), device)
}

/// Evaluation batch size: large batches amortise per-call overhead; memory stays small.
const EVAL_BATCH: usize = 500;

/// Learning rate at `step` of `total`: cosine from `peak` down to 0.
pub fn cosine_lr(peak: f64, step: usize, total: usize) -> f64 {
    peak * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
}

fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay as f32)
        .init()
}

fn read_err(path: std::path::PathBuf, e: impl std::fmt::Display) -> StudentError {
    StudentError::Read {
        path,
        reason: e.to_string(),
    }
}

/// The teacher's logits a distillation run learns from: for the training split, and
/// optionally for the test split (for agreement and KL after every epoch).
pub struct Targets<'a> {
    pub train: &'a TeacherTargets,
    pub test: Option<&'a TeacherTargets>,
}

/// Trains a student on `train`, evaluating on `test` after every epoch: with hard labels,
/// or, when `config.distill` is set, with the distillation loss against `targets`.
/// Resumes from the run directory's checkpoint when there is one. Returns the inference
/// copy of the trained model and the metrics of every epoch.
pub fn train(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
    targets: Option<Targets<'_>>,
) -> Result<(Student, Vec<EpochMetrics>), StudentError> {
    config.validate()?;
    let kd = match (&config.distill, &targets) {
        (Some(d), Some(t)) => Some((&d.loss, t)),
        (None, None) => None,
        _ => {
            return Err(StudentError::BadConfig(
                "distillation settings and teacher logits must be given together".into(),
            ));
        }
    };
    config.preprocess.validate(train)?;
    // The data comes already brought to the student's input size and channels
    // (`Dataset::into_geometry`); batches are only normalised.
    let in_shape = |d: &Dataset| {
        !matches!(d.samples, distill_data::Samples::Encoded(_))
            && config.preprocess.output_shape(d.shape) == d.shape
    };
    if !in_shape(train) || !in_shape(test) {
        return Err(StudentError::BadConfig(
            "the data must be brought to the student's input size first (Dataset::into_geometry)"
                .into(),
        ));
    }
    let preprocess = config.preprocess.normalisation_only();
    if train.is_float() && !config.augment.is_empty() {
        return Err(StudentError::BadConfig(
            "--augment flips and shifts images; this data holds float features".into(),
        ));
    }
    let device = compute_device().autodiff();
    let eval_device = compute_device();
    device.seed(config.seed);
    let mut model = Student::new(&config.arch, train.shape, config.num_classes, &device);
    let mut optim = optimizer(config);

    let mut start_epoch = 1;
    let mut metrics = Vec::new();
    if let Some(CheckpointState { epoch }) = run.checkpoint() {
        let dir = run.checkpoint_dir();
        model = model
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| read_err(dir.join("model.bpk"), e))?;
        optim = optim
            .load(dir.join("optim.bpk"))
            .map_err(|e| read_err(dir.join("optim.bpk"), e))?;
        metrics = run.metrics_until(epoch)?;
        start_epoch = epoch + 1;
        // Dropout draws from burn's global RNG: give the resumed epochs their own stream.
        device.seed(config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9));
        observer.resumed(epoch);
    }

    let batcher = Batcher {
        dataset: train,
        preprocess: &preprocess,
        augment: &config.augment,
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    // The validation samples stay in `train` (the cache is joined to the whole split) and
    // are skipped by every epoch.
    let held_out = config.validation.map(|v| v.mask(train.len()));
    let held_out = held_out.as_deref();
    let val = config
        .validation
        .map(|v| train.select(&v.positions(train.len())));
    let segments = |epoch: usize| match kd {
        Some((_, t)) => t
            .train
            .epoch_segments(train.len(), config.seed, epoch, held_out),
        None => {
            vec![Segment::plain(epoch_order(train.len(), config.seed, epoch)).without(held_out)]
        }
    };
    let steps_per_epoch: usize = segments(1)
        .iter()
        .map(|s| s.rows.len().div_ceil(config.batch_size))
        .sum();
    let total_steps = steps_per_epoch * config.epochs;
    let test_teacher = match kd.and_then(|(_, t)| t.test) {
        Some(t) => Some(t.all()?),
        None => None,
    };

    for epoch in start_epoch..=config.epochs {
        observer.epoch_started(epoch, config.epochs, train.len());
        let started = Instant::now();
        let mut sums = LossSums::default();
        let (mut correct, mut seen, mut lr) = (0usize, 0usize, config.lr);
        let mut step = (epoch - 1) * steps_per_epoch;
        for segment in segments(epoch) {
            let buffer = match kd {
                Some((_, t)) => Some(t.train.load(&segment)?),
                None => None,
            };
            for rows in segment.rows.chunks(config.batch_size) {
                lr = cosine_lr(config.lr, step, total_steps);
                step += 1;
                if rows.len() < 2 {
                    continue; // batch-norm needs at least two samples for batch statistics
                }
                let chunk: Vec<usize> = match &buffer {
                    Some(b) => rows.iter().map(|&r| b.position(r)).collect(),
                    None => rows.to_vec(),
                };
                let x = batcher.images(&chunk, &device, config.seed, epoch as u64);
                let y = batcher.labels(&chunk, &device);
                let logits = model.forward(x);
                let predicted: Vec<i64> = logits
                    .clone()
                    .detach()
                    .argmax(1)
                    .try_into_vec_as::<i64>()
                    .expect("argmax gives integers");
                correct += predicted
                    .iter()
                    .zip(&chunk)
                    .filter(|&(&p, &pos)| p == train.labels[pos] as i64)
                    .count();
                let (loss, kd_value) = match (kd, &buffer) {
                    (Some((loss, t)), Some(b)) => {
                        let teacher = teacher_batch(&b.logits, rows, t.train.classes, &device);
                        let terms = loss.forward(logits, teacher, y);
                        let kd_value = terms.kd.into_scalar::<f32>() as f64;
                        sums.hard += terms.hard.into_scalar::<f32>() as f64 * rows.len() as f64;
                        (terms.total, Some(kd_value))
                    }
                    _ => {
                        let loss = loss_fn.forward(logits, y);
                        let v = loss.clone().into_scalar::<f32>() as f64;
                        sums.hard += v * rows.len() as f64;
                        (loss, None)
                    }
                };
                let loss_value = loss.clone().into_scalar::<f32>() as f64;
                sums.total += loss_value * rows.len() as f64;
                if let Some(v) = kd_value {
                    sums.kd += v * rows.len() as f64;
                }
                seen += rows.len();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
                observer.batch_done(rows.len(), loss_value);
            }
        }
        let seconds = started.elapsed().as_secs_f64();

        let valid = model.valid();
        let test_logits = predict_logits(&valid, test, &preprocess, EVAL_BATCH, &eval_device);
        let per_sample = |sum: f64| sum / seen.max(1) as f64;
        let classes = config.num_classes;
        let m = EpochMetrics {
            epoch,
            train_loss: per_sample(sums.total),
            kd_loss: kd.map(|_| per_sample(sums.kd)),
            hard_loss: per_sample(sums.hard),
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy: val.as_ref().map(|v| {
                let logits = predict_logits(&valid, v, &preprocess, EVAL_BATCH, &eval_device);
                accuracy(&logits, classes, &v.labels)
            }),
            test_accuracy: accuracy(&test_logits, classes, &test.labels),
            teacher_agreement: test_teacher
                .as_ref()
                .map(|t| agreement(t, &test_logits, classes)),
            test_kl: test_teacher
                .as_ref()
                .map(|t| mean_kl(t, &test_logits, classes)),
            lr,
            seconds,
            samples_per_second: seen as f64 / seconds.max(1e-9),
        };
        metrics.push(m.clone());

        // Checkpoint: weights and optimizer first, then the state that points at them.
        let dir = run.checkpoint_dir();
        model
            .clone()
            .save_file(dir.join("model.bpk"))
            .map_err(|e| read_err(dir.join("model.bpk"), e))?;
        optim
            .save(dir.join("optim.bpk"))
            .map_err(|e| read_err(dir.join("optim.bpk"), e))?;
        run.write_metrics(&metrics)?;
        run.write_json(&dir.join("state.json"), &CheckpointState { epoch })?;
        observer.epoch_finished(&m);
    }
    Ok((model.valid(), metrics))
}
