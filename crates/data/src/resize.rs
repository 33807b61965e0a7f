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

#[cfg(test)]
mod tests {
    use super::bilinear;

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
