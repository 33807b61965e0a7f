//! The student's image loader alone, as a training run drives it on an image folder kept on
//! disk (`Dataset::into_geometry_on_disk`): two epochs of batches of 256 in a shuffled
//! order, normalised, with no model. The first decodes each image to the student's size
//! (in parallel, batch by batch) and keeps it in a file; the second reads the kept bytes.
//! Prints the samples/s of both, to set against the training step's
//! (`scripts/bench/scale.sh`).
//!
//! ```sh
//! cargo run --release --example read_images -- KIND:PATH SIZE FILE
//! ```

use std::path::PathBuf;
use std::time::Instant;

use distill_data::{DatasetSpec, Preprocess, SplitMix64};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: read_images KIND:PATH SIZE FILE";
    let spec: DatasetSpec = args.next().ok_or(usage)?.parse()?;
    let size: usize = args.next().ok_or(usage)?.parse()?;
    let file = PathBuf::from(args.next().ok_or(usage)?);
    let data = spec.load("train", &Default::default())?;
    let preprocess = Preprocess {
        resize: Some([size, size]),
        ..Preprocess::default()
    };
    let data = data.into_geometry_on_disk(&preprocess, &file)?;
    let batches = preprocess.normalisation_only();
    let mut rates = Vec::new();
    for epoch in 1..=2 {
        let mut order: Vec<usize> = (0..data.len()).collect();
        SplitMix64::new(epoch).shuffle(&mut order);
        let started = Instant::now();
        for chunk in order.chunks(256) {
            std::hint::black_box(data.batch(&batches, chunk)?);
        }
        rates.push(data.len() as f64 / started.elapsed().as_secs_f64());
    }
    std::fs::remove_file(&file)?;
    println!(
        "{{\"samples\": {}, \"first_epoch_samples_per_second\": {:.0}, \"samples_per_second\": {:.0}}}",
        data.len(),
        rates[0],
        rates[1]
    );
    Ok(())
}
