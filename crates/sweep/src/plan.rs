//! The runs of a sweep, their directories, and which of them a shard trains.

use std::path::PathBuf;

pub use distill_data::Shard;
use distill_student::RunResult;

use crate::Grid;

/// One training run: a configuration (by index into the grid) and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Index of its configuration in the grid.
    pub configuration: usize,
    /// Its seed.
    pub seed: u64,
    /// Relative to the sweep directory: `runs/ARCH/KD_TRAIN/seedN`.
    pub dir: PathBuf,
}

/// A finished run and its `result.json`.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// Which run of the plan it is.
    pub planned: PlannedRun,
    /// Its result.
    pub result: RunResult,
}

/// `mlp:512,256` → `mlp-512-256`, `cnn:8,16,fc=64` → `cnn-8-16-fc64`.
pub fn arch_slug(arch: &str) -> String {
    arch.chars()
        .filter(|&c| c != '=')
        .map(|c| if c == ':' || c == ',' { '-' } else { c })
        .collect()
}

/// Every run of `grid`, in grid order (configurations, then seeds).
pub fn plan(grid: &Grid) -> Vec<PlannedRun> {
    grid.runs()
        .into_iter()
        .map(|(i, seed)| {
            let c = &grid.configurations[i];
            let dir = PathBuf::from("runs")
                .join(arch_slug(&c.arch.to_string()))
                .join(format!("{}_{}", c.kd_tag(), c.train_tag()))
                .join(format!("seed{seed}"));
            PlannedRun {
                configuration: i,
                seed,
                dir,
            }
        })
        .collect()
}
