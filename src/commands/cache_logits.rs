//! `distill cache-logits`: run an ONNX teacher once over a dataset split and keep its raw
//! logits as a Parquet cache (stage one).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use distill_cache::{CacheWriter, DatasetInfo, FORMAT_VERSION, LogitDtype, Manifest, TeacherInfo};
use distill_data::{Dataset, Preprocess};
use distill_teacher::{
    CacheLogitsJob, InferencePlan, OnnxModel, OutputKind, cache_logits, looks_like_probs,
    model_preprocess,
};
use serde::Serialize;

use crate::args::{DatasetArgs, PreprocessArgs};
use crate::progress::{peak_rss_bytes, samples_bar};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The teacher: any ONNX classifier with one float input.
    #[arg(long, value_name = "M.onnx")]
    teacher: PathBuf,
    /// Cache directory (manifest.json and part-NNNNN.parquet files).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    data: DatasetArgs,
    #[command(flatten)]
    preprocess: PreprocessArgs,
    /// Output to cache [default: the first float output shaped [batch, classes]].
    #[arg(long, value_name = "NAME")]
    output: Option<String>,
    /// What the output holds: logits (stored as they are), probs (a teacher ending in
    /// softmax; stored as ln(max(p, 1e-30))) or log-probs.
    #[arg(long, default_value = "logits", value_name = "KIND")]
    teacher_output: OutputKind,
    /// Samples per session run (a model with a fixed batch size uses its own, padding the
    /// last batch).
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Intra-op threads for ONNX Runtime [default: one per physical core].
    #[arg(long)]
    threads: Option<usize>,
    /// Stored logit type: f32, or f16 for half the size.
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    dtype: LogitDtype,
    /// Rows per Parquet part file; a rerun after a crash resumes at a part boundary.
    #[arg(long, default_value_t = 10_000)]
    rows_per_part: usize,
    /// Replace an existing cache made with another teacher, dataset or preprocessing.
    #[arg(long)]
    overwrite: bool,
    /// Store NaN/Inf teacher outputs instead of refusing them.
    #[arg(long)]
    allow_nonfinite: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_dtype(s: &str) -> Result<LogitDtype, String> {
    match s {
        "f32" => Ok(LogitDtype::F32),
        "f16" => Ok(LogitDtype::F16),
        _ => Err(format!("'{s}' is not f32 or f16")),
    }
}

#[derive(Serialize)]
struct Summary {
    cache: PathBuf,
    samples: usize,
    /// Rows computed by this run (fewer than `samples` when it resumed).
    computed: usize,
    resumed_from: usize,
    seconds: f64,
    samples_per_second: f64,
    bytes_on_disk: u64,
    bytes_per_sample: f64,
    num_classes: usize,
    peak_rss_bytes: Option<u64>,
}

/// Runs the model on the first batch: the class count, before anything is written.
fn probe(
    model: &mut OnnxModel,
    plan: &InferencePlan,
    data: &Dataset,
    preprocess: &Preprocess,
    args: &Args,
) -> Result<usize> {
    let rows = plan.batch_rows(args.batch_size).min(data.len());
    let positions: Vec<usize> = (0..rows).collect();
    let (classes, out) = model
        .run_positions(plan, data, preprocess, &positions)
        .context("trial run on the first batch")?;
    if args.teacher_output == OutputKind::Logits && looks_like_probs(&out, classes) {
        eprintln!(
            "warning: output '{}' looks like probabilities (rows in [0, 1] summing to 1); if the teacher ends in softmax, pass --teacher-output probs",
            plan.output.name
        );
    }
    Ok(classes)
}

pub fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 || args.rows_per_part == 0 {
        bail!("--batch-size and --rows-per-part must be positive");
    }
    let data = args.data.load("train")?;
    let mut model = OnnxModel::open(&args.teacher, args.threads)?;
    let preprocess = args
        .preprocess
        .resolve(model_preprocess(&model, data.shape), &data);
    preprocess
        .validate(&data)
        .with_context(|| format!("preprocessing for {}", args.teacher.display()))?;
    let plan = InferencePlan::new(
        &model,
        &preprocess.input_dims(data.shape),
        args.output.as_deref(),
    )?;
    let num_classes = probe(&mut model, &plan, &data, &preprocess, &args)?;
    eprintln!(
        "teacher {} input '{}' {} output '{}' ({}, {num_classes} classes); preprocessing {}",
        args.teacher.display(),
        plan.input.name,
        plan.input.shape_text(),
        plan.output.name,
        args.teacher_output.as_str(),
        serde_json::to_string(&preprocess)?
    );

    let teacher_sha = distill_data::sha256_file(&args.teacher)
        .with_context(|| format!("reading {}", args.teacher.display()))?;
    let template = Manifest {
        format_version: FORMAT_VERSION,
        num_classes,
        dtype: args.dtype,
        storage: "dense".into(),
        rows_per_part: args.rows_per_part,
        teacher: TeacherInfo {
            file: args.teacher.display().to_string(),
            sha256: teacher_sha,
            input: plan.input.name.clone(),
            input_shape: plan.input.shape.clone(),
            output: plan.output.name.clone(),
            output_shape: plan.output.shape.clone(),
            output_kind: args.teacher_output.as_str().into(),
        },
        dataset: DatasetInfo {
            source: data.source.clone(),
            split: data.split.clone(),
            samples: data.len(),
            fingerprint: data.fingerprint(),
            classes: data.class_names.clone(),
            skipped: data.skipped.clone(),
        },
        preprocess: preprocess.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        parts: Vec::new(),
        complete: false,
    };
    let writer = CacheWriter::open(&args.out, template, args.overwrite)?;
    let resumed_from = writer.rows_done();
    if resumed_from > 0 {
        eprintln!(
            "resuming {}: {resumed_from} of {} rows already cached",
            args.out.display(),
            data.len()
        );
    }

    let bar = samples_bar(data.len() as u64, "cache-logits");
    bar.set_position(resumed_from as u64);
    let started = Instant::now();
    let job = CacheLogitsJob {
        data: &data,
        preprocess: &preprocess,
        plan: &plan,
        kind: args.teacher_output,
        batch_size: args.batch_size,
        allow_nonfinite: args.allow_nonfinite,
    };
    let manifest = cache_logits(&mut model, &job, writer, &|rows| bar.inc(rows as u64))
        .with_context(|| format!("caching logits into {}", args.out.display()))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    let bytes_on_disk = distill_cache::CacheReader::open(&args.out)?.size_on_disk();
    let computed = data.len() - resumed_from;
    let summary = Summary {
        cache: args.out.clone(),
        samples: manifest.rows(),
        computed,
        resumed_from,
        seconds,
        samples_per_second: computed as f64 / seconds.max(1e-9),
        bytes_on_disk,
        bytes_per_sample: bytes_on_disk as f64 / manifest.rows().max(1) as f64,
        num_classes,
        peak_rss_bytes: peak_rss_bytes(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "cached {} samples ({} computed) in {:.1} s, {:.0} samples/s; {} bytes on disk, {:.1} bytes/sample -> {}",
            summary.samples,
            summary.computed,
            summary.seconds,
            summary.samples_per_second,
            summary.bytes_on_disk,
            summary.bytes_per_sample,
            summary.cache.display()
        );
    }
    Ok(())
}
