//! Size and cost of a student, computed from its spec (the same numbers for the burn model
//! and its ONNX export).

use distill_data::SampleShape;
use serde::{Deserialize, Serialize};

use crate::ArchSpec;

/// Size and cost of a student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    /// Learnable parameters (batch-norm running statistics are not counted, as in PyTorch).
    pub params: u64,
    /// Multiply-accumulates of one forward pass for one sample (conv and dense layers).
    pub macs: u64,
}

/// Parameters and multiply-accumulates of `spec` for samples of `input`.
pub fn model_stats(spec: &ArchSpec, input: SampleShape, num_classes: usize) -> ModelStats {
    let (mut params, mut macs) = (0u64, 0u64);
    let (mut c, mut h, mut w) = (
        input.channels as u64,
        input.height as u64,
        input.width as u64,
    );
    for &out in spec.conv_channels() {
        let out = out as u64;
        for cin in [c, out] {
            // 3x3 conv without bias, 'same' padding, then batch-norm (gamma, beta).
            params += 9 * cin * out + 2 * out;
            macs += 9 * cin * out * h * w;
        }
        c = out;
        h /= 2;
        w /= 2;
    }
    if spec.pooled() {
        let (p, m) = pooled_body_stats(spec, input);
        params += p;
        macs += m;
    }
    let (c, h, w) = crate::model::feature_size(spec, input);
    let mut features = (c * h * w) as u64;
    for &width in spec.dense_widths().iter().chain([&num_classes]) {
        let width = width as u64;
        params += features * width + width;
        macs += features * width;
        features = width;
    }
    ModelStats { params, macs }
}

/// A bias-free `k`x`k` convolution from `cin` to `cout` channels in `groups` groups with
/// `stride` (padding k/2), then batch-norm, on an `h`x`w` input: parameters, MACs and the
/// output's size.
fn conv_bn(
    [cin, cout]: [u64; 2],
    k: u64,
    stride: u64,
    groups: u64,
    (h, w): (u64, u64),
) -> (u64, u64, (u64, u64)) {
    let (oh, ow) = (h.div_ceil(stride), w.div_ceil(stride));
    let weights = cout * (cin / groups) * k * k;
    (weights + 2 * cout, weights * oh * ow, (oh, ow))
}

