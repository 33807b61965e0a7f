//! ONNX Runtime for distill: finding and loading the runtime library, opening a model,
//! reading its inputs and outputs, and running batches.

mod error;
mod model;
mod onnx_proto;
mod runtime;

pub use error::TeacherError;
pub use model::{ElementType, OnnxModel, TensorInfo};
pub use onnx_proto::initializer_elements;
pub use runtime::{environment, locate_runtime};
