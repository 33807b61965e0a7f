//! `distill eval`: top-1 accuracy, latency per sample at batch 1 and 256, parameter count
//! and file size of any ONNX classifier on a dataset.

use std::path::PathBuf;

use anyhow::{Context, Result};
use distill_student::accuracy;
use distill_teacher::{
    InferencePlan, LatencyProbe, OnnxModel, initializer_elements, model_preprocess,
};
use serde::Serialize;

use crate::args::{DatasetArgs, PreprocessArgs};
use crate::progress::samples_bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model to evaluate.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DatasetArgs,
    #[command(flatten)]
    preprocess: PreprocessArgs,
    /// Output holding the logits [default: the first float output shaped [batch, classes]].
    #[arg(long, value_name = "NAME")]
    output: Option<String>,
    /// Intra-op threads for ONNX Runtime (default: one per physical core).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed runs per latency measurement (after warm-up).
    #[arg(long, default_value_t = 200)]
    latency_runs: usize,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct EvalReport {
    model: PathBuf,
    dataset: String,
    split: String,
    samples: usize,
    accuracy: f64,
    /// Mean milliseconds per sample at batch 1.
    latency_ms_batch1: f64,
    /// Mean milliseconds per sample at batch 256 (null for a fixed-batch model).
    latency_ms_batch256: Option<f64>,
    /// Elements of the graph's initializers (weights, biases, batch-norm statistics).
    params: u64,
    file_bytes: u64,
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let data = args.data.load("test")?;
    let mut model = OnnxModel::open(&args.model, args.threads)?;
    let preprocess = args
        .preprocess
        .resolve(model_preprocess(&model, data.shape), &data);
    preprocess.validate(&data)?;
    let plan = InferencePlan::new(
        &model,
        &preprocess.input_dims(data.shape),
        args.output.as_deref(),
    )?;

    let chunk = plan.fixed_batch.unwrap_or(256);
    let positions: Vec<usize> = (0..data.len()).collect();
    let bar = samples_bar(data.len() as u64, "eval");
    let mut logits = Vec::with_capacity(data.len() * 10);
    let mut classes = 0;
    for batch in positions.chunks(chunk) {
        let (c, out) = model.run_positions(&plan, &data, &preprocess, batch)?;
        classes = c;
        logits.extend(out);
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let acc = accuracy(&logits, classes, &data.labels);

    let runs = args.latency_runs.max(1);
    let latency = LatencyProbe::new(&plan, &data, &preprocess).measure(
        &mut model,
        &plan,
        runs,
        (runs / 20).max(3),
    )?;
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let report = EvalReport {
        model: args.model.clone(),
        dataset: data.source.clone(),
        split: data.split.clone(),
        samples: data.len(),
        accuracy: acc,
        latency_ms_batch1: latency.batch1_ms,
        latency_ms_batch256: latency.batch256_ms,
        params: initializer_elements(&bytes).unwrap_or(0),
        file_bytes: bytes.len() as u64,
        threads: args.threads,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("model        {}", report.model.display());
        println!(
            "data         {} ({}, {} samples)",
            report.dataset, report.split, report.samples
        );
        println!("accuracy     {:.2}%", 100.0 * report.accuracy);
        println!(
            "latency      {:.4} ms/sample at batch 1",
            report.latency_ms_batch1
        );
        if let Some(l) = report.latency_ms_batch256 {
            println!("             {l:.4} ms/sample at batch 256");
        }
        println!("parameters   {}", report.params);
        println!("file size    {} bytes", report.file_bytes);
    }
    Ok(())
}
