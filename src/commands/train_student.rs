//! `distill train-student`: supervised training of a student (the hard-label baseline, and
//! the way the demo teacher is made), then ONNX export.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_data::{Dataset, DatasetSpec, Preprocess};
use distill_student::{
    ArchSpec, Augment, DataIdentity, DistillConfig, EpochMetrics, HardLoss, KdLoss, RunDir,
    Targets, TeacherTargets, TrainConfig, TrainObserver, export_onnx, model_stats,
};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::args::{DatasetArgs, PreprocessArgs, load_split, parse_bytes};
use crate::progress::samples_bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Student architecture: mlp:W1,W2,... or cnn:C1,C2,...[,fc=N][,dropout=P].
    #[arg(long)]
    arch: ArchSpec,
    /// Run directory: config.json, metrics.jsonl, checkpoint/, model.bpk, model.onnx.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    data: DatasetArgs,
    /// Split evaluated after every epoch.
    #[arg(long, default_value = "test")]
    test_split: String,
    /// Evaluate on another source instead of --test-split of --dataset.
    #[arg(long, value_name = "KIND:PATH")]
    test_dataset: Option<DatasetSpec>,
    /// Use only the first N test samples.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    #[command(flatten)]
    preprocess: PreprocessArgs,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate (AdamW, cosine decay to 0 over all steps).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Light augmentation: flip (horizontal), shift (up to 2 px); comma-separated.
    #[arg(long, value_delimiter = ',')]
    augment: Vec<Augment>,
    /// Teacher logits cached by `distill cache-logits` over the training split: train by
    /// knowledge distillation from them (joined by sample id). The teacher is never loaded.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Cache of the test split: report top-1 agreement with the teacher and KL to it after
    /// every epoch (needs --cache).
    #[arg(long, value_name = "DIR")]
    test_cache: Option<PathBuf>,
    /// Distillation temperature T [default: 4].
    #[arg(long, value_name = "T")]
    temperature: Option<f64>,
    /// Weight of the DISTILLATION term: loss = alpha * T² * KL + (1 - alpha) * hard.
    /// alpha = 0 is supervised training, alpha = 1 ignores the labels. (Keras' Distiller
    /// puts its alpha on the hard term instead: alpha here = 1 - alpha there.) [default: 0.5]
    #[arg(long, value_name = "A")]
    alpha: Option<f64>,
    /// Hard-label term: ce (cross-entropy) or mse (logits against one-hot labels) [default: ce].
    #[arg(long, value_name = "ce|mse")]
    hard_loss: Option<HardLoss>,
    /// Do not multiply the distillation term by T² (Hinton et al.'s gradient-scale fix).
    #[arg(long)]
    no_t2_scaling: bool,
    /// Memory budget for the cached training logits (e.g. 512M, 2G): a cache that fits is
    /// loaded once; a larger one is streamed part by part in shuffled order.
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    max_memory: u64,
    /// Replace an existing run directory that holds a different run.
    #[arg(long)]
    overwrite: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `result.json`: written last, so its presence marks a finished run.
#[derive(Serialize, serde::Deserialize)]
pub struct RunResult {
    pub arch: String,
    pub params: u64,
    pub macs: u64,
    pub epochs: usize,
    pub test_accuracy: f64,
    /// Top-1 agreement with the teacher on the test split (with --test-cache).
    pub teacher_agreement: Option<f64>,
    /// KL(teacher ‖ student) at T = 1 on the test split (with --test-cache).
    pub test_kl: Option<f64>,
    /// The teacher the student was distilled from (sha256 of its ONNX file).
    pub teacher_sha256: Option<String>,
    pub train_seconds: f64,
    pub onnx: PathBuf,
    pub onnx_bytes: u64,
}

