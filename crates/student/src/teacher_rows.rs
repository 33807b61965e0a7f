//! How the teacher's cached rows are held for training: a dense cache's logits as they are,
//! or a top-k cache's kept logits, class ids and tail summary packed into one fixed-width
//! f32 row, so both kinds share one buffer, one join and one epoch order.
//!
//! A packed top-k row is `[z_1..z_K, c_1..c_K, logsumexp, tail_logsumexp, tail_count,
//! tail_mean, tail_std]` (`2K + 5` values); class ids are exact in f32 below 2^24 classes.

use std::borrow::Cow;

use burn::prelude::*;
use distill_cache::{CachePart, Manifest, Storage, TailStats, TopKRow, TopKRows};
use distill_data::{accuracy_of, agreement, argmax_rows, mean_kl};

/// What the distillation term compares the student with, for one batch.
// One value per training step, moved once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum TeacherBatch {
    /// `[batch, classes]` teacher logits.
    Dense(Tensor<2>),
    /// A top-k cache's batch.
    TopK(TopKBatch),
}

/// A top-k cache's batch, over the support "K kept classes + one tail bucket".
#[derive(Clone)]
pub struct TopKBatch {
    /// `[batch, K + 1]` the teacher's log-probabilities over the support at the loss's
    /// temperature (the tail bucket last).
    pub log_probs: Tensor<2>,
    /// `[batch, K]` the kept classes (the student's tail bucket is all the others).
    pub classes: Tensor<2, Int>,
}

impl From<Tensor<2>> for TeacherBatch {
    fn from(logits: Tensor<2>) -> Self {
        TeacherBatch::Dense(logits)
    }
}

/// The layout of a teacher row in a targets buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// Every class's logit.
    Dense {
        /// Classes of the teacher.
        classes: usize,
    },
    /// The packed top-k layout of this module.
    TopK {
        /// Kept classes per row.
        k: usize,
        /// Classes of the teacher.
        classes: usize,
    },
}

/// Top-k class ids are held as f32, exact below this.
pub const MAX_TOPK_CLASSES: usize = 1 << 24;

impl RowFormat {
    /// The layout of the rows of the cache with manifest `m`.
    pub fn of(m: &Manifest) -> Self {
        match m.storage {
            Storage::Dense => RowFormat::Dense {
                classes: m.num_classes,
            },
            Storage::TopK { k } => RowFormat::TopK {
                k,
                classes: m.num_classes,
            },
        }
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        match *self {
            RowFormat::Dense { classes } => classes,
            RowFormat::TopK { k, .. } => 2 * k + 5,
        }
    }

    /// Whether the rows are a top-k cache's.
    pub fn is_topk(&self) -> bool {
        matches!(self, RowFormat::TopK { .. })
    }

