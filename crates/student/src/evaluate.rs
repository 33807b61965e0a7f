//! Inference with a trained student: logits and accuracy on a dataset.

use burn::prelude::*;
use distill_data::{Dataset, Preprocess};

use crate::Student;
use crate::batcher::Batcher;

/// Logits of every sample, `[len, classes]` row-major, in dataset order. `model` should be
/// an inference copy (`model.valid()`); inputs are built on `device` without autodiff.
pub fn predict_logits(
    model: &Student,
    dataset: &Dataset,
    preprocess: &Preprocess,
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    let batcher = Batcher {
        dataset,
        preprocess,
        augment: &[],
    };
    let positions: Vec<usize> = (0..dataset.len()).collect();
    let mut out = Vec::new();
    for chunk in positions.chunks(batch_size.max(1)) {
        let logits = model.forward(batcher.images(chunk, device, 0, 0));
        out.extend(logits.try_into_vec_as::<f32>().expect("f32 logits"));
    }
    out
}

/// Index of the largest value of each row of `[rows, classes]`.
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values.chunks(classes).map(distill_data::argmax).collect()
}

/// Top-1 accuracy of `[rows, classes]` logits against integer labels.
pub fn accuracy(logits: &[f32], classes: usize, labels: &[i32]) -> f64 {
    let hits = argmax_rows(logits, classes)
        .iter()
        .zip(labels)
        .filter(|&(&p, &y)| p as i32 == y)
        .count();
    hits as f64 / labels.len().max(1) as f64
}
