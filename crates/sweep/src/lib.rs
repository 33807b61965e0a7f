//! Sweeps for distill: the grid file, the runs it expands to (and how shards share them),
//! and the report that compares every student with its hard-label baseline and the teacher.

mod error;
mod grid;
mod plan;
mod render;
mod report;
mod svg;

pub use error::SweepError;
pub use grid::{Configuration, Grid, KdSettings, TrainSettings};
pub use plan::{PlannedRun, Shard, arch_slug, plan};
pub use render::{csv, markdown};
pub use report::{Budget, FinishedRun, Gain, Measure, Report, Row, Stat, TeacherRow, build};
pub use svg::svg;