/// Parameters and MACs of a ResNet or MobileNet body (stem and stages, as
/// `families::PooledBody` builds them; the global average pooling adds no MACs).
fn pooled_body_stats(spec: &ArchSpec, input: SampleShape) -> (u64, u64) {
    let mut size = (input.height as u64, input.width as u64);
    let (mut params, mut macs) = (0, 0);
    let mut add = |(p, m, out): (u64, u64, (u64, u64))| {
        params += p;
        macs += m;
        out
    };
    let stem_width = spec.stage_widths()[0] as u64;
    let stem_stride = spec.stem_stride as u64;
    size = add(conv_bn(
        [input.channels as u64, stem_width],
        3,
        stem_stride,
        1,
        size,
    ));
    for [cin, cout, stride] in spec.pooled_blocks() {
        let [cin, cout, stride] = [cin as u64, cout as u64, stride as u64];
        if spec.kind == crate::arch::ArchKind::Resnet {
            let inner = add(conv_bn([cin, cout], 3, stride, 1, size));
            if stride != 1 || cin != cout {
                add(conv_bn([cin, cout], 1, stride, 1, size));
            }
            size = add(conv_bn([cout, cout], 3, 1, 1, inner));
        } else {
            let hidden = cin * spec.expand as u64;
            if spec.expand != 1 {
                add(conv_bn([cin, hidden], 1, 1, 1, size));
            }
            size = add(conv_bn([hidden, hidden], 3, stride, hidden, size));
            add(conv_bn([hidden, cout], 1, 1, 1, size));
        }
    }
    (params, macs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: SampleShape = SampleShape {
        channels: 1,
        height: 28,
        width: 28,
    };

    #[test]
    fn mlp_counts_match_hand_computation() {
        let s = model_stats(&"mlp:512,256".parse().unwrap(), MNIST, 10);
        assert_eq!(s.params, 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
        assert_eq!(s.macs, 784 * 512 + 512 * 256 + 256 * 10);
    }

    #[test]
    fn cnn_counts_match_hand_computation() {
        let s = model_stats(&"cnn:32,64,fc=256".parse().unwrap(), MNIST, 10);
        let conv = 9 * 32 + 64 + 9 * 32 * 32 + 64 + 9 * 32 * 64 + 128 + 9 * 64 * 64 + 128;
        let dense = 3136 * 256 + 256 + 2570;
        assert_eq!(s.params, conv + dense);
        let conv_macs = 9 * 32 * 784 + 9 * 32 * 32 * 784 + 9 * 32 * 64 * 196 + 9 * 64 * 64 * 196;
        assert_eq!(s.macs, conv_macs + 3136 * 256 + 2560);
    }

    /// Elements of a module's learnable parameters: on an autodiff device those that
    /// require gradients (batch-norm running statistics do not).
    struct Learnable(u64);

    impl burn::module::ModuleVisitor for Learnable {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::prelude::Tensor<D>>,
        ) {
            let value = param.val();
            if value.is_require_grad() {
                self.0 += value.shape().num_elements() as u64;
            }
        }
    }

    /// The counts from the spec are those of the model burn builds, for every family.
    #[test]
    fn params_match_the_built_model() {
        use burn::module::Module;
        use burn::prelude::Device;
        let rgb = SampleShape {
            channels: 3,
            height: 32,
            width: 32,
        };
        for (arch, input) in [
            ("mlp:64,32", MNIST),
            ("cnn:8,16,fc=32", MNIST),
            ("resnet:8,16,32", MNIST),
            ("resnet:8,16,blocks=1", rgb),
            ("resnet:8,16,32,blocks=1,stride=2", MNIST),
            ("resnet:8,16,32,blocks=1,stride=2,stem=2", MNIST),
            ("mobilenet:8,16,width=0.5,stem=2", rgb),
            ("mobilenet:16,32,64,width=0.5", MNIST),
            ("mobilenet:8,16,blocks=2,expand=1", rgb),
        ] {
            let spec: ArchSpec = arch.parse().unwrap();
            let model = crate::Student::new(&spec, input, 10, &Device::flex().autodiff());
            let mut learnable = Learnable(0);
            model.visit(&mut learnable);
            assert_eq!(learnable.0, model_stats(&spec, input, 10).params, "{arch}");
        }
    }

    #[test]
    fn resnet_counts_match_hand_computation() {
        // Stem 1->4 (3x3), stage 4 (one block, identity), stage 8 (one block, stride 2,
        // projection), head 8->10, on 28x28 (14x14 after the stride).
        let s = model_stats(&"resnet:4,8,blocks=1".parse().unwrap(), MNIST, 10);
        let stem = 9 * 4 + 8;
        let block1 = 2 * (9 * 4 * 4 + 8);
        let block2 = (9 * 4 * 8 + 16) + (9 * 8 * 8 + 16) + (4 * 8 + 16);
        assert_eq!(s.params, stem + block1 + block2 + 8 * 10 + 10);
        let macs = 9 * 4 * 784 + 2 * 9 * 16 * 784 + (9 * 32 + 9 * 64 + 32) * 196 + 80;
        assert_eq!(s.macs, macs);

        // With stride=2 the first block halves 28x28 to 14x14 and needs a projection too;
        // the second stage works at 7x7.
        let s = model_stats(&"resnet:4,8,blocks=1,stride=2".parse().unwrap(), MNIST, 10);
        let block1 = 2 * (9 * 4 * 4 + 8) + (4 * 4 + 8);
        assert_eq!(s.params, stem + block1 + block2 + 8 * 10 + 10);
        let macs = 9 * 4 * 784 + (2 * 9 * 16 + 16) * 196 + (9 * 32 + 9 * 64 + 32) * 49 + 80;
        assert_eq!(s.macs, macs);

        // With stem=2 the stem itself halves 28x28 to 14x14; the first block keeps its
        // identity shortcut, so the parameters are those of the plain spec.
        let s = model_stats(&"resnet:4,8,blocks=1,stem=2".parse().unwrap(), MNIST, 10);
        let block1 = 2 * (9 * 4 * 4 + 8);
        assert_eq!(s.params, stem + block1 + block2 + 8 * 10 + 10);
        let macs = (9 * 4 + 2 * 9 * 16) * 196 + (9 * 32 + 9 * 64 + 32) * 49 + 80;
        assert_eq!(s.macs, macs);
    }
}
