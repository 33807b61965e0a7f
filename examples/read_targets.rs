//! The teacher-target reader alone, as a training run drives it: join a cache to its data,
//! then one epoch of batches (the epoch's segments, each part read and checked when
//! streamed, and the teacher side of the loss built per batch) with no student at all.
//! Prints rows/s loaded in memory and streamed part by part, so a benchmark can set them
//! against a training step's samples/s (`scripts/bench/topk-reader.sh`).
//!
//! ```sh
//! cargo run --release --example read_targets -- CACHE_DIR KIND:PATH [SPLIT] [T]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use distill_data::DatasetSpec;
use distill_student::{OrderSettings, TeacherTargets, compute_device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: read_targets CACHE_DIR KIND:PATH [SPLIT] [T]";
    let cache = PathBuf::from(args.next().ok_or(usage)?);
    let spec: DatasetSpec = args.next().ok_or(usage)?.parse()?;
    let split = args.next().unwrap_or_else(|| "train".into());
    let temperature: f64 = args.next().map_or(Ok(2.0), |t| t.parse())?;
    let data = spec.load(&split, &Default::default())?;
    let device = compute_device(Default::default())?;
    let batch = 256;
    for (mode, max_memory) in [("loaded", u64::MAX), ("streamed", 0)] {
        let started = Instant::now();
        let targets = TeacherTargets::join(&cache, &data, max_memory)?;
        let joined = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut rows = 0;
        let settings = OrderSettings {
            seed: 1,
            held_out: None,
            row_groups: None,
            batch_size: batch,
        };
        for segment in targets.epoch_segments(&data.ids, 1, &settings) {
            let buffer = targets.load(&segment)?;
            for chunk in segment.rows.chunks(batch) {
                let teacher = targets
                    .format
                    .batch(&buffer.logits, chunk, temperature, &device);
                std::hint::black_box(teacher);
                rows += chunk.len();
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"mode\": \"{mode}\", \"join_seconds\": {joined:.3}, \"rows\": {rows}, \"epoch_seconds\": {seconds:.3}, \"rows_per_second\": {:.0}}}",
            rows as f64 / seconds
        );
    }
    Ok(())
}
