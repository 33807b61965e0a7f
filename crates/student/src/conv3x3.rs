//! The 3x3 convolution of the conv blocks (stride 1, padding 1, no bias, NCHW, f32) with
//! a handwritten backward, as a burn backend extension on Flex and `Autodiff<Flex>`.
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
//    `impl Conv3x3Backend for burn::backend::Dispatch`, routing to `Flex` or to
//    `Autodiff<Flex, NoCheckpointing | BalancedCheckpointing>` at run time.
// ---------------------------------------------------------------------------------------------
#[backend_extension(Flex, Autodiff)]
pub trait Conv3x3Backend: Backend {
    /// x `[N, Ci, H, W]`, weight `[Co, Ci, 3, 3]` -> `[N, Co, H, W]`.
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

// 2. Concrete backend: plain Flex tensors (inference, `model.valid()`).
impl Conv3x3Backend for Flex {
    fn conv3x3(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        kernels::forward(&x, &weight)
    }
}

// 3. The backward step. State = the forward inputs (O(1) Arc clones of the Flex buffers).
#[derive(Debug)]
struct Conv3x3Backward;

impl Backward<Flex, 2> for Conv3x3Backward {
    type State = (FlexTensor, FlexTensor); // (x, weight)

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents; // None = that input doesn't need a gradient
        let grad_out = grads.consume::<Flex>(&ops.node);
        let (x, weight) = ops.state;

        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, kernels::grad_input(&grad_out, &weight, &x));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, kernels::grad_weight(&grad_out, &x));
        }
    }
}

// 4. Autodiff: record the op in the graph with our backward. Generic over the checkpoint
//    strategy because the generated dispatch instantiates both strategies.
impl<C: CheckpointStrategy> Conv3x3Backend for Autodiff<Flex, C> {
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        // Take the node guards before consuming the primitives.
        let (x, x_node) = x.into_parts();
        let (weight, w_node) = weight.into_parts();

        match Conv3x3Backward
            .prepare::<C>([x_node, w_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = kernels::forward(&x, &weight);
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(kernels::forward(&x, &weight)),
        }
    }
}

// 5. Backend-free wrapper used by the model. Falls back to burn's conv2d off Flex (CUDA,
//    the ONNX exporter's capture device, non-f32), where the extension has no implementation.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    if x.device() != Device::flex() || x.dtype() != DType::F32 {
        return conv2d(x, weight, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    }
    Tensor::from_dispatch(Dispatch::conv3x3(x.into_dispatch(), weight.into_dispatch()))
}

// ---------------------------------------------------------------------------------------------
// Kernels on raw f32 buffers: im2col + gemm (forward, weight grad), gemm + col2im (input grad).
// ---------------------------------------------------------------------------------------------
mod kernels {
    use burn::backend::flex::FlexTensor;
    use rayon::prelude::*;

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

    /// One sample `[ci, h, w]` -> `col[ci*9, h*w]`, row `(c*3 + kh)*3 + kw` starting at
    /// `row * stride` (a block of samples side by side), zero padding 1. Each row is one
    /// shifted copy of its input plane.
    fn im2col(x: &[f32], ci: usize, h: usize, w: usize, col: &mut [f32], stride: usize) {
        let p = h * w;
        for c in 0..ci {
            let plane = &x[c * p..(c + 1) * p];
            for kh in 0..3 {
                for kw in 0..3 {
                    let row = &mut col[(c * 9 + kh * 3 + kw) * stride..][..p];
                    let (d, lo, hi) = tap(kh, kw, h, w);
                    row[..lo].fill(0.0);
                    if lo < hi {
                        let from = (lo as isize + d) as usize;
                        row[lo..hi].copy_from_slice(&plane[from..from + (hi - lo)]);
                    }
                    row[hi..].fill(0.0);
                    zero_wrapped(row, kw, w);
                }
            }
        }
    }

