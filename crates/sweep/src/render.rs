//! The report as `results.csv` (every number, machine-readable) and `results.md` (the table
//! a person reads, also printed at the end of a sweep).

use std::fmt::Write;

use crate::{Budget, Report, Row, Stat};

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const CSV_HEADER: &str = "kind,label,arch,temperature,alpha,train,seeds,seeds_planned,params,macs,onnx_bytes,latency_ms_batch1,latency_ms_batch256,val_accuracy_mean,val_accuracy_std,test_accuracy_mean,test_accuracy_std,teacher_agreement,gain_over_hard_pp,beats_hard,size_ratio,speed_ratio,accuracy_drop_pp,pareto,best,best_run";

/// `results.csv`: the teacher row first (where known), then one row per configuration.
/// Accuracies are fractions; gains and drops are percentage points.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    if let Some(t) = &report.teacher {
        let m = t.measure;
        let none = String::new;
        let fields = [
            "teacher".to_string(),
            csv_field(&t.file.display().to_string()),
            none(),
            none(),
            none(),
            none(),
            none(),
            none(),
            opt(m.map(|m| m.params)),
            none(),
            opt(m.map(|m| m.onnx_bytes)),
            opt(m.map(|m| m.latency_ms_batch1)),
            opt(m.and_then(|m| m.latency_ms_batch256)),
            none(),
            none(),
            opt(t.test_accuracy),
            none(),
            none(),
            none(),
            none(),
            "1".to_string(),
            "1".to_string(),
            "0".to_string(),
            "false".to_string(),
            "false".to_string(),
            none(),
        ];
        out += &fields.join(",");
        out.push('\n');
    }
    for r in &report.rows {
        let seeds: Vec<String> = r.seeds.iter().map(u64::to_string).collect();
        let fields = [
            "student".to_string(),
            csv_field(&r.label),
            csv_field(&r.arch),
            opt(r.temperature),
            r.alpha.to_string(),
            r.train.clone(),
            seeds.join(" "),
            r.seeds_planned.to_string(),
            r.params.to_string(),
            r.macs.to_string(),
            r.onnx_bytes.to_string(),
            opt(r.latency_ms_batch1),
            opt(r.latency_ms_batch256),
            opt(r.val_accuracy.map(|s| s.mean)),
            opt(r.val_accuracy.map(|s| s.std)),
            r.test_accuracy.mean.to_string(),
            r.test_accuracy.std.to_string(),
            opt(r.teacher_agreement),
            opt(r.gain_over_hard.as_ref().map(|g| g.pp)),
            opt(r.gain_over_hard.as_ref().map(|g| csv_field(&g.verdict))),
            opt(r.size_ratio),
            opt(r.speed_ratio),
            opt(r.accuracy_drop_pp),
            r.pareto.to_string(),
            r.best.to_string(),
            csv_field(&r.best_run.display().to_string()),
        ];
        out += &fields.join(",");
        out.push('\n');
    }
    out
}

fn pct(s: Option<Stat>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n > 1 => format!("{:.2} ± {:.2}", 100.0 * s.mean, 100.0 * s.std),
        Some(s) => format!("{:.2}", 100.0 * s.mean),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.1}×"))
}

fn kb(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1e3)
}

fn marks(r: &Row) -> String {
    match (r.pareto, r.best) {
        (true, true) => "front, **best**".into(),
        (true, false) => "front".into(),
        (false, true) => "**best**".into(),
        (false, false) => String::new(),
    }
}

/// The teacher's line of the table.
fn teacher_line(t: &crate::TeacherRow) -> String {
    let m = t.measure;
    format!(
        "| teacher | {} | | | {} | {} | {} | {} | — | {} | | | 1× | 1× | |",
        t.file.file_name().map_or_else(
            || t.file.display().to_string(),
            |f| f.to_string_lossy().into_owned()
        ),
        m.map_or_else(|| "—".into(), |m| m.params.to_string()),
        m.map_or_else(|| "—".into(), |m| kb(m.onnx_bytes)),
        ms(m.map(|m| m.latency_ms_batch1)),
        ms(m.and_then(|m| m.latency_ms_batch256)),
        t.test_accuracy
            .map_or_else(|| "—".into(), |a| format!("{:.2}", 100.0 * a)),
    )
}

