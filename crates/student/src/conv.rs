//! The convolutions of the students (dense 3x3 padded by 1 or 1x1, and depthwise 3x3;
//! stride 1 or 2; no bias; NCHW f32) with a handwritten backward, as one burn backend
//! extension on Flex and `Autodiff<Flex>`. The dense kernels are here, the depthwise ones
//! in `depthwise.rs`.
//!
//! Why: burn-flex runs every convolution through a channels-last copy of its input, and
//! computes the weight gradient as a convolution with batch and channels swapped (several
//! more copies and GEMMs only 9 columns wide). Here, per block of up to 16 samples laid side
//! by side, the forward is one im2col and one GEMM straight from NCHW, the input gradient one
//! GEMM and a col2im, and the weight gradient one GEMM. The blocks are fixed by the shapes
//! (not by rayon's adaptive splits) and the weight gradients of the blocks are summed in
//! order, so training stays bit-for-bit reproducible.
//! Off Flex (CUDA, the ONNX exporter's capture device) burn's own `conv2d` runs instead, so
//! exported models hold a plain `Conv`.

use crate::depthwise;

use burn::backend::{
    Backend, Dispatch, Flex,
    autodiff::{
        Autodiff,
        checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
        grads::Gradients,
        ops::{Backward, Ops, OpsKind},
    },
    backend_extension,
    flex::FlexTensor,
    tensor::FloatTensor,
};
use burn::tensor::{DType, Device, Tensor, module::conv2d, ops::ConvOptions};

// ---------------------------------------------------------------------------------------------
// 1. The extension trait. The macro re-emits the trait and generates
//    `impl StudentConvBackend for burn::backend::Dispatch`, routing to `Flex` or to
//    `Autodiff<Flex, NoCheckpointing | BalancedCheckpointing>` at run time.
// ---------------------------------------------------------------------------------------------
/// Which convolution the op computes (no bias, NCHW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Weight `[Co, Ci, K, K]`, K = 1 or 3, padding K / 2, one group.
    Dense {
        /// 1 or 2.
        stride: usize,
    },
    /// Weight `[C, 1, 3, 3]`, padding 1, one group per channel.
    Depthwise {
        /// 1 or 2.
        stride: usize,
    },
}

#[backend_extension(Flex, Autodiff)]
pub trait StudentConvBackend: Backend {
    /// x `[N, Ci, H, W]` -> `[N, Co, H', W']`, `H' = (H - 1) / stride + 1`.
    fn student_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        kind: ConvKind,
    ) -> FloatTensor<Self>;
}

/// The forward, input gradient and weight gradient of either kind, on Flex tensors.
fn forward(x: &FlexTensor, weight: &FlexTensor, kind: ConvKind) -> FlexTensor {
    match kind {
        ConvKind::Dense { stride } => kernels::forward(x, weight, stride),
        ConvKind::Depthwise { stride } => depthwise::forward(x, weight, stride),
    }
}

fn grad_input(dy: &FlexTensor, weight: &FlexTensor, x: &FlexTensor, kind: ConvKind) -> FlexTensor {
    match kind {
        ConvKind::Dense { stride } => kernels::grad_input(dy, weight, x, stride),
        ConvKind::Depthwise { stride } => depthwise::grad_input(dy, weight, x, stride),
    }
}

fn grad_weight(dy: &FlexTensor, x: &FlexTensor, weight: &FlexTensor, kind: ConvKind) -> FlexTensor {
    match kind {
        ConvKind::Dense { stride } => kernels::grad_weight(dy, x, weight, stride),
        ConvKind::Depthwise { stride } => depthwise::grad_weight(dy, x, stride),
    }
}

// 2. Concrete backend: plain Flex tensors (inference, `model.valid()`).
impl StudentConvBackend for Flex {
    fn student_conv(x: FlexTensor, weight: FlexTensor, kind: ConvKind) -> FlexTensor {
        forward(&x, &weight, kind)
    }
}

// 3. The backward step. State = the forward inputs (O(1) Arc clones of the Flex buffers).
#[derive(Debug)]
struct StudentConvBackward;

