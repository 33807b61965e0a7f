//! Top-k storage (`--storage topk:K`, cache format v2): per row the K largest logits, their
//! classes, and a summary of the classes left out (the *tail*) from which the teacher's
//! distribution is rebuilt at any temperature over the support "the K classes plus one
//! tail bucket".
//!
//! The reconstruction at temperature T (README, "Top-k storage"): the log-mass of kept
//! class i is `z_i / T`; the tail's, `f(b) = ln Σ_tail exp(b·z)` at `b = 1/T`, is a convex
//! function of b whose value and first two derivatives at b = 0 are `ln n`, the tail mean
//! μ and its variance σ², and whose value at b = 1 is `tail_logsumexp` (E). The cubic
//! through those four facts, held within bounds that hold for any tail:
//!
//! ```text
//! C(b)    = ln n + μ·b + σ²·b²/2 + (E − ln n − μ − σ²/2)·b³
//! low(b)  = ln n + μ·b,  and for b > 1 also ln n + b·(E − ln n)     (convexity)
//! high(b) = ln n + b·max(z_K, μ),  and for b < 1 also (1 − b)·ln n + b·E
//! L(T)    = clamp(C(1/T), low, high)                                  L(1) = E exactly
//! ```
//!
//! with n the tail's class count and z_K the smallest kept logit (no tail logit is larger).
//! On the demo teacher it is 20–60× closer to the dense tail than a Gaussian read of the
//! tail (`scripts/bench/topk-accuracy.sh` prints the divergences). The teacher's
//! probabilities over the support are these log-masses, softmax-normalised together, and a
//! student is compared on the same support: its K classes and the sum of all others
//! ([`TopKRow::support_kl`]).

use distill_core::{kl_divergence, log_sum_exp};

/// What a top-k row keeps of its classes beyond the top K.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TailStats {
    /// `ln Σ exp(z)` over **all** classes at T = 1: `z_i − logsumexp` is the teacher's exact
    /// log-probability of a kept class.
    pub logsumexp: f32,
    /// `ln Σ exp(z)` over the tail classes at T = 1.
    pub tail_logsumexp: f32,
    /// Classes in the tail: `num_classes − K`.
    pub count: u32,
    /// Mean of the tail's logits.
    pub mean: f32,
    /// Standard deviation (population) of the tail's logits.
    pub std: f32,
}

/// Rows of a top-k cache: `values` and `classes` are `[rows, k]`, each row's kept logits in
/// descending order (ties by class id).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopKRows {
    /// Logits kept per row.
    pub k: usize,
    /// `[rows, k]` logits, largest first.
    pub values: Vec<f32>,
    /// `[rows, k]` their class ids.
    pub classes: Vec<u32>,
    /// One per row.
    pub tails: Vec<TailStats>,
}

/// One row of a top-k cache, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct TopKRow<'a> {
    /// The kept logits, largest first.
    pub values: &'a [f32],
    /// Their class ids.
    pub classes: &'a [u32],
    /// The rest.
    pub tail: TailStats,
}

impl TopKRows {
    /// No rows, `k` kept per row.
    pub fn new(k: usize) -> Self {
        TopKRows {
            k,
            ..TopKRows::default()
        }
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.tails.len()
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> TopKRow<'_> {
        let span = r * self.k..(r + 1) * self.k;
        TopKRow {
            values: &self.values[span.clone()],
            classes: &self.classes[span],
            tail: self.tails[r],
        }
    }

