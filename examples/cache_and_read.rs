//! Stage one from Rust through the library crates alone, no CLI: cache a teacher's logits
//! over the committed Fashion-MNIST subset, then read them back, join them to the data by
//! sample id and check them.
//!
//! ```sh
//! cargo run --release --example cache_and_read -- [TEACHER.onnx] [CACHE_DIR]
//! ```
//!
//! Defaults: the small test teacher `datasets/teacher/test/mlp.onnx` and a cache folder in
//! the system's temporary directory. A rerun finds the finished cache and only reads it.

use std::path::{Path, PathBuf};

use distill_cache::CacheReader;
use distill_data::{DataSelection, argmax};
use distill_runtime::CacheLogits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let teacher = args
        .next()
        .unwrap_or_else(|| root.join("datasets/teacher/test/mlp.onnx"));
    let out = args
        .next()
        .unwrap_or_else(|| std::env::temp_dir().join("distill-example-cache"));

    // The first 300 test images of the committed subset.
    let spec = format!("idx:{}", root.join("datasets/fashion-mnist-mini").display());
    let selection = DataSelection {
        split: Some("test".into()),
        limit: Some(300),
        ..DataSelection::new(spec.parse()?)
    };
    let data = selection.load("test")?;

    // Stage one: the teacher's preprocessing comes from the model itself.
    let summary = CacheLogits::new(&teacher)
        .batch_size(64)
        .rows_per_part(128)
        .prepare(&data)?
        .open(&out)?
        .run(&|_rows| {})?;
    println!(
        "cached {} rows of {} classes into {} ({} computed now, {:.1} bytes/row)",
        summary.samples,
        summary.num_classes,
        out.display(),
        summary.computed,
        summary.bytes_per_sample
    );

    // Reading: the cache checks itself against the teacher and the data it claims.
    let reader = CacheReader::open(&out)?;
    reader.require_complete()?;
    reader.verify_teacher(&teacher)?;
    reader.verify_dataset(
        &data.split,
        data.len(),
        &data.fingerprint(),
        data.content()?.as_deref(),
    )?;
    let cache = reader.load()?;
    let mut correct = 0;
    for (id, label) in data.ids.iter().zip(&data.labels) {
        let logits = cache
            .logits_of(*id)
            .ok_or_else(|| format!("sample {id} has no row in the cache"))?;
        correct += usize::from(argmax(logits) as i32 == *label);
    }
    let joined = correct as f64 / data.len() as f64;
    let cached = reader
        .teacher_accuracy()?
        .ok_or("the cache holds no labels")?
        .accuracy;
    if (joined - cached).abs() > 1e-12 {
        return Err(format!("joined accuracy {joined} differs from the cache's {cached}").into());
    }
    println!(
        "teacher top-1 {:.2}% on {} samples, joined by sample id (keys: {})",
        100.0 * joined,
        data.len(),
        if cache.keys.is_empty() { "none" } else { "yes" }
    );
    Ok(())
}
