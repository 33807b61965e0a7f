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

/// How raw bytes become model input: channel conversion, then resizing, then
/// `x = (byte * scale - mean[c]) / std[c]`, written in `layout`.
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
    /// Bilinear resize to `[height, width]` (see `resize.rs`); none keeps the source size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[usize; 2]>,
    /// Channel count the model expects: grayscale is replicated to 3 channels, RGB becomes
    /// grayscale with the ITU-R 601 luma weights (as PIL's `convert("L")`); none keeps the
    /// source's channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
}

/// ITU-R BT.601 luma weights for R, G, B.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
            layout: Layout::Nchw,
            resize: None,
            channels: None,
        }
    }
}

impl Preprocess {
    /// Shape of one preprocessed sample (channels first) for source samples of `input`.
    pub fn output_shape(&self, input: SampleShape) -> SampleShape {
        SampleShape {
            channels: self.channels.unwrap_or(input.channels),
            height: self.resize.map_or(input.height, |r| r[0]),
            width: self.resize.map_or(input.width, |r| r[1]),
        }
    }

    /// Per-sample dims of the model input in `self.layout` (without the batch dim).
    pub fn input_dims(&self, input: SampleShape) -> Vec<usize> {
        let s = self.output_shape(input);
        match self.layout {
            Layout::Nchw => vec![s.channels, s.height, s.width],
            Layout::Nhwc => vec![s.height, s.width, s.channels],
            Layout::Flat => vec![s.len()],
        }
    }

    /// Checks the values against a source sample shape.
    pub fn validate(&self, shape: SampleShape) -> Result<(), DataError> {
        if let Some(c) = self.channels {
            let from = shape.channels;
            if !(c == from || from == 1 || (from == 3 && c == 1)) {
                return Err(DataError::BadPreprocess(format!(
                    "--channels {c}: cannot convert {from}-channel data to {c} channels (supported: 1 to N by replication, 3 to 1 by luma)"
                )));
            }
        }
        if let Some([h, w]) = self.resize
            && (h == 0 || w == 0)
        {
            return Err(DataError::BadPreprocess(format!(
                "--resize {h}x{w}: height and width must be positive"
            )));
        }
        let channels = self.output_shape(shape).channels;
        for (name, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != channels {
                return Err(DataError::BadPreprocess(format!(
                    "--{name} has {} values but the data has {} channel(s): give one value or one per channel",
                    v.len(),
                    channels
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

    /// Whether samples keep their source size and channels (no conversion, no resize).
    pub fn keeps_geometry(&self, shape: SampleShape) -> bool {
        self.output_shape(shape) == shape
    }

    /// Preprocesses one sample of raw bytes (`[C, H, W]`, shape `shape`) into `dst`, which
    /// holds `self.output_shape(shape).len()` values in `self.layout`.
    pub fn sample_into(&self, shape: SampleShape, src: &[u8], dst: &mut [f32]) {
        if self.keeps_geometry(shape) {
            let plane = shape.height * shape.width;
            for c in 0..shape.channels {
                let src = &src[c * plane..(c + 1) * plane];
                self.normalise_plane(shape, c, src.iter().map(|&v| v as f32), dst);
            }
            return;
        }
        let out = self.output_shape(shape);
        let plane = shape.height * shape.width;
        let mut source = vec![0f32; plane];
        let mut resized = vec![0f32; out.height * out.width];
        for c in 0..out.channels {
            // The source plane for output channel c, as raw values.
            if out.channels == shape.channels || shape.channels == 1 {
                let from = if shape.channels == 1 { 0 } else { c };
                let bytes = &src[from * plane..(from + 1) * plane];
                for (d, &v) in source.iter_mut().zip(bytes) {
                    *d = v as f32;
                }
            } else {
                // 3 -> 1: luma.
                for (p, d) in source.iter_mut().enumerate() {
                    *d = (0..3).map(|k| LUMA[k] * src[k * plane + p] as f32).sum();
                }
            }
            crate::resize::bilinear(
                &source,
                [shape.height, shape.width],
                &mut resized,
                [out.height, out.width],
            );
            self.normalise_plane(out, c, resized.iter().copied(), dst);
        }
    }

    /// Writes channel `c` of a sample of shape `out`, from raw values in row-major order,
    /// normalised, into `dst` in `self.layout`.
    fn normalise_plane(
        &self,
        out: SampleShape,
        c: usize,
        values: impl Iterator<Item = f32>,
        dst: &mut [f32],
    ) {
        // x = v * a + b with a = scale / std, b = -mean / std.
        let s = Self::channel_value(&self.std, c);
        let a = self.scale / s;
        let b = -Self::channel_value(&self.mean, c) / s;
        let plane = out.height * out.width;
        match self.layout {
            Layout::Nchw | Layout::Flat => {
                for (d, v) in dst[c * plane..(c + 1) * plane].iter_mut().zip(values) {
                    *d = v * a + b;
                }
            }
            Layout::Nhwc => {
                for (p, v) in values.enumerate() {
                    dst[p * out.channels + c] = v * a + b;
                }
            }
        }
    }

    /// Preprocesses the samples at `positions` into one batch, in parallel
    /// (`[positions.len(), C, H, W]` for NCHW and flat, `[…, H, W, C]` for NHWC, with the
    /// output shape of [`Self::output_shape`]).
    pub fn batch(&self, dataset: &Dataset, positions: &[usize]) -> Vec<f32> {
        let n = self.output_shape(dataset.shape).len();
        let mut out = vec![0f32; positions.len() * n];
        out.par_chunks_mut(n)
            .zip(positions.par_iter())
            .for_each(|(dst, &pos)| self.sample_into(dataset.shape, dataset.sample(pos), dst));
        out
    }
}

/// Parses `--resize`: `HxW` (e.g. `224x224`) or one number for a square.
pub fn parse_size(text: &str) -> Result<[usize; 2], DataError> {
    let bad = || {
        DataError::BadPreprocess(format!(
            "--resize '{text}': expected HEIGHTxWIDTH (e.g. 32x32) or one number"
        ))
    };
    let (h, w) = text.split_once(['x', 'X']).unwrap_or((text, text));
    let h = h.trim().parse().map_err(|_| bad())?;
    let w = w.trim().parse().map_err(|_| bad())?;
    Ok([h, w])
}