/// A student's line of the table.
fn row_line(r: &Row) -> String {
    let gain = match &r.gain_over_hard {
        Some(g) => format!("{} ({:+.2} pp)", g.verdict, g.pp),
        None if r.temperature.is_none() => "(baseline)".into(),
        None => "baseline not run".into(),
    };
    format!(
        "| {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        marks(r),
        r.label,
        r.train,
        r.seeds.len(),
        r.seeds_planned,
        r.params,
        kb(r.onnx_bytes),
        ms(r.latency_ms_batch1),
        ms(r.latency_ms_batch256),
        pct(r.val_accuracy),
        pct(Some(r.test_accuracy)),
        gain,
        r.teacher_agreement
            .map_or_else(|| "—".into(), |a| format!("{:.2}", 100.0 * a)),
        ratio(r.size_ratio),
        ratio(r.speed_ratio),
        r.accuracy_drop_pp
            .map_or_else(|| "—".into(), |d| format!("{d:.2}")),
    )
}

/// The sentence naming the picked student (or that none fits), and the runs still missing.
fn pick_and_missing(report: &Report, o: &mut String) {
    match report.best {
        Some(b) => {
            let r = &report.rows[b];
            let mut budget = Vec::new();
            if let Some(l) = report.budget.latency_ms {
                budget.push(format!("batch-1 latency <= {l} ms"));
            }
            if let Some(p) = report.budget.params {
                budget.push(format!("params <= {p}"));
            }
            let within = if budget.is_empty() {
                "no budget".to_string()
            } else {
                budget.join(", ")
            };
            let _ = writeln!(
                o,
                "\nBest student ({within}): **{}** ({}), from {}.\n{}",
                r.label,
                r.train,
                r.best_run.display(),
                why(report, b)
            );
        }
        None if !report.rows.is_empty() => {
            let _ = writeln!(o, "\nNo student fits the budget.");
        }
        None => {}
    }
    if !report.missing.is_empty() {
        let missing: Vec<String> = report
            .missing
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let _ = writeln!(
            o,
            "\n{} planned run(s) not finished yet: {}",
            report.missing.len(),
            missing.join(", ")
        );
    }
}

/// Why the pick: its validation accuracy against the runner-up within the budget.
fn why(report: &Report, best: usize) -> String {
    let ranked = crate::report::ranked(&report.rows, report.budget);
    let val = |i: usize| pct(report.rows[i].val_accuracy);
    let within = if report.budget == Budget::default() {
        String::new()
    } else {
        let outside = report
            .rows
            .iter()
            .filter(|r| !report.budget.admits(r))
            .count();
        format!(" within the budget ({outside} outside it)")
    };
    let mut why = format!(
        "Why: it has the highest validation accuracy, {} %, of the {} student{}{within}",
        val(best),
        ranked.len(),
        if ranked.len() == 1 { "" } else { "s" }
    );
    if let Some(&next) = ranked.iter().find(|&&i| i != best) {
        let (b, n) = (&report.rows[best], &report.rows[next]);
        let tie = if b.val_accuracy.map(|s| s.mean) != n.val_accuracy.map(|s| s.mean) {
            ""
        } else if b.latency_ms_batch1 < n.latency_ms_batch1 {
            " (tied: the pick is faster at batch 1)"
        } else {
            " (tied: the pick comes later in the grid)"
        };
        let _ = write!(why, "; next is {} at {} %{tie}", n.label, val(next));
    }
    why.push_str(". The test split played no part in the choice.");
    why
}

/// `results.md`: the table, what each column means, and the picked student.
pub fn markdown(report: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "| | student | train | seeds | params | ONNX | ms/sample b1 | ms/sample b256 | val acc % | test acc % | distillation beat hard? | teacher agreement % | smaller | faster | drop vs teacher (pp) |"
    );
    let _ = writeln!(
        o,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    );
    if let Some(t) = &report.teacher {
        let _ = writeln!(o, "{}", teacher_line(t));
    }
    for r in &report.rows {
        let _ = writeln!(o, "{}", row_line(r));
    }
    o.push('\n');
    let _ = writeln!(
        o,
        "Latency: ONNX Runtime, one intra-op thread, mean per sample, all models measured in one process. Params: elements of the ONNX initializers. \"front\": on the Pareto front of validation accuracy vs batch-1 latency. Selection uses the validation split only; test accuracy is reported, never selected on."
    );
    pick_and_missing(report, &mut o);
    o
}
