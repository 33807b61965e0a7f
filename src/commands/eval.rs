//! `distill eval`: top-1 accuracy, latency per sample at batch 1 and 256, parameter count
//! and file size of any ONNX classifier on a dataset.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_data::{Dataset, Layout, Preprocess};
use distill_student::accuracy;
use distill_teacher::{ElementType, OnnxModel, initializer_elements};
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

/// How model inputs are fed: the fixed batch size, if any, and the sample layout.
struct InputPlan {
    fixed_batch: Option<usize>,
    output: usize,
}

fn plan(model: &OnnxModel, data: &Dataset, preprocess: &Preprocess) -> Result<InputPlan> {
    let path = model.path.display();
    let input = model
        .inputs
        .first()
        .with_context(|| format!("{path} has no inputs"))?;
    if input.element != ElementType::F32 {
        bail!("{path}: input '{}' is not float32", input.name);
    }
    let s = data.shape;
    let expected: Vec<usize> = match preprocess.layout {
        Layout::Nchw => vec![s.channels, s.height, s.width],
        Layout::Nhwc => vec![s.height, s.width, s.channels],
        Layout::Flat => vec![s.len()],
    };
    let fits = input.shape.len() == expected.len() + 1
        && input.shape[1..]
            .iter()
            .zip(&expected)
            .all(|(d, e)| d.is_none_or(|d| d == *e));
    if !fits {
        bail!(
            "{path}: input '{}' has shape {} but the data gives [batch, {}] in layout {:?} (set --layout or check the dataset)",
            input.name,
            input.shape_text(),
            expected
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            preprocess.layout
        );
    }
    let output = model
        .outputs
        .iter()
        .position(|o| o.element == ElementType::F32 && o.shape.len() == 2)
        .with_context(|| format!("{path}: no float32 output shaped [batch, classes]"))?;
    Ok(InputPlan {
        fixed_batch: input.shape[0],
        output,
    })
}

/// The model input for `positions`: values and shape, padded to a fixed batch size where
/// the model has one.
fn input_batch(
    plan: &InputPlan,
    data: &Dataset,
    preprocess: &Preprocess,
    positions: &[usize],
) -> (Vec<f32>, Vec<usize>) {
    let mut values = preprocess.batch(data, positions);
    let per_sample = data.shape.len();
    let batch = plan.fixed_batch.unwrap_or(positions.len());
    values.resize(batch * per_sample, 0.0);
    let mut shape = vec![batch];
    match preprocess.layout {
        Layout::Nchw => shape.extend([data.shape.channels, data.shape.height, data.shape.width]),
        Layout::Nhwc => shape.extend([data.shape.height, data.shape.width, data.shape.channels]),
        Layout::Flat => shape.push(per_sample),
    }
    (values, shape)
}

/// Logits `[positions.len(), classes]` and the class count.
fn run_batch(
    model: &mut OnnxModel,
    plan: &InputPlan,
    data: &Dataset,
    preprocess: &Preprocess,
    positions: &[usize],
) -> Result<(usize, Vec<f32>)> {
    let (values, shape) = input_batch(plan, data, preprocess, positions);
    let (out_shape, logits) = model.run_f32(&values, &shape, plan.output)?;
    let classes = out_shape.get(1).copied().unwrap_or(0);
    if out_shape.first() != Some(&shape[0]) || classes == 0 {
        bail!(
            "{}: output has shape {out_shape:?} for a batch of {}",
            model.path.display(),
            shape[0]
        );
    }
    Ok((classes, logits[..positions.len() * classes].to_vec()))
}

/// Mean milliseconds per sample of `session.run` alone (input prepared beforehand) over
/// `runs` timed runs at `batch`, after warm-up.
fn latency(
    model: &mut OnnxModel,
    plan: &InputPlan,
    data: &Dataset,
    preprocess: &Preprocess,
    batch: usize,
    runs: usize,
) -> Result<f64> {
    let positions: Vec<usize> = (0..batch).map(|i| i % data.len()).collect();
    let (values, shape) = input_batch(plan, data, preprocess, &positions);
    for _ in 0..runs.div_ceil(10).max(3) {
        model.run_f32(&values, &shape, plan.output)?;
    }
    let started = Instant::now();
    for _ in 0..runs {
        model.run_f32(&values, &shape, plan.output)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e3 / (runs * shape[0]) as f64)
}

pub fn run(args: Args) -> Result<()> {
    let data = args.data.load("test")?;
    let mut model = OnnxModel::open(&args.model, args.threads)?;
    // Preprocessing recorded in the model (distill exports carry it) is the default.
    let base = model
        .metadata()
        .get("distill.preprocess")
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let preprocess = args.preprocess.resolve(base);
    preprocess.validate(data.shape)?;
    let plan = plan(&model, &data, &preprocess)?;

    let chunk = plan.fixed_batch.unwrap_or(256);
    let positions: Vec<usize> = (0..data.len()).collect();
    let bar = samples_bar(data.len() as u64, "eval");
    let mut logits = Vec::with_capacity(data.len() * 10);
    let mut classes = 0;
    for batch in positions.chunks(chunk) {
        let (c, out) = run_batch(&mut model, &plan, &data, &preprocess, batch)?;
        classes = c;
        logits.extend(out);
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let acc = accuracy(&logits, classes, &data.labels);

    let runs = args.latency_runs.max(1);
    let latency_1 = match plan.fixed_batch {
        Some(b) if b != 1 => latency(&mut model, &plan, &data, &preprocess, b, runs)?,
        _ => latency(&mut model, &plan, &data, &preprocess, 1, runs)?,
    };
    let latency_256 = match plan.fixed_batch {
        None => Some(latency(
            &mut model,
            &plan,
            &data,
            &preprocess,
            256,
            (runs / 20).max(3),
        )?),
        Some(_) => None,
    };
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let report = EvalReport {
        model: args.model.clone(),
        dataset: data.source.clone(),
        split: data.split.clone(),
        samples: data.len(),
        accuracy: acc,
        latency_ms_batch1: latency_1,
        latency_ms_batch256: latency_256,
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
