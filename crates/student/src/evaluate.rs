//! Inference with a trained student: its logits on a dataset.

use burn::prelude::*;
use distill_data::{Dataset, Preprocess, ViewSpec};

use crate::batcher::Batcher;
use crate::{Student, StudentError};

/// Logits of every sample, `[len, classes]` row-major, in dataset order. `model` should be
/// an inference copy (`model.valid()`); inputs are built on `device` without autodiff. An
/// image file that can no longer be read is an error naming it.
pub fn predict_logits(
    model: &Student,
    dataset: &Dataset,
    preprocess: &Preprocess,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<f32>, StudentError> {
    let plain = ViewSpec::default();
    let batcher = Batcher::new(dataset, preprocess, &plain, false);
    let positions: Vec<usize> = (0..dataset.len()).collect();
    // Parquet rows of a split brought to a new size: read a few row groups at a time, not
    // one per batch (a validation split's samples are scattered over the file).
    dataset.prefill(&positions)?;
    let mut out = Vec::new();
    for chunk in positions.chunks(batch_size.max(1)) {
        let logits = model.forward(batcher.plain_images(chunk, device)?);
        out.extend(
            logits
                .try_into_vec_as::<f32>()
                .expect("a float tensor gives floats"),
        );
    }
    Ok(out)
}
