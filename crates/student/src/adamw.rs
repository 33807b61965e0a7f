//! AdamW with one fused pass per parameter on Flex, as a burn optimizer.
//!
//! Why: burn's `AdamW` builds each step out of a dozen element-wise tensor operations (scale
//! the moments, square the gradient, correct the bias, divide, decay, subtract), each a pass
//! over the parameter on one thread with a fresh output. On an MLP student those passes were
//! a sixth of a training step. Here one parallel pass reads the gradient and updates the
//! parameter and both moments in place.
//!
//! The arithmetic is burn's `AdamW`, operation for operation in f32 (no fused multiply-add,
//! the same order), so the weights are bit for bit those burn's optimizer gives, and the
//! state is burn's `AdamWState`: a checkpoint written by either optimizer resumes in the
//! other. Off Flex (CUDA) and for other float types, burn's `AdamW` runs instead.

use burn::backend::{
    Backend, Dispatch, Flex, backend_extension, flex::FlexTensor, tensor::FloatTensor,
};
use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{DType, Device, Tensor};

/// The scalars of one step of one parameter.
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// The learning rate (burn multiplies by it in f32).
    pub lr: f32,
    /// What the parameter is multiplied by before the update: `1 - lr * weight_decay`.
    pub keep: f32,
    /// The step's number, from 1: the bias corrections depend on it.
    pub time: i32,
}

/// The fused step as a Flex extension.
#[backend_extension(Flex)]
pub trait AdamWBackend: Backend {
    /// `(param, moment_1, moment_2)` after one step with gradient `grad`. On the first step
    /// (`step.time == 1`) the moments passed in are not read.
    fn adamw_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamWStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl AdamWBackend for Flex {
    fn adamw_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        step: AdamWStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        kernel::step(param, grad, moment_1, moment_2, step)
    }
}

/// AdamW (decoupled weight decay) as the students train with it.
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// burn's optimizer with the same settings, for tensors the kernel does not take.
    fallback: AdamW,
}

impl FusedAdamW {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let fallback = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            fallback,
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fused = tensor.device() == Device::flex()
            && tensor.dtype() == DType::F32
            && grad.dtype() == DType::F32
            && state
                .as_ref()
                .is_none_or(|s| s.momentum.max_moment_2.is_none());
        if !fused {
            return self.fallback.step(lr, tensor, grad, state);
        }
        // burn's AdamW: the decay rate in f64, each scalar cast to f32 where it meets a tensor.
        let decay_rate = lr * self.weight_decay as f64;
        let (time, moment_1, moment_2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                s.momentum.moment_1,
                s.momentum.moment_2,
            ),
            // Placeholders the first step does not read.
            None => (1, grad.clone(), grad.clone()),
        };
        let step = AdamWStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            lr: lr as f32,
            keep: (1.0 - decay_rate) as f32,
            time: time as i32,
        };
        let (param, moment_1, moment_2) = Dispatch::adamw_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            step,
        );
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_dispatch(moment_1),
            moment_2: Tensor::from_dispatch(moment_2),
            max_moment_2: None,
        };
        (Tensor::from_dispatch(param), Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}

mod kernel {
    use burn::backend::flex::FlexTensor;
    use rayon::prelude::*;

    use super::AdamWStep;
    use crate::flex_buf::{contiguous_f32, slice};

    /// Elements per piece of parallel work: large enough that rayon's overhead vanishes,
    /// small enough that both cores share a 100k-parameter layer.
    const CHUNK: usize = 16 * 1024;

    /// `t` as a tensor whose storage is exactly its values, in order, so they can be
    /// updated in place (copied first only when shared or strided).
    fn owned(t: FlexTensor, op: &str) -> FlexTensor {
        let t = contiguous_f32(&t, op);
        let n = t.layout().shape().num_elements();
        if t.layout().contiguous_offsets() == Some((0, n)) && t.storage::<f32>().len() == n {
            t
        } else {
            t.to_contiguous()
        }
    }

    /// A step's scalars, as burn's tensor operations see them.
    struct Coefficients {
        beta_1: f32,
        beta_2: f32,
        f1: f32,
        f2: f32,
        c1: f32,
        c2: f32,
        epsilon: f32,
        keep: f32,
        lr: f32,
    }

