//! Batch-norm (training mode: the batch's statistics) followed by ReLU, as one custom Flex op
//! with its own backward, on NCHW f32 tensors.
//!
//! Why: burn computes training batch-norm from generic tensor operations, with two
//! channels-first copies of the activation in the forward and two more in the backward, and
//! the ReLU as passes of its own. Here the forward is two passes over the input (statistics,
//! then normalise, scale, shift and clamp) and the backward two (per-channel sums, then the
//! input gradient), straight from NCHW. Every sum runs over a channel in a fixed order, so
//! training stays bit-for-bit reproducible. The module's running statistics are updated as
//! burn's `BatchNorm` updates them (biased variance, its momentum).

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
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::relu;

/// Train-mode batch-norm with ReLU.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormReluBackend: Backend {
    /// x `[N, C, H, W]`, gamma and beta `[C]` -> (`relu(batch_norm(x))` `[N, C, H, W]`, the
    /// batch mean `[C]`, the batch's biased variance `[C]`).
    fn bn_relu_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl BatchNormReluBackend for Flex {
    fn bn_relu_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mean, var) = kernels::statistics(&x);
        let norm = kernels::Norm::new(&gamma, &beta, &mean, &var, epsilon, relu);
        let y = kernels::forward(&x, &norm);
        (y, mean, var)
    }
}

/// The backward step; the state is the forward's input, gamma, beta and statistics.
#[derive(Debug)]
struct BatchNormReluBackward;

impl Backward<Flex, 3> for BatchNormReluBackward {
    type State = (
        FlexTensor,
        FlexTensor,
        FlexTensor,
        FlexTensor,
        FlexTensor,
        f64,
        bool,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, beta, mean, var, epsilon, relu) = ops.state;
        let norm = kernels::Norm::new(&gamma, &beta, &mean, &var, epsilon, relu);
        let (dx, dgamma, dbeta) = kernels::backward(&grad, &x, &norm);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, dbeta);
        }
    }
}

impl<C: CheckpointStrategy> BatchNormReluBackend for Autodiff<Flex, C> {
    fn bn_relu_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, x_node) = x.into_parts();
        let (gamma, gamma_node) = gamma.into_parts();
        let (beta, beta_node) = beta.into_parts();
        let (mean, var) = kernels::statistics(&x);
        let norm = kernels::Norm::new(&gamma, &beta, &mean, &var, epsilon, relu);
        let y = kernels::forward(&x, &norm);
        let stats = (
            FloatTensor::<Self>::new(mean.clone()),
            FloatTensor::<Self>::new(var.clone()),
        );
        let y = match BatchNormReluBackward
            .prepare::<C>([x_node, gamma_node, beta_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, gamma, beta, mean, var, epsilon, relu), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, stats.0, stats.1)
    }
}

/// Inference-mode batch-norm (the running statistics) with ReLU: one pass.
#[backend_extension(Flex)]
pub trait BatchNormReluEvalBackend: Backend {
    /// `relu(gamma * (x - mean) / sqrt(var + epsilon) + beta)`, x `[N, C, H, W]`, the others
    /// `[C]`.
    fn bn_relu_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;
}

impl BatchNormReluEvalBackend for Flex {
    fn bn_relu_eval(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let norm = kernels::Norm::new(&gamma, &beta, &mean, &var, epsilon, relu);
        kernels::forward(&x, &norm)
    }
}

/// `relu(bn(x))` for a conv block, as burn's `BatchNorm` selects its mode (training on an
/// autodiff device with the layer in training, else inference). On Flex (f32) the fused ops
/// run, in training updating the running statistics as burn does; elsewhere burn's own
/// batch-norm and ReLU (the ONNX exporter sees those).
pub fn bn_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm_then(bn, x, true)
}

/// `bn(x)` without the ReLU (before a residual addition), by the same kernels.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    batch_norm_then(bn, x, false)
}

