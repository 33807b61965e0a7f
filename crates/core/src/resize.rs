//! Bilinear resizing of one channel plane.
//!
//! Pixel centres are aligned the way OpenCV's `INTER_LINEAR` and PyTorch's
//! `interpolate(mode="bilinear", align_corners=False)` align them: output pixel `x` samples
//! the source at `(x + 0.5) * in / out - 0.5`, clamped to the image. There is no
//! antialiasing, so strong downscaling aliases as it does in those libraries.

/// Source index pair and weight of the second one, per output coordinate.
fn taps(src_len: usize, dst_len: usize) -> Vec<(usize, usize, f32)> {
    let ratio = src_len as f32 / dst_len as f32;
    (0..dst_len)
        .map(|x| {
            let pos = ((x as f32 + 0.5) * ratio - 0.5).clamp(0.0, (src_len - 1) as f32);
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(src_len - 1);
            (lo, hi, pos - lo as f32)
        })
        .collect()
}

/// Resizes `src` (`[src_h, src_w]`) into `dst` (`[dst_h, dst_w]`).
pub(crate) fn bilinear(src: &[f32], src_hw: [usize; 2], dst: &mut [f32], dst_hw: [usize; 2]) {
    let [sh, sw] = src_hw;
    let [dh, dw] = dst_hw;
    if src_hw == dst_hw {
        dst.copy_from_slice(src);
        return;
    }
    let rows = taps(sh, dh);
    let cols = taps(sw, dw);
    for (y, &(y0, y1, fy)) in rows.iter().enumerate() {
        let r0 = &src[y0 * sw..(y0 + 1) * sw];
        let r1 = &src[y1 * sw..(y1 + 1) * sw];
        for (x, &(x0, x1, fx)) in cols.iter().enumerate() {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
            dst[y * dw + x] = top + (bottom - top) * fy;
        }
    }
}

