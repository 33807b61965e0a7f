//! `distill sweep`: trains every student of a grid from one cache (resumable, shardable),
//! then writes the report. `distill sweep report DIR` (in `sweep_report.rs`) rewrites the
//! report from whatever runs are finished.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_data::Preprocess;
use distill_student::{RunDir, RunResult, Validation, model_stats};
use distill_sweep::{Configuration, Grid, PlannedRun, Shard, plan};
use serde::{Deserialize, Serialize};

use crate::args::{PreprocessArgs, TrainDataArgs, parse_bytes};
use crate::commands::sweep_report::{self, ReportArgs};
use crate::teacher_logits::join_caches;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    // Read before `action`, which takes the subcommand out of the matches.
    #[command(flatten)]
    sweep: UnlessReport,
    #[command(subcommand)]
    action: Option<Action>,
}

/// The sweep's own arguments, absent when `sweep report` was given. (clap's
/// `Option<flattened>` stays `None` when the flattened struct flattens others in turn.)
#[derive(Debug)]
struct UnlessReport(Option<SweepArgs>);

impl clap::FromArgMatches for UnlessReport {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        if matches.subcommand_name().is_some() {
            return Ok(UnlessReport(None));
        }
        SweepArgs::from_arg_matches_mut(matches).map(|a| UnlessReport(Some(a)))
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for UnlessReport {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        SweepArgs::augment_args(cmd)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        SweepArgs::augment_args_for_update(cmd)
    }
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Rewrite the report of a sweep directory from the runs finished so far (merging the
    /// work of every shard).
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The grid: architectures, temperatures, alphas, seeds, training settings (TOML; see
    /// datasets/sweeps/fashion-mnist.toml).
    #[arg(long, value_name = "FILE")]
    grid: PathBuf,
    /// Sweep directory: sweep.json, runs/, results.csv, results.md, tradeoff.svg, best.onnx.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    data: TrainDataArgs,
    #[command(flatten)]
    preprocess: PreprocessArgs,
    /// Teacher logits over the training split (from `distill cache-logits`).
    #[arg(long, value_name = "DIR")]
    cache: PathBuf,
    /// Teacher logits over the test split: teacher agreement and the teacher's accuracy.
    #[arg(long, value_name = "DIR")]
    test_cache: Option<PathBuf>,
    /// Share of the training split held out for validation; configurations are selected on
    /// it (the test split is only reported).
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    val_fraction: f64,
    /// Seed of the validation draw (the same held-out samples for every run).
    #[arg(long, default_value_t = 0)]
    val_seed: u64,
    /// Train only every N-th run, starting at the I-th (1-based), e.g. 2/3: several
    /// processes or machines share one sweep directory.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Memory budget for the cached training logits (larger caches are streamed).
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    max_memory: u64,
    #[command(flatten)]
    report: sweep_report::ReportOptions,
}

/// `sweep.json`: what the runs of a sweep depend on, written when the directory is first
/// used; a rerun or another shard with different settings is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepDefinition {
    pub grid_file: PathBuf,
    pub grid: Grid,
    pub data: TrainDataArgs,
    pub preprocess: Preprocess,
    pub validation: Validation,
    pub cache: PathBuf,
    pub test_cache: Option<PathBuf>,
    /// Recorded for `sweep report` (the teacher row); not part of the sweep's identity.
    pub teacher: Option<PathBuf>,
}

pub const DEFINITION_FILE: &str = "sweep.json";

impl SweepDefinition {
    /// The part that must agree between shards and reruns.
    fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "grid": self.grid,
            "data": self.data,
            "preprocess": self.preprocess,
            "validation": self.validation,
        })
    }

    pub fn read(dir: &Path) -> Result<SweepDefinition> {
        let path = dir.join(DEFINITION_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (is {} a sweep directory?)",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a sweep definition", path.display()))
    }

    /// Refuses `dir` when its `sweep.json` records other settings.
    fn check_same(&self, dir: &Path) -> Result<()> {
        let old = SweepDefinition::read(dir)?;
        let mut diffs = Vec::new();
        distill_data::json_diff(&old.identity(), &self.identity(), "", &mut diffs);
        if !diffs.is_empty() {
            bail!(
                "{} holds a sweep with other settings ({}); use another --out",
                dir.display(),
                diffs.join("; ")
            );
        }
        Ok(())
    }

    /// Writes `sweep.json` into `dir`, or checks that the one there matches. Shards
    /// starting together may both write it; each then checks that what is there is theirs.
    fn claim(&self, dir: &Path) -> Result<()> {
        let path = dir.join(DEFINITION_FILE);
        if path.exists() {
            return self.check_same(dir);
        }
        if dir.exists() {
            // A `runs/` directory alone is accepted: runs can be seeded from another sweep
            // with the same settings (each run's config.json records what it is).
            let partial = format!(".{DEFINITION_FILE}.partial");
            for entry in std::fs::read_dir(dir)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name != partial && name != "runs" {
                    bail!(
                        "{} is not empty and holds no sweep ({DEFINITION_FILE}); use another --out",
                        dir.display()
                    );
                }
            }
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let text = serde_json::to_string_pretty(self)?;
        distill_student::write_atomic(&path, text.as_bytes())?;
        self.check_same(dir)
    }
}

