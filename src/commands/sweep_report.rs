//! `distill sweep report DIR`: the report of a sweep from the runs finished so far, and the
//! report options `sweep` shares. Every model (each student architecture once, and the
//! teacher) is timed in this one process, in interleaved rounds, so latencies compare fairly.

use std::path::{Path, PathBuf};

use anyhow::Result;
use distill_data::{Dataset, ModelMeasure};
use distill_sweep::{Budget, ModelTimer, ReportSettings, Sweep};

/// Options of the report, shared by `sweep` (which writes it at the end) and `sweep report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportOptions {
    /// The teacher's ONNX model, opened only to measure the teacher row (size, latency);
    /// the teacher is never loaded for training [default: the one recorded by the sweep].
    #[arg(long, value_name = "M.onnx")]
    pub teacher: Option<PathBuf>,
    /// Pick the most accurate student (validation) with at most this batch-1 latency, in
    /// milliseconds per sample.
    #[arg(long, value_name = "MS")]
    pub budget_latency: Option<f64>,
    /// Pick the most accurate student (validation) with at most this many parameters.
    #[arg(long, value_name = "N")]
    pub budget_params: Option<u64>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The sweep directory (holding sweep.json).
    dir: PathBuf,
    #[command(flatten)]
    options: ReportOptions,
}

/// Times models on ONNX Runtime (one intra-op thread, batch 1 and 256, interleaved rounds).
struct OnnxRuntimeTimer;

impl ModelTimer for OnnxRuntimeTimer {
    fn measure(
        &mut self,
        paths: &[PathBuf],
        data: &Dataset,
    ) -> Result<Vec<ModelMeasure>, Box<dyn std::error::Error + Send + Sync>> {
        eprintln!(
            "timing {} models on ONNX Runtime (1 intra-op thread, batch 1 and 256, {} interleaved rounds)",
            paths.len(),
            distill_runtime::ROUNDS
        );
        Ok(distill_runtime::compare_models(
            paths,
            data,
            distill_runtime::ROUNDS,
        )?)
    }
}

/// Writes the report of `sweep` and prints it (as JSON with `--json`).
pub fn write(sweep: &Sweep, options: &ReportOptions) -> Result<()> {
    let settings = ReportSettings {
        teacher: options.teacher.clone(),
        budget: Budget {
            latency_ms: options.budget_latency,
            params: options.budget_params,
        },
    };
    let written = sweep.write_report(&settings, &mut OnnxRuntimeTimer)?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&written.report)?);
        return Ok(());
    }
    println!("{}", written.markdown);
    println!("table:  {}", written.markdown_file.display());
    println!("csv:    {}", written.csv_file.display());
    if let Some(p) = &written.plot_file {
        println!("plot:   {}", p.display());
    }
    match &written.best {
        Some(b) => println!(
            "best:   {} (card {})",
            b.display(),
            written.best_card.display()
        ),
        None => println!("best:   none (no finished student fits the budget)"),
    }
    Ok(())
}

pub fn run(args: ReportArgs) -> Result<()> {
    write(&Sweep::open(Path::new(&args.dir))?, &args.options)
}
