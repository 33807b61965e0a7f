//! `distill eval`: top-1 accuracy, latency per sample at batch 1 and 256, parameter count
//! and file size of any ONNX classifier on a dataset.

use std::path::PathBuf;

use anyhow::Result;
use distill_runtime::{EvalSettings, evaluate};

use crate::loading::{FeedArgs, load};
use crate::progress::samples_bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model to evaluate.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    feed: FeedArgs,
    /// Timed runs per latency measurement (after warm-up).
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let data = load(&args.feed.data, "test")?;
    let settings = EvalSettings {
        preprocess: args.feed.preprocess,
        output: args.feed.output,
        threads: args.feed.threads,
        device: args.feed.device,
        latency_runs: args.latency_runs,
    };
    let bar = samples_bar(data.len() as u64, "eval");
    let report = evaluate(&args.model, &data, &settings, &mut |rows| {
        bar.inc(rows as u64)
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print!("{report}");
    Ok(())
}