    /// Adjoint of `im2col`: `dx[ci, h, w] = scatter-add of col[ci*9, h*w]`, rows `stride`
    /// apart (`col` is used as scratch: its wrapped positions are zeroed).
    fn col2im(col: &mut [f32], stride: usize, ci: usize, h: usize, w: usize, dx: &mut [f32]) {
        let p = h * w;
        dx.fill(0.0);
        for c in 0..ci {
            let plane = &mut dx[c * p..(c + 1) * p];
            for kh in 0..3 {
                for kw in 0..3 {
                    let row = &mut col[(c * 9 + kh * 3 + kw) * stride..][..p];
                    zero_wrapped(row, kw, w);
                    let (d, lo, hi) = tap(kh, kw, h, w);
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

    /// Samples per block: the block's columns (`k x block*p`) stay near a million values.
    /// It depends on the shapes only, so the order of every sum is fixed.
    fn block(k: usize, p: usize) -> usize {
        ((1 << 20) / (k * p).max(1)).clamp(1, 16)
    }

    /// The columns of samples `first..first + s` side by side: `col[k, s*p]`.
    fn im2col_block(xs: &[f32], first: usize, s: usize, dims: [usize; 3], col: &mut [f32]) {
        let [ci, h, w] = dims;
        let p = h * w;
        for j in 0..s {
            let x = &xs[(first + j) * ci * p..(first + j + 1) * ci * p];
            im2col(x, ci, h, w, &mut col[j * p..], s * p);
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

    /// Per block of `s` samples: `Y (Co x s*P) = W (Co x K) * col (K x s*P)`, K = Ci*9,
    /// P = H*W, scattered back to NCHW. One GEMM per block packs the weight once.
    pub fn forward(x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
        let (x, weight) = (
            contiguous_f32(x, "conv3x3"),
            contiguous_f32(weight, "conv3x3"),
        );
        let [n, ci, h, w] = dims(&x);
        let [co, ci_w, kh, kw] = dims(&weight);
        assert!(
            ci == ci_w && kh == 3 && kw == 3,
            "conv3x3: bad weight shape"
        );
        let (p, k) = (h * w, ci * 9);
        let (xs, ws) = (slice(&x), slice(&weight));
        let bs = block(k, p);

        let mut out = vec![0f32; n * co * p];
        out.par_chunks_mut(bs * co * p)
            .enumerate()
            .for_each(|(b, y)| {
                let s = y.len() / (co * p);
                with_scratch(k * s * p + co * s * p, |buf| {
                    let (col, yb) = buf.split_at_mut(k * s * p);
                    im2col_block(xs, b * bs, s, [ci, h, w], col);
                    // SAFETY: yb is Co x s*P, the weight Co x K, col K x s*P.
                    unsafe {
                        sgemm(
                            co,
                            s * p,
                            k,
                            yb.as_mut_ptr(),
                            s * p,
                            false,
                            ws.as_ptr(),
                            1,
                            k,
                            col.as_ptr(),
                            1,
                            s * p,
                        )
                    }
                    scatter(yb, s, co, p, y);
                })
            });
        tensor(out, [n, co, h, w])
    }

    /// Per block: `dcol (K x s*P) = W^T (K x Co) * dy (Co x s*P)`, then `dx = col2im(dcol)`
    /// sample by sample.
    pub fn grad_input(grad_out: &FlexTensor, weight: &FlexTensor, x: &FlexTensor) -> FlexTensor {
        let (dy, weight) = (
            contiguous_f32(grad_out, "conv3x3"),
            contiguous_f32(weight, "conv3x3"),
        );
        let [n, ci, h, w] = dims(x);
        let co = dims(&weight)[0];
        let (p, k) = (h * w, ci * 9);
        let (dys, ws) = (slice(&dy), slice(&weight));
        let bs = block(k, p);

        let mut dx = vec![0f32; n * ci * p];
        dx.par_chunks_mut(bs * ci * p)
            .enumerate()
            .for_each(|(b, dx_b)| {
                let s = dx_b.len() / (ci * p);
                with_scratch(k * s * p + co * s * p, |buf| {
                    let (dcol, dyb) = buf.split_at_mut(k * s * p);
                    gather(&dys[b * bs * co * p..], s, co, p, dyb);
                    // W^T element (row kk, col c_o) sits at W[c_o*K + kk]: col stride K, row stride 1.
                    // SAFETY: dcol is K x s*P, the weight Co x K, dyb Co x s*P.
                    unsafe {
                        sgemm(
                            k,
                            s * p,
                            co,
                            dcol.as_mut_ptr(),
                            s * p,
                            false,
                            ws.as_ptr(),
                            k,
                            1,
                            dyb.as_ptr(),
                            1,
                            s * p,
                        )
                    }
                    for (j, dx_n) in dx_b.chunks_mut(ci * p).enumerate() {
                        col2im(&mut dcol[j * p..], s * p, ci, h, w, dx_n);
                    }
                })
            });
        tensor(dx, [n, ci, h, w])
    }

    /// `dW (Co x K) = sum over blocks of dy (Co x s*P) * col^T (s*P x K)`: one GEMM per
    /// block, the blocks summed in order, so the sum is the same whatever the threads do.
    pub fn grad_weight(grad_out: &FlexTensor, x: &FlexTensor) -> FlexTensor {
        let (dy, x) = (
            contiguous_f32(grad_out, "conv3x3"),
            contiguous_f32(x, "conv3x3"),
        );
        let [n, ci, h, w] = dims(&x);
        let co = dims(&dy)[1];
        let (p, k) = (h * w, ci * 9);
        let (dys, xs) = (slice(&dy), slice(&x));
        let bs = block(k, p);
        let blocks: Vec<Vec<f32>> = (0..n.div_ceil(bs))
            .into_par_iter()
            .map(|b| {
                let (first, s) = (b * bs, bs.min(n - b * bs));
                let mut acc = vec![0f32; co * k];
                with_scratch(k * s * p + co * s * p, |buf| {
                    let (col, dyb) = buf.split_at_mut(k * s * p);
                    im2col_block(xs, first, s, [ci, h, w], col);
                    gather(&dys[first * co * p..], s, co, p, dyb);
                    // col^T element (row m, col kk) sits at col[kk*s*P + m]: column stride
                    // s*P, row stride 1.
                    // SAFETY: acc is Co x K, dyb Co x s*P, col K x s*P.
                    unsafe {
                        sgemm(
                            co,
                            k,
                            s * p,
                            acc.as_mut_ptr(),
                            k,
                            false,
                            dyb.as_ptr(),
                            1,
                            s * p,
                            col.as_ptr(),
                            s * p,
                            1,
                        )
                    }
                });
                acc
            })
            .collect();
        let mut dw = vec![0f32; co * k];
        for acc in blocks {
            dw.iter_mut().zip(&acc).for_each(|(d, a)| *d += *a);
        }
        tensor(dw, [co, ci, 3, 3])
    }
}

#[cfg(test)]
mod tests {
    use super::conv3x3;
    use burn::tensor::{Device, Distribution, Tensor, Tolerance, module::conv2d, ops::ConvOptions};

    #[test]
    fn matches_burn_conv2d_forward_and_backward() {
        // Odd sizes, planes of one row or column (every padding edge and wrapped column), and
        // more samples than one block holds (19 = 16 + a short last block).
        for (n, ci, co, h, w) in [
            (2, 3, 4, 5, 7),
            (1, 2, 3, 1, 1),
            (2, 1, 2, 2, 3),
            (1, 2, 2, 3, 1),
            (19, 2, 3, 4, 5),
        ] {
            check(n, ci, co, h, w);
        }
    }

    fn check(n: usize, ci: usize, co: usize, h: usize, w: usize) {
        let dev = Device::flex().autodiff();
        let x = Tensor::<4>::random([n, ci, h, w], Distribution::Default, &dev).require_grad();
        let weight =
            Tensor::<4>::random([co, ci, 3, 3], Distribution::Default, &dev).require_grad();
        let up = Tensor::<4>::random([n, co, h, w], Distribution::Default, &dev); // upstream grad
        let w = weight;

        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let y_ref = conv2d(x.clone(), w.clone(), None, opts);
        let g_ref = (y_ref.clone() * up.clone()).sum().backward();

        let (x2, w2) = (
            x.clone().detach().require_grad(),
            w.clone().detach().require_grad(),
        );
        let y = conv3x3(x2.clone(), w2.clone());
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
            .assert_approx_eq::<f32>(&w.grad(&g_ref).unwrap().into_data(), tol);
    }
}
