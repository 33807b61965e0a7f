//! What a teacher's output holds, and how it becomes the logits a cache stores.

use serde::{Deserialize, Serialize};

use distill_core::ParseError;

/// What a classifier's output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OutputKind {
    /// Raw scores (pre-softmax): stored as they are.
    #[default]
    #[serde(rename = "logits")]
    Logits,
    /// Softmax probabilities: stored as `ln(max(p, 1e-30))`, which are valid logits.
    #[serde(rename = "probs")]
    Probs,
    /// Log-probabilities: stored as they are, floored at `ln(1e-30)`.
    #[serde(rename = "log-probs")]
    LogProbs,
}

/// Probabilities below this are stored as `ln(PROB_FLOOR)` (DESIGN.md).
pub const PROB_FLOOR: f32 = 1e-30;

impl OutputKind {
    /// The name used in manifests and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Logits => "logits",
            OutputKind::Probs => "probs",
            OutputKind::LogProbs => "log-probs",
        }
    }

    /// Turns model output into values usable as logits, in place. NaN stays NaN so that it
    /// can be reported.
    pub fn to_logits(self, values: &mut [f32]) {
        let floor = PROB_FLOOR.ln();
        match self {
            OutputKind::Logits => {}
            OutputKind::Probs => {
                for v in values.iter_mut().filter(|v| !v.is_nan()) {
                    *v = v.max(PROB_FLOOR).ln();
                }
            }
            OutputKind::LogProbs => {
                for v in values.iter_mut().filter(|v| !v.is_nan()) {
                    *v = v.max(floor);
                }
            }
        }
    }
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutputKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logits" => Ok(OutputKind::Logits),
            "probs" => Ok(OutputKind::Probs),
            "log-probs" => Ok(OutputKind::LogProbs),
            _ => Err(ParseError::new(
                "teacher output kind",
                s,
                "expected one of logits, probs, log-probs (what the teacher's output holds)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_become_floored_log_probabilities() {
        let mut v = [1.0, 0.0, 0.5, f32::NAN];
        OutputKind::Probs.to_logits(&mut v);
        assert_eq!(v[0], 0.0);
        assert_eq!(v[1], PROB_FLOOR.ln());
        assert!((v[2] - 0.5f32.ln()).abs() < 1e-7);
        assert!(v[3].is_nan(), "NaN must survive to be reported");
        let mut v = [f32::NEG_INFINITY, -1.0];
        OutputKind::LogProbs.to_logits(&mut v);
        assert_eq!(v, [PROB_FLOOR.ln(), -1.0]);
    }

    #[test]
    fn kinds_print_and_parse_as_the_manifest_names_them() {
        for kind in [OutputKind::Logits, OutputKind::Probs, OutputKind::LogProbs] {
            assert_eq!(kind.as_str().parse::<OutputKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert!("softmax".parse::<OutputKind>().is_err());
    }
}
