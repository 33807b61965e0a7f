//! ONNX Runtime for distill: finding and loading the runtime library, opening a model and
//! reading its inputs and outputs, planning how a dataset feeds it ([`PreparedModel`]),
//! stage one of the pipeline ([`CacheLogits`]: a teacher over a dataset into a logit cache),
//! evaluation ([`evaluate`]) and latency ([`LatencyProbe`], [`compare_models`]).
//!
//! Students never link this crate for training: it serves the teacher, `eval` and the
//! timing of exported models.
#![warn(missing_docs)]

mod error;
mod eval;
mod gpu;
mod latency;
mod model;
mod onnx_proto;
mod pipeline;
mod plan;
mod prepared;
mod runtime;
mod stage_one;
mod timing;

pub use distill_cache::MAX_VIEWS;
pub use error::RuntimeError;
pub use eval::{EvalReport, EvalSettings, evaluate};
pub use latency::{LARGE_BATCH, Latency, LatencyProbe};
pub use model::{ElementType, OnnxModel, TensorInfo};
pub use onnx_proto::initializer_elements;
pub use plan::{InferencePlan, looks_like_probs, model_preprocess, preprocess_for_input};
pub use prepared::PreparedModel;
pub use runtime::{environment, locate_runtime};
pub use stage_one::{CacheLogits, CacheSummary, OpenCache, PreparedCache};
pub use timing::{ROUNDS, compare_models};
