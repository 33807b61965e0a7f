//! The short architecture spec used on the command line and in config files.
//!
//! ```text
//! mlp:512,256                 hidden widths of a multi-layer perceptron
//! cnn:32,64                   per entry: two 3x3 conv + batch-norm + ReLU, then 2x2 max-pool
//! cnn:32,64,fc=256            ... then a hidden dense layer of 256 before the linear head
//! mlp:512,256,dropout=0.2     dropout after every hidden dense layer
//! resnet:16,32,64             a 3x3 stem, then per entry a stage of residual basic blocks
//!                             (2 by default, blocks=N), stride 2 between stages, global
//!                             average pooling, a linear head
//! resnet:8,16,32,stride=2     ... the first stage halves the input too (stages at 14, 7
//!                             and 4 pixels for 28x28: a quarter of the MACs)
//! resnet:8,16,32,stem=2       ... the stem convolution halves it (stages at 14, 7 and 4;
//!                             with stride=2 too: 7, 4 and 2)
//! mobilenet:16,32,64,width=0.5,expand=4
//!                             a 3x3 stem, then per entry a stage of inverted residual blocks
//!                             (1x1 expand, 3x3 depthwise, 1x1 project; 1 by default,
//!                             blocks=N), widths times `width`, global average pooling
//! ```

use std::fmt;
use std::str::FromStr;

use distill_data::{ParseError, SampleShape};
use serde::{Deserialize, Serialize};

use crate::StudentError;

/// The family of a student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchKind {
    /// A multi-layer perceptron on the flattened input.
    Mlp,
    /// Blocks of two 3x3 convolutions with batch-norm and ReLU, then 2x2 max-pooling, then
    /// dense layers.
    Cnn,
    /// Residual networks of basic blocks (ResNet-18/-20 style), global average pooling.
    Resnet,
    /// Inverted residual blocks with depthwise convolutions (MobileNet V2 style), global
    /// average pooling.
    Mobilenet,
}

impl ArchKind {
    fn name(self) -> &'static str {
        match self {
            ArchKind::Mlp => "mlp",
            ArchKind::Cnn => "cnn",
            ArchKind::Resnet => "resnet",
            ArchKind::Mobilenet => "mobilenet",
        }
    }

    /// Height and width after one halving: a 2x2 max-pool (CNN) floors odd sizes, a
    /// stride-2 3x3 convolution with padding 1 (the other kinds) rounds them up.
    pub(crate) fn halve(self, h: usize, w: usize) -> (usize, usize) {
        match self {
            ArchKind::Cnn => (h / 2, w / 2),
            _ => (h.div_ceil(2), w.div_ceil(2)),
        }
    }

    /// Blocks per stage where the spec does not say.
    fn default_blocks(self) -> usize {
        match self {
            ArchKind::Resnet => 2,
            _ => 1,
        }
    }
}

/// MobileNet's expansion factor where the spec does not say.
const DEFAULT_EXPAND: usize = 4;

/// A parsed architecture spec; `Display` gives back the canonical text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArchSpec {
    /// The family.
    pub kind: ArchKind,
    /// MLP: hidden widths. CNN: output channels of each conv block.
    pub widths: Vec<usize>,
    /// CNN only: widths of hidden dense layers between the conv blocks and the head.
    pub fc: Vec<usize>,
    /// Dropout probability after each hidden dense layer (0 = none).
    pub dropout: f64,
    /// ResNet, MobileNet: blocks per stage.
    pub blocks: usize,
    /// MobileNet: width multiplier of every stage (1 = the widths as given).
    pub width: f64,
    /// MobileNet: expansion factor of the inverted residual blocks.
    pub expand: usize,
    /// ResNet, MobileNet: stride of the first stage's first block (1 or 2). At 2 every
    /// stage works at half the resolution, as ResNet-18's strided stem does on ImageNet:
    /// about a quarter of the compute, for small inputs at some cost in accuracy.
    pub first_stride: usize,
    /// ResNet, MobileNet: stride of the stem convolution (1 or 2). At 2 the first stage
    /// sees half the resolution without first running a block at full resolution: the
    /// cheapest halving, as ResNet-18's stem on ImageNet.
    pub stem_stride: usize,
}

