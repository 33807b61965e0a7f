//! Decoding image files (PNG, JPEG, WebP, BMP) into channel-first bytes, in parallel.

use std::path::Path;

use rayon::prelude::*;

use crate::dataset::{EncodedImage, SkippedSample};
use crate::{DataError, Dataset, SampleShape, Samples};

/// Decodes `bytes` into `channels` (1: grayscale, 3: RGB) planes, `[channels, height,
/// width]`. Alpha is dropped, as PIL's `convert("RGB")` drops it; 16-bit images are scaled
/// to 8 bits.
pub(crate) fn decode_chw(bytes: &[u8], channels: usize) -> Result<Vec<u8>, String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let interleaved = if channels == 1 {
        image.into_luma8().into_raw()
    } else {
        image.into_rgb8().into_raw()
    };
    let plane = height * width;
    let mut pixels = vec![0u8; plane * channels];
    for (p, px) in interleaved.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            pixels[c * plane + p] = v;
        }
    }
    Ok(pixels)
}

/// Size and colour of one image, found by decoding it whole (so a file that is cut short or
/// corrupt is caught now, not halfway through a run).
fn probe(bytes: &[u8]) -> Result<(usize, usize, bool), String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    if image.width() == 0 || image.height() == 0 {
        return Err("image has no pixels".into());
    }
    Ok((
        image.height() as usize,
        image.width() as usize,
        image.color().has_color(),
    ))
}

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
                    reason: format!("{reason} (--skip-bad leaves such files out and lists them)"),
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
