//! Decoding image files (PNG, JPEG, WebP, BMP) into channel-first bytes.

use distill_core::SampleShape;

/// Decodes `bytes` into `[channels, height, width]` planes: `channels` 1 (grayscale) or 3
/// (RGB), or with `None` the image's own colour (RGB when it has colour, else grayscale).
/// Alpha is dropped, as PIL's `convert("RGB")` drops it; 16-bit images are scaled to 8
/// bits. An image without pixels is an error.
pub(crate) fn decode_chw(
    bytes: &[u8],
    channels: Option<usize>,
) -> Result<(SampleShape, Vec<u8>), String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    if width == 0 || height == 0 {
        return Err("image has no pixels".into());
    }
    let channels = channels.unwrap_or(if image.color().has_color() { 3 } else { 1 });
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
    let shape = SampleShape {
        channels,
        height,
        width,
    };
    Ok((shape, pixels))
}

/// Size and colour of one image, found by decoding it whole (so a file that is cut short or
/// corrupt is caught now, not halfway through a run).
pub(crate) fn probe(bytes: &[u8]) -> Result<(usize, usize, bool), String> {
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

/// Size and colour of one image from its header alone (the pixels are decoded when a batch
/// needs them, and a file whose pixels are damaged fails there, named).
pub(crate) fn probe_header(bytes: &[u8]) -> Result<(usize, usize, bool), String> {
    use image::ImageDecoder;
    let decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_decoder()
        .map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err("image has no pixels".into());
    }
    Ok((
        height as usize,
        width as usize,
        decoder.color_type().has_color(),
    ))
}
