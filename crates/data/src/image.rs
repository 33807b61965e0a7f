//! Image datasets (folders, Hugging Face Parquet) from their files, each read once, in
//! parallel, a bounded number at a time, for its size and colour; the split's fingerprint is
//! computed in the same pass, so the bytes need not stay in memory.

use std::path::Path;

use rayon::prelude::*;

use crate::dataset::{EncodedImage, Fingerprinter, ImageBytes};
use crate::decode::{probe, probe_header};
use crate::{DataError, Dataset, SampleShape, Samples, SkippedSample};

/// A file of an image dataset: its key (relative path or `file:row`), label and bytes (or
/// where they are).
pub(crate) struct ImageFile {
    pub key: String,
    pub label: i32,
    pub bytes: ImageBytes,
}

/// Images read at once while a split is checked: memory holds this many files.
const PROBE_CHUNK: usize = 256;

/// The dataset of `files` (in id order: file `i` gets id `i`), each read once, in
/// parallel, for its size and colour (its header; with `skip_bad` it is decoded whole) and
/// fingerprinted in the same pass. A bad image fails with its key (path under `origin`)
/// unless `skip_bad`, when it is left out, keeps its id unused and is listed. The split is
/// grayscale when every image is, else RGB (grayscale images are then replicated to three
/// channels).
pub(crate) fn image_dataset(
    source: String,
    split: &str,
    origin: &Path,
    files: Vec<ImageFile>,
    skip_bad: bool,
) -> Result<Dataset, DataError> {
    let (mut ids, mut labels, mut keys, mut images) = (vec![], vec![], vec![], vec![]);
    let mut skipped = Vec::new();
    let mut color = false;
    // The fingerprint of `Dataset::fingerprint`, over the samples kept, in id order.
    let mut hasher = Fingerprinter::default();
    let mut files = files.into_iter().enumerate().peekable();
    while files.peek().is_some() {
        let chunk: Vec<(usize, ImageFile)> = files.by_ref().take(PROBE_CHUNK).collect();
        let probed: Vec<Result<_, DataError>> = chunk
            .par_iter()
            .map(|(_, f)| {
                let bytes = f.bytes.read()?;
                // Leaving bad files out needs them known before the samples are numbered:
                // decode each. Otherwise the header says the size and colour, and a file
                // whose pixels are damaged is met, and named, when its batch is read.
                let probed = if skip_bad {
                    probe(&bytes)
                } else {
                    probe_header(&bytes)
                };
                Ok((bytes.into_owned(), probed))
            })
            .collect();
        for ((i, file), probed) in chunk.into_iter().zip(probed) {
            let (bytes, probed) = probed?;
            match probed {
                Ok((height, width, has_color)) => {
                    color |= has_color;
                    hasher.add(i as u64, &bytes, file.label);
                    ids.push(i as u64);
                    labels.push(file.label);
                    keys.push(file.key);
                    images.push(EncodedImage {
                        bytes: file.bytes,
                        height,
                        width,
                    });
                }
                Err(reason) if skip_bad => skipped.push(SkippedSample {
                    key: file.key,
                    reason,
                }),
                Err(reason) => {
                    return Err(DataError::BadImage {
                        path: origin.join(&file.key),
                        reason,
                    });
                }
            }
        }
    }
    let shape = SampleShape {
        channels: if color { 3 } else { 1 },
        height: 0,
        width: 0,
    };
    let mut data = Dataset::new(
        source,
        split.to_string(),
        shape,
        ids,
        labels,
        Samples::Encoded(images),
    );
    data.keys = keys;
    data.skipped = skipped;
    data.source_fingerprint = Some(hasher.finish());
    data.refresh_shape();
    Ok(data)
}
