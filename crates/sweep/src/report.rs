//! The sweep report: one row per configuration (mean ± std over its finished seeds), the
//! teacher row, ratios against the teacher, the Pareto front of validation accuracy vs
//! batch-1 latency, and the student picked within the budgets.
//!
//! Selection (front, best) uses the validation split only; test accuracy is reported,
//! never selected on.

use std::path::PathBuf;

use distill_data::ModelMeasure;
use serde::{Deserialize, Serialize};

use crate::{Configuration, FinishedRun, Grid, PlannedRun};

/// The teacher's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherRow {
    /// Its ONNX file.
    pub file: PathBuf,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Top-1 of the cached test logits against the labels.
    pub test_accuracy: Option<f64>,
    /// Its size and latency, measured like the students'.
    pub measure: Option<ModelMeasure>,
}

/// Limits on the picked student.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// At most this batch-1 latency, in milliseconds per sample.
    pub latency_ms: Option<f64>,
    /// At most this many parameters.
    pub params: Option<u64>,
}

impl Budget {
    /// Whether `row` is within every limit.
    pub(crate) fn admits(&self, row: &Row) -> bool {
        let latency_ok = match (self.latency_ms, row.latency_ms_batch1) {
            (Some(b), Some(l)) => l <= b,
            (Some(_), None) => false,
            (None, _) => true,
        };
        latency_ok && self.params.is_none_or(|b| row.params <= b)
    }
}

/// Mean and sample standard deviation (0 for one value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation.
    pub std: f64,
    /// How many values.
    pub n: usize,
}

impl Stat {
    /// The statistics of `values`; none for no values.
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Stat {
            mean,
            std: var.sqrt(),
            n,
        })
    }
}

/// What distillation bought a configuration over its own hard-label baseline (test split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gain {
    /// Test accuracy minus the baseline's, in percentage points.
    pub pp: f64,
    /// `yes`, `no`, or `within noise` (|gain| under two standard errors, with ≥ 2 seeds each).
    pub verdict: String,
}

/// One configuration's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `mlp:128 T=2 alpha=0.5` or `mlp:128 hard`.
    pub label: String,
    /// The student's architecture.
    pub arch: String,
    /// The distillation temperature (none for the hard-label baseline).
    pub temperature: Option<f64>,
    /// The weight of the distillation term (0 for the baseline).
    pub alpha: f64,
    /// The training settings' tag.
    pub train: String,
    /// Seeds finished, of `seeds_planned`.
    pub seeds: Vec<u64>,
    /// Seeds planned.
    pub seeds_planned: usize,
    /// Parameters (ONNX initializer elements when measured).
    pub params: u64,
    /// Multiply-accumulates per sample.
    pub macs: u64,
    /// Size of the ONNX file.
    pub onnx_bytes: u64,
    /// Milliseconds per sample at batch 1.
    pub latency_ms_batch1: Option<f64>,
    /// Milliseconds per sample at batch 256.
    pub latency_ms_batch256: Option<f64>,
    /// Validation accuracy over the finished seeds (when every one has it).
    pub val_accuracy: Option<Stat>,
    /// Test accuracy over the finished seeds.
    pub test_accuracy: Stat,
    /// Mean top-1 agreement with the teacher on the test split.
    pub teacher_agreement: Option<f64>,
    /// Against this configuration's hard-label baseline (none for the baseline itself).
    pub gain_over_hard: Option<Gain>,
    /// Teacher parameters / student parameters.
    pub size_ratio: Option<f64>,
    /// Teacher batch-1 latency / student batch-1 latency.
    pub speed_ratio: Option<f64>,
    /// Teacher test accuracy minus the student's, in percentage points.
    pub accuracy_drop_pp: Option<f64>,
    /// On the Pareto front of validation accuracy vs batch-1 latency.
    pub pareto: bool,
    /// The most accurate (validation) student within the budgets.
    pub best: bool,
    /// The seed with the best validation accuracy: the run `best.onnx` is copied from.
    pub best_run: PathBuf,
    /// Every finished run of it.
    pub runs: Vec<PathBuf>,
}

