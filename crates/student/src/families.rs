//! The students people deploy: residual networks of basic blocks (ResNet-18/-20 style) and
//! inverted residual networks of depthwise-separable blocks (MobileNet V2 style). Both
//! start with a 3x3 stem and end in global average pooling, so they take any input size.
//! Every convolution is bias-free and followed by batch-norm, as in the papers; ReLU is
//! the activation (burn-onnx does not lower ReLU6's `Clip` today).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::ArchSpec;
use crate::arch::ArchKind;
use crate::bn_relu::{batch_norm, bn_relu};
use crate::conv::{conv_as, conv_kind};

/// A bias-free convolution and its batch-norm.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    /// A `kernel`x`kernel` convolution (1 or 3; a 3x3 one is padded by 1) from `cin` to
    /// `cout` channels with `stride`, in `groups` groups.
    fn new(
        [cin, cout]: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        ConvBn {
            conv: Conv2dConfig::new([cin, cout], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    /// The convolution, by distill's kernels where they compute it (every shape these
    /// families build), else by burn's.
    fn conv(&self, x: Tensor<4>) -> Tensor<4> {
        let c = &self.conv;
        let weight = c.weight.val();
        let [out, in_per_group, _, _] = weight.dims();
        let channels = [in_per_group * c.groups, out];
        match conv_kind(c.kernel_size, c.stride, c.groups, channels) {
            Some(kind) => conv_as(x, weight, kind),
            None => c.forward(x),
        }
    }

    /// `bn(conv(x))`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, self.conv(x))
    }

    /// `relu(bn(conv(x)))`.
    fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        bn_relu(&self.bn, self.conv(x))
    }
}

/// A residual basic block: 3x3 conv (stride 1 or 2) + BN + ReLU, 3x3 conv + BN, plus the
/// input (or its 1x1 stride-s projection + BN where the shape changes), then ReLU.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: ConvBn,
    conv2: ConvBn,
    shortcut: Option<ConvBn>,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        BasicBlock {
            conv1: ConvBn::new([cin, cout], 3, stride, 1, device),
            conv2: ConvBn::new([cout, cout], 3, 1, 1, device),
            shortcut: (stride != 1 || cin != cout)
                .then(|| ConvBn::new([cin, cout], 1, stride, 1, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.shortcut {
            Some(projection) => projection.forward(x.clone()),
            None => x.clone(),
        };
        relu(self.conv2.forward(self.conv1.forward_relu(x)) + identity)
    }
}

/// An inverted residual block: 1x1 expansion to `expand` times the input's channels, BN
/// and ReLU (none when `expand` is 1); 3x3 depthwise conv (stride 1 or 2), BN and ReLU; 1x1
/// projection and BN; plus the input where the shapes match.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
}

impl InvertedResidual {
    fn new(cin: usize, cout: usize, stride: usize, expand: usize, device: &Device) -> Self {
        let hidden = cin * expand;
        InvertedResidual {
            expand: (expand != 1).then(|| ConvBn::new([cin, hidden], 1, 1, 1, device)),
            depthwise: ConvBn::new([hidden, hidden], 3, stride, hidden, device),
            project: ConvBn::new([hidden, cout], 1, 1, 1, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let hidden = match &self.expand {
            Some(expand) => expand.forward_relu(x.clone()),
            None => x.clone(),
        };
        let out = self.project.forward(self.depthwise.forward_relu(hidden));
        // The input is added where the shapes match: stride 1, as many channels out as in.
        if out.dims() == x.dims() { out + x } else { out }
    }
}

/// The stem and stages of a ResNet or MobileNet student, ending before the pooling.
#[derive(Module, Debug)]
pub struct PooledBody {
    stem: ConvBn,
    residual: Vec<BasicBlock>,
    inverted: Vec<InvertedResidual>,
}

impl PooledBody {
    /// The body of `spec` (a ResNet or MobileNet) for `channels` input channels: a 3x3
    /// stem (stride `spec.stem_stride`) to the first stage's width, then `spec.blocks`
    /// blocks per stage, strided as [`ArchSpec::pooled_blocks`] says.
    pub fn new(spec: &ArchSpec, channels: usize, device: &Device) -> Self {
        let stem_width = spec.stage_widths()[0];
        let stem = ConvBn::new([channels, stem_width], 3, spec.stem_stride, 1, device);
        let (mut residual, mut inverted) = (Vec::new(), Vec::new());
        for [cin, cout, stride] in spec.pooled_blocks() {
            match spec.kind {
                ArchKind::Resnet => residual.push(BasicBlock::new(cin, cout, stride, device)),
                _ => inverted.push(InvertedResidual::new(
                    cin,
                    cout,
                    stride,
                    spec.expand,
                    device,
                )),
            }
        }
        PooledBody {
            stem,
            residual,
            inverted,
        }
    }

    /// `[batch, channels, h, w]` -> the last stage's features `[batch, width, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward_relu(x);
        for block in &self.residual {
            x = block.forward(x);
        }
        for block in &self.inverted {
            x = block.forward(x);
        }
        x
    }
}
