//! Student models for distill: architectures from a short spec, the run spec (everything a
//! run depends on), supervised and distillation training with burn on the flex CPU
//! backend, evaluation, and ONNX export.
//!
//! A run is a [`RunSpec`]: [`RunSpec::execute`] loads its data, joins the teacher's cached
//! logits, trains (resuming from the run directory's checkpoint) and exports. The pieces are
//! public too: [`train`] for a [`TrainConfig`] on data already loaded, [`export_onnx`],
//! [`TeacherTargets::join`].
#![warn(missing_docs)]

mod adamw;
mod arch;
mod batcher;
mod bn_relu;
mod config;
mod conv;
mod depthwise;
mod error;
mod evaluate;
mod export;
mod families;
mod flex_buf;
mod holdout;
mod kd;
mod metrics;
mod model;
mod observer;
mod order;
mod pool2x2;
mod rng;
mod run;
mod run_dir;
mod run_spec;
mod stats;
mod targets;
mod teacher_rows;
mod train;

pub use arch::{ArchKind, ArchSpec};
pub use config::{DataIdentity, DistillConfig, Optimisation, TrainConfig};
pub use distill_core::keep_freed_memory;
pub use error::{RunDirProblem, StudentError};
pub use evaluate::predict_logits;
pub use export::export_onnx;
pub use holdout::Validation;
pub use kd::{HardLoss, HardTargets, KdLoss, KdTerms};
pub use metrics::EpochMetrics;
pub use model::{Student, compute_device};
pub use observer::{Quiet, TrainObserver, TrainingPlan};
pub use order::{FIRST_EPOCH_WINDOW, OrderSettings, RowGroups, epoch_windows};
pub use run::{RunResult, finish_run};
pub use run_dir::{CLAIM_FILE, MARKER_FILE, RunDir, SPEC_FILE, write_atomic};
pub use run_spec::{DEFAULT_MAX_MEMORY, DEFAULT_SEED, DistillSpec, LoadedRun, RunOutcome, RunSpec};
pub use stats::{ModelStats, model_stats};
pub use targets::{CacheIdentity, Targets, TeacherLogits, TeacherTargets};
pub use teacher_rows::{RowFormat, TeacherBatch, TopKBatch};
pub use train::{cosine_lr, train};