/// Resizes an 8-bit plane, rounding to the nearest byte (PIL keeps 8-bit images 8-bit).
pub(crate) fn bilinear_u8(src: &[u8], src_hw: [usize; 2], dst_hw: [usize; 2]) -> Vec<u8> {
    let src: Vec<f32> = src.iter().map(|&v| v as f32).collect();
    let mut dst = vec![0f32; dst_hw[0] * dst_hw[1]];
    bilinear(&src, src_hw, &mut dst, dst_hw);
    dst.iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// Pillow's fixed-point precision for 8-bit resampling (`Resample.c`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One output pixel's source window: the first source index and the fixed-point weights.
struct Window {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's antialiased bilinear coefficients (`precompute_coeffs` with the triangle
/// filter, then `normalize_coeffs_8bpc`): the filter widens by the downscale factor, so
/// shrinking averages every source pixel instead of skipping some.
fn pil_windows(src_len: usize, dst_len: usize) -> Vec<Window> {
    let scale = src_len as f64 / dst_len as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the triangle filter's support is 1
    (0..dst_len)
        .map(|x| {
            let center = (x as f64 + 0.5) * scale;
            // C's (int) cast truncates; negatives are clamped to 0 right after.
            let start = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(src_len as i64) as usize;
            let raw: Vec<f64> = (start..end)
                .map(|i| {
                    let t = ((i as f64 - center + 0.5) / filterscale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let fixed = w * (1u64 << PRECISION_BITS) as f64;
                    (if fixed < 0.0 {
                        fixed - 0.5
                    } else {
                        fixed + 0.5
                    }) as i32
                })
                .collect();
            Window { start, weights }
        })
        .collect()
}

/// One output value of a Pillow 8-bit pass: the window's weighted sum, rounded and clipped
/// to a byte (`clip8`).
fn pil_pass(value: impl Fn(usize) -> u8, window: &Window) -> u8 {
    let mut sum: i64 = 1 << (PRECISION_BITS - 1);
    for (k, &w) in window.weights.iter().enumerate() {
        sum += value(window.start + k) as i64 * w as i64;
    }
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an 8-bit plane as Pillow's `Image.resize(size, BILINEAR)` does, bit for bit:
/// horizontal pass first, rounded to bytes, then the vertical pass. This is what
/// torchvision's `Resize` computes on PIL images.
pub(crate) fn pil_bilinear_u8(src: &[u8], [sh, sw]: [usize; 2], [dh, dw]: [usize; 2]) -> Vec<u8> {
    let mut rows = src.to_vec();
    if sw != dw {
        let windows = pil_windows(sw, dw);
        rows = vec![0u8; sh * dw];
        for y in 0..sh {
            let line = &src[y * sw..(y + 1) * sw];
            for (x, window) in windows.iter().enumerate() {
                rows[y * dw + x] = pil_pass(|i| line[i], window);
            }
        }
    }
    if sh == dh {
        return rows;
    }
    let windows = pil_windows(sh, dh);
    let mut out = vec![0u8; dh * dw];
    for (y, window) in windows.iter().enumerate() {
        for x in 0..dw {
            out[y * dw + x] = pil_pass(|i| rows[i * dw + x], window);
        }
    }
    out
}

/// The size after resizing the shorter side of `[height, width]` to `shorter`, keeping the
/// aspect ratio with the longer side truncated, as torchvision's `Resize(int)` computes it.
pub(crate) fn shorter_side_size([h, w]: [usize; 2], shorter: usize) -> [usize; 2] {
    if w <= h {
        [shorter * h / w, shorter]
    } else {
        [shorter, shorter * w / h]
    }
}

/// Offset of a centre crop of `crop` from `len` along one axis: torchvision's
/// `int(round((len - crop) / 2))` (Python rounds halves to even), negative when the crop is
/// larger and the image is padded.
fn crop_offset(len: usize, crop: usize) -> isize {
    let diff = len as isize - crop as isize;
    if diff < 0 {
        return -((-diff) / 2);
    }
    let half = diff / 2;
    if diff % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// Centre crop of a `[height, width]` plane to `crop`, zeros where the crop leaves the image.
pub(crate) fn centre_crop(src: &[u8], [h, w]: [usize; 2], crop: [usize; 2]) -> Vec<u8> {
    let (top, left) = (crop_offset(h, crop[0]), crop_offset(w, crop[1]));
    let mut dst = vec![0u8; crop[0] * crop[1]];
    for y in 0..crop[0] {
        let sy = y as isize + top;
        if !(0..h as isize).contains(&sy) {
            continue;
        }
        for x in 0..crop[1] {
            let sx = x as isize + left;
            if (0..w as isize).contains(&sx) {
                dst[y * crop[1] + x] = src[sy as usize * w + sx as usize];
            }
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_keeps_the_aspect_ratio_like_torchvision() {
        // torchvision: Resize(256) of a 375x500 (HxW) image gives 256x341.
        assert_eq!(shorter_side_size([375, 500], 256), [256, 341]);
        assert_eq!(shorter_side_size([500, 375], 256), [341, 256]);
        assert_eq!(shorter_side_size([10, 10], 4), [4, 4]);
    }

    #[test]
    fn centre_crop_rounds_halves_to_even_and_pads_with_zeros() {
        assert_eq!(crop_offset(256, 224), 16);
        assert_eq!(crop_offset(5, 4), 0); // round(0.5) == 0
        assert_eq!(crop_offset(7, 4), 2); // round(1.5) == 2
        assert_eq!(crop_offset(2, 4), -1);
        let src: Vec<u8> = (1..=9).collect();
        assert_eq!(centre_crop(&src, [3, 3], [1, 1]), vec![5]);
        assert_eq!(
            centre_crop(&[1, 2, 3, 4], [2, 2], [4, 4]),
            vec![0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn upscaling_by_two_interpolates_between_centres() {
        // A 1x2 row [0, 4] becomes [0, 1, 3, 4] at width 4 (PyTorch gives the same).
        let mut dst = [0f32; 4];
        bilinear(&[0.0, 4.0], [1, 2], &mut dst, [1, 4]);
        assert_eq!(dst, [0.0, 1.0, 3.0, 4.0]);
    }

    #[test]
    fn downscaling_by_two_averages_pairs() {
        let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut dst = [0f32; 4];
        bilinear(&src, [4, 4], &mut dst, [2, 2]);
        // Each output pixel is the mean of a 2x2 block.
        assert_eq!(dst, [2.5, 4.5, 10.5, 12.5]);
    }
}
