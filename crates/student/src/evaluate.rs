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

/// Top-1 agreement of two `[rows, classes]` logit arrays.
pub fn agreement(a: &[f32], b: &[f32], classes: usize) -> f64 {
    let rows = a.len() / classes.max(1);
    let same = a
        .chunks(classes)
        .zip(b.chunks(classes))
        .filter(|(x, y)| distill_data::argmax(x) == distill_data::argmax(y))
        .count();
    same as f64 / rows.max(1) as f64
}

/// `log softmax` of one row, in f64 (max subtracted first: no overflow).
fn log_softmax_row(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let lse = max
        + row
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    row.iter().map(|&v| v as f64 - lse).collect()
}

/// Mean over rows of `KL(softmax(teacher) ‖ softmax(student))` at T = 1.
pub fn mean_kl(teacher: &[f32], student: &[f32], classes: usize) -> f64 {
    let rows = teacher.len() / classes.max(1);
    let total: f64 = teacher
        .chunks(classes)
        .zip(student.chunks(classes))
        .map(|(t, s)| {
            let (lp, lq) = (log_softmax_row(t), log_softmax_row(s));
            lp.iter()
                .zip(&lq)
                .map(|(p, q)| p.exp() * (p - q))
                .sum::<f64>()
        })
        .sum();
    total / rows.max(1) as f64
}
