//! The short architecture spec used on the command line and in config files.
//!
//! ```text
//! mlp:512,256                 hidden widths of a multi-layer perceptron
//! cnn:32,64                   per entry: two 3x3 conv + batch-norm + ReLU, then 2x2 max-pool
//! cnn:32,64,fc=256            ... then a hidden dense layer of 256 before the linear head
//! mlp:512,256,dropout=0.2     dropout after every hidden dense layer
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
}

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
}

impl ArchSpec {
    /// An error unless samples of `input` fit this architecture: every conv block halves
    /// the height and width, so each must leave at least 1x1.
    pub fn check_input(&self, input: SampleShape) -> Result<(), StudentError> {
        let (mut h, mut w) = (input.height, input.width);
        for block in 1..=self.conv_channels().len() {
            if h < 2 || w < 2 {
                return Err(StudentError::setting(
                    "arch",
                    format!(
                        "{self} has {} conv blocks, each halving the input, but a {}x{} input is {h}x{w} before block {block}: use fewer blocks or a larger input",
                        self.conv_channels().len(),
                        input.height,
                        input.width
                    ),
                ));
            }
            h /= 2;
            w /= 2;
        }
        Ok(())
    }

    /// Hidden dense widths, whatever the kind.
    pub fn dense_widths(&self) -> &[usize] {
        match self.kind {
            ArchKind::Mlp => &self.widths,
            ArchKind::Cnn => &self.fc,
        }
    }

    /// Conv block channels (empty for an MLP).
    pub fn conv_channels(&self) -> &[usize] {
        match self.kind {
            ArchKind::Mlp => &[],
            ArchKind::Cnn => &self.widths,
        }
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
            other => return Err(bad(format!("unknown architecture '{other}' (mlp or cnn)"))),
        };
        let mut spec = ArchSpec {
            kind,
            widths: Vec::new(),
            fc: Vec::new(),
            dropout: 0.0,
        };
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
                Some(("dropout", v)) => {
                    spec.dropout = match v.parse::<f64>() {
                        Ok(p) if (0.0..1.0).contains(&p) => p,
                        _ => return Err(bad(format!("dropout '{v}' must be in [0, 1)"))),
                    }
                }
                Some((key, _)) => {
                    return Err(bad(format!(
                        "unknown option '{key}' (options: dropout=P{})",
                        if kind == ArchKind::Cnn { ", fc=N" } else { "" }
                    )));
                }
            }
        }
        if spec.widths.is_empty() {
            return Err(bad("give at least one width".into()));
        }
        Ok(spec)
    }
}

impl fmt::Display for ArchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ArchKind::Mlp => "mlp",
            ArchKind::Cnn => "cnn",
        };
        let mut items: Vec<String> = self.widths.iter().map(|w| w.to_string()).collect();
        items.extend(self.fc.iter().map(|w| format!("fc={w}")));
        if self.dropout > 0.0 {
            items.push(format!("dropout={}", self.dropout));
        }
        write!(f, "{kind}:{}", items.join(","))
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
        ] {
            let spec: ArchSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        let cnn: ArchSpec = "cnn:8,16,fc=64".parse().unwrap();
        assert_eq!(cnn.conv_channels(), &[8, 16]);
        assert_eq!(cnn.dense_widths(), &[64]);
    }

    #[test]
    fn rejects_bad_specs_with_reason() {
        for (text, why) in [
            ("resnet:18", "unknown architecture"),
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
