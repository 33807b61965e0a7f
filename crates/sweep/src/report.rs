//! The sweep report: one row per configuration (mean ± std over its finished seeds), the
//! teacher row, ratios against the teacher, the Pareto front of validation accuracy vs
//! batch-1 latency, and the student picked within the budgets.
//!
//! Selection (front, best) uses the validation split only; test accuracy is reported,
//! never selected on.

use std::path::PathBuf;

use distill_student::RunResult;
use serde::{Deserialize, Serialize};

use crate::{Configuration, Grid, PlannedRun};

/// What is measured of one ONNX model, the same way for every model of a report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Elements of the graph's initializers (weights, biases, batch-norm statistics),
    /// counted the same way for the teacher and the students.
    pub params: u64,
    pub onnx_bytes: u64,
    /// Mean milliseconds per sample at batch 1 (ONNX Runtime, one intra-op thread).
    pub latency_ms_batch1: f64,
    /// Mean milliseconds per sample at batch 256 (none for a fixed-batch model).
    pub latency_ms_batch256: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherRow {
    pub file: PathBuf,
    pub sha256: String,
    /// Top-1 of the cached test logits against the labels.
    pub test_accuracy: Option<f64>,
    pub measure: Option<Measure>,
}

/// A finished run and its `result.json`.
pub struct FinishedRun {
    pub planned: PlannedRun,
    pub result: RunResult,
}

/// `--budget-latency MS` (batch 1) and `--budget-params N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub latency_ms: Option<f64>,
    pub params: Option<u64>,
}

impl Budget {
    fn admits(&self, row: &Row) -> bool {
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
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Stat {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `mlp:128 T=2 alpha=0.5` or `mlp:128 hard`.
    pub label: String,
    pub arch: String,
    pub temperature: Option<f64>,
    pub alpha: f64,
    pub train: String,
    /// Seeds finished, of `seeds_planned`.
    pub seeds: Vec<u64>,
    pub seeds_planned: usize,
    pub params: u64,
    pub macs: u64,
    pub onnx_bytes: u64,
    pub latency_ms_batch1: Option<f64>,
    pub latency_ms_batch256: Option<f64>,
    pub val_accuracy: Option<Stat>,
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
    pub runs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub teacher: Option<TeacherRow>,
    pub rows: Vec<Row>,
    /// Planned runs with no result yet.
    pub missing: Vec<PathBuf>,
    pub budget: Budget,
    /// Index into `rows` of the picked student.
    pub best: Option<usize>,
}

fn label(c: &Configuration) -> String {
    match &c.kd {
        None => format!("{} hard", c.arch),
        Some(kd) => format!("{} T={} alpha={}", c.arch, kd.temperature, kd.alpha),
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

/// Builds the report of `grid` from the finished runs. `measure(arch)` gives the
/// measurement of that architecture's ONNX model (one per architecture: every seed and
/// setting of it shares the graph), if it was measured.
pub fn build(
    grid: &Grid,
    planned: &[PlannedRun],
    finished: &[FinishedRun],
    measure: &dyn Fn(&str) -> Option<Measure>,
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
        let Some(first) = runs.first() else { continue };
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
        let arch = c.arch.to_string();
        let m = measure(&arch);
        row_of_config[i] = Some(rows.len());
        rows.push(Row {
            label: label(c),
            arch,
            temperature: c.kd.as_ref().map(|k| k.temperature),
            alpha: c.kd.as_ref().map_or(0.0, |k| k.alpha),
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
            test_accuracy: Stat::of(&test).expect("at least one run"),
            teacher_agreement: Stat::of(&agreement).map(|s| s.mean),
            gain_over_hard: None,
            size_ratio: None,
            speed_ratio: None,
            accuracy_drop_pp: None,
            pareto: false,
            best: false,
            best_run,
            runs: runs.iter().map(|r| r.planned.dir.clone()).collect(),
        });
    }
    // Gains over each configuration's own baseline.
    for (i, c) in grid.configurations.iter().enumerate() {
        let Some(r) = row_of_config[i] else { continue };
        if c.kd.is_none() {
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
    // Ratios against the teacher.
    if let Some(t) = &teacher {
        for row in &mut rows {
            if let Some(tm) = &t.measure {
                row.size_ratio = Some(tm.params as f64 / row.params.max(1) as f64);
                row.speed_ratio = row.latency_ms_batch1.map(|l| tm.latency_ms_batch1 / l);
            }
            row.accuracy_drop_pp = t
                .test_accuracy
                .map(|a| 100.0 * (a - row.test_accuracy.mean));
        }
    }
    // Pareto front of validation accuracy (higher) vs batch-1 latency (lower).
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
    // The most accurate student (validation) within the budgets; ties go to the faster.
    let best = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.val_accuracy.is_some() && budget.admits(r))
        .max_by(|(_, a), (_, b)| {
            let va = a.val_accuracy.map_or(0.0, |s| s.mean);
            let vb = b.val_accuracy.map_or(0.0, |s| s.mean);
            va.total_cmp(&vb).then_with(|| {
                let la = a.latency_ms_batch1.unwrap_or(f64::INFINITY);
                let lb = b.latency_ms_batch1.unwrap_or(f64::INFINITY);
                lb.total_cmp(&la)
            })
        })
        .map(|(i, _)| i);
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
