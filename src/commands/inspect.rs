//! `distill inspect`: what a logit cache holds, whether it is complete and intact, and
//! whether it matches a given teacher or dataset.

use std::path::PathBuf;

use anyhow::Result;
use distill_cache::CacheReader;
use distill_data::{DataSelection, DatasetSpec, SourceOptions};

use crate::loading::load;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cache directory, or s3://BUCKET/PREFIX.
    #[arg(value_name = "DIR|s3://…")]
    cache: PathBuf,
    /// Check that the cache was made by this ONNX teacher (by sha256).
    #[arg(long, value_name = "M.onnx")]
    teacher: Option<PathBuf>,
    /// Check that the cache was made from this dataset (by fingerprint of the cached split;
    /// an image folder's files are read for their content hash).
    #[arg(long, value_name = "KIND:PATH")]
    dataset: Option<DatasetSpec>,
    #[command(flatten)]
    source: SourceOptions,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let reader = CacheReader::open(&crate::remote::fetch_cache(&args.cache)?)?;
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
        let recorded = &report.manifest.dataset;
        // A cache of an image folder made before folders were fingerprinted by their
        // listing recorded the files' content as the fingerprint.
        let fingerprint = match data.fingerprint_matches(&recorded.fingerprint)? {
            true => recorded.fingerprint.clone(),
            false => data.fingerprint(),
        };
        // A streamed split's files are read for their content hash (the listing alone does
        // not see a file rewritten at the same size).
        let content = match recorded.content {
            Some(_) => data.content()?,
            None => None,
        };
        reader.verify_dataset(&data.split, data.len(), &fingerprint, content.as_deref())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