impl ArchSpec {
    /// An error unless samples of `input` fit this architecture: every conv block (CNN)
    /// halves the height and width, as does every stage after the first (ResNet,
    /// MobileNet; the first too with `stride=2`, and the stem with `stem=2`), so each must
    /// leave at least 1x1.
    pub fn check_input(&self, input: SampleShape) -> Result<(), StudentError> {
        // Where each halving happens, in order.
        let halvings: Vec<String> = match self.kind {
            ArchKind::Mlp => return Ok(()),
            ArchKind::Cnn => (1..=self.widths.len())
                .map(|b| format!("block {b}"))
                .collect(),
            ArchKind::Resnet | ArchKind::Mobilenet => {
                let stem = (self.stem_stride == 2).then(|| "the stem".to_string());
                let first = (self.first_stride == 2).then_some(1);
                let stages = first.into_iter().chain(2..=self.widths.len());
                stem.into_iter()
                    .chain(stages.map(|s| format!("stage {s}")))
                    .collect()
            }
        };
        let (mut h, mut w) = (input.height, input.width);
        for place in &halvings {
            if h < 2 || w < 2 {
                let unit = if self.kind == ArchKind::Cnn {
                    "block"
                } else {
                    "stage"
                };
                return Err(StudentError::setting(
                    "arch",
                    format!(
                        "{self} halves the input {} times ({}), but a {}x{} input is {h}x{w} before {place}: use fewer {unit}s{} or a larger input",
                        halvings.len(),
                        if self.pooled() {
                            "the stem with stem=2, the first stage with stride=2, every later stage"
                        } else {
                            "once in each of its conv blocks"
                        },
                        input.height,
                        input.width,
                        if self.pooled() { " or strides" } else { "" },
                    ),
                ));
            }
            (h, w) = self.kind.halve(h, w);
        }
        Ok(())
    }

    /// Hidden dense widths, whatever the kind (none for the pooled families).
    pub fn dense_widths(&self) -> &[usize] {
        match self.kind {
            ArchKind::Mlp => &self.widths,
            ArchKind::Cnn => &self.fc,
            ArchKind::Resnet | ArchKind::Mobilenet => &[],
        }
    }

    /// Conv block channels of a CNN (empty for the other kinds).
    pub fn conv_channels(&self) -> &[usize] {
        match self.kind {
            ArchKind::Cnn => &self.widths,
            _ => &[],
        }
    }

    /// Output channels of each stage of a ResNet or MobileNet (the widths times the width
    /// multiplier, at least 1); empty for the other kinds.
    pub fn stage_widths(&self) -> Vec<usize> {
        match self.kind {
            ArchKind::Resnet => self.widths.clone(),
            ArchKind::Mobilenet => self
                .widths
                .iter()
                .map(|&w| ((w as f64 * self.width).round() as usize).max(1))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The blocks of a ResNet or MobileNet, in order, as `[in channels, out channels,
    /// stride]`: `blocks` per stage, the first of every stage after the first with stride
    /// 2 (and the very first with `first_stride`); the first block takes the stem's
    /// output, the first stage's width. Empty for the other kinds.
    pub fn pooled_blocks(&self) -> Vec<[usize; 3]> {
        let widths = self.stage_widths();
        let mut cin = widths.first().copied().unwrap_or_default();
        let mut out = Vec::new();
        for (stage, &cout) in widths.iter().enumerate() {
            for block in 0..self.blocks {
                let stride = match (stage, block) {
                    (0, 0) => self.first_stride,
                    (_, 0) => 2,
                    _ => 1,
                };
                out.push([cin, cout, stride]);
                cin = cout;
            }
        }
        out
    }

    /// Whether the features are globally average-pooled before the head (ResNet,
    /// MobileNet: any input size), rather than flattened.
    pub fn pooled(&self) -> bool {
        matches!(self.kind, ArchKind::Resnet | ArchKind::Mobilenet)
    }
}

impl FromStr for ArchSpec {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| ParseError::new("architecture", text, reason);
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| bad("expected KIND:WIDTHS, e.g. mlp:512,256 or cnn:32,64".into()))?;
        let kind = match kind.trim() {
            "mlp" => ArchKind::Mlp,
            "cnn" => ArchKind::Cnn,
            "resnet" => ArchKind::Resnet,
            "mobilenet" => ArchKind::Mobilenet,
            other => {
                return Err(bad(format!(
                    "unknown architecture '{other}' (mlp, cnn, resnet or mobilenet)"
                )));
            }
        };
        let mut spec = ArchSpec {
            kind,
            widths: Vec::new(),
            fc: Vec::new(),
            dropout: 0.0,
            blocks: kind.default_blocks(),
            width: 1.0,
            expand: DEFAULT_EXPAND,
            first_stride: 1,
            stem_stride: 1,
        };
        let pooled = matches!(kind, ArchKind::Resnet | ArchKind::Mobilenet);
        for item in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let positive = |v: &str| -> Result<usize, ParseError> {
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(bad(format!("'{v}' is not a positive integer width"))),
                }
            };
            match item.split_once('=') {
                None => spec.widths.push(positive(item)?),
                Some(("fc", v)) if kind == ArchKind::Cnn => spec.fc.push(positive(v)?),
                Some(("blocks", v)) if pooled => spec.blocks = positive(v)?,
                Some((key @ ("stride" | "stem"), v)) if pooled => {
                    let stride = match v {
                        "1" => 1,
                        "2" => 2,
                        _ => return Err(bad(format!("{key} '{v}' must be 1 or 2"))),
                    };
                    match key {
                        "stride" => spec.first_stride = stride,
                        _ => spec.stem_stride = stride,
                    }
                }
                Some(("expand", v)) if kind == ArchKind::Mobilenet => spec.expand = positive(v)?,
                Some(("width", v)) if kind == ArchKind::Mobilenet => {
                    spec.width = match v.parse::<f64>() {
                        Ok(m) if m > 0.0 && m.is_finite() => m,
                        _ => return Err(bad(format!("width '{v}' must be a positive number"))),
                    }
                }
                Some(("dropout", v)) => {
                    spec.dropout = match v.parse::<f64>() {
                        Ok(p) if (0.0..1.0).contains(&p) => p,
                        _ => return Err(bad(format!("dropout '{v}' must be in [0, 1)"))),
                    }
                }
                Some((key, _)) => {
                    let options = match kind {
                        ArchKind::Mlp => "dropout=P",
                        ArchKind::Cnn => "dropout=P, fc=N",
                        ArchKind::Resnet => "blocks=N, stride=1|2, stem=1|2",
                        ArchKind::Mobilenet => "blocks=N, width=M, expand=N, stride=1|2, stem=1|2",
                    };
                    return Err(bad(format!("unknown option '{key}' (options: {options})")));
                }
            }
        }
        if spec.widths.is_empty() {
            return Err(bad("give at least one width".into()));
        }
        if pooled && spec.dropout > 0.0 {
            return Err(bad(format!(
                "dropout applies to hidden dense layers, which {} has none of",
                kind.name()
            )));
        }
        Ok(spec)
    }
}

