//! Sweeps for distill: the grid file, the runs it expands to (and how shards share them),
//! the engine that trains them (each run launched by the caller from its spec file), and
//! the report that compares every student with its hard-label baseline and the teacher.
//!
//! A [`Sweep`] is created from a [`SweepDefinition`] (checked against its data and caches
//! before its directory is claimed), run shard by shard through a [`Launcher`], and
//! reported with a [`ModelTimer`]. This crate links neither ONNX Runtime nor the CLI:
//! launching and timing are passed in.
#![warn(missing_docs)]

mod definition;
mod engine;
mod error;
mod files;
mod grid;
mod output;
mod plan;
mod render;
mod report;
mod svg;

pub use definition::{DEFINITION_FILE, SweepDefinition};
pub use engine::{
    Checked, InProcess, Launcher, RunDescription, Sweep, SweepObserver, SweepSummary,
};
pub use error::SweepError;
pub use grid::{Configuration, Grid};
pub use output::{ModelTimer, ReportSettings, WrittenReport};
pub use plan::{FinishedRun, PlannedRun, Shard, arch_slug, plan};
pub use render::{csv, markdown};
pub use report::{Budget, Gain, Report, Row, Stat, TeacherRow, build};
pub use svg::svg;
