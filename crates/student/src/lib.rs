//! Student models for distill: architectures from a short spec, supervised training with
//! burn on the flex CPU backend, evaluation, and ONNX export.

mod batcher;
mod config;
mod error;
mod evaluate;
mod export;
mod metrics;
mod model;
mod rng;
mod run_dir;
mod spec;
mod stats;
mod train;

pub use config::{Augment, DataIdentity, TrainConfig};
pub use error::StudentError;
pub use evaluate::{accuracy, argmax_rows, predict_logits};
pub use export::export_onnx;
pub use metrics::EpochMetrics;
pub use model::{Student, compute_device};
pub use run_dir::{RunDir, write_atomic};
pub use spec::{ArchKind, ArchSpec};
pub use stats::{ModelStats, model_stats};
pub use train::{Quiet, TrainObserver, cosine_lr, train};
