//! Decoding image files (PNG, JPEG, WebP, BMP) into channel-first bytes.

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