/// `bn(x)`, clamped at zero when `relu`.
fn batch_norm_then(bn: &BatchNorm, x: Tensor<4>, with_relu: bool) -> Tensor<4> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    let flex = x.dtype() == DType::F32 && device == Device::flex();
    if !flex || (device.is_autodiff() && !training) {
        let y = bn.forward(x);
        return if with_relu { relu(y) } else { y };
    }
    if !training {
        return Tensor::from_dispatch(Dispatch::bn_relu_eval(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.running_mean.value().to_device(&device).into_dispatch(),
            bn.running_var.value().to_device(&device).into_dispatch(),
            bn.epsilon,
            with_relu,
        ));
    }
    let (y, mean, var) = Dispatch::bn_relu_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        with_relu,
    );
    let update = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().mul_scalar(bn.momentum))
            .detach()
    };
    let (mean, var) = (Tensor::from_dispatch(mean), Tensor::from_dispatch(var));
    bn.running_mean
        .update(update(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(update(bn.running_var.value_sync(), var));
    Tensor::from_dispatch(y)
}

/// Kernels on contiguous NCHW f32 buffers. Channels run in parallel; within a channel every
/// sum runs over the samples in order, in f64.
mod kernels {
    use burn::backend::flex::FlexTensor;
    use rayon::prelude::*;

    use crate::flex_buf::{contiguous_f32, dims4, slice, tensor, vector};

    fn values(t: &FlexTensor) -> (FlexTensor, [usize; 4]) {
        let t = contiguous_f32(t, "bn_relu");
        let dims = dims4(&t);
        (t, dims)
    }

    /// Partial sums per sum: enough to let the compiler vectorise the loops.
    const LANES: usize = 8;

    /// `Σ term(a[i], b[i])` over a plane, in `LANES` f32 partial sums (a plane is short, at most
    /// a few thousand values), returned in f64 for the sum over planes.
    fn plane_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f64 {
        let mut acc = [0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f64 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(&x, &y)| term(x, y) as f64)
            .sum();
        for (x, y) in ca.zip(cb) {
            for l in 0..LANES {
                acc[l] += term(x[l], y[l]);
            }
        }
        acc.iter().map(|&v| v as f64).sum::<f64>() + tail
    }

    /// A batch-norm's parameters and the statistics it normalises with, as per-channel
    /// values.
    pub struct Norm {
        gamma: Vec<f32>,
        mean: Vec<f32>,
        /// Per channel `(scale, shift, inv_std)`: `x * scale + shift = gamma * (x - mean) /
        /// sqrt(var + eps) + beta`, and `inv_std = 1 / sqrt(var + eps)`.
        coef: Vec<(f32, f32, f32)>,
        /// The least output: 0 with the ReLU, minus infinity without.
        floor: f32,
    }

    impl Norm {
        pub fn new(
            gamma: &FlexTensor,
            beta: &FlexTensor,
            mean: &FlexTensor,
            var: &FlexTensor,
            eps: f64,
            relu: bool,
        ) -> Norm {
            let (gamma, beta, mean, var) = (vector(gamma), vector(beta), vector(mean), vector(var));
            let coef = (0..gamma.len())
                .map(|c| {
                    let inv_std = (1.0 / (var[c] as f64 + eps).sqrt()) as f32;
                    let scale = gamma[c] * inv_std;
                    (scale, beta[c] - mean[c] * scale, inv_std)
                })
                .collect();
            let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
            Norm {
                gamma,
                mean,
                coef,
                floor,
            }
        }
    }

    /// The batch mean and biased variance of every channel.
    pub fn statistics(x: &FlexTensor) -> (FlexTensor, FlexTensor) {
        let (x, [n, c, h, w]) = values(x);
        let (xs, p) = (slice(&x), h * w);
        let count = (n * p) as f64;
        let stats: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let planes = || (0..n).map(move |i| &xs[(i * c + ch) * p..][..p]);
                let sum: f64 = planes().map(|v| plane_sum(v, v, |x, _| x)).sum();
                let mean = (sum / count) as f32;
                let sq: f64 = planes()
                    .map(|v| plane_sum(v, v, |x, _| (x - mean) * (x - mean)))
                    .sum();
                (mean, (sq / count) as f32)
            })
            .collect();
        let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
        (tensor(mean, [c]), tensor(var, [c]))
    }

    /// `x * scale + shift`, at least the floor, plane by plane.
    pub fn forward(x: &FlexTensor, norm: &Norm) -> FlexTensor {
        let (x, [n, c, h, w]) = values(x);
        let (xs, p, coef, floor) = (slice(&x), h * w, &norm.coef, norm.floor);
        let mut out = vec![0f32; n * c * p];
        out.par_chunks_mut(p).enumerate().for_each(|(plane, y)| {
            let (scale, shift, _) = coef[plane % c];
            for (y, &v) in y.iter_mut().zip(&xs[plane * p..(plane + 1) * p]) {
                *y = (v * scale + shift).max(floor);
            }
        });
        tensor(out, [n, c, h, w])
    }

    /// Gradients of `relu(batch_norm_train(x))` (or of `batch_norm_train(x)`) wrt x, gamma and
    /// beta, the batch statistics depending on x: with `dz = dy` where the output is above the
    /// floor (else 0) and `x̂` the normalised input, `dbeta = Σ dz`, `dgamma = Σ dz x̂`, and
    /// `dx = gamma / std * (dz - (dbeta + x̂ dgamma) / count)`.
    pub fn backward(
        grad: &FlexTensor,
        x: &FlexTensor,
        norm: &Norm,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, [n, c, h, w]) = values(x);
        let (dy, _) = values(grad);
        let (xs, dys, p) = (slice(&x), slice(&dy), h * w);
        let (gamma_v, mean_v, coef, floor) = (&norm.gamma, &norm.mean, &norm.coef, norm.floor);
        // Per channel: (Σ dz, Σ dz x̂), over the samples in order.
        let sums: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (scale, shift, inv_std) = coef[ch];
                let mean = mean_v[ch];
                let (mut sdz, mut sdzx) = (0f64, 0f64);
                for i in 0..n {
                    let at = (i * c + ch) * p;
                    let (x, dy) = (&xs[at..at + p], &dys[at..at + p]);
                    let on = |v: f32, g: f32| if v * scale + shift > floor { g } else { 0.0 };
                    sdz += plane_sum(x, dy, on);
                    sdzx += plane_sum(x, dy, |v, g| on(v, g) * ((v - mean) * inv_std));
                }
                (sdz as f32, sdzx as f32)
            })
            .collect();
        let count = (n * p) as f32;
        let mut dx = vec![0f32; n * c * p];
        dx.par_chunks_mut(p).enumerate().for_each(|(plane, dx)| {
            let ch = plane % c;
            let (scale, shift, inv_std) = coef[ch];
            let (sdz, sdzx) = sums[ch];
            let (k, mean) = (gamma_v[ch] * inv_std, mean_v[ch]);
            let (mean_dz, mean_dzx) = (sdz / count, sdzx / count);
            let at = plane * p;
            for ((d, &v), &g) in dx.iter_mut().zip(&xs[at..at + p]).zip(&dys[at..at + p]) {
                let dz = if v * scale + shift > floor { g } else { 0.0 };
                let xhat = (v - mean) * inv_std;
                *d = k * (dz - (mean_dz + xhat * mean_dzx));
            }
        });
        let (dbeta, dgamma): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
        (
            tensor(dx, [n, c, h, w]),
            tensor(dgamma, [c]),
            tensor(dbeta, [c]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{batch_norm, bn_relu};
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::prelude::*;
    use burn::tensor::activation::relu;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn matches_burn_batch_norm_and_relu_forward_backward_and_running_statistics() {
        check(true);
    }

    #[test]
    fn matches_burn_batch_norm_without_relu() {
        check(false);
    }

    fn check(with_relu: bool) {
        let (ours_fn, theirs_fn): (
            fn(&BatchNorm, Tensor<4>) -> Tensor<4>,
            fn(Tensor<4>) -> Tensor<4>,
        ) = if with_relu {
            (bn_relu, relu)
        } else {
            (batch_norm, |y| y)
        };
        let dev = Device::flex().autodiff();
        let x =
            Tensor::<4>::random([3, 4, 5, 6], Distribution::Normal(0.5, 2.0), &dev).require_grad();
        let up = Tensor::<4>::random([3, 4, 5, 6], Distribution::Default, &dev);
        // Two modules with the same initial values and states of their own.
        let ours = BatchNormConfig::new(4).init(&dev);
        let theirs = BatchNormConfig::new(4).init(&dev);

        let y_ref = theirs_fn(theirs.forward(x.clone()));
        let g_ref = (y_ref.clone() * up.clone()).sum().backward();
        let x2 = x.clone().detach().require_grad();
        let y = ours_fn(&ours, x2.clone());
        let g = (y.clone() * up).sum().backward();

        let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-5);
        y.into_data()
            .assert_approx_eq::<f32>(&y_ref.into_data(), tol);
        x2.grad(&g)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&x.grad(&g_ref).unwrap().into_data(), tol);
        for (a, b) in [
            (ours.gamma.val(), theirs.gamma.val()),
            (ours.beta.val(), theirs.beta.val()),
        ] {
            a.grad(&g)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(&b.grad(&g_ref).unwrap().into_data(), tol);
        }
        for (a, b) in [
            (
                ours.running_mean.value_sync(),
                theirs.running_mean.value_sync(),
            ),
            (
                ours.running_var.value_sync(),
                theirs.running_var.value_sync(),
            ),
        ] {
            a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);
        }
        // Inference (the running statistics just updated), on the device without autodiff.
        let (ours, theirs) = (ours.valid(), theirs.valid());
        let x = Tensor::<4>::random(
            [2, 4, 3, 5],
            Distribution::Normal(0.5, 2.0),
            &Device::flex(),
        );
        ours_fn(&ours, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&theirs_fn(theirs.forward(x)).into_data(), tol);
    }
}
