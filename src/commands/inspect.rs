//! `distill inspect`: what a logit cache holds, whether it is complete and intact, and
//! whether it matches a given teacher or dataset.

use std::path::PathBuf;

use anyhow::Result;
use distill_cache::{CacheReader, CacheReport};
use distill_data::{DataSelection, DatasetSpec, SourceOptions};

use crate::loading::load;

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
    source: SourceOptions,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let reader = CacheReader::open(&args.cache)?;
    // Reading every part checks its checksum and schema, and gives the teacher's accuracy.
    let report = reader.report()?;
    if let Some(teacher) = &args.teacher {
        reader.verify_teacher(teacher)?;
    }
    if let Some(spec) = &args.dataset {
        let selection = DataSelection {
            split: Some(report.manifest.dataset.split.clone()),
            source: args.source.clone(),
            ..DataSelection::new(spec.clone())
        };
        let data = load(&selection, "train")?;
        reader.verify_dataset(&data.split, data.len(), &data.fingerprint())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

fn print(report: &CacheReport) {
    let m = &report.manifest;
    println!("cache        {}", report.cache.display());
    let complete = if report.complete {
        "yes".to_string()
    } else {
        format!(
            "NO ({} of {} rows; rerun cache-logits to finish)",
            report.rows, report.expected_rows
        )
    };
    println!("complete     {complete}");
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
    println!(
        "preprocess   {}",
        serde_json::to_string(&m.preprocess).unwrap_or_default()
    );
    match report.teacher_accuracy {
        Some(accuracy) => println!(
            "teacher top-1 {:.2}% on {} labelled rows",
            100.0 * accuracy,
            report.labelled_rows
        ),
        None => println!("teacher top-1 n/a (no labels)"),
    }
    println!("tool         distill {}", m.tool_version);
}
