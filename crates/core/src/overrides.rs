use serde::{Deserialize, Serialize};

use crate::{Layout, Preprocess};

/// Preprocessing settings given explicitly (on the command line, in a run spec or a sweep):
/// each one set here replaces the value that would otherwise come from the model (its
/// recorded preprocessing, or its input shape) or from the defaults. `x = (value * scale -
/// mean) / std` after channel conversion and resizing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PreprocessOverrides {
    /// Multiply raw values by this first [default: 1/255 for bytes, 1 for float data].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub scale: Option<f32>,
    /// Subtracted after scaling: one value, or one per channel, comma-separated [default: 0].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(long, value_delimiter = ',', allow_negative_numbers = true)
    )]
    pub mean: Option<Vec<f32>>,
    /// Divides after the mean is subtracted: one value, or one per channel [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub std: Option<Vec<f32>>,
    /// Bilinear resize to HEIGHTxWIDTH (or one number for a square) [default: the model's
    /// fixed input size, else the data's size].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "HxW", value_parser = crate::parse_size))]
    pub resize: Option<[usize; 2]>,
    /// Channels the model expects: 1-channel data is replicated, 3-channel data becomes
    /// grayscale (luma) [default: the model's fixed channel count, else the data's].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub channels: Option<usize>,
    /// Input layout the model expects: nchw, nhwc or flat [default: read from the model's
    /// input shape, else nchw].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub layout: Option<Layout>,
    /// Resize keeping the aspect ratio so the shorter side is N (torchvision's Resize(N)),
    /// before --crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub resize_shorter: Option<usize>,
    /// Centre crop to HEIGHTxWIDTH (or one number) after resizing (torchvision's
    /// CenterCrop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "HxW", value_parser = crate::parse_size))]
    pub crop: Option<[usize; 2]>,
    /// Resize as Pillow does (antialiased bilinear, bit-exact on 8-bit images): what
    /// torchvision's Resize computes on PIL images [default: plain bilinear, as OpenCV].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub antialias: bool,
}

impl PreprocessOverrides {
    /// The preprocessing to use: the settings given here override `base`. A shorter-side
    /// resize or a crop given here replaces the geometry that `base` read from a model's
    /// input size, rather than stacking on it.
    ///
    /// Float data (`float_data`: CSV, f32 arrays) is not scaled by default: the 1/255
    /// default is for bytes.
    pub fn resolve(&self, base: Preprocess, float_data: bool) -> Preprocess {
        let base_scale = if float_data && base.scale == Preprocess::default().scale {
            1.0
        } else {
            base.scale
        };
        let own_geometry = self.resize_shorter.is_some() || self.crop.is_some();
        Preprocess {
            scale: self.scale.unwrap_or(base_scale),
            mean: self.mean.clone().unwrap_or(base.mean),
            std: self.std.clone().unwrap_or(base.std),
            layout: self.layout.unwrap_or(base.layout),
            resize: if own_geometry {
                self.resize
            } else {
                self.resize.or(base.resize)
            },
            channels: self.channels.or(base.channels),
            resize_shorter: self.resize_shorter.or(base.resize_shorter),
            crop: self.crop.or(base.crop),
            antialias: self.antialias || base.antialias,
        }
    }
}
