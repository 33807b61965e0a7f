//! The run directory: `run.json` (the spec), `config.json`, `metrics.jsonl`, `checkpoint/`
//! (for resuming), and at the end `model.bpk`, `model.onnx` and `result.json`. Every file
//! appears under its final name only when complete (written to a temporary name, synced,
//! renamed).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RunDirProblem;
use crate::{EpochMetrics, StudentError, TrainConfig};

/// The file of a run directory that holds its spec.
pub const SPEC_FILE: &str = "run.json";

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
}

/// Progress saved after every epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Last finished epoch (1-based).
    pub epoch: usize,
}

fn problem(path: &Path, reason: RunDirProblem) -> StudentError {
    StudentError::RunDir {
        path: path.to_path_buf(),
        reason,
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

/// Writes `value` to `path` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StudentError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| StudentError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, text.as_bytes())
}

/// Whether `path` is a directory holding nothing, or nothing but a run spec (a sweep writes
/// the spec before its trainer starts).
fn holds_no_run(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .all(|e| e.file_name() == SPEC_FILE)
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
        let config_json = serde_json::to_value(config).map_err(|source| StudentError::Json {
            path: run.config_path(),
            source,
        })?;
        if path.exists() {
            if !path.is_dir() {
                return Err(problem(path, RunDirProblem::NotADirectory));
            }
            match fs::read_to_string(run.config_path()).ok() {
                // Only ever delete what is recognisably a distill run.
                Some(_) if overwrite => {
                    fs::remove_dir_all(path).map_err(|source| StudentError::Write {
                        path: path.to_path_buf(),
                        source,
                    })?;
                }
                Some(text) => {
                    run.check_same(&text, &config_json)?;
                    return Ok(run);
                }
                None if !holds_no_run(path) => {
                    return Err(problem(path, RunDirProblem::NotARun));
                }
                None => {}
            }
        }
        fs::create_dir_all(run.checkpoint_dir()).map_err(|source| StudentError::Write {
            path: run.checkpoint_dir(),
            source,
        })?;
        write_json(&run.config_path(), &config_json)?;
        Ok(run)
    }

    /// Refuses a directory whose `config.json` (`text`) differs from `config`.
    fn check_same(&self, text: &str, config: &serde_json::Value) -> Result<(), StudentError> {
        let old: serde_json::Value =
            serde_json::from_str(text).map_err(|source| StudentError::Json {
                path: self.config_path(),
                source,
            })?;
        let mut diffs = Vec::new();
        distill_data::json_diff(&old, config, "", &mut diffs);
        if !diffs.is_empty() {
            return Err(problem(
                &self.path,
                RunDirProblem::OtherRun(diffs.join("; ")),
            ));
        }
        Ok(())
    }

    /// `run.json`: the spec the run was made from.
    pub fn spec_path(&self) -> PathBuf {
        self.path.join(SPEC_FILE)
    }
    /// `config.json`: the resolved configuration.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    /// `metrics.jsonl`: one line per epoch.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    /// `checkpoint/`: the state to resume from.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join("checkpoint")
    }
    /// `model.bpk`: the trained weights.
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.bpk")
    }
    /// `model.onnx`: the exported student.
    pub fn onnx_path(&self) -> PathBuf {
        self.path.join("model.onnx")
    }
    /// `result.json`: written last; its presence marks a finished run.
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
        for line in text.lines() {
            let m: EpochMetrics =
                serde_json::from_str(line).map_err(|source| StudentError::Json {
                    path: self.metrics_path(),
                    source,
                })?;
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
            let line = serde_json::to_string(m).map_err(|source| StudentError::Json {
                path: self.metrics_path(),
                source,
            })?;
            text.push_str(&line);
            text.push('\n');
        }
        write_atomic(&self.metrics_path(), text.as_bytes())
    }

    /// Writes `value` to `path` as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), StudentError> {
        write_json(path, value)
    }
}
