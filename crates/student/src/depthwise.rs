//! The depthwise 3x3 convolution of the MobileNet students (one group per channel, padding 1,
//! stride 1 or 2, no bias, NCHW f32) and its gradients: the kernels of
//! `ConvKind::Depthwise` (the op itself is in `conv.rs`).
//!
//! Why: a depthwise convolution is nine multiply-adds per output, too little work for a
//! GEMM; burn-flex runs it as a grouped convolution, through channels-last copies and one
//! small product per group. Here every plane is done in place: the forward and the input
//! gradient plane by plane (in parallel), the weight gradient channel by channel, its sum
//! over the samples in order, so training stays bit-for-bit reproducible.

use std::ops::Range;

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

use crate::conv::Geometry;
use crate::flex_buf::{contiguous_f32, dims4, slice, tensor};

/// Every tap's row pairs of a 3x3 geometry: `f(tap, oy, iy, ox range, first ix)` with
/// `tap = kh*3 + kw`, as [`Geometry::tap_rows`] gives them per tap.
fn for_each_row(g: &Geometry, mut f: impl FnMut(usize, usize, usize, Range<usize>, usize)) {
    for kh in 0..3 {
        for kw in 0..3 {
            g.tap_rows(kh, kw, |oy, iy, cols, first_ix| {
                f(kh * 3 + kw, oy, iy, cols, first_ix)
            });
        }
    }
}

/// The batch and the 3x3 geometry of `x`'s planes at `stride`.
fn shapes(x: &FlexTensor, stride: usize) -> (usize, Geometry) {
    let [n, c, h, w] = dims4(x);
    (n, Geometry::new([c, h, w], 3, stride))
}

pub fn forward(x: &FlexTensor, weight: &FlexTensor, stride: usize) -> FlexTensor {
    let (x, weight) = (
        contiguous_f32(x, "depthwise"),
        contiguous_f32(weight, "depthwise"),
    );
    let (n, g) = shapes(&x, stride);
    assert_eq!(
        dims4(&weight),
        [g.ci, 1, 3, 3],
        "depthwise: bad weight shape"
    );
    let (xs, ws, p, q, c) = (slice(&x), slice(&weight), g.p_in(), g.p_out(), g.ci);
    let mut out = vec![0f32; n * c * q];
    out.par_chunks_mut(q).enumerate().for_each(|(plane, y)| {
        let (x, wt) = (&xs[plane * p..][..p], &ws[(plane % c) * 9..][..9]);
        for_each_row(&g, |tap, oy, iy, cols, ix| {
            let (wv, len) = (wt[tap], cols.len());
            let (src, dst) = (&x[iy * g.w + ix..], &mut y[oy * g.ow + cols.start..][..len]);
            for (d, s) in dst.iter_mut().zip(src.iter().step_by(g.stride)) {
                *d += wv * s;
            }
        });
    });
    tensor(out, [n, c, g.oh, g.ow])
}

/// The adjoint of the forward, plane by plane: `dx[iy, ix] += w[tap] * dy[oy, ox]`.
pub fn grad_input(
    grad_out: &FlexTensor,
    weight: &FlexTensor,
    x: &FlexTensor,
    stride: usize,
) -> FlexTensor {
    let (dy, weight) = (
        contiguous_f32(grad_out, "depthwise"),
        contiguous_f32(weight, "depthwise"),
    );
    let (n, g) = shapes(x, stride);
    let (dys, ws, p, q, c) = (slice(&dy), slice(&weight), g.p_in(), g.p_out(), g.ci);
    let mut dx = vec![0f32; n * c * p];
    dx.par_chunks_mut(p).enumerate().for_each(|(plane, dx)| {
        let (dy, wt) = (&dys[plane * q..][..q], &ws[(plane % c) * 9..][..9]);
        for_each_row(&g, |tap, oy, iy, cols, ix| {
            let (wv, len) = (wt[tap], cols.len());
            let src = &dy[oy * g.ow + cols.start..][..len];
            let dst = dx[iy * g.w + ix..].iter_mut().step_by(g.stride);
            for (d, s) in dst.zip(src) {
                *d += wv * s;
            }
        });
    });
    tensor(dx, [n, c, g.h, g.w])
}

/// `dw[c, tap] = Σ_n Σ dy[n, c, oy, ox] * x[n, c, iy, ix]`, channel by channel, over the
/// samples in order (f32 within a plane, f64 across planes).
pub fn grad_weight(grad_out: &FlexTensor, x: &FlexTensor, stride: usize) -> FlexTensor {
    let (dy, x) = (
        contiguous_f32(grad_out, "depthwise"),
        contiguous_f32(x, "depthwise"),
    );
    let (n, g) = shapes(&x, stride);
    let (dys, xs, p, q, c) = (slice(&dy), slice(&x), g.p_in(), g.p_out(), g.ci);
    let dw: Vec<[f32; 9]> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mut acc = [0f64; 9];
            for i in 0..n {
                let plane = i * c + ch;
                let (x, dy) = (&xs[plane * p..][..p], &dys[plane * q..][..q]);
                let mut sums = [0f32; 9];
                for_each_row(&g, |tap, oy, iy, cols, ix| {
                    let src = &dy[oy * g.ow + cols.start..][..cols.len()];
                    let inp = x[iy * g.w + ix..].iter().step_by(g.stride);
                    sums[tap] += src.iter().zip(inp).map(|(a, b)| a * b).sum::<f32>();
                });
                acc.iter_mut().zip(sums).for_each(|(a, s)| *a += s as f64);
            }
            acc.map(|v| v as f32)
        })
        .collect();
    tensor(dw.concat(), [c, 1, 3, 3])
}