    /// One chunk of each: parameter, moments, gradient.
    struct Chunk<'a> {
        p: &'a mut [f32],
        m: &'a mut [f32],
        v: &'a mut [f32],
        g: &'a [f32],
    }

    /// One chunk of the step, compiled for the widest vectors the CPU has: the loop is
    /// plain element-wise f32 arithmetic (divisions and square roots are exactly rounded at
    /// any width, and nothing is contracted into a fused multiply-add), so every width gives
    /// the same bits.
    fn update(chunk: Chunk<'_>, c: &Coefficients, first: bool) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the features the function is compiled for.
                return unsafe { update_avx512(chunk, c, first) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { update_avx2(chunk, c, first) };
            }
        }
        update_any(chunk, c, first)
    }

    /// `update_any` compiled with the target features given.
    macro_rules! compiled_for {
        ($name:ident, $features:literal) => {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = $features)]
            fn $name(chunk: Chunk<'_>, c: &Coefficients, first: bool) {
                update_any(chunk, c, first)
            }
        };
    }
    compiled_for!(update_avx512, "avx512f");
    compiled_for!(update_avx2, "avx2");

    #[inline(always)]
    fn update_any(chunk: Chunk<'_>, c: &Coefficients, first: bool) {
        // Each expression is one of burn's tensor operations, in its order.
        let apply = |p: &mut f32, mi: f32, vi: f32| {
            let delta = (mi / c.c1) / ((vi / c.c2).sqrt() + c.epsilon);
            *p = *p * c.keep - delta * c.lr;
        };
        let Chunk { p, m, v, g } = chunk;
        let items = p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g);
        if first {
            for (((p, m), v), &g) in items {
                (*m, *v) = (g * c.f1, (g * g) * c.f2);
                apply(p, *m, *v);
            }
        } else {
            for (((p, m), v), &g) in items {
                (*m, *v) = (*m * c.beta_1 + g * c.f1, *v * c.beta_2 + (g * g) * c.f2);
                apply(p, *m, *v);
            }
        }
    }

    pub fn step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        s: AdamWStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let first = s.time == 1;
        let grad = contiguous_f32(&grad, "adamw_step");
        let mut param = owned(param, "adamw_step");
        // On the first step the moments start from the gradient's shape, written whole.
        let (mut m, mut v) = if first {
            (
                owned(grad.clone(), "adamw_step"),
                owned(grad.clone(), "adamw_step"),
            )
        } else {
            (owned(moment_1, "adamw_step"), owned(moment_2, "adamw_step"))
        };
        let c = Coefficients {
            beta_1: s.beta_1,
            beta_2: s.beta_2,
            f1: 1.0 - s.beta_1,
            f2: 1.0 - s.beta_2,
            c1: 1f32 - s.beta_1.powi(s.time),
            c2: 1f32 - s.beta_2.powi(s.time),
            epsilon: s.epsilon,
            keep: s.keep,
            lr: s.lr,
        };
        let g = slice(&grad);
        let (p, m_s, v_s) = (
            param.storage_mut::<f32>(),
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
        );
        // burn hands a parameter its own gradient and moments; the zip below would stop at
        // the shortest silently.
        assert!(
            p.len() == g.len() && m_s.len() == g.len() && v_s.len() == g.len(),
            "adamw_step: parameter, gradient and moments differ in size"
        );
        p.par_chunks_mut(CHUNK)
            .zip(m_s.par_chunks_mut(CHUNK))
            .zip(v_s.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| update(Chunk { p, m, v, g }, &c, first));
        (param, m, v)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::prelude::*;

    use super::FusedAdamW;

    const BETAS: (f32, f32) = (0.9, 0.999);

    fn burns(weight_decay: f32) -> ModuleOptimizer {
        AdamWConfig::new()
            .with_beta_1(BETAS.0)
            .with_beta_2(BETAS.1)
            .with_epsilon(1e-8)
            .with_weight_decay(weight_decay)
            .init()
    }

    fn fused(weight_decay: f32) -> ModuleOptimizer {
        ModuleOptimizer::from(FusedAdamW::new(BETAS.0, BETAS.1, 1e-8, weight_decay))
    }

    /// One step of `optim` on `model` with a loss that depends on `seed`.
    fn step(model: Linear, optim: &mut ModuleOptimizer, seed: u64, lr: f64) -> Linear {
        // Inputs from a formula, not the device's generator, which tests running in parallel
        // share.
        let values: Vec<f32> = (0..8 * 300)
            .map(|i| (i as f32 * 0.37 + seed as f32).sin() * 1.7)
            .collect();
        let dev = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(TensorData::new(values, [8, 300]), &dev);
        let loss = model.forward(x).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(lr, model, grads)
    }

    fn values(model: &Linear) -> Vec<u32> {
        let mut out: Vec<u32> = model
            .weight
            .val()
            .into_data()
            .iter::<f32>()
            .map(f32::to_bits)
            .collect();
        if let Some(b) = &model.bias {
            out.extend(b.val().into_data().iter::<f32>().map(f32::to_bits));
        }
        out
    }

    fn same(theirs: &Linear, ours: &Linear, what: &str) {
        let (a, b) = (values(theirs), values(ours));
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(
            a.len() == b.len() && differ == 0,
            "{what}: {differ} of {} values differ",
            a.len()
        );
    }

    #[test]
    fn steps_bit_for_bit_like_burns_adamw_and_shares_its_checkpoints() {
        for weight_decay in [0.0, 1e-2] {
            let dev = Device::flex().autodiff();
            dev.seed(7);
            // 21,000 weights: more than one parallel chunk of the kernel, so chunks meet.
            let start = LinearConfig::new(300, 70).init(&dev);
            let (mut theirs, mut ours) = (start.clone(), start);
            let (mut burn_optim, mut fused_optim) = (burns(weight_decay), fused(weight_decay));
            for s in 0..4 {
                let lr = 1e-2 / (s + 1) as f64;
                theirs = step(theirs, &mut burn_optim, s, lr);
                ours = step(ours, &mut fused_optim, s, lr);
                same(&theirs, &ours, &format!("step {s}, decay {weight_decay}"));
            }
            // The state each wrote is the other's: swap optimizers through their records.
            let dir = tempfile::tempdir().expect("temporary folder");
            let (a, b) = (dir.path().join("burn.bpk"), dir.path().join("fused.bpk"));
            burn_optim.save(&a).expect("save");
            fused_optim.save(&b).expect("save");
            let mut fused_from_burn = fused(weight_decay).load(&a).expect("load");
            let mut burn_from_fused = burns(weight_decay).load(&b).expect("load");
            theirs = step(theirs, &mut burn_from_fused, 9, 1e-3);
            ours = step(ours, &mut fused_from_burn, 9, 1e-3);
            same(&theirs, &ours, "after the swap");
        }
    }
}
