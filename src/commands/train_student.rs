//! `distill train-student`: one student, from flags or from a run spec (`--spec`): plain
//! supervised training, or distillation from a teacher's cached logits; then ONNX export.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_data::{ComputeDevice, PreprocessOverrides, TrainTestData, ViewSpec, parse_bytes};
use distill_student::{
    ArchSpec, DEFAULT_MAX_MEMORY, DEFAULT_SEED, DistillSpec, HardLoss, KdLoss, Optimisation,
    RunOutcome, RunSpec, Validation,
};

use crate::either::{Alternative, Unless};
use crate::progress::Reporter;

#[derive(clap::Args, Debug)]
pub struct Args {
    // Read before `spec`, which is taken out of the matches when it is read.
    #[command(flatten)]
    run: Unless<RunFlags, SpecFile>,
    /// A run spec (JSON, e.g. a run directory's run.json) instead of the run's flags; the
    /// run goes to --out, by default the folder holding the spec.
    #[arg(long, value_name = "RUN.json")]
    spec: Option<PathBuf>,
    /// Run directory: run.json, config.json, metrics.jsonl, checkpoint/, model.bpk,
    /// model.onnx, result.json.
    #[arg(long, required_unless_present = "spec")]
    out: Option<PathBuf>,
    /// Replace an existing run directory that holds a different run.
    #[arg(long)]
    overwrite: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `--spec` replaces the run's flags.
#[derive(Debug)]
struct SpecFile;

impl Alternative for SpecFile {
    const NAME: &'static str = "--spec";
    fn taken(matches: &clap::ArgMatches) -> bool {
        matches.value_source("spec").is_some()
    }
    fn relax(cmd: clap::Command) -> clap::Command {
        let optional = |a: clap::Arg| a.required(false).required_unless_present("spec");
        cmd.mut_arg("arch", optional).mut_arg("dataset", optional)
    }
}

/// The settings of a run, as flags.
#[derive(clap::Args, Debug)]
struct RunFlags {
    /// Student architecture: mlp:W1,W2,...[,dropout=P], cnn:C1,C2,...[,fc=N][,dropout=P],
    /// resnet:C1,C2,...[,blocks=N] or mobilenet:C1,C2,...[,width=M][,expand=N][,blocks=N].
    #[arg(long)]
    arch: ArchSpec,
    #[command(flatten)]
    data: TrainTestData,
    #[command(flatten)]
    preprocess: PreprocessOverrides,
    #[arg(long, default_value_t = Optimisation::new().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = Optimisation::new().batch_size)]
    batch_size: usize,
    /// Peak learning rate (AdamW, cosine decay to 0 over all steps).
    #[arg(long, default_value_t = Optimisation::new().lr)]
    lr: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = Optimisation::new().weight_decay)]
    weight_decay: f64,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Augmentation drawn online every epoch (supervised training), comma-separated:
    /// crop[:SMIN-SMAX[:RMIN-RMAX]] (random-resized crop), flip, shift[:N] (pixels),
    /// mixup[:A] (Beta(A, A) weight, labels mixed). A cache of views brings its own.
    #[arg(long, value_name = "SPEC", default_value = "")]
    augment: ViewSpec,
    /// Teacher logits cached by `distill cache-logits` over the training split: train by
    /// knowledge distillation from them (joined by sample id). The teacher is never loaded.
    /// A folder, or s3://BUCKET/PREFIX (read from its local copy).
    #[arg(long, value_name = "DIR|s3://…")]
    cache: Option<PathBuf>,
    /// Cache of the test split: report top-1 agreement with the teacher and KL to it after
    /// every epoch (needs --cache).
    #[arg(long, value_name = "DIR|s3://…")]
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
    /// Memory budget (e.g. 512M, 2G) for the cached training logits and for image files
    /// (folders, Parquet) at the student's size: a cache that fits is loaded once, a larger
    /// one streamed part by part in shuffled order; images that do not fit are decoded once
    /// into a file in the run directory and read back per batch.
    #[arg(long, default_value_t = DEFAULT_MAX_MEMORY, value_parser = parse_bytes)]
    max_memory: u64,
    /// Hold this fraction of the training split out of training as a validation split
    /// (evaluated after every epoch as val_accuracy) [default: none].
    #[arg(long, value_name = "F")]
    val_fraction: Option<f64>,
    /// Seed of the validation draw.
    #[arg(long, default_value_t = 0)]
    val_seed: u64,
    /// Where the student trains: cpu, or cuda[:N] (burn's CUDA backend, in a binary built
    /// with --features cuda; an error where no GPU can be had). A run resumes on the kind
    /// of device it began on.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    device: ComputeDevice,
}

