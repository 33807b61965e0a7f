//! ONNX export through burn-onnx's (experimental) exporter, with a dynamic batch axis, plus
//! the model's metadata (architecture, preprocessing, classes) so an exported student never
//! loses the preprocessing it expects.

use std::path::Path;

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use distill_data::SampleShape;

use crate::run_dir::write_atomic;
use crate::{Student, StudentError};

/// Exports `model` (an inference copy) to `path` with input `[batch, C, H, W]` (batch
/// dynamic) and output logits `[batch, classes]`. `metadata` lands in the model's
/// `metadata_props`, readable by ONNX Runtime and the `onnx` Python package.
pub fn export_onnx(
    model: &Student,
    input: SampleShape,
    metadata: &[(&str, String)],
    path: &Path,
) -> Result<(), StudentError> {
    let fail = |reason: String| StudentError::Export {
        path: path.to_path_buf(),
        reason,
    };
    let device = Device::flex();
    let dims = |batch| [batch, input.channels, input.height, input.width];
    // Two traces with different batch sizes tell the exporter which axis is the batch.
    let sample = Tensor::<4>::zeros(dims(2), &device);
    let validation = Tensor::<4>::zeros(dims(3), &device);
    let specs = [InputSpec::new([
        AxisSpec::dynamic("batch"),
        AxisSpec::Static,
        AxisSpec::Static,
        AxisSpec::Static,
    ])];
    // Capture moves batch-norm running statistics to its own device, and those buffers are
    // shared between clones; `valid()` gives a copy with buffers of its own, so the caller's
    // model stays usable.
    // A model trained on a GPU is exported from the CPU, like every other.
    let copy = model.valid().to_device(&device);
    let onnx = OnnxExporter::new()
        .export_dynamic(&copy, sample, validation, &specs, Student::forward)
        .map_err(|e| fail(e.to_string()))?;
    let mut bytes = stable_names(onnx.as_bytes()).map_err(fail)?;
    append_metadata(&mut bytes, metadata);
    write_atomic(path, &bytes)
}

/// Renames the graph's tensors: the input `input`, the output `logits`, the values in
/// between `t0`, `t1`, … in order of appearance. The exporter numbers tensors from a
/// process-wide counter, so without this the same model exported twice (in one process or
/// two) gives files that differ in names and size.
fn stable_names(model: &[u8]) -> Result<Vec<u8>, String> {
    use std::collections::HashMap;

    use onnx_ir::{Message, ModelProto};
    let mut model = ModelProto::parse_from_bytes(model).map_err(|e| e.to_string())?;
    let graph = model.graph.mut_or_insert_default();
    let initializers: std::collections::HashSet<String> =
        graph.initializer.iter().map(|t| t.name.clone()).collect();
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, input) in graph.input.iter().enumerate() {
        let new = if i == 0 {
            "input".into()
        } else {
            format!("input{i}")
        };
        names.insert(input.name.clone(), new);
    }
    for (i, output) in graph.output.iter().enumerate() {
        let new = if i == 0 {
            "logits".into()
        } else {
            format!("output{i}")
        };
        names.insert(output.name.clone(), new);
    }
    let mut rename = |name: &mut String| {
        if name.is_empty() || initializers.contains(name.as_str()) {
            return;
        }
        let next = format!("t{}", names.len());
        *name = names.entry(name.clone()).or_insert(next).clone();
    };
    for node in graph.node.iter_mut() {
        node.input.iter_mut().for_each(&mut rename);
        node.output.iter_mut().for_each(&mut rename);
    }
    for value in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        rename(&mut value.name);
    }
    model.write_to_bytes().map_err(|e| e.to_string())
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn length_delimited(field: u32, payload: &[u8], out: &mut Vec<u8>) {
    varint(((field as u64) << 3) | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Appends `ModelProto.metadata_props` (field 14, `StringStringEntryProto { key = 1,
/// value = 2 }`) entries. Protobuf concatenates repeated fields of a message serialised in
/// several pieces, so appending to the encoded model is a valid edit.
fn append_metadata(model: &mut Vec<u8>, metadata: &[(&str, String)]) {
    for (key, value) in metadata {
        let mut entry = Vec::new();
        length_delimited(1, key.as_bytes(), &mut entry);
        length_delimited(2, value.as_bytes(), &mut entry);
        length_delimited(14, &entry, model);
    }
}
