//! How a dataset is fed to a model: which input and output, the batch size the model
//! allows, the per-sample input dims, and what the output holds. Everything is checked
//! before any work starts, so a model that cannot be fed fails with a clear message.

use distill_data::{Layout, Preprocess, SampleShape};

use crate::{ElementType, OnnxModel, RuntimeError, TensorInfo};

/// Whether every row of `values` (`[rows, classes]`) is a probability distribution: a
/// sign that a teacher ends in softmax.
pub fn looks_like_probs(values: &[f32], classes: usize) -> bool {
    !values.is_empty()
        && values.chunks(classes).all(|row| {
            row.iter().all(|v| (0.0..=1.0).contains(v))
                && (row.iter().sum::<f32>() - 1.0).abs() < 1e-3
        })
}

/// The size to resize to: the model's spatial dims where both are fixed and differ from the
/// data's.
fn resize_to(h: Option<usize>, w: Option<usize>, data: SampleShape) -> Option<[usize; 2]> {
    match (h, w) {
        (Some(h), Some(w)) if (h, w) != (data.height, data.width) => Some([h, w]),
        _ => None,
    }
}

/// Preprocessing defaults read from the model's input shape: the layout, the channel count
/// where the model fixes it (recorded even when the data has it already, so that the same
/// teacher records the same preprocessing whether or not the images' colour was looked at),
/// and the size where the model fixes it and the data differs. Everything else comes from
/// [`Preprocess::default`].
pub fn preprocess_for_input(input: &TensorInfo, data: SampleShape) -> Preprocess {
    let mut p = Preprocess::default();
    let dims = &input.shape;
    match dims.len() {
        2 => p.layout = Layout::Flat,
        // [N, H, W]: one grayscale channel without its own dim (common in MNIST exports).
        3 => {
            p.channels = Some(1);
            p.resize = resize_to(dims[1], dims[2], data);
        }
        4 => {
            let channel_like = |d: Option<usize>| matches!(d, Some(1 | 3));
            // [N, H, W, C] when the last dim looks like channels and the second does not.
            let (c, h, w) = if channel_like(dims[3]) && !channel_like(dims[1]) {
                p.layout = Layout::Nhwc;
                (dims[3], dims[1], dims[2])
            } else {
                (dims[1], dims[2], dims[3])
            };
            p.channels = c;
            p.resize = resize_to(h, w, data);
        }
        _ => {}
    }
    p
}

/// The metadata key under which distill's exports record their preprocessing.
pub const PREPROCESS_KEY: &str = "distill.preprocess";

/// The preprocessing a model asks for: the values recorded in its metadata
/// (`distill.preprocess`, which distill's exports carry) over the defaults read from its
/// input shape ([`preprocess_for_input`]). Explicit settings go on top of this. Recorded
/// metadata that is not a preprocessing is an error, not a silent fall-back to defaults.
pub fn model_preprocess(model: &OnnxModel, data: SampleShape) -> Result<Preprocess, RuntimeError> {
    let Some(input) = model.inputs.first() else {
        return Ok(Preprocess::default());
    };
    let from_shape = preprocess_for_input(input, data);
    let recorded = match model.metadata().get(PREPROCESS_KEY) {
        Some(text) => Some(serde_json::from_str::<Preprocess>(text).map_err(|source| {
            RuntimeError::Metadata {
                path: model.path.clone(),
                key: PREPROCESS_KEY,
                source,
            }
        })?),
        None => None,
    };
    Ok(match recorded {
        Some(recorded) => Preprocess {
            // A recorded shorter-side resize or crop already fixes the size.
            resize: if recorded.resize_shorter.is_some() || recorded.crop.is_some() {
                recorded.resize
            } else {
                recorded.resize.or(from_shape.resize)
            },
            channels: recorded.channels.or(from_shape.channels),
            ..recorded
        },
        None => from_shape,
    })
}

/// Which input and output of a model are used, and how batches are shaped.
#[derive(Debug, Clone)]
pub struct InferencePlan {
    /// The input fed.
    pub input: TensorInfo,
    /// The output read.
    pub output: TensorInfo,
    /// The output's index among the model's outputs.
    pub output_index: usize,
    /// The model's fixed batch size, if it has one: batches are padded to it.
    pub fixed_batch: Option<usize>,
    /// One sample's input dims without the batch dim (`[C, H, W]`, `[H, W, C]` or
    /// `[features]`).
    pub sample_dims: Vec<usize>,
}

