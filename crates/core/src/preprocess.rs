//! How raw values become model input: [`Preprocess`] and its pixel arithmetic.

use serde::{Deserialize, Serialize};

use crate::resize::{bilinear_u8, centre_crop, pil_bilinear_u8, shorter_side_size};
use crate::{ParseError, PreprocessError, SampleRef, SampleShape};

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
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nchw" => Ok(Layout::Nchw),
            "nhwc" => Ok(Layout::Nhwc),
            "flat" => Ok(Layout::Flat),
            _ => Err(ParseError::new(
                "layout",
                s,
                "expected one of nchw, nhwc, flat",
            )),
        }
    }
}

/// How raw values become model input: the geometry (channel conversion, resizing of the
/// shorter side, resizing to an exact size, centre crop, in that order, on 8-bit images with
/// the results rounded to bytes as PIL rounds them), then `x = (value * scale - mean[c]) /
/// std[c]`, written in `layout`.
///
/// The same values are stored in every run's `config.json`, in cache manifests and in the
/// metadata of exported ONNX models, so a model never loses the preprocessing it expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Raw values are multiplied by this first (1/255 for bytes).
    pub scale: f32,
    /// One value, or one per channel.
    pub mean: Vec<f32>,
    /// One value, or one per channel.
    pub std: Vec<f32>,
    /// Memory layout of the batch the model takes.
    pub layout: Layout,
    /// Bilinear resize to `[height, width]` (see `resize.rs`); none keeps the source size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[usize; 2]>,
    /// Channel count the model expects: grayscale is replicated to 3 channels, RGB becomes
    /// grayscale with the ITU-R 601 luma weights (as PIL's `convert("L")`); none keeps the
    /// source's channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// Resize keeping the aspect ratio so that the shorter side has this length
    /// (torchvision's `Resize(n)`: the longer side is truncated to an integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_shorter: Option<usize>,
    /// Centre crop to `[height, width]` after resizing (torchvision's `CenterCrop`,
    /// padding with zeros where the image is smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<[usize; 2]>,
    /// Resize as Pillow does (antialiased bilinear, 8-bit fixed point): what torchvision's
    /// `Resize` computes on PIL images. Off: plain bilinear (OpenCV, PyTorch tensors
    /// with `antialias=False`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub antialias: bool,
}

/// Resizes an 8-bit `[height, width]` plane to another size.
pub(crate) type ResizeFilter = fn(&[u8], [usize; 2], [usize; 2]) -> Vec<u8>;

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
            resize_shorter: None,
            crop: None,
            antialias: false,
        }
    }
}

impl Preprocess {
    /// Shape of one preprocessed sample (channels first) for source samples of `input`.
    ///
    /// For images of different sizes (`input` of size 0), the size is known only when a
    /// crop or an exact resize fixes it; otherwise it is 0.
    pub fn output_shape(&self, input: SampleShape) -> SampleShape {
        let [height, width] = self.output_size([input.height, input.width]);
        SampleShape {
            channels: self.channels.unwrap_or(input.channels),
            height,
            width,
        }
    }

