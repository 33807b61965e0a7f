//! `sweep.json`: what the runs of a sweep depend on, written when the directory is first
//! used; a rerun or another shard with other settings is refused.

use std::path::{Path, PathBuf};

use distill_data::{ComputeDevice, DirLock, PreprocessOverrides, TrainTestData};
use distill_student::{DistillSpec, RunSpec, Validation};
use serde::{Deserialize, Serialize};

use crate::{Grid, PlannedRun, SweepError};

/// The file of a sweep directory that holds its definition.
pub const DEFINITION_FILE: &str = "sweep.json";
/// The lock shards take turns on to claim a sweep directory and to write its report.
pub(crate) const CLAIM_LOCK: &str = ".distill.sweep.lock";

/// A sweep: the grid and everything its runs share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDefinition {
    /// The grid file as given (informational: `grid` holds what it says).
    pub grid_file: PathBuf,
    /// The configurations to train.
    pub grid: Grid,
    /// The training and test splits of every run.
    pub data: TrainTestData,
    /// Preprocessing settings of every run.
    #[serde(default)]
    pub preprocess: PreprocessOverrides,
    /// The validation split configurations are selected on.
    pub validation: Validation,
    /// Teacher logits over the training split.
    pub cache: PathBuf,
    /// Teacher logits over the test split.
    pub test_cache: Option<PathBuf>,
    /// The teacher's ONNX file, for the report's teacher row (not part of the identity).
    pub teacher: Option<PathBuf>,
    /// Memory budget for the cached training logits (not part of the identity).
    #[serde(default = "default_max_memory")]
    pub max_memory: u64,
    /// Where this process's runs train (not part of the identity: shards of one sweep may
    /// train on different machines; each run resumes only on the kind it began on).
    #[serde(default)]
    pub device: ComputeDevice,
}

fn default_max_memory() -> u64 {
    distill_student::DEFAULT_MAX_MEMORY
}

impl SweepDefinition {
    /// The part that must agree between shards and reruns.
    fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "grid": self.grid,
            "data": self.data,
            "preprocess": self.preprocess,
            "validation": self.validation,
        })
    }

    /// The definition in sweep directory `dir`.
    pub fn read(dir: &Path) -> Result<SweepDefinition, SweepError> {
        let path = dir.join(DEFINITION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| SweepError::NotASweep {
            dir: dir.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SweepError::Json { path, source })
    }

    /// The spec of one planned run: the grid's configuration and seed, with the data,
    /// preprocessing, caches and validation split every run shares. The hard-label
    /// baseline distils with alpha = 0 (the distillation term weighs nothing), so it also
    /// reports agreement with the teacher.
    pub fn spec(&self, run: &PlannedRun) -> RunSpec {
        let c = &self.grid.configurations[run.configuration];
        RunSpec {
            optimisation: c.optimisation.clone(),
            seed: run.seed,
            preprocess: self.preprocess.clone(),
            // A distilled run's cache brings its views; its baseline draws them online.
            augment: if c.is_baseline() {
                c.augment.clone()
            } else {
                Default::default()
            },
            distill: Some(DistillSpec {
                cache: c.cache.clone().unwrap_or_else(|| self.cache.clone()),
                test_cache: self.test_cache.clone(),
                loss: c.loss.clone(),
            }),
            validation: Some(self.validation),
            max_memory: self.max_memory,
            device: self.device,
            ..RunSpec::new(c.arch.clone(), self.data.clone())
        }
    }

    /// Refuses `dir` when its `sweep.json` records other settings.
    fn check_same(&self, dir: &Path) -> Result<(), SweepError> {
        let old = SweepDefinition::read(dir)?;
        let mut diffs = Vec::new();
        distill_data::json_diff(&old.identity(), &self.identity(), "", &mut diffs);
        if !diffs.is_empty() {
            return Err(SweepError::OtherSweep {
                dir: dir.to_path_buf(),
                diffs: diffs.join("; "),
            });
        }
        Ok(())
    }

    /// Writes `sweep.json` into `dir`, or checks that the one there matches. Shards
    /// starting together take turns (a lock on the folder): the first writes it, the others
    /// check that it is theirs.
    pub fn claim(&self, dir: &Path) -> Result<(), SweepError> {
        let path = dir.join(DEFINITION_FILE);
        if dir.exists() && !path.exists() {
            // A `runs/` directory alone is accepted: runs can be seeded from another sweep
            // with the same settings (each run's config.json records what it is).
            let entries = std::fs::read_dir(dir).map_err(|e| SweepError::io(dir, e))?;
            for entry in entries {
                let name = entry.map_err(|e| SweepError::io(dir, e))?.file_name();
                let name = name.to_string_lossy();
                let ours = name == "runs"
                    || name == CLAIM_LOCK
                    || distill_data::is_partial(&name, DEFINITION_FILE);
                if !ours {
                    return Err(SweepError::NotEmpty {
                        dir: dir.to_path_buf(),
                    });
                }
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))?;
        let _turn = DirLock::acquire(dir, CLAIM_LOCK, "claiming the sweep directory")?;
        if path.exists() {
            return self.check_same(dir);
        }
        let text = serde_json::to_string_pretty(self).map_err(|source| SweepError::Json {
            path: path.clone(),
            source,
        })?;
        crate::files::write(&path, &text)?;
        self.check_same(dir)
    }
}