/// The report of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The teacher's row, where known.
    pub teacher: Option<TeacherRow>,
    /// One row per configuration with a finished run, in grid order.
    pub rows: Vec<Row>,
    /// Planned runs with no result yet.
    pub missing: Vec<PathBuf>,
    /// The limits the pick was made within.
    pub budget: Budget,
    /// Index into `rows` of the picked student.
    pub best: Option<usize>,
}

fn label(c: &Configuration) -> String {
    let views = if c.augment.is_empty() {
        String::new()
    } else {
        format!(" [{}]", c.augment)
    };
    if c.is_baseline() {
        format!("{} hard{views}", c.arch)
    } else {
        format!(
            "{} T={} alpha={}{views}",
            c.arch, c.loss.temperature, c.loss.alpha
        )
    }
}

/// The gain of `row` over `baseline`, both on the test split.
fn gain(row: &Stat, baseline: &Stat) -> Gain {
    let pp = 100.0 * (row.mean - baseline.mean);
    let se =
        100.0 * (row.std.powi(2) / row.n as f64 + baseline.std.powi(2) / baseline.n as f64).sqrt();
    let verdict = if row.n >= 2 && baseline.n >= 2 && pp.abs() < 2.0 * se {
        "within noise"
    } else if pp > 0.0 {
        "yes"
    } else {
        "no"
    };
    Gain {
        pp,
        verdict: verdict.into(),
    }
}

/// The row of configuration `c` from its finished runs (at least one).
fn row(c: &Configuration, runs: &[&FinishedRun], m: Option<ModelMeasure>) -> Option<Row> {
    let first = runs.first()?;
    let test: Vec<f64> = runs.iter().map(|r| r.result.test_accuracy).collect();
    let val: Vec<f64> = runs.iter().filter_map(|r| r.result.val_accuracy).collect();
    let agreement: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.result.teacher_agreement)
        .collect();
    let best_run = runs
        .iter()
        .max_by(|a, b| {
            let key = |r: &FinishedRun| r.result.val_accuracy.unwrap_or(f64::NEG_INFINITY);
            key(a)
                .total_cmp(&key(b))
                .then(b.planned.seed.cmp(&a.planned.seed))
        })
        .map_or_else(|| first.planned.dir.clone(), |r| r.planned.dir.clone());
    Some(Row {
        label: label(c),
        arch: c.arch.to_string(),
        temperature: (!c.is_baseline()).then_some(c.loss.temperature),
        alpha: c.loss.alpha,
        train: c.train_tag(),
        seeds: runs.iter().map(|r| r.planned.seed).collect(),
        seeds_planned: c.seeds.len(),
        params: m.map_or(first.result.params, |m| m.params),
        macs: first.result.macs,
        onnx_bytes: m.map_or(first.result.onnx_bytes, |m| m.onnx_bytes),
        latency_ms_batch1: m.map(|m| m.latency_ms_batch1),
        latency_ms_batch256: m.and_then(|m| m.latency_ms_batch256),
        val_accuracy: if val.len() == runs.len() {
            Stat::of(&val)
        } else {
            None
        },
        test_accuracy: Stat::of(&test)?,
        teacher_agreement: Stat::of(&agreement).map(|s| s.mean),
        gain_over_hard: None,
        size_ratio: None,
        speed_ratio: None,
        accuracy_drop_pp: None,
        pareto: false,
        best: false,
        best_run,
        runs: runs.iter().map(|r| r.planned.dir.clone()).collect(),
    })
}

/// Marks every row on the Pareto front of validation accuracy (higher) vs batch-1 latency
/// (lower).
fn mark_front(rows: &mut [Row]) {
    let point = |r: &Row| Some((r.latency_ms_batch1?, r.val_accuracy?.mean));
    for i in 0..rows.len() {
        let Some((li, ai)) = point(&rows[i]) else {
            continue;
        };
        let dominated = rows.iter().enumerate().any(|(j, o)| {
            j != i && point(o).is_some_and(|(lj, aj)| lj <= li && aj >= ai && (lj < li || aj > ai))
        });
        rows[i].pareto = !dominated;
    }
}

