//! Student models for distill: architectures from a short spec, supervised training with
//! burn on the flex CPU backend, evaluation, and ONNX export.

mod batcher;
mod config;
mod error;
mod evaluate;
mod export;
mod holdout;
mod kd;
mod metrics;
mod model;
mod rng;
mod run;
mod run_dir;
mod spec;
mod stats;
mod targets;
mod train;

pub use config::{Augment, DataIdentity, DistillConfig, TrainConfig};
pub use error::StudentError;
pub use evaluate::{accuracy, agreement, argmax_rows, mean_kl, predict_logits};
pub use export::export_onnx;
pub use holdout::Validation;
pub use kd::{HardLoss, KdLoss, KdTerms};
pub use metrics::EpochMetrics;
pub use model::{Student, compute_device};
pub use run::{RunResult, train_and_export};
pub use run_dir::{RunDir, write_atomic};
pub use spec::{ArchKind, ArchSpec};
pub use stats::{ModelStats, model_stats};
pub use targets::{CacheIdentity, TeacherTargets};
pub use train::{Quiet, Targets, TrainObserver, cosine_lr, train};
