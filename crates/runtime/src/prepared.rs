//! A model ready to be fed a dataset: the session, the plan (input, output, batch) and the
//! preprocessing the model asks for with the caller's settings on top. The one way stage
//! one, `eval` and the sweep report open a model.

use std::path::Path;

use distill_data::{Dataset, Preprocess, PreprocessOverrides};

use crate::{InferencePlan, LatencyProbe, OnnxModel, RuntimeError, model_preprocess};

/// An ONNX model, its inference plan for a dataset, and that dataset's preprocessing.
pub struct PreparedModel {
    /// The session.
    pub model: OnnxModel,
    /// Which input and output are used, and how batches are shaped.
    pub plan: InferencePlan,
    /// The preprocessing of every sample fed to it.
    pub preprocess: Preprocess,
}

impl PreparedModel {
    /// Opens `path` with `threads` intra-op threads (`None`: one per physical core) to be
    /// fed samples of `data`: see [`PreparedModel::new`].
    pub fn open(
        path: &Path,
        threads: Option<usize>,
        data: &Dataset,
        overrides: &PreprocessOverrides,
        output: Option<&str>,
    ) -> Result<Self, RuntimeError> {
        PreparedModel::new(OnnxModel::open(path, threads)?, data, overrides, output)
    }

    /// The preprocessing `model` asks for on samples of `data`: the values recorded in it
    /// (or read from its input shape) with `overrides` on top.
    pub fn preprocess_for(
        model: &OnnxModel,
        data: &Dataset,
        overrides: &PreprocessOverrides,
    ) -> Result<Preprocess, RuntimeError> {
        Ok(overrides.resolve(model_preprocess(model, data.shape)?, data.is_float()))
    }

    /// `model` to be fed samples of `data`: its preprocessing
    /// ([`PreparedModel::preprocess_for`]) checked against the data, and the output
    /// `output` (by default the first float output shaped `[batch, classes]`).
    pub fn new(
        model: OnnxModel,
        data: &Dataset,
        overrides: &PreprocessOverrides,
        output: Option<&str>,
    ) -> Result<Self, RuntimeError> {
        let preprocess = PreparedModel::preprocess_for(&model, data, overrides)?;
        data.check(&preprocess)
            .map_err(|source| RuntimeError::Preprocess {
                path: model.path.clone(),
                source,
            })?;
        let plan = InferencePlan::new(&model, &preprocess.input_dims(data.shape), output)?;
        Ok(PreparedModel {
            model,
            plan,
            preprocess,
        })
    }

    /// Preprocesses the samples of `data` at `positions` and runs them: `(classes, logits)`
    /// with `logits` `[positions.len(), classes]`.
    pub fn run(
        &mut self,
        data: &Dataset,
        positions: &[usize],
    ) -> Result<(usize, Vec<f32>), RuntimeError> {
        let values = data.batch(&self.preprocess, positions)?;
        self.plan.run(&mut self.model, &values, positions.len())
    }

    /// Logits of every sample of `data`, `[samples, classes]`, in batches of `batch` (the
    /// model's own when it is fixed); `on_rows` is told of every batch done.
    pub fn predict(
        &mut self,
        data: &Dataset,
        batch: usize,
        on_rows: &mut dyn FnMut(usize),
    ) -> Result<(usize, Vec<f32>), RuntimeError> {
        let positions: Vec<usize> = (0..data.len()).collect();
        let mut logits = Vec::new();
        let mut classes = 0;
        for chunk in positions.chunks(self.plan.batch_rows(batch)) {
            let (c, out) = self.run(data, chunk)?;
            classes = c;
            logits.extend(out);
            on_rows(chunk.len());
        }
        Ok((classes, logits))
    }

    /// Prepared inputs for timing this model on samples of `data`.
    pub fn latency_probe(&self, data: &Dataset) -> Result<LatencyProbe, RuntimeError> {
        LatencyProbe::new(&self.plan, data, &self.preprocess)
    }
}