    /// Appends the top-k summary of each dense row of `logits` (`[rows, classes]`, with
    /// `k < classes`).
    pub fn push_dense(&mut self, logits: &[f32], classes: usize) {
        let mut order: Vec<u32> = Vec::with_capacity(classes);
        for row in logits.chunks(classes) {
            order.clear();
            order.extend(0..classes as u32);
            // Largest first, ties by class id; NaN sorts first so that it is kept and seen.
            let by_value =
                |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
            order.select_nth_unstable_by(self.k, by_value);
            order[..self.k].sort_unstable_by(by_value);
            self.values
                .extend(order[..self.k].iter().map(|&c| row[c as usize]));
            self.classes.extend_from_slice(&order[..self.k]);
            let tail: Vec<f64> = order[self.k..]
                .iter()
                .map(|&c| f64::from(row[c as usize]))
                .collect();
            let n = tail.len() as f64;
            let mean = tail.iter().sum::<f64>() / n;
            let var = tail.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let tail_logsumexp = log_sum_exp(&tail);
            // All classes: the kept logits and the tail's total, not a second pass.
            let mut all: Vec<f64> = order[..self.k]
                .iter()
                .map(|&c| f64::from(row[c as usize]))
                .collect();
            all.push(tail_logsumexp);
            self.tails.push(TailStats {
                logsumexp: log_sum_exp(&all) as f32,
                tail_logsumexp: tail_logsumexp as f32,
                count: tail.len() as u32,
                mean: mean as f32,
                std: var.sqrt() as f32,
            });
        }
    }

    /// Appends rows `range` of `other`.
    pub fn extend_from(&mut self, other: &TopKRows, range: std::ops::Range<usize>) {
        let span = range.start * self.k..range.end * self.k;
        self.values.extend_from_slice(&other.values[span.clone()]);
        self.classes.extend_from_slice(&other.classes[span]);
        self.tails.extend_from_slice(&other.tails[range]);
    }
}

