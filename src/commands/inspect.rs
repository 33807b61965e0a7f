//! `distill inspect`: what a logit cache holds, whether it is complete and intact, and
//! whether it matches a given teacher or dataset.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use distill_cache::{CacheReader, Manifest};
use distill_data::DatasetSpec;
use serde::Serialize;

use crate::args::load_split;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cache directory.
    #[arg(value_name = "DIR")]
    cache: PathBuf,
    /// Check that the cache was made by this ONNX teacher (by sha256).
    #[arg(long, value_name = "M.onnx")]
    teacher: Option<PathBuf>,
    /// Check that the cache was made from this dataset (by fingerprint of the cached split).
    #[arg(long, value_name = "KIND:PATH")]
    dataset: Option<DatasetSpec>,
    #[command(flatten)]
    source: distill_data::SourceOptions,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    cache: PathBuf,
    complete: bool,
    rows: usize,
    expected_rows: usize,
    num_classes: usize,
    dtype: distill_cache::LogitDtype,
    storage: String,
    parts: usize,
    bytes_on_disk: u64,
    bytes_per_sample: f64,
    /// Teacher top-1 accuracy over the rows that have a label (null when none has one).
    teacher_accuracy: Option<f64>,
    labelled_rows: usize,
    manifest: Manifest,
}

pub fn run(args: Args) -> Result<()> {
    let reader = CacheReader::open(&args.cache)?;
    let m = reader.manifest().clone();
    // Reading every part checks its checksum and schema, and gives the teacher's accuracy.
    let (mut correct, mut labelled) = (0, 0);
    for part in reader.parts() {
        let (c, l) = part?.top1_correct(m.num_classes);
        correct += c;
        labelled += l;
    }
    if let Some(teacher) = &args.teacher {
        let sha = distill_data::sha256_file(teacher)
            .with_context(|| format!("reading {}", teacher.display()))?;
        if sha != m.teacher.sha256 {
            bail!(
                "{} was not made by {}: its teacher has sha256 {}, the file has {sha}",
                args.cache.display(),
                teacher.display(),
                m.teacher.sha256
            );
        }
    }
    if let Some(spec) = &args.dataset {
        let data = load_split(spec, &m.dataset.split, None, &args.source)?;
        let fingerprint = data.fingerprint();
        if fingerprint != m.dataset.fingerprint {
            bail!(
                "{} was not made from split '{}' of {spec}: fingerprints differ ({} cached, {fingerprint} given; {} vs {} samples)",
                args.cache.display(),
                m.dataset.split,
                m.dataset.fingerprint,
                m.dataset.samples,
                data.len()
            );
        }
    }
    let bytes_on_disk = reader.size_on_disk();
    let report = Report {
        cache: args.cache.clone(),
        complete: m.complete,
        rows: m.rows(),
        expected_rows: m.dataset.samples,
        num_classes: m.num_classes,
        dtype: m.dtype,
        storage: m.storage.clone(),
        parts: m.parts.len(),
        bytes_on_disk,
        bytes_per_sample: bytes_on_disk as f64 / m.rows().max(1) as f64,
        teacher_accuracy: (labelled > 0).then(|| correct as f64 / labelled as f64),
        labelled_rows: labelled,
        manifest: m,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let m = &report.manifest;
    println!("cache        {}", report.cache.display());
    println!(
        "complete     {}",
        if report.complete {
            "yes".to_string()
        } else {
            format!(
                "NO ({} of {} rows; rerun cache-logits to finish)",
                report.rows, report.expected_rows
            )
        }
    );
    println!(
        "rows         {} in {} part(s) of up to {}",
        report.rows, report.parts, m.rows_per_part
    );
    println!(
        "logits       {} classes, {:?}, {} storage",
        report.num_classes, report.dtype, report.storage
    );
    println!(
        "size         {} bytes on disk, {:.1} bytes/sample",
        report.bytes_on_disk, report.bytes_per_sample
    );
    println!(
        "teacher      {} (sha256 {}), output '{}' as {}",
        m.teacher.file, m.teacher.sha256, m.teacher.output, m.teacher.output_kind
    );
    println!(
        "dataset      {} split '{}', {} samples, fingerprint {}",
        m.dataset.source, m.dataset.split, m.dataset.samples, m.dataset.fingerprint
    );
    if !m.dataset.classes.is_empty() {
        println!("classes      {}", m.dataset.classes.join(", "));
    }
    for bad in &m.dataset.skipped {
        println!("skipped      {}: {}", bad.key, bad.reason);
    }
    println!("preprocess   {}", serde_json::to_string(&m.preprocess)?);
    match report.teacher_accuracy {
        Some(acc) => println!(
            "teacher top-1 {:.2}% on {} labelled rows",
            100.0 * acc,
            report.labelled_rows
        ),
        None => println!("teacher top-1 n/a (no labels)"),
    }
    println!("tool         distill {}", m.tool_version);
    Ok(())
}