/// The rows the pick is made among (within the budget, with a validation accuracy), the
/// most accurate on validation first; ties go to the faster at batch 1, then to the later
/// row of the grid.
pub(crate) fn ranked(rows: &[Row], budget: Budget) -> Vec<usize> {
    let val = |r: &Row| r.val_accuracy.map_or(0.0, |s| s.mean);
    let latency = |r: &Row| r.latency_ms_batch1.unwrap_or(f64::INFINITY);
    let mut ranked: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].val_accuracy.is_some() && budget.admits(&rows[i]))
        .collect();
    // Worst first, stably, then reversed: among equals the later row comes first.
    ranked.sort_by(|&a, &b| {
        let (a, b) = (&rows[a], &rows[b]);
        val(a)
            .total_cmp(&val(b))
            .then_with(|| latency(b).total_cmp(&latency(a)))
    });
    ranked.reverse();
    ranked
}

/// The most accurate row (validation) within the budget.
fn pick(rows: &[Row], budget: Budget) -> Option<usize> {
    ranked(rows, budget).first().copied()
}

/// Sets each row's ratios against the teacher.
fn compare_with_teacher(rows: &mut [Row], t: &TeacherRow) {
    for row in rows {
        if let Some(tm) = &t.measure {
            row.size_ratio = Some(tm.params as f64 / row.params.max(1) as f64);
            row.speed_ratio = row.latency_ms_batch1.map(|l| tm.latency_ms_batch1 / l);
        }
        row.accuracy_drop_pp = t
            .test_accuracy
            .map(|a| 100.0 * (a - row.test_accuracy.mean));
    }
}

/// Builds the report of `grid` from the finished runs. `measure(arch)` gives the
/// measurement of that architecture's ONNX model (one per architecture: every seed and
/// setting of it shares the graph), if it was measured.
pub fn build(
    grid: &Grid,
    planned: &[PlannedRun],
    finished: &[FinishedRun],
    measure: &dyn Fn(&str) -> Option<ModelMeasure>,
    teacher: Option<TeacherRow>,
    budget: Budget,
) -> Report {
    let mut rows: Vec<Row> = Vec::new();
    let mut row_of_config = vec![None; grid.configurations.len()];
    for (i, c) in grid.configurations.iter().enumerate() {
        let runs: Vec<&FinishedRun> = finished
            .iter()
            .filter(|f| f.planned.configuration == i)
            .collect();
        if let Some(r) = row(c, &runs, measure(&c.arch.to_string())) {
            row_of_config[i] = Some(rows.len());
            rows.push(r);
        }
    }
    // Gains over each configuration's own baseline.
    for (i, c) in grid.configurations.iter().enumerate() {
        let Some(r) = row_of_config[i] else { continue };
        if c.is_baseline() {
            continue;
        }
        let baseline = grid
            .configurations
            .iter()
            .position(|o| c.baseline_is(o))
            .and_then(|b| row_of_config[b]);
        if let Some(b) = baseline {
            rows[r].gain_over_hard = Some(gain(&rows[r].test_accuracy, &rows[b].test_accuracy));
        }
    }
    if let Some(t) = &teacher {
        compare_with_teacher(&mut rows, t);
    }
    mark_front(&mut rows);
    let best = pick(&rows, budget);
    if let Some(b) = best {
        rows[b].best = true;
    }
    let done: Vec<&PathBuf> = finished.iter().map(|f| &f.planned.dir).collect();
    let missing = planned
        .iter()
        .filter(|p| !done.contains(&&p.dir))
        .map(|p| p.dir.clone())
        .collect();
    Report {
        teacher,
        rows,
        missing,
        budget,
        best,
    }
}
