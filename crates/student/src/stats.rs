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
    let mut features = c * h * w;
    for &width in spec.dense_widths().iter().chain([&num_classes]) {
        let width = width as u64;
        params += features * width + width;
        macs += features * width;
        features = width;
    }
    ModelStats { params, macs }
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
}
