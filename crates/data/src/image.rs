//! Image datasets (folders, Hugging Face Parquet) from their files, each checked by decoding
//! it once, in parallel.

use std::path::Path;

use rayon::prelude::*;

use crate::dataset::EncodedImage;
use crate::decode::probe;
use crate::{DataError, Dataset, SampleShape, Samples, SkippedSample};

/// A file of an image dataset: its key (relative path or `file:row`), label and bytes.
pub(crate) struct ImageFile {
    pub key: String,
    pub label: i32,
    pub bytes: Vec<u8>,
}

/// The dataset of `files` (in id order: file `i` gets id `i`), each decoded once, in
/// parallel, to check it. A bad image fails with its key (path under `origin`) unless
/// `skip_bad`, when it is left out, keeps its id unused and is listed. The split is
/// grayscale when every image is, else RGB (grayscale images are then replicated to three
/// channels).
pub(crate) fn image_dataset(
    source: String,
    split: &str,
    origin: &Path,
    files: Vec<ImageFile>,
    skip_bad: bool,
) -> Result<Dataset, DataError> {
    let probed: Vec<Result<(usize, usize, bool), String>> =
        files.par_iter().map(|f| probe(&f.bytes)).collect();
    let (mut ids, mut labels, mut keys, mut images) = (vec![], vec![], vec![], vec![]);
    let mut skipped = Vec::new();
    let mut color = false;
    for (i, (file, probed)) in files.into_iter().zip(probed).enumerate() {
        match probed {
            Ok((height, width, has_color)) => {
                color |= has_color;
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
    data.refresh_shape();
    Ok(data)
}
