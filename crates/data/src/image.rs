//! Decoding image files (PNG, JPEG, WebP, BMP) into channel-first bytes, in parallel.

use std::path::Path;

use rayon::prelude::*;

use crate::dataset::{EncodedImage, SkippedSample};
use crate::{DataError, SampleShape};

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

/// Encoded images checked and ready for a [`crate::Dataset`], with their common shape.
pub(crate) struct CheckedImages {
    pub keep: Vec<usize>,
    pub images: Vec<EncodedImage>,
    pub shape: SampleShape,
    pub skipped: Vec<SkippedSample>,
}

/// Decodes every image once, in parallel. A bad image fails with its key (path) unless
/// `skip_bad`, when it is left out and listed. The split is grayscale when every image is,
/// else RGB (grayscale images are then replicated to three channels).
pub(crate) fn check_images(
    origin: &Path,
    files: Vec<(String, Vec<u8>)>,
    skip_bad: bool,
) -> Result<CheckedImages, DataError> {
    let probed: Vec<Result<(usize, usize, bool), String>> =
        files.par_iter().map(|(_, bytes)| probe(bytes)).collect();
    let mut keep = Vec::new();
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    let mut color = false;
    for (i, ((key, bytes), probed)) in files.into_iter().zip(probed).enumerate() {
        match probed {
            Ok((height, width, has_color)) => {
                color |= has_color;
                keep.push(i);
                images.push(EncodedImage {
                    bytes,
                    height,
                    width,
                });
            }
            Err(reason) if skip_bad => skipped.push(SkippedSample { key, reason }),
            Err(reason) => {
                return Err(DataError::BadImage {
                    path: origin.join(&key),
                    reason: format!("{reason} (--skip-bad leaves such files out and lists them)"),
                });
            }
        }
    }
    let first = images.first().map(|i| (i.height, i.width));
    let uniform = images.iter().all(|i| Some((i.height, i.width)) == first);
    let (height, width) = match first {
        Some(hw) if uniform => hw,
        _ => (0, 0),
    };
    Ok(CheckedImages {
        keep,
        images,
        shape: SampleShape {
            channels: if color { 3 } else { 1 },
            height,
            width,
        },
        skipped,
    })
}