struct BarObserver {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl TrainObserver for BarObserver {
    fn resumed(&mut self, from_epoch: usize) {
        eprintln!("resuming after epoch {from_epoch} from the checkpoint");
    }
    fn epoch_started(&mut self, epoch: usize, epochs: usize, samples: usize) {
        self.bar = Some(samples_bar(
            samples as u64,
            &format!("epoch {epoch}/{epochs}"),
        ));
    }
    fn batch_done(&mut self, samples: usize, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.inc(samples as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
    }
    fn epoch_finished(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            let mut teacher = String::new();
            if let Some(kd) = m.kd_loss {
                teacher += &format!("  (kd {kd:.4}, hard {:.4})", m.hard_loss);
            }
            if let (Some(a), Some(kl)) = (m.teacher_agreement, m.test_kl) {
                teacher += &format!("  agreement {:.2}%  kl {kl:.4}", 100.0 * a);
            }
            eprintln!(
                "epoch {:>3}  loss {:.4}{teacher}  train acc {:.2}%  test acc {:.2}%  {:.1}s  {:.0} samples/s",
                m.epoch,
                m.train_loss,
                100.0 * m.train_accuracy,
                100.0 * m.test_accuracy,
                m.seconds,
                m.samples_per_second
            );
        }
    }
}

/// The distillation loss the flags ask for (defaults: T = 4, alpha = 0.5, cross-entropy,
/// T² scaling on).
fn kd_loss(args: &Args) -> KdLoss {
    KdLoss {
        temperature: args.temperature.unwrap_or(4.0),
        alpha: args.alpha.unwrap_or(0.5),
        hard_loss: args.hard_loss.unwrap_or_default(),
        t2_scaling: !args.no_t2_scaling,
    }
}

/// The cached teacher logits for the training split and, if given, the test split, joined
/// to the data by sample id; none without `--cache`.
fn load_targets(
    args: &Args,
    train: &Dataset,
    test: &Dataset,
) -> Result<Option<(TeacherTargets, Option<TeacherTargets>)>> {
    let Some(cache) = &args.cache else {
        if args.test_cache.is_some()
            || args.temperature.is_some()
            || args.alpha.is_some()
            || args.hard_loss.is_some()
            || args.no_t2_scaling
        {
            bail!(
                "--test-cache, --temperature, --alpha, --hard-loss and --no-t2-scaling need --cache (the training split's teacher logits)"
            );
        }
        return Ok(None);
    };
    // Settings are checked before the caches are read.
    kd_loss(args).validate()?;
    if !args.augment.is_empty() {
        bail!(
            "--augment cannot be used with --cache: the cached logits belong to the unaugmented images"
        );
    }
    let started = Instant::now();
    let targets = TeacherTargets::join(cache, train, args.max_memory)?;
    eprintln!(
        "teacher logits: {} ({} classes, teacher {}, sha256 {}…) {} in {:.2} s",
        cache.display(),
        targets.classes,
        targets.identity.teacher_file,
        &targets.identity.teacher_sha256[..12.min(targets.identity.teacher_sha256.len())],
        if targets.is_streamed() {
            "indexed for streaming"
        } else {
            "loaded"
        },
        started.elapsed().as_secs_f64()
    );
    let test_targets = match &args.test_cache {
        Some(dir) => {
            let t = TeacherTargets::join(dir, test, u64::MAX)?;
            if t.identity.teacher_sha256 != targets.identity.teacher_sha256
                || t.classes != targets.classes
            {
                bail!(
                    "--test-cache {} was made by another teacher than --cache {}",
                    dir.display(),
                    cache.display()
                );
            }
            Some(t)
        }
        None => None,
    };
    Ok(Some((targets, test_targets)))
}

fn identity(data: &Dataset) -> DataIdentity {
    DataIdentity {
        source: data.source.clone(),
        split: data.split.clone(),
        samples: data.len(),
        fingerprint: data.fingerprint(),
    }
}

pub fn run(args: Args) -> Result<()> {
    let train = args.data.load("train")?;
    let test_spec = args.test_dataset.as_ref().unwrap_or(&args.data.dataset);
    let test = load_split(test_spec, &args.test_split, args.test_limit)?;
    if test.shape != train.shape {
        bail!(
            "test samples are {:?} but training samples are {:?}",
            test.shape,
            train.shape
        );
    }
    let preprocess = args.preprocess.resolve(Preprocess::default());
    let teacher = load_targets(&args, &train, &test)?;
    let num_classes = match &teacher {
        Some((t, _)) => t.classes,
        None => train.num_classes().max(test.num_classes()),
    };
    let distill = teacher.as_ref().map(|(t, test_t)| DistillConfig {
        loss: kd_loss(&args),
        cache: t.identity.clone(),
        test_cache: test_t.as_ref().map(|t| t.identity.clone()),
    });
    let config = TrainConfig::new(
        args.arch.clone(),
        preprocess.clone(),
        num_classes,
        identity(&train),
        identity(&test),
    )
    .with_epochs(args.epochs)
    .with_batch_size(args.batch_size)
    .with_lr(args.lr)
    .with_weight_decay(args.weight_decay)
    .with_seed(args.seed)
    .with_augment(args.augment.clone())
    .with_distill(distill);
    config.validate()?;
    preprocess
        .validate(train.shape)
        .context("checking the preprocessing")?;

    let run = RunDir::prepare(&args.out, &config, args.overwrite)?;
    if let Ok(text) = std::fs::read_to_string(run.result_path()) {
        eprintln!("{} is already complete; nothing to do", run.path.display());
        if args.json {
            println!("{text}");
        }
        return Ok(());
    }
    let stats = model_stats(&args.arch, train.shape, num_classes);
    eprintln!(
        "training {} ({} parameters, {} MACs/sample) on {} samples of {}, testing on {}",
        args.arch,
        stats.params,
        stats.macs,
        train.len(),
        train.source,
        test.len()
    );
    let started = Instant::now();
    let mut observer = BarObserver {
        bar: None,
        quiet: args.json,
    };
    let targets = teacher.as_ref().map(|(t, test_t)| Targets {
        train: t,
        test: test_t.as_ref(),
    });
    let (model, metrics) =
        distill_student::train(&config, &train, &test, &run, &mut observer, targets)?;

    model.save(&run.model_path())?;
    let metadata = [
        ("distill.arch", args.arch.to_string()),
        ("distill.num_classes", num_classes.to_string()),
        (
            "distill.input_shape",
            format!(
                "[-1,{},{},{}]",
                train.shape.channels, train.shape.height, train.shape.width
            ),
        ),
        ("distill.preprocess", serde_json::to_string(&preprocess)?),
        ("distill.version", env!("CARGO_PKG_VERSION").to_string()),
    ];
    export_onnx(&model, train.shape, &metadata, &run.onnx_path())?;

    let last = metrics.last().context("training produced no epochs")?;
    let result = RunResult {
        arch: args.arch.to_string(),
        params: stats.params,
        macs: stats.macs,
        epochs: last.epoch,
        test_accuracy: last.test_accuracy,
        teacher_agreement: last.teacher_agreement,
        test_kl: last.test_kl,
        teacher_sha256: config
            .distill
            .as_ref()
            .map(|d| d.cache.teacher_sha256.clone()),
        train_seconds: metrics.iter().map(|m| m.seconds).sum(),
        onnx: run.onnx_path(),
        onnx_bytes: std::fs::metadata(run.onnx_path())?.len(),
    };
    run.write_json(&run.result_path(), &result)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "{}: test accuracy {:.2}% after {} epochs ({:.0}s this session); ONNX model {}",
            run.path.display(),
            100.0 * result.test_accuracy,
            result.epochs,
            started.elapsed().as_secs_f64(),
            result.onnx.display()
        );
    }
    Ok(())
}