impl RunFlags {
    /// The distillation the flags ask for; none without `--cache`.
    fn distill(&self) -> Result<Option<DistillSpec>> {
        let Some(cache) = &self.cache else {
            if self.test_cache.is_some()
                || self.temperature.is_some()
                || self.alpha.is_some()
                || self.hard_loss.is_some()
                || self.no_t2_scaling
            {
                bail!(
                    "--test-cache, --temperature, --alpha, --hard-loss and --no-t2-scaling need --cache (the training split's teacher logits)"
                );
            }
            return Ok(None);
        };
        let default = KdLoss::default();
        Ok(Some(DistillSpec {
            // A cache on object storage is read from its local copy.
            cache: crate::remote::fetch_cache(cache)?,
            test_cache: crate::remote::fetch_optional(self.test_cache.clone())?,
            loss: KdLoss {
                temperature: self.temperature.unwrap_or(default.temperature),
                alpha: self.alpha.unwrap_or(default.alpha),
                hard_loss: self.hard_loss.unwrap_or(default.hard_loss),
                t2_scaling: !self.no_t2_scaling,
            },
        }))
    }

    /// The run spec the flags describe.
    fn spec(self) -> Result<RunSpec> {
        Ok(RunSpec {
            distill: self.distill()?,
            preprocess: self.preprocess,
            optimisation: Optimisation::new()
                .with_epochs(self.epochs)
                .with_batch_size(self.batch_size)
                .with_lr(self.lr)
                .with_weight_decay(self.weight_decay),
            seed: self.seed,
            augment: self.augment,
            validation: self.val_fraction.map(|fraction| Validation {
                fraction,
                seed: self.val_seed,
            }),
            max_memory: self.max_memory,
            device: self.device,
            ..RunSpec::new(self.arch, self.data)
        })
    }
}

impl Args {
    /// The run spec (from the flags or the spec file) and the run directory.
    fn spec(self) -> Result<(RunSpec, PathBuf)> {
        match (self.run.0, &self.spec) {
            (Some(flags), _) => {
                let out = self.out.context("--out is required")?;
                Ok((flags.spec()?, out))
            }
            (None, Some(path)) => {
                let spec = RunSpec::read(path)?;
                let out = match self.out {
                    Some(out) => out,
                    None => path
                        .parent()
                        .map(|p| p.to_path_buf())
                        .context("the spec file has no folder to train into: give --out")?,
                };
                Ok((spec, out))
            }
            (None, None) => bail!("give the run's flags (--arch, --dataset, ...) or --spec"),
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    // Reading the data streams row groups and images of megabytes through several threads:
    // large blocks go back to the system as they are freed, so the peak does not creep up
    // with the split's length. Training, once it starts, keeps freed memory instead
    // (`Reporter::training_started`).
    distill_core::return_large_blocks();
    let (json, overwrite) = (args.json, args.overwrite);
    let (spec, out) = args.spec()?;
    let started = Instant::now();
    let outcome = spec.execute(&out, overwrite, &mut Reporter::new(json).with_first_batch())?;
    let result = outcome.result();
    if let RunOutcome::AlreadyComplete(_) = outcome {
        eprintln!("{} is already complete; nothing to do", out.display());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(result)?);
    } else if let RunOutcome::Trained(_) = outcome {
        println!(
            "{}: test accuracy {:.2}% after {} epochs ({:.0}s this session); ONNX model {}",
            out.display(),
            100.0 * result.test_accuracy,
            result.epochs,
            started.elapsed().as_secs_f64(),
            result.onnx.display()
        );
    }
    Ok(())
}
