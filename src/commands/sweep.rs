//! `distill sweep`: trains every student of a grid from one cache (resumable, shardable),
//! then writes the report. `distill sweep report DIR` (in `sweep_report.rs`) rewrites the
//! report from whatever runs are finished.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use distill_data::{ComputeDevice, PreprocessOverrides, TrainTestData, parse_bytes};
use distill_student::{DEFAULT_MAX_MEMORY, Validation};
use distill_sweep::{Grid, Launcher, Shard, Sweep, SweepDefinition};

use crate::commands::sweep_report::{self, ReportArgs, ReportOptions};
use crate::either::{Alternative, Unless};
use crate::progress::Reporter;
use crate::shard::ShardArgs;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    // Read before `action`, which takes the subcommand out of the matches.
    #[command(flatten)]
    sweep: Unless<SweepArgs, ReportAction>,
    #[command(subcommand)]
    action: Option<Action>,
}

/// `sweep report DIR` replaces the sweep's own flags.
#[derive(Debug)]
struct ReportAction;

impl Alternative for ReportAction {
    const NAME: &'static str = "sweep report";
    fn taken(matches: &clap::ArgMatches) -> bool {
        matches.subcommand_name().is_some()
    }
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Rewrite the report of a sweep directory from the runs finished so far (merging the
    /// work of every shard).
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
struct SweepArgs {
    /// The grid: architectures, temperatures, alphas, seeds, training settings (TOML; see
    /// datasets/sweeps/fashion-mnist.toml).
    #[arg(long, value_name = "FILE")]
    grid: PathBuf,
    /// Sweep directory: sweep.json, runs/, results.csv, results.md, tradeoff.svg, best.onnx.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    data: TrainTestData,
    #[command(flatten)]
    preprocess: PreprocessOverrides,
    /// Teacher logits over the training split (from `distill cache-logits`): a folder, or
    /// s3://BUCKET/PREFIX (read from its local copy).
    #[arg(long, value_name = "DIR|s3://…")]
    cache: PathBuf,
    /// Teacher logits over the test split: teacher agreement and the teacher's accuracy.
    #[arg(long, value_name = "DIR|s3://…")]
    test_cache: Option<PathBuf>,
    /// Share of the training split held out for validation; configurations are selected on
    /// it (the test split is only reported).
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    val_fraction: f64,
    /// Seed of the validation draw (the same held-out samples for every run).
    #[arg(long, default_value_t = 0)]
    val_seed: u64,
    /// Train only every N-th run, starting at the I-th: several processes or machines
    /// share one sweep directory.
    #[command(flatten)]
    shard: ShardArgs,
    /// Memory budget for the cached training logits (larger caches are streamed).
    #[arg(long, default_value_t = DEFAULT_MAX_MEMORY, value_parser = parse_bytes)]
    max_memory: u64,
    /// Where the students train: cpu, or cuda[:N] (burn's CUDA backend, in a binary built
    /// with --features cuda; an error where no GPU can be had). Each shard may pass its own;
    /// a run resumes only on the kind of device it began on.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    device: ComputeDevice,
    #[command(flatten)]
    report: ReportOptions,
}

/// Trains each run in a `distill train-student --spec run.json` process of its own: burn's
/// CPU backend slows down over successive trainings in one process (measured: a CNN at 921
/// samples/s after two other runs against 1,261 alone), and a crash in one run cannot take
/// the sweep down.
struct ChildProcess {
    /// Passes `--json` to the child: no per-epoch lines.
    quiet: bool,
}

impl Launcher for ChildProcess {
    fn launch(
        &mut self,
        spec_file: &Path,
        run_dir: &Path,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let binary = own_binary()?;
        let mut cmd = Command::new(&binary);
        cmd.arg("train-student")
            .arg("--spec")
            .arg(spec_file)
            .arg("--out")
            .arg(run_dir);
        if self.quiet {
            cmd.arg("--json");
        }
        crate::interrupt::die_with_parent(&mut cmd);
        let status = cmd
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        if !status.success() {
            return Err(format!(
                "distill train-student {status}; its messages are above. Rerun the sweep to retry it"
            )
            .into());
        }
        Ok(())
    }
}

/// The binary each run is trained by: this process's own. On Linux that is
/// `/proc/self/exe`, which still names it after its file was replaced or removed (a rebuild
/// in the middle of a sweep), so every run of a sweep is trained by the build that began it.
fn own_binary() -> std::io::Result<std::path::PathBuf> {
    let own = Path::new("/proc/self/exe");
    if own.exists() {
        return Ok(own.to_path_buf());
    }
    std::env::current_exe()
}

fn run_sweep(mut args: SweepArgs) -> Result<()> {
    // A GPU that cannot be had fails here, before any data or cache is read.
    distill_student::compute_device(args.device)?;
    args.cache = crate::remote::fetch_cache(&args.cache)?;
    args.test_cache = crate::remote::fetch_optional(args.test_cache)?;
    // The grid is checked before any data is read.
    let grid = Grid::read(&args.grid)?;
    let definition = SweepDefinition {
        grid_file: args.grid.clone(),
        grid,
        data: args.data,
        preprocess: args.preprocess,
        validation: Validation {
            fraction: args.val_fraction,
            seed: args.val_seed,
        },
        cache: args.cache,
        test_cache: args.test_cache,
        teacher: args.report.teacher.clone(),
        max_memory: args.max_memory,
        device: args.device,
    };
    let mut reporter = Reporter::new(args.report.json);
    let (sweep, checked) = Sweep::create(&args.out, definition, &mut reporter)
        .with_context(|| format!("checking the sweep {}", args.out.display()))?;
    let mut launcher = ChildProcess {
        quiet: args.report.json,
    };
    let shard = args.shard.resolve()?.unwrap_or_else(Shard::all);
    sweep.run(&checked, shard, &mut launcher, &mut reporter)?;
    sweep_report::write(&sweep, &args.report)
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