fn dims_text(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[batch, {}]", dims.join(", "))
}

/// Whether an output can hold a classifier's scores: float, `[batch, classes]`.
fn classifier_output(o: &TensorInfo) -> bool {
    matches!(o.element, ElementType::F32 | ElementType::F64) && o.shape.len() == 2
}

impl InferencePlan {
    /// Plans feeding `model` samples of `sample_dims` and reading output `output` (by name;
    /// by default the first float output shaped `[batch, classes]`).
    pub fn new(
        model: &OnnxModel,
        sample_dims: &[usize],
        output: Option<&str>,
    ) -> Result<Self, RuntimeError> {
        let (input, sample_dims) = Self::input(model, sample_dims)?;
        let output_index = Self::output(model, output)?;
        Ok(InferencePlan {
            fixed_batch: input.shape[0],
            input,
            output: model.outputs[output_index].clone(),
            output_index,
            sample_dims,
        })
    }

    /// The model's one float input, checked to take samples of `sample_dims`; and the
    /// sample dims as it takes them.
    fn input(
        model: &OnnxModel,
        sample_dims: &[usize],
    ) -> Result<(TensorInfo, Vec<usize>), RuntimeError> {
        let bad = |reason: String| RuntimeError::Shape {
            path: model.path.clone(),
            reason,
        };
        let input = match model.inputs.as_slice() {
            [input] => input.clone(),
            [] => return Err(bad("the model has no inputs".into())),
            many => {
                let names: Vec<&str> = many.iter().map(|i| i.name.as_str()).collect();
                return Err(bad(format!(
                    "the model has {} inputs ({}); distill feeds models with one image or feature input",
                    many.len(),
                    names.join(", ")
                )));
            }
        };
        if input.element != ElementType::F32 {
            return Err(bad(format!(
                "input '{}' is {}, not float32",
                input.name, input.element
            )));
        }
        // A single channel may be implicit: [N, H, W] takes [1, H, W] (or [H, W, 1]) samples,
        // which have the same memory layout.
        let sample_dims: Vec<usize> = match sample_dims {
            [1, h, w] | [h, w, 1] if input.shape.len() == 3 => vec![*h, *w],
            other => other.to_vec(),
        };
        let fits = input.shape.len() == sample_dims.len() + 1
            && input.shape[1..]
                .iter()
                .zip(&sample_dims)
                .all(|(d, e)| d.is_none_or(|d| d == *e));
        if !fits {
            return Err(RuntimeError::InputMismatch {
                path: model.path.clone(),
                input: input.name.clone(),
                expected: input.shape_text(),
                got: dims_text(&sample_dims),
            });
        }
        Ok((input, sample_dims))
    }

    /// The index of the output to read: the one named, or the first that can hold a
    /// classifier's scores.
    fn output(model: &OnnxModel, output: Option<&str>) -> Result<usize, RuntimeError> {
        let bad = |reason: String| RuntimeError::Shape {
            path: model.path.clone(),
            reason,
        };
        let list = || {
            let all: Vec<String> = model
                .outputs
                .iter()
                .map(|o| format!("'{}' {} {}", o.name, o.element, o.shape_text()))
                .collect();
            all.join(", ")
        };
        let Some(name) = output else {
            return model.outputs.iter().position(classifier_output).ok_or_else(|| {
                // skl2onnx's default ends classifiers in a ZipMap (a sequence of maps).
                let zipmap = model
                    .outputs
                    .iter()
                    .any(|o| matches!(o.element, ElementType::NotATensor(_)));
                bad(format!(
                    "no float output shaped [batch, classes] (outputs: {}){}",
                    list(),
                    if zipmap {
                        "; a scikit-learn model converted with a ZipMap output must be converted again with skl2onnx's options={id(model): {'zipmap': False}} to give probabilities as a tensor"
                    } else {
                        ""
                    }
                ))
            });
        };
        let i = model
            .outputs
            .iter()
            .position(|o| o.name == name)
            .ok_or_else(|| bad(format!("no output named '{name}' (outputs: {})", list())))?;
        let o = &model.outputs[i];
        if !classifier_output(o) {
            return Err(bad(format!(
                "output '{name}' is {} {}; a classifier output must be float shaped [batch, classes]",
                o.element,
                o.shape_text()
            )));
        }
        Ok(i)
    }