impl Backward<Flex, 2> for StudentConvBackward {
    type State = (FlexTensor, FlexTensor, ConvKind); // (x, weight, kind)

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents; // None = that input doesn't need a gradient
        let grad_out = grads.consume::<Flex>(&ops.node);
        let (x, weight, kind) = ops.state;

        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, grad_input(&grad_out, &weight, &x, kind));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, grad_weight(&grad_out, &x, &weight, kind));
        }
    }
}

// 4. Autodiff: record the op in the graph with our backward. Generic over the checkpoint
//    strategy because the generated dispatch instantiates both strategies.
impl<C: CheckpointStrategy> StudentConvBackend for Autodiff<Flex, C> {
    fn student_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        kind: ConvKind,
    ) -> FloatTensor<Self> {
        // Take the node guards before consuming the primitives.
        let (x, x_node) = x.into_parts();
        let (weight, w_node) = weight.into_parts();

        match StudentConvBackward
            .prepare::<C>([x_node, w_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = forward(&x, &weight, kind);
                prep.finish((x, weight, kind), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&x, &weight, kind)),
        }
    }
}

/// Whether `kind` computes a convolution of this shape (the padding being half the kernel,
/// no bias), and so can stand in for it.
pub fn conv_kind(
    kernel: [usize; 2],
    stride: [usize; 2],
    groups: usize,
    channels: [usize; 2],
) -> Option<ConvKind> {
    let [s, s2] = stride;
    if s != s2 || !matches!(s, 1 | 2) {
        return None;
    }
    match kernel {
        [1, 1] | [3, 3] if groups == 1 => Some(ConvKind::Dense { stride: s }),
        [3, 3] if channels[0] == channels[1] && groups == channels[0] => {
            Some(ConvKind::Depthwise { stride: s })
        }
        _ => None,
    }
}

// 5. Backend-free wrapper used by the models. Falls back to burn's conv2d off Flex (CUDA,
//    the ONNX exporter's capture device, non-f32), where the extension has no implementation.
pub fn conv_as(x: Tensor<4>, weight: Tensor<4>, kind: ConvKind) -> Tensor<4> {
    if x.device() != Device::flex() || x.dtype() != DType::F32 {
        let [co, _, k, _] = weight.dims();
        let (pad, (stride, groups)) = match kind {
            ConvKind::Dense { stride } => (k / 2, (stride, 1)),
            ConvKind::Depthwise { stride } => (1, (stride, co)),
        };
        let opts = ConvOptions::new([stride, stride], [pad, pad], [1, 1], groups);
        return conv2d(x, weight, None, opts);
    }
    Tensor::from_dispatch(Dispatch::student_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        kind,
    ))
}

/// The dense convolution at `stride` (weight `[Co, Ci, K, K]`, K = 1 or 3).
pub fn conv(x: Tensor<4>, weight: Tensor<4>, stride: usize) -> Tensor<4> {
    conv_as(x, weight, ConvKind::Dense { stride })
}

/// One convolution's shape: `ci` input planes of `h x w`, a `k x k` kernel padded by
/// `k / 2`, a stride, and the output plane `oh x ow` that follows.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) ci: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) k: usize,
    pub(crate) stride: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
}

impl Geometry {
    pub(crate) fn new([ci, h, w]: [usize; 3], k: usize, stride: usize) -> Geometry {
        assert!(
            matches!(k, 1 | 3) && stride >= 1,
            "conv: {k}x{k} stride {stride}"
        );
        let out = |n: usize| (n - 1) / stride + 1;
        let (oh, ow) = (out(h), out(w));
        Geometry {
            ci,
            h,
            w,
            k,
            stride,
            oh,
            ow,
        }
    }

    pub(crate) fn p_in(&self) -> usize {
        self.h * self.w
    }

    pub(crate) fn p_out(&self) -> usize {
        self.oh * self.ow
    }

    /// The rows of the im2col matrix: one per input channel and kernel tap.
    fn rows(&self) -> usize {
        self.ci * self.k * self.k
    }

    /// 3x3 at stride 1: every im2col row is one shifted copy of its input plane.
    fn shifted(&self) -> bool {
        self.k == 3 && self.stride == 1
    }

