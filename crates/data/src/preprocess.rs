use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, SampleShape};

/// Memory layout of a preprocessed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[batch, channels, height, width]` (PyTorch exports).
    #[default]
    Nchw,
    /// `[batch, height, width, channels]` (Keras / TensorFlow exports).
    Nhwc,
    /// `[batch, channels * height * width]`, channel-first order.
    Flat,
}

impl std::str::FromStr for Layout {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nchw" => Ok(Layout::Nchw),
            "nhwc" => Ok(Layout::Nhwc),
            "flat" => Ok(Layout::Flat),
            _ => Err(DataError::BadPreprocess(format!(
                "layout '{s}' is not one of nchw, nhwc, flat"
            ))),
        }
    }
}

/// How raw bytes become model input: `x = (byte * scale - mean[c]) / std[c]`.
///
/// The same values are stored in every run's `config.json`, in cache manifests and in the
/// metadata of exported ONNX models, so a model never loses the preprocessing it expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub scale: f32,
    /// One value, or one per channel.
    pub mean: Vec<f32>,
    /// One value, or one per channel.
    pub std: Vec<f32>,
    pub layout: Layout,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
            layout: Layout::Nchw,
        }
    }
}

impl Preprocess {
    /// Checks the values against a sample shape.
    pub fn validate(&self, shape: SampleShape) -> Result<(), DataError> {
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != shape.channels {
                return Err(DataError::BadPreprocess(format!(
                    "--{name} has {} values but the data has {} channel(s): give one value or one per channel",
                    v.len(),
                    shape.channels
                )));
            }
        }
        if self.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(DataError::BadPreprocess(
                "--std must be finite and non-zero".into(),
            ));
        }
        if !self.scale.is_finite() || self.mean.iter().any(|m| !m.is_finite()) {
            return Err(DataError::BadPreprocess(
                "--scale and --mean must be finite".into(),
            ));
        }
        Ok(())
    }

    fn channel_value(values: &[f32], c: usize) -> f32 {
        if values.len() == 1 {
            values[0]
        } else {
            values[c]
        }
    }

    /// Preprocesses one sample of raw bytes (`[C, H, W]`) into `dst`, in `self.layout`.
    pub fn sample_into(&self, shape: SampleShape, src: &[u8], dst: &mut [f32]) {
        let plane = shape.height * shape.width;
        for c in 0..shape.channels {
            // x = byte * a + b with a = scale / std, b = -mean / std.
            let s = Self::channel_value(&self.std, c);
            let a = self.scale / s;
            let b = -Self::channel_value(&self.mean, c) / s;
            let src = &src[c * plane..(c + 1) * plane];
            match self.layout {
                Layout::Nchw | Layout::Flat => {
                    for (d, &v) in dst[c * plane..(c + 1) * plane].iter_mut().zip(src) {
                        *d = v as f32 * a + b;
                    }
                }
                Layout::Nhwc => {
                    for (p, &v) in src.iter().enumerate() {
                        dst[p * shape.channels + c] = v as f32 * a + b;
                    }
                }
            }
        }
    }

    /// Preprocesses the samples at `positions` into one batch, in parallel
    /// (`[positions.len(), C, H, W]` for NCHW and flat, `[…, H, W, C]` for NHWC).
    pub fn batch(&self, dataset: &Dataset, positions: &[usize]) -> Vec<f32> {
        let n = dataset.shape.len();
        let mut out = vec![0f32; positions.len() * n];
        out.par_chunks_mut(n)
            .zip(positions.par_iter())
            .for_each(|(dst, &pos)| self.sample_into(dataset.shape, dataset.sample(pos), dst));
        out
    }
}