    /// Runs `model` on `rows` preprocessed samples (`values`, `rows * plan.sample_len()` floats) and
    /// returns `(classes, logits)` with `logits` `[rows, classes]` as the output holds them.
    /// A model with a fixed batch size gets the batch padded with zeros (`rows` must not
    /// exceed it).
    pub fn run(
        &self,
        model: &mut OnnxModel,
        values: &[f32],
        rows: usize,
    ) -> Result<(usize, Vec<f32>), RuntimeError> {
        let plan = self;
        let batch = plan.fixed_batch.unwrap_or(rows);
        let per_sample = plan.sample_len();
        let path = model.path.clone();
        let bad = |reason: String| RuntimeError::Shape { path, reason };
        if rows > batch || values.len() != rows * per_sample {
            return Err(bad(format!(
                "{} values for {rows} samples of {per_sample} (batch size {batch})",
                values.len()
            )));
        }
        let mut shape = vec![batch];
        shape.extend(&plan.sample_dims);
        let padded;
        let input = if rows < batch {
            let mut v = values.to_vec();
            v.resize(batch * per_sample, 0.0);
            padded = v;
            &padded[..]
        } else {
            values
        };
        let (out_shape, out) = model.run_f32(input, &shape, plan.output_index)?;
        let classes = match out_shape[..] {
            [b, c] if b == batch && c > 0 => c,
            _ => {
                return Err(bad(format!(
                    "output '{}' has shape {out_shape:?} for a batch of {batch}; expected [{batch}, classes]",
                    plan.output.name
                )));
            }
        };
        let mut out = out;
        out.truncate(rows * classes);
        Ok((classes, out))
    }

    /// An error unless the output has at least two classes: one class is no classifier
    /// (there is nothing to distil, and no top-1 to score).
    pub fn check_classes(
        &self,
        path: &std::path::Path,
        classes: usize,
    ) -> Result<(), RuntimeError> {
        if classes < 2 {
            return Err(RuntimeError::Shape {
                path: path.to_path_buf(),
                reason: format!(
                    "output '{}' has {classes} class(es): a classifier needs at least 2",
                    self.output.name
                ),
            });
        }
        Ok(())
    }

    /// Rows per run: the model's fixed batch size, else `wanted`.
    pub fn batch_rows(&self, wanted: usize) -> usize {
        self.fixed_batch.unwrap_or(wanted).max(1)
    }

    /// Values in one preprocessed sample.
    pub fn sample_len(&self) -> usize {
        self.sample_dims.iter().product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shape: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: "x".into(),
            element: ElementType::F32,
            shape: shape.to_vec(),
        }
    }

    const MNIST: SampleShape = SampleShape {
        channels: 1,
        height: 28,
        width: 28,
    };

    #[test]
    fn defaults_are_read_from_the_input_shape() {
        // The channels the model fixes are recorded even when the data has them already.
        let p = preprocess_for_input(&input(&[None, Some(1), Some(28), Some(28)]), MNIST);
        assert_eq!(
            (p.layout, p.channels, p.resize),
            (Layout::Nchw, Some(1), None)
        );
        // An RGB ImageNet-style teacher: replicate channels, resize.
        let p = preprocess_for_input(&input(&[None, Some(3), Some(224), Some(224)]), MNIST);
        assert_eq!(
            (p.layout, p.channels, p.resize),
            (Layout::Nchw, Some(3), Some([224, 224]))
        );
        // Keras: channels last.
        let p = preprocess_for_input(&input(&[None, Some(32), Some(32), Some(3)]), MNIST);
        assert_eq!(
            (p.layout, p.channels, p.resize),
            (Layout::Nhwc, Some(3), Some([32, 32]))
        );
        let p = preprocess_for_input(&input(&[Some(1), Some(784)]), MNIST);
        assert_eq!(p.layout, Layout::Flat);
        // [N, H, W]: grayscale without a channel dim.
        let p = preprocess_for_input(&input(&[None, Some(32), Some(32)]), MNIST);
        assert_eq!((p.channels, p.resize), (Some(1), Some([32, 32])));
        // Dynamic spatial dims keep the data's size.
        let p = preprocess_for_input(&input(&[None, Some(1), None, None]), MNIST);
        assert_eq!(p.resize, None);
    }

    #[test]
    fn probability_rows_are_recognised() {
        assert!(looks_like_probs(&[0.2, 0.8, 1.0, 0.0], 2));
        assert!(!looks_like_probs(&[2.0, -1.0], 2));
    }
}