    /// `[height, width]` of a `[height, width]` source after the geometry.
    fn output_size(&self, size: [usize; 2]) -> [usize; 2] {
        if let Some(crop) = self.crop {
            return crop;
        }
        if let Some(exact) = self.resize {
            return exact;
        }
        match self.resize_shorter {
            Some(s) if size[0] > 0 && size[1] > 0 => shorter_side_size(size, s),
            Some(_) => [0, 0],
            None => size,
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
    pub fn validate_shape(&self, shape: SampleShape) -> Result<(), PreprocessError> {
        if let Some(c) = self.channels {
            let from = shape.channels;
            // 0: images of their own colour each (headers not read), 1 or 3.
            let any_colour = from == 0 && (c == 1 || c == 3);
            if !(c == from || from == 1 || (from == 3 && c == 1) || any_colour) {
                return Err(PreprocessError::new(
                    "channels",
                    format!(
                        "cannot convert {from}-channel data to {c} channels (supported: 1 to N by replication, 3 to 1 by luma)"
                    ),
                ));
            }
        }
        for (setting, size) in [("resize", self.resize), ("crop", self.crop)] {
            if let Some([h, w]) = size
                && (h == 0 || w == 0)
            {
                return Err(PreprocessError::new(
                    setting,
                    format!("{h}x{w}: height and width must be positive"),
                ));
            }
        }
        if self.resize_shorter == Some(0) {
            return Err(PreprocessError::new(
                "resize_shorter",
                "0: the size must be positive",
            ));
        }
        let channels = self.output_shape(shape).channels;
        for (setting, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.len() != 1 && v.len() != channels {
                return Err(PreprocessError::new(
                    setting,
                    format!(
                        "{} values but the data has {channels} channel(s): give one value or one per channel",
                        v.len()
                    ),
                ));
            }
        }
        if self.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(PreprocessError::new("std", "must be finite and non-zero"));
        }
        if !self.scale.is_finite() {
            return Err(PreprocessError::new("scale", "must be finite"));
        }
        if self.mean.iter().any(|m| !m.is_finite()) {
            return Err(PreprocessError::new("mean", "must be finite"));
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

    /// Whether every 8-bit image comes out in one shape whatever its own size and colour: a
    /// crop or an exact resize fixes the size, and the channels are set to 1 or 3, to which
    /// grayscale and RGB both convert. Such a consumer needs no image's header before its
    /// pixels.
    pub fn fixes_output(&self) -> bool {
        matches!(self.channels, Some(1 | 3)) && (self.crop.is_some() || self.resize.is_some())
    }

    /// Whether the geometry leaves samples of `shape` as they are (no conversion, no
    /// resize, no crop).
    pub fn keeps_geometry(&self, shape: SampleShape) -> bool {
        let size = [shape.height, shape.width];
        self.channels.is_none_or(|c| c == shape.channels)
            && self
                .resize_shorter
                .is_none_or(|s| s == size[0].min(size[1]))
            && self.resize.is_none_or(|r| r == size)
            && self.crop.is_none_or(|c| c == size)
    }

    /// The channel conversion alone, on one 8-bit sample `[C, H, W]` of shape `shape`: one
    /// `[H, W]` plane per output channel.
    pub(crate) fn convert_channels(&self, shape: SampleShape, src: &[u8]) -> Vec<Vec<u8>> {
        let channels = self.channels.unwrap_or(shape.channels);
        let plane = shape.height * shape.width;
        (0..channels)
            .map(|c| {
                if channels == shape.channels || shape.channels == 1 {
                    let from = if shape.channels == 1 { 0 } else { c };
                    src[from * plane..(from + 1) * plane].to_vec()
                } else {
                    // 3 -> 1: luma, rounded.
                    (0..plane)
                        .map(|p| {
                            let y: f32 = (0..3).map(|k| LUMA[k] * src[k * plane + p] as f32).sum();
                            y.round().clamp(0.0, 255.0) as u8
                        })
                        .collect()
                }
            })
            .collect()
    }

    /// The resize filter of 8-bit planes: Pillow's with `antialias`, plain bilinear without.
    pub(crate) fn resize_filter(&self) -> ResizeFilter {
        if self.antialias {
            pil_bilinear_u8
        } else {
            bilinear_u8
        }
    }

    /// The geometry alone, on one 8-bit sample `[C, H, W]` of shape `shape`: the output
    /// shape and `[C', H', W']` bytes.
    pub fn geometry(&self, shape: SampleShape, src: &[u8]) -> (SampleShape, Vec<u8>) {
        let channels = self.channels.unwrap_or(shape.channels);
        let mut size = [shape.height, shape.width];
        let mut planes = self.convert_channels(shape, src);
        let filter = self.resize_filter();
        let resize = |planes: &mut Vec<Vec<u8>>, size: &mut [usize; 2], to: [usize; 2]| {
            if *size != to {
                for p in planes.iter_mut() {
                    *p = filter(p, *size, to);
                }
                *size = to;
            }
        };
        if let Some(s) = self.resize_shorter {
            let to = shorter_side_size(size, s);
            resize(&mut planes, &mut size, to);
        }
        if let Some(exact) = self.resize {
            resize(&mut planes, &mut size, exact);
        }
        if let Some(crop) = self.crop
            && crop != size
        {
            for p in planes.iter_mut() {
                *p = centre_crop(p, size, crop);
            }
            size = crop;
        }
        let out = SampleShape {
            channels,
            height: size[0],
            width: size[1],
        };
        (out, planes.concat())
    }

    /// Preprocesses one sample (`[C, H, W]` values of shape `shape`) into `dst`, which
    /// holds `self.output_shape(shape).len()` values in `self.layout`. Float samples are
    /// only normalised (a dataset's check refuses geometry for them).
    pub fn sample_into(&self, shape: SampleShape, src: SampleRef<'_>, dst: &mut [f32]) {
        let plane = shape.height * shape.width;
        match src {
            SampleRef::F32(values) => {
                for c in 0..shape.channels {
                    let values = values[c * plane..(c + 1) * plane].iter().copied();
                    self.normalise_plane(shape, c, values, dst);
                }
            }
            SampleRef::U8(bytes) if self.keeps_geometry(shape) => {
                self.normalise_bytes(shape, bytes, dst)
            }
            SampleRef::U8(bytes) => {
                // Normalised directly: the geometry is not idempotent (a shorter-side
                // resize to 36 of a 32x32 crop would enlarge it again).
                let (out, bytes) = self.geometry(shape, bytes);
                self.normalise_bytes(out, &bytes, dst);
            }
        }
    }

    pub(crate) fn normalise_bytes(&self, shape: SampleShape, bytes: &[u8], dst: &mut [f32]) {
        let plane = shape.height * shape.width;
        for c in 0..shape.channels {
            let values = bytes[c * plane..(c + 1) * plane].iter().map(|&v| v as f32);
            self.normalise_plane(shape, c, values, dst);
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

    /// The same preprocessing without the geometry: for data that has already been brought to the output size.
    pub fn normalisation_only(&self) -> Preprocess {
        Preprocess {
            resize: None,
            channels: None,
            resize_shorter: None,
            crop: None,
            ..self.clone()
        }
    }
}
