//! `distill train-student`: supervised training of a student (the hard-label baseline, and
//! the way the demo teacher is made), then ONNX export.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_data::{Dataset, Preprocess};
use distill_student::{
    ArchSpec, Augment, DataIdentity, DistillConfig, HardLoss, KdLoss, RunDir, Targets,
    TeacherTargets, TrainConfig, Validation, model_stats, train_and_export,
};

use crate::args::{PreprocessArgs, TrainDataArgs, parse_bytes};
use crate::progress::EpochBars;
use crate::teacher_logits::join_caches;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Student architecture: mlp:W1,W2,... or cnn:C1,C2,...[,fc=N][,dropout=P].
    #[arg(long)]
    arch: ArchSpec,
    /// Run directory: config.json, metrics.jsonl, checkpoint/, model.bpk, model.onnx.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    data: TrainDataArgs,
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
    /// Hold this fraction of the training split out of training as a validation split
    /// (evaluated after every epoch as val_accuracy) [default: none].
    #[arg(long, value_name = "F")]
    val_fraction: Option<f64>,
    /// Seed of the validation draw.
    #[arg(long, default_value_t = 0)]
    val_seed: u64,
    /// Replace an existing run directory that holds a different run.
    #[arg(long)]
    overwrite: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
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
    join_caches(
        cache,
        args.test_cache.as_deref(),
        train,
        test,
        args.max_memory,
    )
    .map(Some)
}

pub fn run(args: Args) -> Result<()> {
    let (train, test) = args.data.load()?;
    let preprocess = args.preprocess.resolve(Preprocess::default(), &train);
    preprocess
        .validate(&train)
        .context("checking the preprocessing")?;
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
        DataIdentity::of(&train),
        DataIdentity::of(&test),
    )
    .with_epochs(args.epochs)
    .with_batch_size(args.batch_size)
    .with_lr(args.lr)
    .with_weight_decay(args.weight_decay)
    .with_seed(args.seed)
    .with_augment(args.augment.clone())
    .with_distill(distill)
    .with_validation(args.val_fraction.map(|fraction| Validation {
        fraction,
        seed: args.val_seed,
    }));
    config.validate()?;

    let run = RunDir::prepare(&args.out, &config, args.overwrite)?;
    if let Ok(text) = std::fs::read_to_string(run.result_path()) {
        eprintln!("{} is already complete; nothing to do", run.path.display());
        if args.json {
            println!("{text}");
        }
        return Ok(());
    }
    // Images are decoded and brought to the student's input size once, not every epoch.
    let (train, test) = (
        train.into_geometry(&preprocess),
        test.into_geometry(&preprocess),
    );
    let stats = model_stats(&args.arch, train.shape, num_classes);
    let held_out = config.validation.map_or(0, |v| v.count(train.len()));
    eprintln!(
        "training {} ({} parameters, {} MACs/sample) on {} samples of {}{}, testing on {}",
        args.arch,
        stats.params,
        stats.macs,
        train.len() - held_out,
        train.source,
        if held_out > 0 {
            format!(" ({held_out} held out for validation)")
        } else {
            String::new()
        },
        test.len()
    );
    let started = Instant::now();
    let mut observer = EpochBars {
        bar: None,
        quiet: args.json,
    };
    let targets = teacher.as_ref().map(|(t, test_t)| Targets {
        train: t,
        test: test_t.as_ref(),
    });
    let result = train_and_export(&config, &train, &test, &run, &mut observer, targets)?;
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
