//! End-to-end tests of `distill sweep`: a small grid on the committed subset, trained from
//! the caches of a small exported teacher; resuming, sharding, the report against the run
//! directories, and malformed grid files.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cache, distill, fails, json, mini, repo, run};

const GRID: &str = r#"
seeds = [1, 2]
epochs = 2
batch_size = 64
lr = 3e-3

[[grid]]
arch = ["mlp:16", "cnn:4"]
temperature = [2]
alpha = [0.5]
"#;

/// Columns of results.csv that are measured timings (or derived from them).
const TIMING: [&str; 5] = [
    "latency_ms_batch1",
    "latency_ms_batch256",
    "speed_ratio",
    "pareto",
    "best",
];

fn teacher() -> PathBuf {
    repo("datasets/teacher/test/mlp.onnx")
}

/// Caches of the test teacher over the subset's train and test splits, and the grid file.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for split in ["train", "test"] {
            cache(&teacher(), &dir.path().join(split), split, &[]);
        }
        std::fs::write(dir.path().join("grid.toml"), GRID).unwrap();
        Setup { dir }
    }

    fn sweep(&self, out: &str, extra: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = distill();
        cmd.arg("sweep")
            .arg("--grid")
            .arg(d.join("grid.toml"))
            .arg("--out")
            .arg(d.join(out))
            .args(["--dataset", &mini(), "--mean", "0.2860", "--std", "0.3530"])
            .arg("--cache")
            .arg(d.join("train"))
            .arg("--test-cache")
            .arg(d.join("test"))
            .args(extra);
        cmd
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// results.csv as rows of (column -> value).
fn csv(path: &Path) -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            let values: Vec<&str> = l.split(',').collect();
            assert_eq!(values.len(), header.len(), "row {l}");
            header
                .iter()
                .cloned()
                .zip(values.into_iter().map(String::from))
                .collect()
        })
        .collect()
}

fn get<'a>(row: &'a [(String, String)], key: &str) -> &'a str {
    &row.iter().find(|(k, _)| k == key).unwrap().1
}

fn without_timing(rows: Vec<Vec<(String, String)>>) -> Vec<Vec<(String, String)>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .filter(|(k, _)| !TIMING.contains(&k.as_str()))
                .collect()
        })
        .collect()
}

/// Every run directory with a result.json, relative to the sweep directory.
fn finished_runs(sweep: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![sweep.join("runs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == "result.json" {
                let run = p.parent().unwrap().strip_prefix(sweep).unwrap();
                out.insert(run.display().to_string());
            }
        }
    }
    out
}

