//! The 2x2 max-pool of the conv blocks (stride 2, odd sizes floored, NCHW f32) with its own
//! backward, as a burn backend extension on Flex and `Autodiff<Flex>`.
//!
//! Why: burn-flex pools through its general 3-d pooling with an index tensor (a tenth of a
//! CNN student's training time in a profile). Here the forward is one pass taking the max of
//! each window, and the backward one pass that finds each window's max again (the first of
//! equal values, as the forward) and passes the gradient to it; no index tensor is kept.
//! Off Flex (CUDA, the ONNX exporter's capture device) burn's own `MaxPool2d` runs instead,
//! so exported models hold a plain `MaxPool`.

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
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::{DType, Device, Tensor};

/// 2x2 max-pool with stride 2.
#[backend_extension(Flex, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// x `[N, C, H, W]` -> `[N, C, H / 2, W / 2]` (floored).
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl MaxPool2x2Backend for Flex {
    fn max_pool2x2(x: FlexTensor) -> FlexTensor {
        kernels::forward(&x)
    }
}

/// The backward step; the state is the forward's input.
#[derive(Debug)]
struct MaxPool2x2Backward;

impl Backward<Flex, 1> for MaxPool2x2Backward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, kernels::backward(&grad, &ops.state));
        }
    }
}

impl<C: CheckpointStrategy> MaxPool2x2Backend for Autodiff<Flex, C> {
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, x_node) = x.into_parts();
        match MaxPool2x2Backward
            .prepare::<C>([x_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = kernels::forward(&x);
                prep.finish(x, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(kernels::forward(&x)),
        }
    }
}

/// `pool`'s max-pool of `x`: the kernel above on Flex (f32) when `pool` is the plain 2x2
/// stride-2 pool it implements, else `pool` itself.
pub fn max_pool2x2(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let plain = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && matches!(pool.padding, PaddingConfig2d::Valid)
        && !pool.ceil_mode;
    if !plain || x.device() != Device::flex() || x.dtype() != DType::F32 {
        return pool.forward(x);
    }
    Tensor::from_dispatch(Dispatch::max_pool2x2(x.into_dispatch()))
}

/// Kernels on contiguous NCHW f32 buffers, plane by plane in parallel.
mod kernels {
    use burn::backend::flex::FlexTensor;
    use rayon::prelude::*;

    use crate::flex_buf::{contiguous_f32, dims4, slice, tensor};

    /// Index (0..4, row-major in the window) of the first max of the window at the top-left
    /// input position `at` of a plane `w` wide.
    fn argmax(plane: &[f32], at: usize, w: usize) -> (usize, f32) {
        let window = [plane[at], plane[at + 1], plane[at + w], plane[at + w + 1]];
        let mut best = (0, window[0]);
        for (k, &v) in window.iter().enumerate().skip(1) {
            if v > best.1 {
                best = (k, v);
            }
        }
        best
    }

    pub fn forward(x: &FlexTensor) -> FlexTensor {
        let x = contiguous_f32(x, "max_pool2x2");
        let [n, c, h, w] = dims4(&x);
        let (oh, ow) = (h / 2, w / 2);
        let xs = slice(&x);
        let mut out = vec![0f32; n * c * oh * ow];
        if oh * ow > 0 {
            out.par_chunks_mut(oh * ow).enumerate().for_each(|(i, y)| {
                let plane = &xs[i * h * w..(i + 1) * h * w];
                for r in 0..oh {
                    for col in 0..ow {
                        y[r * ow + col] = argmax(plane, 2 * r * w + 2 * col, w).1;
                    }
                }
            });
        }
        tensor(out, [n, c, oh, ow])
    }

    pub fn backward(grad: &FlexTensor, x: &FlexTensor) -> FlexTensor {
        let (x, dy) = (
            contiguous_f32(x, "max_pool2x2"),
            contiguous_f32(grad, "max_pool2x2"),
        );
        let [n, c, h, w] = dims4(&x);
        let (oh, ow) = (h / 2, w / 2);
        let (xs, dys) = (slice(&x), slice(&dy));
        let mut dx = vec![0f32; n * c * h * w];
        if oh * ow > 0 {
            dx.par_chunks_mut(h * w).enumerate().for_each(|(i, dx)| {
                let plane = &xs[i * h * w..(i + 1) * h * w];
                let g = &dys[i * oh * ow..(i + 1) * oh * ow];
                for r in 0..oh {
                    for col in 0..ow {
                        let at = 2 * r * w + 2 * col;
                        let k = argmax(plane, at, w).0;
                        dx[at + (k / 2) * w + k % 2] = g[r * ow + col];
                    }
                }
            });
        }
        tensor(dx, [n, c, h, w])
    }
}

#[cfg(test)]
mod tests {
    use super::max_pool2x2;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, Distribution, Tensor, Tolerance};

    #[test]
    fn matches_burn_max_pool_forward_and_backward() {
        let pool = MaxPool2dConfig::new([2, 2]).init();
        for [n, c, h, w] in [[2, 3, 6, 4], [1, 2, 7, 5], [1, 1, 3, 3]] {
            let dev = Device::flex().autodiff();
            let x = Tensor::<4>::random([n, c, h, w], Distribution::Default, &dev).require_grad();
            let up = Tensor::<4>::random([n, c, h / 2, w / 2], Distribution::Default, &dev);

            let y_ref = pool.forward(x.clone());
            let g_ref = (y_ref.clone() * up.clone()).sum().backward();
            let x2 = x.clone().detach().require_grad();
            let y = max_pool2x2(&pool, x2.clone());
            let g = (y.clone() * up).sum().backward();

            let tol = Tolerance::<f32>::rel_abs(1e-6, 1e-6);
            y.into_data()
                .assert_approx_eq::<f32>(&y_ref.into_data(), tol);
            x2.grad(&g)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(&x.grad(&g_ref).unwrap().into_data(), tol);
        }
        // Any other pool is left to burn.
        let overlapping = MaxPool2dConfig::new([2, 2]).with_strides([1, 1]).init();
        let x = Tensor::<4>::random([1, 2, 5, 4], Distribution::Default, &Device::flex());
        max_pool2x2(&overlapping, x.clone())
            .into_data()
            .assert_eq(&overlapping.forward(x).into_data(), true);
    }
}