impl fmt::Display for ArchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = self.widths.iter().map(|w| w.to_string()).collect();
        items.extend(self.fc.iter().map(|w| format!("fc={w}")));
        if self.dropout > 0.0 {
            items.push(format!("dropout={}", self.dropout));
        }
        if self.blocks != self.kind.default_blocks() {
            items.push(format!("blocks={}", self.blocks));
        }
        if self.width != 1.0 {
            items.push(format!("width={}", self.width));
        }
        if self.kind == ArchKind::Mobilenet && self.expand != DEFAULT_EXPAND {
            items.push(format!("expand={}", self.expand));
        }
        if self.first_stride != 1 {
            items.push(format!("stride={}", self.first_stride));
        }
        if self.stem_stride != 1 {
            items.push(format!("stem={}", self.stem_stride));
        }
        write!(f, "{}:{}", self.kind.name(), items.join(","))
    }
}

impl TryFrom<String> for ArchSpec {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ArchSpec> for String {
    fn from(a: ArchSpec) -> String {
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for text in [
            "mlp:512,256",
            "cnn:32,64",
            "cnn:32,64,fc=256,dropout=0.25",
            "mlp:128,dropout=0.1",
            "resnet:16,32,64",
            "resnet:8,16,blocks=1",
            "resnet:8,16,32,blocks=1,stride=2",
            "mobilenet:16,32,64,width=0.5",
            "mobilenet:16,32,64,width=0.5,stride=2",
            "resnet:16,32,64,blocks=1,stem=2",
            "resnet:16,32,64,blocks=1,stride=2,stem=2",
            "mobilenet:16,32,blocks=2,expand=6",
        ] {
            let spec: ArchSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        let cnn: ArchSpec = "cnn:8,16,fc=64".parse().unwrap();
        assert_eq!(cnn.conv_channels(), &[8, 16]);
        assert_eq!(cnn.dense_widths(), &[64]);
        let mobile: ArchSpec = "mobilenet:16,32,64,width=0.5".parse().unwrap();
        assert_eq!(mobile.stage_widths(), [8, 16, 32]);
        assert_eq!((mobile.blocks, mobile.expand), (1, 4));
        assert!(mobile.pooled() && mobile.conv_channels().is_empty());
    }

    #[test]
    fn rejects_bad_specs_with_reason() {
        for (text, why) in [
            ("vgg:18", "unknown architecture"),
            ("resnet:16,fc=32", "options: blocks=N"),
            ("resnet:16,dropout=0.1", "has none of"),
            ("mobilenet:16,width=0", "positive number"),
            ("resnet:16,stem=4", "stem '4' must be 1 or 2"),
            ("cnn:16,stem=2", "unknown option 'stem'"),
            ("mobilenet:16,expand=0", "positive integer"),
            ("mlp", "KIND:WIDTHS"),
            ("mlp:", "at least one width"),
            ("mlp:0", "positive integer"),
            ("mlp:12x", "positive integer"),
            ("mlp:64,fc=32", "unknown option"),
            ("cnn:8,dropout=1.5", "dropout"),
        ] {
            let err = text.parse::<ArchSpec>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