    /// The rows of `part`, `[rows, width]` (a dense part's logits as they are).
    pub fn pack<'p>(&self, part: &'p CachePart) -> Cow<'p, [f32]> {
        match &part.topk {
            Some(t) => Cow::Owned(pack_topk(t)),
            None => Cow::Borrowed(&part.logits),
        }
    }

    /// [`RowFormat::pack`] of a part no longer needed: a dense part's logits are moved,
    /// not copied.
    pub fn into_rows(&self, part: CachePart) -> Vec<f32> {
        match &part.topk {
            Some(t) => pack_topk(t),
            None => part.logits,
        }
    }

    /// A packed top-k row as the cache crate reads it: its kept logits, classes, tail.
    fn unpack<'r>(&self, row: &'r [f32], classes: &'r mut Vec<u32>) -> TopKRow<'r> {
        let k = match *self {
            RowFormat::TopK { k, .. } => k,
            RowFormat::Dense { .. } => 0,
        };
        classes.clear();
        classes.extend(row[k..2 * k].iter().map(|&c| c as u32));
        let s = &row[2 * k..];
        TopKRow {
            values: &row[..k],
            classes,
            tail: TailStats {
                logsumexp: s[0],
                tail_logsumexp: s[1],
                count: s[2] as u32,
                mean: s[3],
                std: s[4],
            },
        }
    }

    /// The teacher side of the distillation term for buffer `rows` at `temperature`.
    pub fn batch(
        &self,
        buffer: &[f32],
        rows: &[usize],
        temperature: f64,
        device: &Device,
    ) -> TeacherBatch {
        let w = self.width();
        let row = |r: usize| &buffer[r * w..(r + 1) * w];
        match *self {
            RowFormat::Dense { classes } => {
                let mut values = Vec::with_capacity(rows.len() * classes);
                for &r in rows {
                    values.extend_from_slice(row(r));
                }
                TeacherBatch::Dense(Tensor::from_data(
                    TensorData::new(values, [rows.len(), classes]),
                    device,
                ))
            }
            RowFormat::TopK { k, .. } => {
                let b = rows.len();
                let mut log_probs = Vec::with_capacity(b * (k + 1));
                let mut ids = Vec::with_capacity(b * k);
                let mut scratch = Vec::with_capacity(k);
                for &r in rows {
                    let top = self.unpack(row(r), &mut scratch);
                    log_probs.extend(
                        top.support_log_probs(temperature)
                            .into_iter()
                            .map(|v| v as f32),
                    );
                    ids.extend(top.classes.iter().map(|&c| i64::from(c)));
                }
                TeacherBatch::TopK(TopKBatch {
                    log_probs: Tensor::from_data(TensorData::new(log_probs, [b, k + 1]), device),
                    classes: Tensor::from_data(TensorData::new(ids, [b, k]), device),
                })
            }
        }
    }

    /// The top-1 class of each teacher row of `teacher`.
    pub fn top1(&self, teacher: &[f32]) -> Vec<usize> {
        match *self {
            RowFormat::Dense { classes } => argmax_rows(teacher, classes),
            RowFormat::TopK { k, .. } => teacher
                .chunks(self.width())
                .map(|row| row[k] as usize)
                .collect(),
        }
    }

    /// Top-1 accuracy of the teacher rows `teacher` against `labels`.
    pub fn accuracy(&self, teacher: &[f32], labels: &[i32]) -> f64 {
        accuracy_of(&self.top1(teacher), labels)
    }

    /// Top-1 agreement between the teacher rows `teacher` and the student's logits
    /// `student` (`[rows, classes]`).
    pub fn agreement(&self, teacher: &[f32], student: &[f32]) -> f64 {
        match *self {
            RowFormat::Dense { classes } => agreement(teacher, student, classes),
            RowFormat::TopK { classes, .. } => {
                let top = self.top1(teacher);
                let same = top
                    .iter()
                    .zip(argmax_rows(student, classes))
                    .filter(|(t, s)| **t == *s)
                    .count();
                same as f64 / top.len().max(1) as f64
            }
        }
    }

    /// Mean `KL(teacher ‖ student)` at T = 1: over all classes for a dense cache, over the
    /// support (kept classes and the tail bucket) for a top-k cache.
    pub fn mean_kl(&self, teacher: &[f32], student: &[f32]) -> f64 {
        match *self {
            RowFormat::Dense { classes } => mean_kl(teacher, student, classes),
            RowFormat::TopK { classes, .. } => {
                let w = self.width();
                let rows = teacher.len() / w;
                let mut scratch = Vec::new();
                let total: f64 = (0..rows)
                    .map(|r| {
                        self.unpack(&teacher[r * w..(r + 1) * w], &mut scratch)
                            .support_kl(&student[r * classes..(r + 1) * classes], 1.0)
                    })
                    .sum();
                total / rows.max(1) as f64
            }
        }
    }
}

/// The packed rows of a top-k part: per row its kept logits, their classes as f32, and the
/// five tail statistics.
fn pack_topk(t: &TopKRows) -> Vec<f32> {
    let mut out = Vec::with_capacity(t.rows() * (2 * t.k + 5));
    for r in 0..t.rows() {
        let row = t.row(r);
        out.extend_from_slice(row.values);
        out.extend(row.classes.iter().map(|&c| c as f32));
        let s = row.tail;
        out.extend([s.logsumexp, s.tail_logsumexp, s.count as f32, s.mean, s.std]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A top-k row knows its top-1 class as the dense row does: teacher accuracy and
    /// agreement read the same from both (the sweep's teacher accuracy from a top-k test
    /// cache once read packed rows as dense ones).
    #[test]
    fn topk_rows_give_the_dense_top1_accuracy_and_agreement() {
        let classes = 6;
        let dense: Vec<f32> = (0..5 * classes)
            .map(|i| ((i * 7) % 11) as f32 - (i % 3) as f32)
            .collect();
        let mut topk = TopKRows::new(2);
        topk.push_dense(&dense, classes);
        let part = CachePart {
            topk: Some(topk),
            ..CachePart::default()
        };
        let (d, t) = (
            RowFormat::Dense { classes },
            RowFormat::TopK { k: 2, classes },
        );
        let packed = t.pack(&part).into_owned();
        assert_eq!(t.top1(&packed), d.top1(&dense));
        let labels = [0, 3, 1, 5, 2];
        assert_eq!(t.accuracy(&packed, &labels), d.accuracy(&dense, &labels));
        assert_eq!(
            d.accuracy(&dense, &labels),
            distill_data::accuracy(&dense, classes, &labels)
        );
        let student: Vec<f32> = dense.iter().rev().copied().collect();
        assert_eq!(
            t.agreement(&packed, &student),
            d.agreement(&dense, &student)
        );
    }
}