impl TopKRow<'_> {
    /// The tail's log-mass `ln Σ_tail exp(z/T)` as reconstructed at temperature `t` (the
    /// module documentation's L(T)).
    pub fn tail_log_mass(&self, t: f64) -> f64 {
        let s = self.tail;
        let exact = f64::from(s.tail_logsumexp);
        if t == 1.0 {
            return exact;
        }
        let b = 1.0 / t;
        let ln_n = f64::from(s.count.max(1)).ln();
        let (mean, var) = (f64::from(s.mean), f64::from(s.std).powi(2));
        let cubic =
            ln_n + mean * b + var * b * b / 2.0 + (exact - ln_n - mean - var / 2.0) * b.powi(3);
        let largest = self.values.last().map_or(mean, |&v| f64::from(v)).max(mean);
        let (mut low, mut high) = (ln_n + mean * b, ln_n + largest * b);
        if b > 1.0 {
            low = low.max(ln_n + b * (exact - ln_n));
        } else {
            high = high.min((1.0 - b) * ln_n + b * exact);
        }
        // Rounding in stored values can cross the bounds; the upper one then wins.
        cubic.max(low).min(high)
    }

    /// The teacher's log-probabilities at temperature `t` over the support: the K kept
    /// classes in order, then the tail bucket (`K + 1` values).
    pub fn support_log_probs(&self, t: f64) -> Vec<f64> {
        let mut masses: Vec<f64> = self.values.iter().map(|&z| f64::from(z) / t).collect();
        masses.push(self.tail_log_mass(t));
        let total = log_sum_exp(&masses);
        masses.iter().map(|m| m - total).collect()
    }

    /// `KL(teacher ‖ student)` at temperature `t` over the support (the kept classes and
    /// the tail bucket), for a student's dense logits: the divergence training minimises on
    /// a top-k cache.
    pub fn support_kl(&self, student: &[f32], t: f64) -> f64 {
        let scaled: Vec<f64> = student.iter().map(|&s| f64::from(s) / t).collect();
        let all = log_sum_exp(&scaled);
        let mut kept = vec![false; scaled.len()];
        let mut q: Vec<f64> = Vec::with_capacity(self.classes.len() + 1);
        for &c in self.classes {
            let c = c as usize;
            kept[c] = true;
            q.push(scaled[c] - all);
        }
        let rest: Vec<f64> = scaled
            .iter()
            .zip(&kept)
            .filter(|(_, k)| !**k)
            .map(|(v, _)| *v)
            .collect();
        q.push(log_sum_exp(&rest) - all);
        kl_divergence(&self.support_log_probs(t), &q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_log_probs(row: &[f32], t: f64) -> Vec<f64> {
        let s: Vec<f64> = row.iter().map(|&v| f64::from(v) / t).collect();
        let z = log_sum_exp(&s);
        s.iter().map(|v| v - z).collect()
    }

    #[test]
    fn keeps_the_largest_logits_in_order_and_summarises_the_rest() {
        let row = [0.5f32, 3.0, -1.0, 3.0, 2.0, -2.0];
        let mut rows = TopKRows::new(3);
        rows.push_dense(&row, 6);
        let r = rows.row(0);
        assert_eq!(r.classes, &[1, 3, 4], "ties go to the lower class id");
        assert_eq!(r.values, &[3.0, 3.0, 2.0]);
        let tail = [0.5f64, -1.0, -2.0];
        assert_eq!(r.tail.count, 3);
        assert!((f64::from(r.tail.mean) - (-2.5 / 3.0)).abs() < 1e-6);
        assert!((f64::from(r.tail.tail_logsumexp) - log_sum_exp(&tail)).abs() < 1e-6);
        let all: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        assert!((f64::from(r.tail.logsumexp) - log_sum_exp(&all)).abs() < 1e-6);
    }

    #[test]
    fn support_probabilities_are_exact_at_t1_and_close_elsewhere() {
        // A 1,000-class row of Gaussian logits with a few large ones, as a teacher gives.
        let mut rng = distill_core::SplitMix64::new(3);
        let row: Vec<f32> = (0..1000)
            .map(|c| rng.normal() as f32 + if c % 97 == 0 { 6.0 } else { 0.0 })
            .collect();
        let mut rows = TopKRows::new(10);
        rows.push_dense(&row, 1000);
        let r = rows.row(0);
        for t in [1.0, 2.0, 4.0] {
            let dense = dense_log_probs(&row, t);
            let support = r.support_log_probs(t);
            // The dense distribution projected onto the support.
            let mut projected: Vec<f64> = r.classes.iter().map(|&c| dense[c as usize]).collect();
            let tail: f64 = dense
                .iter()
                .enumerate()
                .filter(|(c, _)| !r.classes.contains(&(*c as u32)))
                .map(|(_, v)| v.exp())
                .sum();
            projected.push(tail.ln());
            let kl = kl_divergence(&projected, &support);
            let tolerance = if t == 1.0 { 1e-9 } else { 1e-3 };
            assert!(kl.abs() < tolerance, "T = {t}: KL {kl}");
            // A student equal to the teacher is at zero divergence on the support.
            assert!(r.support_kl(&row, t).abs() < tolerance.max(1e-9), "T = {t}");
        }
    }

    #[test]
    fn the_tail_estimate_stays_within_its_bounds() {
        let stats = TailStats {
            logsumexp: 8.0,
            tail_logsumexp: 7.5,
            count: 990,
            mean: -3.0,
            std: 9.0,
        };
        let values = [6.0f32, 2.0];
        let r = TopKRow {
            values: &values,
            classes: &[0, 1],
            tail: stats,
        };
        let ln_n = 990f64.ln();
        for t in [0.25, 0.5, 2.0, 8.0, 1e6] {
            let l = r.tail_log_mass(t);
            let b = 1.0 / t;
            assert!(
                l >= ln_n - 3.0 * b - 1e-12 && l <= ln_n + 2.0 * b + 1e-12,
                "T = {t}: {l}"
            );
            if b < 1.0 {
                assert!(
                    l <= (1.0 - b) * ln_n + b * 7.5 + 1e-12,
                    "T = {t}: {l} above the chord"
                );
            }
        }
        assert!((r.tail_log_mass(1e6) - ln_n).abs() < 1e-4);
        assert_eq!(r.tail_log_mass(1.0), 7.5);
    }
}