/// A value's serde name (`nchw`, `ce`), as the command line takes it.
fn flag_value<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `distill train-student` for one planned run. Every run trains in a process of its own:
/// burn's CPU backend slows down over successive trainings in one process (measured: a
/// CNN at 921 samples/s after two other runs against 1,261 alone), and a crash in one run
/// cannot take the sweep down. The hard-label baseline trains through the distillation
/// path with alpha = 0 (the distillation term weighs nothing), so it also reports agreement
/// with the teacher.
fn train_command(
    c: &Configuration,
    seed: u64,
    def: &SweepDefinition,
    args: &SweepArgs,
    out: &Path,
) -> Result<Command> {
    let mut cmd = Command::new(std::env::current_exe().context("locating the distill binary")?);
    let data = &def.data;
    cmd.arg("train-student")
        .args(["--arch", &c.arch.to_string()])
        .arg("--out")
        .arg(out)
        .args(["--dataset", &data.train.dataset.to_string()]);
    if let Some(split) = &data.train.split {
        cmd.args(["--split", split]);
    }
    if let Some(n) = data.train.limit {
        cmd.args(["--limit", &n.to_string()]);
    }
    cmd.args(["--test-split", &data.test_split]);
    if let Some(t) = &data.test_dataset {
        cmd.args(["--test-dataset", &t.to_string()]);
    }
    if let Some(n) = data.test_limit {
        cmd.args(["--test-limit", &n.to_string()]);
    }
    let source = &data.train.source;
    for (flag, value) in [
        ("--image-column", &source.image_column),
        ("--label-column", &source.label_column),
        ("--images-key", &source.images_key),
        ("--labels-key", &source.labels_key),
    ] {
        if let Some(v) = value {
            cmd.args([flag, v]);
        }
    }
    if source.skip_bad {
        cmd.arg("--skip-bad");
    }
    let p = &def.preprocess;
    cmd.args(["--scale", &p.scale.to_string()])
        .args(["--mean", &join(&p.mean)])
        .args(["--std", &join(&p.std)])
        .args(["--layout", &flag_value(&p.layout)]);
    if let Some([h, w]) = p.resize {
        cmd.args(["--resize", &format!("{h}x{w}")]);
    }
    if let Some(ch) = p.channels {
        cmd.args(["--channels", &ch.to_string()]);
    }
    if let Some(n) = p.resize_shorter {
        cmd.args(["--resize-shorter", &n.to_string()]);
    }
    if let Some([h, w]) = p.crop {
        cmd.args(["--crop", &format!("{h}x{w}")]);
    }
    if p.antialias {
        cmd.arg("--antialias");
    }
    let t = &c.train;
    cmd.args(["--epochs", &t.epochs.to_string()])
        .args(["--batch-size", &t.batch_size.to_string()])
        .args(["--lr", &t.lr.to_string()])
        .args(["--weight-decay", &t.weight_decay.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--hard-loss", &flag_value(&t.hard_loss)]);
    cmd.arg("--cache").arg(&def.cache);
    if let Some(test_cache) = &def.test_cache {
        cmd.arg("--test-cache").arg(test_cache);
    }
    match &c.kd {
        Some(kd) => {
            cmd.args(["--temperature", &kd.temperature.to_string()])
                .args(["--alpha", &kd.alpha.to_string()]);
            if !kd.t2_scaling {
                cmd.arg("--no-t2-scaling");
            }
        }
        None => {
            cmd.args(["--temperature", "1", "--alpha", "0"]);
        }
    }
    cmd.args(["--val-fraction", &def.validation.fraction.to_string()])
        .args(["--val-seed", &def.validation.seed.to_string()])
        .args(["--max-memory", &args.max_memory.to_string()]);
    if args.report.json {
        cmd.arg("--json"); // no per-epoch lines
    }
    cmd.stdout(Stdio::null());
    Ok(cmd)
}

fn describe(c: &Configuration, seed: u64) -> String {
    match &c.kd {
        Some(kd) => format!(
            "{} distilled (T = {}, alpha = {}), {} epochs, seed {seed}",
            c.arch, kd.temperature, kd.alpha, c.train.epochs
        ),
        None => format!(
            "{} hard-label baseline, {} epochs, seed {seed}",
            c.arch, c.train.epochs
        ),
    }
}

fn run_sweep(args: SweepArgs) -> Result<()> {
    // The grid is checked before any data is read.
    let grid = Grid::read(&args.grid)?;
    let validation = Validation {
        fraction: args.val_fraction,
        seed: args.val_seed,
    };
    validation.validate().context("--val-fraction")?;
    let shard = args.shard.unwrap_or_else(Shard::all);
    let (train, test) = args.data.load()?;
    let preprocess = args.preprocess.resolve(Preprocess::default(), &train);
    preprocess
        .validate(&train)
        .context("checking the preprocessing")?;
    let def = SweepDefinition {
        grid_file: args.grid.clone(),
        grid,
        data: args.data.clone(),
        preprocess,
        validation,
        cache: args.cache.clone(),
        test_cache: args.test_cache.clone(),
        teacher: args.report.teacher.clone(),
    };
    let planned = plan(&def.grid);
    let held = validation.count(train.len());
    if train.len() - held < 2 {
        bail!(
            "the training split has {} samples: too few to hold {held} out for validation",
            train.len()
        );
    }
    let targets = join_caches(
        &args.cache,
        args.test_cache.as_deref(),
        &train,
        &test,
        args.max_memory,
    )?;
    def.claim(&args.out)?;

    let mine: Vec<&PlannedRun> = planned
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.includes(*i))
        .map(|(_, p)| p)
        .collect();
    let done_before = mine
        .iter()
        .filter(|p| {
            RunResult::read(&RunDir {
                path: args.out.join(&p.dir),
            })
            .is_some()
        })
        .count();
    eprintln!(
        "sweep {}: {} configurations, {} runs{}; {} of them already finished; {} training samples ({} held out for validation), {} test samples",
        args.out.display(),
        def.grid.configurations.len(),
        planned.len(),
        if shard.count > 1 {
            format!(", {} of them in shard {shard}", mine.len())
        } else {
            String::new()
        },
        done_before,
        train.len() - validation.count(train.len()),
        validation.count(train.len()),
        test.len()
    );
    let started = Instant::now();
    let total = mine.len();
    for (k, p) in mine.iter().enumerate() {
        let c = &def.grid.configurations[p.configuration];
        let path = args.out.join(&p.dir);
        if RunResult::read(&RunDir { path: path.clone() }).is_some() {
            continue;
        }
        eprintln!(
            "[{}/{total}] {} ({} parameters) -> {}",
            k + 1,
            describe(c, p.seed),
            model_stats(
                &c.arch,
                def.preprocess.output_shape(train.shape),
                targets.0.classes
            )
            .params,
            path.display()
        );
        let status = train_command(c, p.seed, &def, &args, &path)?
            .status()
            .context("starting distill train-student")?;
        let result = match RunResult::read(&RunDir { path: path.clone() }) {
            Some(r) if status.success() => r,
            _ => bail!(
                "run {} failed ({status}); its messages are above. Rerun the sweep to retry it",
                path.display()
            ),
        };
        eprintln!(
            "[{}/{total}] done: val {:.2}%, test {:.2}% in {:.0} s (sweep so far {:.1} min)",
            k + 1,
            100.0 * result.val_accuracy.unwrap_or(f64::NAN),
            100.0 * result.test_accuracy,
            result.train_seconds,
            started.elapsed().as_secs_f64() / 60.0
        );
    }
    sweep_report::write_report(&args.out, &def, &args.report)
}

pub fn run(args: Args) -> Result<()> {
    match (args.action, args.sweep.0) {
        (Some(Action::Report(report)), _) => sweep_report::run(report),
        (None, Some(sweep)) => run_sweep(sweep),
        (None, None) => bail!(
            "distill sweep needs --grid, --out, --dataset and --cache (or `sweep report DIR`)"
        ),
    }
}