/// Lines announcing a run being trained: "[k/N] ... -> DIR".
fn trained(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(" -> "))
        .map(|l| l.rsplit(" -> ").next().unwrap().to_string())
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn a_small_sweep_runs_resumes_and_reports_its_runs() {
    let s = Setup::new();
    let out = run(&mut s.sweep(
        "sweep",
        &[
            "--teacher",
            teacher().to_str().unwrap(),
            "--budget-params",
            "20000",
        ],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let sweep = s.path("sweep");
    // 2 architectures x (baseline + 1 distilled) x 2 seeds.
    assert_eq!(trained(&stderr).len(), 8, "{stderr}");
    assert_eq!(finished_runs(&sweep).len(), 8);
    assert!(stdout.contains("| teacher | mlp.onnx"), "{stdout}");
    for f in [
        "results.csv",
        "results.md",
        "results.json",
        "tradeoff.svg",
        "best.onnx",
        "best.json",
    ] {
        assert!(sweep.join(f).is_file(), "{f} missing");
    }
    for printed in ["results.md", "tradeoff.svg", "best.onnx"] {
        assert!(stdout.contains(printed), "{printed} not printed:\n{stdout}");
    }

    // Every row is the mean of its run directories' results.
    let rows = csv(&sweep.join("results.csv"));
    assert_eq!(get(&rows[0], "kind"), "teacher");
    let students = &rows[1..];
    assert_eq!(students.len(), 4);
    let result = |run: &str| json(&sweep.join(run).join("result.json"));
    let report = json(&sweep.join("results.json"));
    for (row, r) in students.iter().zip(report["rows"].as_array().unwrap()) {
        let runs: Vec<String> = r["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(get(row, "seeds"), "1 2");
        let test: Vec<f64> = runs
            .iter()
            .map(|d| result(d)["test_accuracy"].as_f64().unwrap())
            .collect();
        let val: Vec<f64> = runs
            .iter()
            .map(|d| result(d)["val_accuracy"].as_f64().unwrap())
            .collect();
        let agree: Vec<f64> = runs
            .iter()
            .map(|d| result(d)["teacher_agreement"].as_f64().unwrap())
            .collect();
        let close = |key: &str, want: f64| {
            let got: f64 = get(row, key).parse().unwrap();
            assert!((got - want).abs() < 1e-12, "{key}: {got} vs {want}");
        };
        close("test_accuracy_mean", mean(&test));
        close("val_accuracy_mean", mean(&val));
        close("teacher_agreement", mean(&agree));
        // The hard-label baseline sits right before its distilled row.
        if get(row, "label").ends_with(" hard") {
            assert_eq!(get(row, "gain_over_hard_pp"), "");
        }
    }
    for pair in students.chunks(2) {
        let (hard, kd) = (&pair[0], &pair[1]);
        assert!(get(hard, "label").ends_with(" hard"));
        let gain: f64 = get(kd, "gain_over_hard_pp").parse().unwrap();
        let want = 100.0
            * (get(kd, "test_accuracy_mean").parse::<f64>().unwrap()
                - get(hard, "test_accuracy_mean").parse::<f64>().unwrap());
        assert!((gain - want).abs() < 1e-9);
        assert!(["yes", "no", "within noise"].contains(&get(kd, "beats_hard")));
    }
    // The report says why it picked its student: the highest validation accuracy within
    // the budget, against the runner-up.
    let val = |r: &[(String, String)]| -> (f64, String) {
        let (m, s): (f64, f64) = (
            get(r, "val_accuracy_mean").parse().unwrap(),
            get(r, "val_accuracy_std").parse().unwrap(),
        );
        (m, format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s))
    };
    type Row = Vec<(String, String)>;
    let within: Vec<&Row> = students
        .iter()
        .filter(|r| get(r, "params").parse::<u64>().unwrap() <= 20000)
        .collect();
    let (best, others): (Vec<&Row>, Vec<&Row>) =
        within.iter().partition(|r| get(r, "best") == "true");
    assert_eq!(best.len(), 1, "{stdout}");
    let next = others
        .iter()
        .max_by(|a, b| val(a).0.total_cmp(&val(b).0))
        .unwrap();
    assert!(val(best[0]).0 >= val(next).0);
    let why = format!(
        "Why: it has the highest validation accuracy, {} %, of the {} students within the budget ({} outside it); next is ",
        val(best[0]).1,
        within.len(),
        students.len() - within.len(),
    );
    let line = stdout.lines().find(|l| l.starts_with("Why:")).unwrap_or("");
    assert!(line.starts_with(&why), "{why}\n{stdout}");
    assert!(line.contains(&format!(" at {} %", val(next).1)), "{line}");
    assert!(
        line.ends_with("The test split played no part in the choice."),
        "{line}"
    );
    // The picked student is within the budget, and best.onnx is that run's model.
    let card = json(&sweep.join("best.json"));
    assert!(card["params"].as_u64().unwrap() <= 20000);
    let source = PathBuf::from(card["source_run"].as_str().unwrap());
    assert_eq!(
        std::fs::read(sweep.join("best.onnx")).unwrap(),
        std::fs::read(source.join("model.onnx")).unwrap()
    );
    let teacher_sha = distill_data::sha256_file(&teacher()).unwrap();
    assert_eq!(card["teacher_sha256"].as_str().unwrap(), teacher_sha);
    let svg = std::fs::read_to_string(sweep.join("tradeoff.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">teacher</text>"));
    assert!(
        svg.contains("stroke-dasharray"),
        "the Pareto front is drawn"
    );

    // Resume: a deleted run is retrained; an interrupted one (no result.json) is finished
    // from its checkpoint; the others are left alone.
    let runs: Vec<String> = finished_runs(&sweep).into_iter().collect();
    std::fs::remove_dir_all(sweep.join(&runs[0])).unwrap();
    std::fs::remove_file(sweep.join(&runs[1]).join("result.json")).unwrap();
    let untouched = std::fs::read(sweep.join(&runs[2]).join("result.json")).unwrap();
    let before = without_timing(rows);
    let out = run(&mut s.sweep("sweep", &["--teacher", teacher().to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let mut redone = trained(&stderr);
    redone.sort();
    let mut want: Vec<String> = runs[..2]
        .iter()
        .map(|r| sweep.join(r).display().to_string())
        .collect();
    want.sort();
    assert_eq!(redone, want, "{stderr}");
    assert!(stderr.contains("resuming after epoch 2"), "{stderr}");
    assert_eq!(finished_runs(&sweep).len(), 8);
    assert_eq!(
        std::fs::read(sweep.join(&runs[2]).join("result.json")).unwrap(),
        untouched
    );
    // Training is deterministic: the retrained runs give the same report.
    assert_eq!(without_timing(csv(&sweep.join("results.csv"))), before);

    // A rerun with another grid in the same directory is refused.
    std::fs::write(
        s.path("grid.toml"),
        GRID.replace("epochs = 2", "epochs = 3"),
    )
    .unwrap();
    let err = fails(&mut s.sweep("sweep", &[]));
    assert!(
        err.contains("holds a sweep with other settings") && err.contains("epochs"),
        "{err}"
    );
}

#[test]
fn two_shards_cover_the_grid_once_and_merge_into_the_unsharded_report() {
    let s = Setup::new();
    run(&mut s.sweep("whole", &[]));
    let mut seen = Vec::new();
    for shard in ["1/2", "2/2"] {
        let out = run(&mut s.sweep("sharded", &["--shard", shard]));
        seen.extend(trained(&String::from_utf8_lossy(&out.stderr)));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 8, "every run trained once: {seen:?}");
    assert_eq!(unique.len(), 8);
    run(distill().args(["sweep", "report"]).arg(s.path("sharded")));
    assert_eq!(
        finished_runs(&s.path("sharded")),
        finished_runs(&s.path("whole"))
    );
    assert_eq!(
        without_timing(csv(&s.path("sharded").join("results.csv"))),
        without_timing(csv(&s.path("whole").join("results.csv")))
    );
    // Bad shards are refused as a usage error.
    let out = s.sweep("other", &["--shard", "3/2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad shard '3/2'"));
}

#[test]
fn malformed_grids_are_refused_with_the_line_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 8] = [
        (
            "seeds = [1]\n[[grid]]\narch = [\"mlp:16\", \"vgg:3\"]\ntemperature = [2]\nalpha = [0.5]\n",
            ":3:",
            "unknown architecture 'vgg'",
        ),
        (
            "[[grid]]\narch = [\"mlp:16\"]\ntemperature = [2, -1]\nalpha = [0.5]\n",
            ":3:",
            "temperature -1 must be a positive number",
        ),
        (
            "[[grid]]\narch = [\"mlp:16\"]\ntemperature = [2]\n\nalpha = [0.5, 1.5]\n",
            ":5:",
            "alpha 1.5 is outside [0, 1]",
        ),
        (
            "[[grid]]\narch = []\ntemperature = [2]\nalpha = [0.5]\n",
            ":2:",
            "empty grid",
        ),
        ("# nothing here\n", ":1:", "empty grid"),
        (
            "epochs = 2\nepoch = 3\narch = [\"mlp:16\"]\nalpha = [0]\n",
            ":2:",
            "unknown field `epoch`",
        ),
        ("arch = [\"mlp:16\"\nalpha = [0]\n", ":2:", "missing comma"),
        (
            "arch = [\"mlp:16\"]\nalpha = [0.5]\n",
            ":1:",
            "the block sets no `temperature`",
        ),
    ];
    for (i, (text, line, reason)) in cases.iter().enumerate() {
        let grid = dir.path().join(format!("grid{i}.toml"));
        std::fs::write(&grid, text).unwrap();
        // The grid is checked first: nothing else needs to exist.
        let err = fails(
            distill()
                .args(["sweep", "--grid"])
                .arg(&grid)
                .arg("--out")
                .arg(dir.path().join("out"))
                .args(["--dataset", "idx:/nonexistent", "--cache", "/nonexistent"]),
        );
        let want = format!("grid{i}.toml{line}");
        assert!(
            err.contains(&want) && err.contains(reason),
            "case {i}: want {want} and {reason}:\n{err}"
        );
        assert!(!dir.path().join("out").exists());
    }
}
