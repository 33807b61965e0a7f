//! Student models. One module type serves every kind: an MLP is a student with no conv
//! blocks, a ResNet or MobileNet one whose body (`families`) ends in global average
//! pooling instead. Input is always `[batch, channels, height, width]`, already
//! preprocessed; an MLP flattens inside, so every exported student takes the same input.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use distill_data::{ComputeDevice, SampleShape};

use crate::ArchSpec;
use crate::bn_relu::bn_relu;
use crate::conv::conv;
use crate::families::PooledBody;
use crate::pool2x2::max_pool2x2;

/// Two 3x3 conv + batch-norm + ReLU, then 2x2 max-pool (halves height and width).
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    pool: MaxPool2d,
}

impl ConvBlock {
    fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        // No conv bias: the batch-norm right after it has its own shift.
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device)
        };
        ConvBlock {
            conv1: conv(in_channels, out_channels),
            bn1: BatchNormConfig::new(out_channels).init(device),
            conv2: conv(out_channels, out_channels),
            bn2: BatchNormConfig::new(out_channels).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    /// `[batch, in, h, w]` -> `[batch, out, h/2, w/2]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = bn_relu(&self.bn1, conv(x, self.conv1.weight.val(), 1));
        let x = bn_relu(&self.bn2, conv(x, self.conv2.weight.val(), 1));
        max_pool2x2(&self.pool, x)
    }
}

/// A student: conv blocks (none for an MLP) or a pooled body (ResNet, MobileNet), hidden
/// dense layers with dropout, a linear head.
#[derive(Module, Debug)]
pub struct Student {
    blocks: Vec<ConvBlock>,
    body: Option<PooledBody>,
    pool: Option<AdaptiveAvgPool2d>,
    hidden: Vec<Linear>,
    head: Linear,
    dropout: Dropout,
}

/// Channels, height and width of the features the dense layers see: after the conv blocks
/// (each 2x2 pool floors odd sizes, as PyTorch does), or the last stage's width, 1x1 after
/// global average pooling.
pub fn feature_size(spec: &ArchSpec, input: SampleShape) -> (usize, usize, usize) {
    if let Some(&last) = spec.stage_widths().last() {
        return (last, 1, 1);
    }
    let (mut c, mut h, mut w) = (input.channels, input.height, input.width);
    for &out in spec.conv_channels() {
        c = out;
        (h, w) = spec.kind.halve(h, w);
    }
    (c, h, w)
}

impl Student {
    /// Builds a freshly initialised student. Parameters are drawn lazily from the device's
    /// seeded RNG at first use, so the same seed and code path give the same weights.
    pub fn new(spec: &ArchSpec, input: SampleShape, num_classes: usize, device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut channels = input.channels;
        for &out in spec.conv_channels() {
            blocks.push(ConvBlock::new(channels, out, device));
            channels = out;
        }
        let body = spec
            .pooled()
            .then(|| PooledBody::new(spec, input.channels, device));
        let (c, h, w) = feature_size(spec, input);
        let mut features = c * h * w;
        let mut hidden = Vec::new();
        for &width in spec.dense_widths() {
            hidden.push(LinearConfig::new(features, width).init(device));
            features = width;
        }
        Student {
            blocks,
            pool: body
                .is_some()
                .then(|| AdaptiveAvgPool2dConfig::new([1, 1]).init()),
            body,
            hidden,
            head: LinearConfig::new(features, num_classes).init(device),
            dropout: DropoutConfig::new(spec.dropout).init(),
        }
    }

    /// `[batch, channels, height, width]` -> logits `[batch, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x);
        }
        if let (Some(body), Some(pool)) = (&self.body, &self.pool) {
            x = pool.forward(body.forward(x));
        }
        let mut x: Tensor<2> = x.flatten(1, 3);
        for layer in &self.hidden {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        self.head.forward(x)
    }
}

impl Student {
    /// Saves the weights (burnpack, written atomically by burn).
    pub fn save(&self, path: &std::path::Path) -> Result<(), crate::StudentError> {
        self.clone()
            .save_file(path)
            .map_err(|source| crate::StudentError::Save {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// The device students train and run on for `device`: burn's flex backend on the CPU, its
/// CUDA backend on a GPU (in a build with the `cuda` feature). A GPU that cannot be had (a
/// build without the feature, no NVIDIA driver, no such GPU) is an error saying so, before
/// any tensor is made.
pub fn compute_device(device: ComputeDevice) -> Result<Device, crate::StudentError> {
    match device {
        ComputeDevice::Cpu => Ok(Device::flex()),
        ComputeDevice::Cuda(index) => cuda_device(index),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(index: u32) -> Result<Device, crate::StudentError> {
    distill_data::cuda_driver::check_gpu(index).map_err(crate::StudentError::Cuda)?;
    Ok(Device::cuda(index as usize))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: u32) -> Result<Device, crate::StudentError> {
    Err(crate::StudentError::Cuda(
        "this distill was built without students on CUDA: build it with `cargo build --release --features cuda` (burn's CUDA backend)".into(),
    ))
}

/// Collects every float tensor of a module (weights, biases, batch-norm statistics).
struct CollectFloats(Vec<f32>);

impl burn::module::ModuleVisitor for CollectFloats {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let values = param.val().try_into_vec_as::<f32>().unwrap_or_default();
        self.0.extend(values);
    }
}

impl Student {
    /// All parameters and batch-norm statistics, flattened in module order (for comparing
    /// models exactly).
    pub fn flat_weights(&self) -> Vec<f32> {
        let mut collect = CollectFloats(Vec::new());
        self.visit(&mut collect);
        collect.0
    }
}
