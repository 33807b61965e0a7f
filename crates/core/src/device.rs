//! Where a model runs: the CPU, or one CUDA GPU (`cuda:N`). The teacher's device is ONNX
//! Runtime's execution provider; a student's is burn's backend. Both parse and print the
//! same way, so `--device` means one thing on every command.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

/// A compute device: the CPU, or the CUDA GPU of that index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ComputeDevice {
    /// The CPU (ONNX Runtime's default provider; burn's flex backend).
    #[default]
    Cpu,
    /// CUDA GPU number N (0 is the first).
    Cuda(u32),
}

impl ComputeDevice {
    /// Whether this is a GPU.
    pub fn is_cuda(&self) -> bool {
        matches!(self, ComputeDevice::Cuda(_))
    }

    /// `cpu` or `cuda`: what decides the numbers a run gives (which GPU does not).
    pub fn kind(&self) -> &'static str {
        match self {
            ComputeDevice::Cpu => "cpu",
            ComputeDevice::Cuda(_) => "cuda",
        }
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeDevice::Cpu => f.write_str("cpu"),
            ComputeDevice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for ComputeDevice {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("device", text, "expected cpu, cuda or cuda:N (N: 0, 1, …)");
        match text.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(ComputeDevice::Cpu),
            "cuda" | "gpu" => Ok(ComputeDevice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(ComputeDevice::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl Serialize for ComputeDevice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComputeDevice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_the_same_way() {
        for (text, device) in [
            ("cpu", ComputeDevice::Cpu),
            ("cuda", ComputeDevice::Cuda(0)),
            ("CUDA:1", ComputeDevice::Cuda(1)),
        ] {
            assert_eq!(text.parse::<ComputeDevice>().unwrap(), device);
            assert_eq!(device.to_string().parse::<ComputeDevice>().unwrap(), device);
        }
        for bad in ["", "tpu", "cuda:", "cuda:-1", "cuda:x"] {
            let err = bad.parse::<ComputeDevice>().unwrap_err();
            assert!(err.to_string().contains("cpu, cuda or cuda:N"), "{err}");
        }
        let json = serde_json::to_string(&ComputeDevice::Cuda(2)).unwrap();
        assert_eq!(json, "\"cuda:2\"");
        assert_eq!(
            serde_json::from_str::<ComputeDevice>(&json).unwrap(),
            ComputeDevice::Cuda(2)
        );
    }
}
