//! Top-1 scores and divergences of `[rows, classes]` logit arrays, the same for a teacher's
//! cache, a student in training and any ONNX model.

/// Index of the largest value of a row of logits (the first one on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Index of the largest value of each row of `[rows, classes]`.
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values.chunks(classes.max(1)).map(argmax).collect()
}

/// Top-1 accuracy of `[rows, classes]` logits against integer labels.
pub fn accuracy(logits: &[f32], classes: usize, labels: &[i32]) -> f64 {
    accuracy_of(&argmax_rows(logits, classes), labels)
}

/// The fraction of `predicted` classes equal to their `labels`.
pub fn accuracy_of(predicted: &[usize], labels: &[i32]) -> f64 {
    let hits = predicted
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
        .chunks(classes.max(1))
        .zip(b.chunks(classes.max(1)))
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    same as f64 / rows.max(1) as f64
}

/// `ln Σ exp(v)`, shifted by the maximum so that nothing overflows (a non-finite maximum
/// is the answer itself).
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `KL(p ‖ q) = Σ p·(ln p − ln q)` of two distributions over the same support, given as
/// log-probabilities.
pub fn kl_divergence(log_p: &[f64], log_q: &[f64]) -> f64 {
    log_p
        .iter()
        .zip(log_q)
        .map(|(p, q)| p.exp() * (p - q))
        .sum()
}

/// `log softmax` of one row, in f64.
fn log_softmax_row(row: &[f32]) -> Vec<f64> {
    let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
    let lse = log_sum_exp(&row);
    row.iter().map(|v| v - lse).collect()
}

/// Mean over rows of `KL(softmax(teacher) ‖ softmax(student))` at T = 1.
pub fn mean_kl(teacher: &[f32], student: &[f32], classes: usize) -> f64 {
    let rows = teacher.len() / classes.max(1);
    let total: f64 = teacher
        .chunks(classes.max(1))
        .zip(student.chunks(classes.max(1)))
        .map(|(t, s)| kl_divergence(&log_softmax_row(t), &log_softmax_row(s)))
        .sum();
    total / rows.max(1) as f64
}
