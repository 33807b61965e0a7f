//! ONNX Runtime for distill: finding and loading the runtime library, opening a model,
//! reading its inputs and outputs, planning how a dataset feeds it, and stage one of the
//! pipeline: running a teacher over a dataset into a logit cache.

mod cache_logits;
mod error;
mod latency;
mod model;
mod onnx_proto;
mod plan;
mod runtime;

pub use cache_logits::{CacheLogitsJob, cache_logits};
pub use error::TeacherError;
pub use latency::{LARGE_BATCH, Latency, LatencyProbe};
pub use model::{ElementType, OnnxModel, TensorInfo};
pub use onnx_proto::initializer_elements;
pub use plan::{
    InferencePlan, OutputKind, PROB_FLOOR, looks_like_probs, model_preprocess, preprocess_for_input,
};
pub use runtime::{environment, locate_runtime};
