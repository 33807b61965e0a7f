//! The runs of a sweep, their directories, and which of them a shard trains.

use std::path::PathBuf;

use distill_data::ParseError;
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

/// `--shard I/N`: the I-th of N processes (1-based) trains runs I, I+N, I+2N, … of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, 1-based.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// The one shard of an unsplit sweep.
    pub fn all() -> Self {
        Shard { index: 1, count: 1 }
    }

    /// Whether run `run` (0-based, in plan order) is this shard's.
    pub fn includes(&self, run: usize) -> bool {
        run % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError::new("shard", s, "expected I/N with 1 <= I <= N, e.g. 1/2");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}
