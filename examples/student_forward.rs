//! Forward-only (evaluation) throughput of a student in distill, for
//! `scripts/bench/train-vs-pytorch.sh`: a freshly initialised student of ARCH run over the
//! first LIMIT images of a split in batches of BATCH, the way training evaluates the test
//! split after every epoch, in whole passes for at least a second (after one warm-up pass).
//! Prints `{"samples_per_second": X}`.
//!
//! Usage: student_forward ARCH KIND:PATH SPLIT LIMIT BATCH

use std::time::Instant;

use distill_data::{DataSelection, Preprocess};
use distill_student::{ArchSpec, Student, compute_device, keep_freed_memory, predict_logits};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arch, spec, split, limit, batch] = &args[..] else {
        return Err("usage: student_forward ARCH KIND:PATH SPLIT LIMIT BATCH".into());
    };
    let arch: ArchSpec = arch.parse()?;
    let selection = DataSelection {
        split: Some(split.clone()),
        limit: Some(limit.parse()?),
        ..DataSelection::new(spec.parse()?)
    };
    let data = selection.load(split)?;
    let preprocess = Preprocess {
        mean: vec![0.2860],
        std: vec![0.3530],
        ..Preprocess::default()
    };
    keep_freed_memory(); // as `distill train-student`, whose evaluation this times
    let device = compute_device(Default::default())?;
    let model = Student::new(&arch, data.shape, 10, &device);
    // One pass to initialise the lazy parameters and warm the caches.
    predict_logits(&model, &data, &preprocess, batch.parse()?, &device)?;
    // Whole passes until a second has passed: one pass of a small model is too short to time.
    let (started, mut passes) = (Instant::now(), 0);
    while passes == 0 || started.elapsed().as_secs_f64() < 1.0 {
        predict_logits(&model, &data, &preprocess, batch.parse()?, &device)?;
        passes += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"samples_per_second": (passes * data.len()) as f64 / seconds})
    );
    Ok(())
}
