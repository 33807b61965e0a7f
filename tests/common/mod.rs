//! Helpers shared by the end-to-end tests of the `distill` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn distill() -> Command {
    Command::new(env!("CARGO_BIN_EXE_distill"))
}

pub fn mini() -> String {
    format!(
        "idx:{}/datasets/fashion-mnist-mini",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean failure: {cmd:?}\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "panic instead of an error:\n{stderr}"
    );
    stderr
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A file under the repository root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The run's `metrics.jsonl`, one object per epoch.
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Caches `teacher`'s logits over the committed subset's `split` into `out`.
pub fn cache(teacher: &Path, out: &Path, split: &str, extra: &[&str]) {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher)
        .arg("--out")
        .arg(out);
    cmd.args([
        "--dataset",
        &mini(),
        "--split",
        split,
        "--rows-per-part",
        "500",
    ]);
    cmd.args(extra);
    run(&mut cmd);
}

/// The largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The `part-*.parquet` files of the cache in `dir`, in name order.
pub fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("part-") && name.ends_with(".parquet")
        })
        .collect();
    parts.sort();
    parts
}

/// The part files of the cache in `dir`, in name order, by name with their bytes.
pub fn part_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    part_files(dir)
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Every record batch of the cache in `dir`, read part by part with nothing but the arrow
/// Parquet reader (as any reader outside distill would).
pub fn part_batches(dir: &Path) -> Vec<arrow::array::RecordBatch> {
    let mut batches = Vec::new();
    for path in part_files(dir) {
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .build()
            .unwrap();
        batches.extend(reader.map(|b| b.unwrap()));
    }
    batches
}

/// Starts `commands` at once and waits for all; each must succeed. Returns each one's
/// stderr.
pub fn run_together(commands: Vec<Command>) -> Vec<String> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut cmd| {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(out.status.success(), "{stderr}");
            stderr
        })
        .collect()
}

/// The environment variables of the cluster schedulers, cleared from commands that must
/// not pick a shard up from the test's own environment.
pub const SCHEDULER_VARS: [&str; 7] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "AWS_BATCH_JOB_ARRAY_SIZE",
];

/// `cache-logits` of the test teacher over the subset's training split into `out` (a
/// folder or an `s3://` URL), in parts of 300 rows (7 parts), with `extra` flags, none of
/// the schedulers' variables set.
pub fn train_cache_cmd(out: impl AsRef<std::ffi::OsStr>, extra: &[&str]) -> Command {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(repo("datasets/teacher/test/mlp.onnx"));
    cmd.args(["--dataset", &mini(), "--split", "train"])
        .args(["--rows-per-part", "300"])
        .args(extra)
        .arg("--out")
        .arg(out);
    for var in SCHEDULER_VARS {
        cmd.env_remove(var);
    }
    cmd
}
