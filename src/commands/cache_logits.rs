//! `distill cache-logits`: run an ONNX teacher once over a dataset split and keep its raw
//! logits as a Parquet cache (stage one).

use std::path::PathBuf;

use anyhow::{Context, Result};
use distill_cache::{LogitDtype, OutputKind, Storage};
use distill_data::{ComputeDevice, ViewSpec};
use distill_runtime::{CacheLogits, CacheSummary};
use serde::Serialize;

use crate::loading::{FeedArgs, load_listed};
use crate::progress::{peak_rss_bytes, samples_bar};
use crate::shard::ShardArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The teacher: any ONNX classifier with one float input.
    #[arg(long, value_name = "M.onnx")]
    teacher: PathBuf,
    /// Cache directory (manifest.json and part-NNNNN.parquet files), or s3://BUCKET/PREFIX
    /// on S3-compatible object storage (credentials and endpoint from the AWS_* variables).
    #[arg(long, value_name = "DIR|s3://…")]
    out: PathBuf,
    #[command(flatten)]
    feed: FeedArgs,
    /// What the output holds: logits (stored as they are), probs (a teacher ending in
    /// softmax; stored as ln(max(p, 1e-30))) or log-probs.
    #[arg(long, default_value = "logits", value_name = "KIND")]
    teacher_output: OutputKind,
    /// Samples per session run (a model with a fixed batch size uses its own, padding the
    /// last batch) [default: 256 on the CPU, 1024 on a GPU].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Stored logit type: f32, or f16 for half the size.
    #[arg(long, default_value = "f32")]
    dtype: LogitDtype,
    /// How each row is stored: dense (every logit), or topk:K (the K largest logits, their
    /// classes, and the log-sum-exp, count, mean and spread of the rest: ~0.15 % of dense
    /// for 1,000 classes; trains at any temperature).
    #[arg(long, default_value = "dense", value_name = "dense|topk:K")]
    storage: Storage,
    /// Rows per Parquet part file; a rerun after a crash resumes at a part boundary.
    #[arg(long, default_value_t = 10_000)]
    rows_per_part: usize,
    /// Replace an existing cache made with another teacher, dataset or preprocessing.
    #[arg(long)]
    overwrite: bool,
    /// Store NaN/Inf teacher outputs instead of refusing them.
    #[arg(long)]
    allow_nonfinite: bool,
    /// Cache K augmented views of every sample (consistent teaching): K rows per sample,
    /// each with its view's parameters, drawn from --augment (a v2 cache).
    #[arg(long, value_name = "K", requires = "augment")]
    views: Option<usize>,
    /// The augmentation views are drawn from, comma-separated: crop[:SMIN-SMAX[:RMIN-RMAX]]
    /// (random-resized crop), flip, shift[:N] (pixels), mixup[:A] (Beta(A, A) weight),
    /// plain-first (view 0 is the plain image). E.g. crop:0.35-1,flip,plain-first.
    #[arg(long, value_name = "SPEC", requires = "views")]
    augment: Option<ViewSpec>,
    /// Seed of the view generator: view v of sample i is the same for the same seed.
    #[arg(long, default_value_t = 0, value_name = "S", requires = "views")]
    view_seed: u64,
    /// Write one shard of the cache only: its contiguous share of the parts and its own
    /// manifest, beside the other shards in the same --out (no lock between machines).
    #[command(flatten)]
    shard: ShardArgs,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// The library's summary and this process's peak memory.
#[derive(Serialize)]
struct Summary {
    #[serde(flatten)]
    cache: CacheSummary,
    peak_rss_bytes: Option<u64>,
}

/// The batch size where none is given: a GPU wants bigger batches to keep busy.
fn default_batch(device: ComputeDevice) -> usize {
    if device.is_cuda() { 1024 } else { 256 }
}

pub fn run(args: Args) -> Result<()> {
    // A streaming pass: memory that does not creep up with the length of the split.
    distill_core::return_large_blocks();
    let shard = args.shard.resolve()?;
    // Listed only: the teacher's input may fix the channels and size, and then no file is
    // read before the first batch.
    let mut data = load_listed(&args.feed.data, "train")?;
    let mut stage = CacheLogits::new(&args.teacher).shard(shard);
    if let (Some(count), Some(augment)) = (args.views, args.augment) {
        stage = stage.views(count, augment, args.view_seed);
    }
    let prepared = stage
        .preprocess(args.feed.preprocess)
        .output(args.feed.output)
        .output_kind(args.teacher_output)
        .batch_size(args.batch_size.unwrap_or(default_batch(args.feed.device)))
        .threads(args.feed.threads)
        .device(args.feed.device)
        .dtype(args.dtype)
        .storage(args.storage)
        .rows_per_part(args.rows_per_part)
        .overwrite(args.overwrite)
        .allow_nonfinite(args.allow_nonfinite)
        .prepare_listed(&mut data)?;
    let plan = &prepared.model.plan;
    if prepared.looks_like_probs {
        eprintln!(
            "warning: output '{}' looks like probabilities (rows in [0, 1] summing to 1); if the teacher ends in softmax, pass --teacher-output probs",
            plan.output.name
        );
    }
    eprintln!(
        "teacher {} on {} input '{}' {} output '{}' ({}, {} classes); preprocessing {}",
        args.teacher.display(),
        args.feed.device,
        plan.input.name,
        plan.input.shape_text(),
        plan.output.name,
        args.teacher_output.as_str(),
        prepared.num_classes,
        serde_json::to_string(&prepared.model.preprocess)?
    );
    let cache = prepared.open(&args.out)?;
    if cache.resumed_from > 0 {
        eprintln!(
            "resuming {}: {} of {} rows already cached",
            args.out.display(),
            cache.resumed_from,
            cache.samples()
        );
    }
    let bar = samples_bar(cache.samples() as u64, "cache-logits");
    bar.set_position(cache.resumed_from as u64);
    let summary = cache
        .run(&|rows| bar.inc(rows as u64))
        .with_context(|| format!("caching logits into {}", args.out.display()))?;
    bar.finish_and_clear();
    let summary = Summary {
        cache: summary,
        peak_rss_bytes: peak_rss_bytes(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("{}", summary.cache);
    Ok(())
}
