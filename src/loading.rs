//! Loading data on the command line: the split, then what the user should know about it
//! (files skipped or not read, images checked).

use std::time::Instant;

use anyhow::Result;
use distill_data::{DataSelection, Dataset, Samples};

/// Prints what the user should know about a split that was just loaded in `seconds`.
pub fn report_loaded(data: &Dataset, seconds: f64) {
    for bad in &data.skipped {
        eprintln!("skipped {}: {}", bad.key, bad.reason);
    }
    if let Some(first) = data.ignored.first() {
        eprintln!(
            "note: {} file(s) in {} are not read: only .{} files are images (e.g. {first})",
            data.ignored.len(),
            data.source,
            distill_data::IMAGE_EXTENSIONS.join(", .")
        );
    }
    if matches!(data.samples, Samples::Encoded(_)) {
        let skipped = if data.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", data.skipped.len())
        };
        if !data.headers_read() {
            eprintln!(
                "split '{}' of {}: {} images listed in {seconds:.2} s (each read when its batch needs it)",
                data.split,
                data.source,
                data.len(),
            );
            return;
        }
        let size = if data.has_varying_size() {
            "several sizes".to_string()
        } else {
            format!("{}x{}", data.shape.height, data.shape.width)
        };
        eprintln!(
            "split '{}' of {}: {} images ({} channel(s), {size}) checked in {seconds:.2} s{skipped}",
            data.split,
            data.source,
            data.len(),
            data.shape.channels,
        );
    }
}

/// Loads the selected split (`default_split` when none is selected) and reports it.
pub fn load(selection: &DataSelection, default_split: &str) -> Result<Dataset> {
    let started = Instant::now();
    let data = selection.load(default_split)?;
    report_loaded(&data, started.elapsed().as_secs_f64());
    Ok(data)
}

/// [`load`] without reading an image folder's files (`DataSelection::load_listed`).
pub fn load_listed(selection: &DataSelection, default_split: &str) -> Result<Dataset> {
    let started = Instant::now();
    let data = selection.load_listed(default_split)?;
    report_loaded(&data, started.elapsed().as_secs_f64());
    Ok(data)
}

/// How a dataset feeds an ONNX model (`cache-logits`, `eval`): the split, the
/// preprocessing over the model's own, the output read, ONNX Runtime's threads.
#[derive(clap::Args, Debug)]
pub struct FeedArgs {
    #[command(flatten)]
    pub data: DataSelection,
    #[command(flatten)]
    pub preprocess: distill_data::PreprocessOverrides,
    /// Output holding the logits [default: the first float output shaped [batch, classes]].
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Intra-op threads for ONNX Runtime [default: one per physical core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the model runs: cpu, or cuda[:N] (ONNX Runtime's CUDA execution provider, in
    /// the GPU build that scripts/setup.sh --gpu fetches; an error where it cannot start).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: distill_data::ComputeDevice,
}
