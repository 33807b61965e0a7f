//! The student's image loader alone, as a training run drives it on an image folder kept on
//! disk: decode every image once to the student's size into a file
//! (`Dataset::into_geometry_on_disk`), then one epoch of batches of 256 in a shuffled order
//! read back from the file and normalised, with no model. Prints the seconds of the decoding
//! pass and the epoch's samples/s, to set against the training step's
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
    let started = Instant::now();
    let data = data.into_geometry_on_disk(&preprocess, &file)?;
    let decode_seconds = started.elapsed().as_secs_f64();
    let mut order: Vec<usize> = (0..data.len()).collect();
    SplitMix64::new(1).shuffle(&mut order);
    let batches = preprocess.normalisation_only();
    let started = Instant::now();
    for chunk in order.chunks(256) {
        std::hint::black_box(data.batch(&batches, chunk)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(&file)?;
    println!(
        "{{\"samples\": {}, \"decode_seconds\": {decode_seconds:.2}, \"epoch_seconds\": {seconds:.2}, \"samples_per_second\": {:.0}}}",
        data.len(),
        data.len() as f64 / seconds
    );
    Ok(())
}