    /// For tap `(kh, kw)`: `f(oy, iy, ox range, first ix)` for each output row `oy` whose
    /// input row `iy = oy*stride + kh - pad` is in the plane, with the output columns whose
    /// input column `ox*stride + kw - pad` is (the first reads input column `first ix`, each
    /// next one `stride` further). Whole ranges, no test per position: the gathering im2col,
    /// its adjoint and the depthwise kernels walk their planes with it.
    pub(crate) fn tap_rows(
        &self,
        kh: usize,
        kw: usize,
        mut f: impl FnMut(usize, usize, std::ops::Range<usize>, usize),
    ) {
        let (s, pad) = (self.stride, self.k / 2);
        // ox*s + kw - pad >= 0, and < w.
        let lo = pad.saturating_sub(kw).div_ceil(s);
        let hi = (self.w + pad - kw).div_ceil(s).min(self.ow);
        if lo >= hi {
            return;
        }
        let first_ix = lo * s + kw - pad;
        for oy in 0..self.oh {
            if let Some(iy) = (oy * s + kh).checked_sub(pad).filter(|&iy| iy < self.h) {
                f(oy, iy, lo..hi, first_ix);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels on raw f32 buffers: im2col + gemm (forward, weight grad), gemm + col2im (input grad).
// ---------------------------------------------------------------------------------------------
mod kernels {
    use burn::backend::flex::FlexTensor;
    use rayon::prelude::*;

    use super::Geometry;
    use crate::flex_buf::{contiguous_f32, dims4 as dims, slice, tensor, with_scratch};

    /// # Safety
    /// `dst` must hold `m x n` values at row stride `dst_rs`, `a` `m x k` and `b` `k x n`
    /// values at the strides given.
    ///
    /// `dst[m x n]` (row-major, row stride `dst_rs`) `= (accumulate ? dst : 0) + A * B`,
    /// A and B described by (column stride, row stride).
    #[allow(clippy::too_many_arguments)]
    unsafe fn sgemm(
        m: usize,
        n: usize,
        k: usize,
        dst: *mut f32,
        dst_rs: usize,
        accumulate: bool,
        a: *const f32,
        a_cs: usize,
        a_rs: usize,
        b: *const f32,
        b_cs: usize,
        b_rs: usize,
    ) {
        // gemm 0.19: dst := alpha*dst + beta*lhs*rhs (alpha only read when read_dst).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                dst_rs as isize,
                accumulate,
                a,
                a_cs as isize,
                a_rs as isize,
                b,
                b_cs as isize,
                b_rs as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }

    /// Tap `(kh, kw)` of a `h x w` plane as one shift of the flattened plane: output position
    /// `q` reads input `q + d`. Returns `d` and the range of `q` whose `q + d` lies in the plane
    /// (rows above and below are padding); columns that wrap around are handled by the caller.
    fn tap(kh: usize, kw: usize, h: usize, w: usize) -> (isize, usize, usize) {
        let p = (h * w) as isize;
        let d = (kh as isize - 1) * w as isize + kw as isize - 1;
        let lo = (-d).clamp(0, p);
        let hi = (p - d).clamp(lo, p);
        (d, lo as usize, hi as usize)
    }

    /// The positions of a tap's row whose input column wraps into the neighbouring row (the
    /// left padding column for `kw = 0`, the right one for `kw = 2`): they are zero.
    fn zero_wrapped(row: &mut [f32], kw: usize, w: usize) {
        let first = match kw {
            0 => 0,
            2 => w - 1,
            _ => return,
        };
        row.iter_mut().skip(first).step_by(w).for_each(|v| *v = 0.0);
    }

    /// One sample `[ci, h, w]` -> `col[ci*k*k, oh*ow]`, row `(c*k + kh)*k + kw` starting at
    /// `row * stride` (a block of samples side by side), zero padding.
    fn im2col(x: &[f32], g: &Geometry, col: &mut [f32], stride: usize) {
        let (p, q) = (g.p_in(), g.p_out());
        for c in 0..g.ci {
            let plane = &x[c * p..(c + 1) * p];
            for kh in 0..g.k {
                for kw in 0..g.k {
                    let row = &mut col[((c * g.k + kh) * g.k + kw) * stride..][..q];
                    if g.shifted() {
                        let (d, lo, hi) = tap(kh, kw, g.h, g.w);
                        row[..lo].fill(0.0);
                        if lo < hi {
                            let from = (lo as isize + d) as usize;
                            row[lo..hi].copy_from_slice(&plane[from..from + (hi - lo)]);
                        }
                        row[hi..].fill(0.0);
                        zero_wrapped(row, kw, g.w);
                        continue;
                    }
                    // A 1x1 kernel reads inside the plane everywhere: nothing to pad.
                    if g.k > 1 {
                        row.fill(0.0);
                    }
                    g.tap_rows(kh, kw, |oy, iy, cols, first_ix| {
                        let input = &plane[iy * g.w + first_ix..];
                        let out = &mut row[oy * g.ow..];
                        for (j, ox) in cols.enumerate() {
                            out[ox] = input[j * g.stride];
                        }
                    });
                }
            }
        }
    }

    /// Adjoint of `im2col`: `dx[ci, h, w] = scatter-add of col[ci*k*k, oh*ow]`, rows `stride`
    /// apart (`col` is used as scratch: its wrapped positions are zeroed).
    fn col2im(col: &mut [f32], stride: usize, g: &Geometry, dx: &mut [f32]) {
        let (p, q) = (g.p_in(), g.p_out());
        dx.fill(0.0);
        for c in 0..g.ci {
            let plane = &mut dx[c * p..(c + 1) * p];
            for kh in 0..g.k {
                for kw in 0..g.k {
                    let row = &mut col[((c * g.k + kh) * g.k + kw) * stride..][..q];
                    if !g.shifted() {
                        g.tap_rows(kh, kw, |oy, iy, cols, first_ix| {
                            let input = &mut plane[iy * g.w + first_ix..];
                            let out = &row[oy * g.ow..];
                            for (j, ox) in cols.enumerate() {
                                input[j * g.stride] += out[ox];
                            }
                        });
                        continue;
                    }
                    zero_wrapped(row, kw, g.w);
                    let (d, lo, hi) = tap(kh, kw, g.h, g.w);
                    if lo == hi {
                        continue;
                    }
                    let from = (lo as isize + d) as usize;
                    let dst = &mut plane[from..from + (hi - lo)];
                    for (d, s) in dst.iter_mut().zip(&row[lo..hi]) {
                        *d += *s;
                    }
                }
            }
        }
    }

    /// Samples per block: the block's columns (`rows x block*q`) stay near a million values.
    /// It depends on the shapes only, so the order of every sum is fixed.
    fn block(g: &Geometry) -> usize {
        ((1 << 20) / (g.rows() * g.p_out()).max(1)).clamp(1, 16)
    }

    /// The columns of samples `first..first + s` side by side: `col[rows, s*q]`.
    fn im2col_block(xs: &[f32], first: usize, s: usize, g: &Geometry, col: &mut [f32]) {
        let (p, q) = (g.ci * g.p_in(), g.p_out());
        for j in 0..s {
            let x = &xs[(first + j) * p..(first + j + 1) * p];
            im2col(x, g, &mut col[j * q..], s * q);
        }
    }

    /// `[s, c, p]` (NCHW samples) <-> `[c, s*p]` (channels, samples side by side).
    fn gather(nchw: &[f32], s: usize, c: usize, p: usize, out: &mut [f32]) {
        for j in 0..s {
            for ch in 0..c {
                out[ch * s * p + j * p..][..p].copy_from_slice(&nchw[(j * c + ch) * p..][..p]);
            }
        }
    }

    fn scatter(blocked: &[f32], s: usize, c: usize, p: usize, nchw: &mut [f32]) {
        for j in 0..s {
            for ch in 0..c {
                nchw[(j * c + ch) * p..][..p].copy_from_slice(&blocked[ch * s * p + j * p..][..p]);
            }
        }
    }

    /// The geometry of `x` convolved with `weight` at `stride`, and the output channels.
    fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize) -> (Geometry, usize) {
        let [_, ci, h, w] = dims(x);
        let [co, ci_w, kh, kw] = dims(weight);
        assert!(ci == ci_w && kh == kw, "conv: bad weight shape");
        (Geometry::new([ci, h, w], kh, stride), co)
    }

    /// Per block of `s` samples: `Y (Co x s*Q) = W (Co x R) * col (R x s*Q)`, R = Ci*K*K,
    /// Q = H'*W', scattered back to NCHW. One GEMM per block packs the weight once.
    pub fn forward(x: &FlexTensor, weight: &FlexTensor, stride: usize) -> FlexTensor {
        let (x, weight) = (contiguous_f32(x, "conv"), contiguous_f32(weight, "conv"));
        let (g, co) = geometry(&x, &weight, stride);
        let (n, q, r) = (dims(&x)[0], g.p_out(), g.rows());
        let (xs, ws) = (slice(&x), slice(&weight));
        let bs = block(&g);

        let mut out = vec![0f32; n * co * q];
        out.par_chunks_mut(bs * co * q)
            .enumerate()
            .for_each(|(b, y)| {
                let s = y.len() / (co * q);
                with_scratch(r * s * q + co * s * q, |buf| {
                    let (col, yb) = buf.split_at_mut(r * s * q);
                    im2col_block(xs, b * bs, s, &g, col);
                    // SAFETY: yb is Co x s*Q, the weight Co x R, col R x s*Q.
                    unsafe {
                        sgemm(
                            co,
                            s * q,
                            r,
                            yb.as_mut_ptr(),
                            s * q,
                            false,
                            ws.as_ptr(),
                            1,
                            r,
                            col.as_ptr(),
                            1,
                            s * q,
                        )
                    }
                    scatter(yb, s, co, q, y);
                })
            });
        tensor(out, [n, co, g.oh, g.ow])
    }

    /// Per block: `dcol (R x s*Q) = W^T (R x Co) * dy (Co x s*Q)`, then `dx = col2im(dcol)`
    /// sample by sample.
    pub fn grad_input(
        grad_out: &FlexTensor,
        weight: &FlexTensor,
        x: &FlexTensor,
        stride: usize,
    ) -> FlexTensor {
        let (dy, weight) = (
            contiguous_f32(grad_out, "conv"),
            contiguous_f32(weight, "conv"),
        );
        let (g, co) = geometry(x, &weight, stride);
        let (n, p, q, r) = (dims(x)[0], g.p_in(), g.p_out(), g.rows());
        let (dys, ws) = (slice(&dy), slice(&weight));
        let bs = block(&g);

        let mut dx = vec![0f32; n * g.ci * p];
        dx.par_chunks_mut(bs * g.ci * p)
            .enumerate()
            .for_each(|(b, dx_b)| {
                let s = dx_b.len() / (g.ci * p);
                with_scratch(r * s * q + co * s * q, |buf| {
                    let (dcol, dyb) = buf.split_at_mut(r * s * q);
                    gather(&dys[b * bs * co * q..], s, co, q, dyb);
                    // W^T element (row rr, col c_o) sits at W[c_o*R + rr]: col stride R, row
                    // stride 1.
                    // SAFETY: dcol is R x s*Q, the weight Co x R, dyb Co x s*Q.
                    unsafe {
                        sgemm(
                            r,
                            s * q,
                            co,
                            dcol.as_mut_ptr(),
                            s * q,
                            false,
                            ws.as_ptr(),
                            r,
                            1,
                            dyb.as_ptr(),
                            1,
                            s * q,
                        )
                    }
                    for (j, dx_n) in dx_b.chunks_mut(g.ci * p).enumerate() {
                        col2im(&mut dcol[j * q..], s * q, &g, dx_n);
                    }
                })
            });
        tensor(dx, [n, g.ci, g.h, g.w])
    }

    /// `dW (Co x R) = sum over blocks of dy (Co x s*Q) * col^T (s*Q x R)`: one GEMM per
    /// block, the blocks summed in order, so the sum is the same whatever the threads do.
    pub fn grad_weight(
        grad_out: &FlexTensor,
        x: &FlexTensor,
        weight: &FlexTensor,
        stride: usize,
    ) -> FlexTensor {
        let (dy, x) = (contiguous_f32(grad_out, "conv"), contiguous_f32(x, "conv"));
        let (g, co) = geometry(&x, weight, stride);
        let (n, q, r) = (dims(&x)[0], g.p_out(), g.rows());
        let (dys, xs) = (slice(&dy), slice(&x));
        let bs = block(&g);
        let blocks: Vec<Vec<f32>> = (0..n.div_ceil(bs))
            .into_par_iter()
            .map(|b| {
                let (first, s) = (b * bs, bs.min(n - b * bs));
                let mut acc = vec![0f32; co * r];
                with_scratch(r * s * q + co * s * q, |buf| {
                    let (col, dyb) = buf.split_at_mut(r * s * q);
                    im2col_block(xs, first, s, &g, col);
                    gather(&dys[first * co * q..], s, co, q, dyb);
                    // col^T element (row m, col rr) sits at col[rr*s*Q + m]: column stride
                    // s*Q, row stride 1.
                    // SAFETY: acc is Co x R, dyb Co x s*Q, col R x s*Q.
                    unsafe {
                        sgemm(
                            co,
                            r,
                            s * q,
                            acc.as_mut_ptr(),
                            r,
                            false,
                            dyb.as_ptr(),
                            1,
                            s * q,
                            col.as_ptr(),
                            s * q,
                            1,
                        )
                    }
                });
                acc
            })
            .collect();
        let mut dw = vec![0f32; co * r];
        for acc in blocks {
            dw.iter_mut().zip(&acc).for_each(|(d, a)| *d += *a);
        }
        tensor(dw, [co, g.ci, g.k, g.k])
    }
}

#[cfg(test)]
mod tests {
    use super::{ConvKind, conv_as};
    use burn::tensor::{Device, Distribution, Tensor, Tolerance, module::conv2d, ops::ConvOptions};

    #[test]
    fn dense_matches_burn_conv2d_forward_and_backward() {
        // Odd sizes, planes of one row or column (every padding edge and wrapped column), and
        // more samples than one block holds (19 = 16 + a short last block); 3x3 and 1x1
        // kernels at strides 1 and 2 (odd planes leave a last output on the edge).
        for (k, stride) in [(3, 1), (3, 2), (1, 1), (1, 2)] {
            for (n, ci, co, h, w) in [
                (2, 3, 4, 5, 7),
                (1, 2, 3, 1, 1),
                (2, 1, 2, 2, 3),
                (1, 2, 2, 3, 1),
                (19, 2, 3, 4, 5),
            ] {
                let opts = ConvOptions::new([stride, stride], [k / 2, k / 2], [1, 1], 1);
                check(
                    [n, ci, h, w],
                    [co, ci, k, k],
                    opts,
                    ConvKind::Dense { stride },
                );
            }
        }
    }

    #[test]
    fn depthwise_matches_burn_grouped_conv2d_forward_and_backward() {
        // Odd and even planes, planes of one row or column, strides 1 and 2.
        for stride in [1, 2] {
            for (n, c, h, w) in [
                (2, 3, 5, 7),
                (1, 2, 1, 1),
                (3, 4, 2, 3),
                (1, 2, 3, 1),
                (2, 5, 8, 8),
            ] {
                let opts = ConvOptions::new([stride, stride], [1, 1], [1, 1], c);
                check(
                    [n, c, h, w],
                    [c, 1, 3, 3],
                    opts,
                    ConvKind::Depthwise { stride },
                );
            }
        }
    }

    /// Our op of `kind` against burn's `conv2d` with `opts`: output, input and weight
    /// gradients.
    fn check(x: [usize; 4], weight: [usize; 4], opts: ConvOptions<2>, kind: ConvKind) {
        let dev = Device::flex().autodiff();
        let x = Tensor::<4>::random(x, Distribution::Default, &dev).require_grad();
        let weight = Tensor::<4>::random(weight, Distribution::Default, &dev).require_grad();
        let y_ref = conv2d(x.clone(), weight.clone(), None, opts);
        let up = Tensor::<4>::random(y_ref.dims(), Distribution::Default, &dev); // upstream grad
        let g_ref = (y_ref.clone() * up.clone()).sum().backward();

        let (x2, w2) = (
            x.clone().detach().require_grad(),
            weight.clone().detach().require_grad(),
        );
        let y = conv_as(x2.clone(), w2.clone(), kind);
        let g = (y.clone() * up).sum().backward();

        let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-4);
        y.into_data()
            .assert_approx_eq::<f32>(&y_ref.into_data(), tol);
        x2.grad(&g)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&x.grad(&g_ref).unwrap().into_data(), tol);
        w2.grad(&g)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&weight.grad(&g_ref).unwrap().into_data(), tol);
    }
}
