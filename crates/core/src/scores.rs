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
        .chunks(classes.max(1))
        .zip(b.chunks(classes.max(1)))
        .filter(|(x, y)| argmax(x) == argmax(y))
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
        .chunks(classes.max(1))
        .zip(student.chunks(classes.max(1)))
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
