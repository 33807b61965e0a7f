//! The run directory: `config.json`, `metrics.jsonl`, `checkpoint/` (for resuming), and at
//! the end `model.bpk`, `model.onnx` and `result.json`. Every file appears under its final
//! name only when complete (written to a temporary name, synced, renamed).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{EpochMetrics, StudentError, TrainConfig};

#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

/// Progress saved after every epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Last finished epoch (1-based).
    pub epoch: usize,
}

fn err(path: &Path, reason: impl Into<String>) -> StudentError {
    StudentError::RunDir {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StudentError> {
    distill_data::write_atomic(path, |file| file.write_all(bytes)).map_err(|source| {
        StudentError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

impl RunDir {
    /// Opens `path` for a run of `config`. A new or empty directory is initialised; one that
    /// holds the same config is reused (the run resumes); anything else is refused unless
    /// `overwrite`, which clears a previous run (never a directory that holds no run).
    pub fn prepare(
        path: &Path,
        config: &TrainConfig,
        overwrite: bool,
    ) -> Result<Self, StudentError> {
        let run = RunDir {
            path: path.to_path_buf(),
        };
        let config_json = serde_json::to_value(config).map_err(|e| err(path, e.to_string()))?;
        if path.exists() {
            if !path.is_dir() {
                return Err(err(path, "exists and is not a directory"));
            }
            let existing = fs::read_to_string(run.config_path()).ok();
            let is_empty = fs::read_dir(path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            match existing {
                // Only ever delete what is recognisably a distill run.
                Some(_) if overwrite => {
                    fs::remove_dir_all(path)
                        .map_err(|e| err(path, format!("cannot clear: {e}")))?;
                }
                Some(text) => {
                    let old: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| err(path, format!("config.json is not valid JSON: {e}")))?;
                    let mut diffs = Vec::new();
                    distill_data::json_diff(&old, &config_json, "", &mut diffs);
                    if !diffs.is_empty() {
                        return Err(err(
                            path,
                            format!(
                                "holds a run with a different config ({}); choose another --out or pass --overwrite",
                                diffs.join("; ")
                            ),
                        ));
                    }
                    return Ok(run);
                }
                None if !is_empty => {
                    return Err(err(
                        path,
                        "is not empty and holds no distill run (no config.json); choose another --out (such a directory is never deleted, even with --overwrite)",
                    ));
                }
                None => {}
            }
        }
        fs::create_dir_all(run.checkpoint_dir()).map_err(|e| StudentError::Write {
            path: run.checkpoint_dir(),
            source: e,
        })?;
        let text =
            serde_json::to_string_pretty(&config_json).map_err(|e| err(path, e.to_string()))?;
        write_atomic(&run.config_path(), text.as_bytes())?;
        Ok(run)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join("checkpoint")
    }
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.bpk")
    }
    pub fn onnx_path(&self) -> PathBuf {
        self.path.join("model.onnx")
    }
    pub fn result_path(&self) -> PathBuf {
        self.path.join("result.json")
    }

    /// The last finished epoch saved in `checkpoint/`, if any.
    pub fn checkpoint(&self) -> Option<CheckpointState> {
        let text = fs::read_to_string(self.checkpoint_dir().join("state.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Metrics of the epochs up to and including `epoch` (earlier lines of an interrupted
    /// run beyond the checkpoint are dropped).
    pub fn metrics_until(&self, epoch: usize) -> Result<Vec<EpochMetrics>, StudentError> {
        let text = fs::read_to_string(self.metrics_path()).unwrap_or_default();
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let m: EpochMetrics = serde_json::from_str(line)
                .map_err(|e| err(&self.metrics_path(), format!("line {}: {e}", i + 1)))?;
            if m.epoch <= epoch {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Rewrites `metrics.jsonl` with `metrics`, one object per line.
    pub fn write_metrics(&self, metrics: &[EpochMetrics]) -> Result<(), StudentError> {
        let mut text = String::new();
        for m in metrics {
            text.push_str(&serde_json::to_string(m).map_err(|e| err(&self.path, e.to_string()))?);
            text.push('\n');
        }
        write_atomic(&self.metrics_path(), text.as_bytes())
    }

    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), StudentError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| err(path, e.to_string()))?;
        write_atomic(path, text.as_bytes())
    }
}
