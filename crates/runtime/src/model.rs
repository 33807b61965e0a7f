//! An ONNX model opened in ONNX Runtime: its input/output signature and batched f32 runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use distill_data::ComputeDevice;

use crate::RuntimeError;
use crate::gpu::cuda_provider;
use crate::runtime::environment_for;

/// Element type of a model input or output, as far as distill cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// 64-bit float.
    F64,
    /// Any other tensor element type, by name (`int64`, `uint8`, …).
    OtherTensor(String),
    /// Not a tensor: a sequence or a map (skl2onnx's ZipMap), by ONNX Runtime's description.
    NotATensor(String),
}

impl std::fmt::Display for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementType::F32 => f.write_str("float32"),
            ElementType::F16 => f.write_str("float16"),
            ElementType::F64 => f.write_str("float64"),
            ElementType::OtherTensor(name) => write!(f, "{name} tensor"),
            ElementType::NotATensor(what) => f.write_str(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_types_are_named_as_onnx_names_them() {
        assert_eq!(onnx_name(TensorElementType::Int64), "int64");
        assert_eq!(onnx_name(TensorElementType::Uint8), "uint8");
        assert_eq!(onnx_name(TensorElementType::Bool), "bool");
        let int64 = ElementType::OtherTensor(onnx_name(TensorElementType::Int64));
        assert_eq!(int64.to_string(), "int64 tensor");
        assert_eq!(ElementType::F32.to_string(), "float32");
    }
}

/// An element type's name as ONNX says it (`int64`), from ONNX Runtime's short one (`i64`).
fn onnx_name(t: TensorElementType) -> String {
    let short = t.to_string();
    let bits = short.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    match short.chars().next() {
        Some('i') if !bits.is_empty() => format!("int{bits}"),
        Some('u') if !bits.is_empty() => format!("uint{bits}"),
        _ => short.to_lowercase(),
    }
}

/// Name, element type and shape of one input or output; dynamic dims are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Its name in the graph.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Its declared shape; `None` for a dynamic dim.
    pub shape: Vec<Option<usize>>,
}

impl TensorInfo {
    fn from_outlet(name: &str, dtype: &ValueType) -> Self {
        let element = match dtype.tensor_type() {
            Some(TensorElementType::Float32) => ElementType::F32,
            Some(TensorElementType::Float16) => ElementType::F16,
            Some(TensorElementType::Float64) => ElementType::F64,
            Some(other) => ElementType::OtherTensor(onnx_name(other)),
            None => ElementType::NotATensor(dtype.to_string()),
        };
        let shape = dtype
            .tensor_shape()
            .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .unwrap_or_default();
        TensorInfo {
            name: name.to_string(),
            element,
            shape,
        }
    }

    /// Shape as text, `?` for dynamic dims: `[?, 1, 28, 28]`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// A model opened in ONNX Runtime, with its declared inputs and outputs.
pub struct OnnxModel {
    /// The model file.
    pub path: PathBuf,
    session: Session,
    /// Its inputs, in order.
    pub inputs: Vec<TensorInfo>,
    /// Its outputs, in order.
    pub outputs: Vec<TensorInfo>,
}

impl OnnxModel {
    /// Opens `path` on the CPU with `threads` intra-op threads (`None`: ONNX Runtime's
    /// default, one per physical core).
    pub fn open(path: &Path, threads: Option<usize>) -> Result<Self, RuntimeError> {
        OnnxModel::open_on(path, threads, ComputeDevice::Cpu)
    }

    /// Opens `path` on `device` with `threads` intra-op threads for what runs on the CPU.
    /// A GPU is ONNX Runtime's CUDA execution provider: a library without it, or a provider
    /// that does not start, is an error (never a silent fall-back to the CPU).
    pub fn open_on(
        path: &Path,
        threads: Option<usize>,
        device: ComputeDevice,
    ) -> Result<Self, RuntimeError> {
        let open_err = |source| RuntimeError::Open {
            path: path.to_path_buf(),
            source,
        };
        if !path.is_file() {
            return Err(RuntimeError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let (env, library) = environment_for(device)?;
        let mut builder = Session::builder(&env)
            .map_err(open_err)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| open_err(e.into()))?;
        if let ComputeDevice::Cuda(id) = device {
            builder = builder
                .with_execution_providers([cuda_provider(id, &library)?])
                .map_err(|e| RuntimeError::Cuda {
                    path: path.to_path_buf(),
                    device,
                    source: e.into(),
                })?;
        }
        if let Some(n) = threads {
            builder = builder
                .with_intra_threads(n)
                .map_err(|e| open_err(e.into()))?;
        }
        let session = builder.commit_from_file(path).map_err(open_err)?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| TensorInfo::from_outlet(o.name(), o.dtype()))
            .collect();
        Ok(OnnxModel {
            path: path.to_path_buf(),
            session,
            inputs,
            outputs,
        })
    }

    /// The model's custom metadata (`metadata_props`).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Ok(meta) = self.session.metadata() {
            for key in meta.custom_keys().unwrap_or_default() {
                if let Some(value) = meta.custom(&key) {
                    out.insert(key, value);
                }
            }
        }
        out
    }

    /// Runs the first input with `data` of `shape` and returns output `output` as
    /// `(shape, values)`. Float32 and float64 outputs are read (float64 is narrowed).
    pub fn run_f32(
        &mut self,
        data: &[f32],
        shape: &[usize],
        output: usize,
    ) -> Result<(Vec<usize>, Vec<f32>), RuntimeError> {
        let path = self.path.clone();
        let run_err = |source| RuntimeError::Run {
            path: path.clone(),
            source,
        };
        let input = TensorRef::from_array_view((shape.to_vec(), data)).map_err(run_err)?;
        let outputs = self.session.run(ort::inputs![input]).map_err(run_err)?;
        if output >= outputs.len() {
            return Err(RuntimeError::Shape {
                path,
                reason: format!("the model has no output #{output}"),
            });
        }
        let value = &outputs[output];
        let dims = |d: &[i64]| d.iter().map(|&d| d.max(0) as usize).collect();
        if let Ok((out_shape, values)) = value.try_extract_tensor::<f32>() {
            return Ok((dims(out_shape), values.to_vec()));
        }
        let (out_shape, values) =
            value
                .try_extract_tensor::<f64>()
                .map_err(|_| RuntimeError::OutputType {
                    path: path.clone(),
                    output,
                })?;
        Ok((dims(out_shape), values.iter().map(|&v| v as f32).collect()))
    }
}
