//! Runs that cannot lie: crashes and full disks at every durable write, concurrent writers,
//! killed sweeps, non-finite training, caches that do not fit, settings that train nothing,
//! and `--overwrite` next to files distill did not write. Each test would fail on the bug it
//! is named after.

mod common;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cache, distill, fails, json, metrics, mini, repo, run, run_together};

fn teacher(name: &str) -> PathBuf {
    repo(&format!("datasets/teacher/test/{name}.onnx"))
}

/// A small distillation run: `mlp:16` on 300 training and 100 test images, 2 epochs.
fn kd_run(out: &Path, train_cache: &Path, test_cache: &Path) -> Command {
    kd_run_with(out, train_cache, test_cache, "300", "2")
}

/// `kd_run` on the first `limit` training images for `epochs` epochs.
fn kd_run_with(
    out: &Path,
    train_cache: &Path,
    test_cache: &Path,
    limit: &str,
    epochs: &str,
) -> Command {
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", limit, "--test-limit", "100", "--epochs", epochs]);
    cmd.args(["--batch-size", "50", "--seed", "3", "--json"]);
    cmd.arg("--cache").arg(train_cache);
    cmd.arg("--test-cache").arg(test_cache);
    cmd.arg("--out").arg(out);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// The caches of the test teacher over the subset's train and test splits.
fn caches(dir: &Path) -> (PathBuf, PathBuf) {
    let (train, test) = (dir.join("cache-train"), dir.join("cache-test"));
    cache(&teacher("mlp"), &train, "train", &[]);
    cache(&teacher("mlp"), &test, "test", &[]);
    (train, test)
}

/// Runs `make(out)` with a fault armed at every durable write in turn (`N` for a crash,
/// `N:error` for a full disk), reruns it without one, and checks that the rerun ends with
/// exactly `reference`'s result. Returns how many fault points the run has.
fn every_fault_point(
    dir: &Path,
    kind: &str,
    reference: &Path,
    files: &[&str],
    make: &dyn Fn(&Path) -> Command,
) -> usize {
    for n in 1.. {
        let out = dir.join(format!("{kind}-{n}"));
        let status = make(&out)
            .env("DISTILL_FAULT_AT", format!("{n}{kind}"))
            .status()
            .unwrap();
        if status.success() {
            return n - 1; // no fault point left to arm
        }
        assert_ne!(status.code(), Some(101), "fault {n}{kind}: a panic");
        let status = make(&out).status().unwrap();
        assert!(status.success(), "fault {n}{kind}: the rerun failed");
        for file in files {
            assert_eq!(
                std::fs::read(reference.join(file)).unwrap(),
                std::fs::read(out.join(file)).unwrap(),
                "fault {n}{kind}: {file} differs from the uninterrupted run"
            );
        }
        let leftovers: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .chain(
                std::fs::read_dir(out.join("checkpoint"))
                    .into_iter()
                    .flatten(),
            )
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial") || n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "fault {n}{kind}: left {leftovers:?}");
    }
    unreachable!()
}

#[test]
fn a_training_run_crashed_or_out_of_disk_at_any_write_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let reference = dir.path().join("reference");
    assert!(
        kd_run(&reference, &train, &test)
            .status()
            .unwrap()
            .success()
    );
    let make = |out: &Path| kd_run(out, &train, &test);
    // metrics.jsonl and result.json hold timings: the model and the losses must agree.
    let same = |a: &Path, b: &Path| {
        assert_eq!(
            std::fs::read(a.join("model.onnx")).unwrap(),
            std::fs::read(b.join("model.onnx")).unwrap()
        );
        let strip = |m: Vec<serde_json::Value>| -> Vec<(f64, f64)> {
            m.iter()
                .map(|e| {
                    (
                        e["train_loss"].as_f64().unwrap(),
                        e["test_accuracy"].as_f64().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(strip(metrics(a)), strip(metrics(b)));
    };
    for kind in ["", ":error"] {
        for n in 1.. {
            let out = dir.path().join(format!("fault{kind}-{n}"));
            let status = make(&out)
                .env("DISTILL_FAULT_AT", format!("{n}{kind}"))
                .status()
                .unwrap();
            if status.success() {
                assert!(n > 15, "only {} fault points: the hook is not armed", n - 1);
                break;
            }
            assert_ne!(status.code(), Some(101), "fault {n}{kind}: a panic");
            // A fault after result.json's rename leaves a finished run; before it, none.
            if out.join("result.json").exists() {
                same(&reference, &out);
            }
            assert!(
                make(&out).status().unwrap().success(),
                "fault {n}{kind}: the rerun failed"
            );
            same(&reference, &out);
        }
    }
}

/// `cache-logits` of the test teacher over the subset's test split with `extra` flags.
fn cache_of_test(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"]).arg(teacher("mlp"));
    cmd.args(["--dataset", &mini(), "--split", "test"])
        .args(extra);
    cmd.arg("--out").arg(out);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// Caches with `flags` crashed (and, with `full_disk`, out of disk) at every durable write
/// in turn, each rerun to the uninterrupted cache's bytes: its manifest and `parts` parts.
fn cache_resumes_byte_identical(flags: &[&str], parts: usize, full_disk: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let make = |out: &Path| cache_of_test(out, flags);
    let reference = dir.path().join("reference");
    assert!(make(&reference).status().unwrap().success());
    let names: Vec<String> = std::iter::once("manifest.json".to_string())
        .chain((0..parts).map(|i| format!("part-{i:05}.parquet")))
        .collect();
    let files: Vec<&str> = names.iter().map(String::as_str).collect();
    let points = every_fault_point(dir.path(), "", &reference, &files, &make);
    if full_disk {
        every_fault_point(dir.path(), ":error", &reference, &files, &make);
    }
    points
}

#[test]
fn a_cache_crashed_at_any_write_resumes_byte_identical() {
    let points = cache_resumes_byte_identical(&["--rows-per-part", "300"], 4, true);
    assert!(points >= 10, "{points} fault points");
}

#[test]
fn a_cache_of_views_crashed_at_any_write_resumes_byte_identical() {
    let flags = [
        "--limit",
        "300",
        "--views",
        "2",
        "--augment",
        "crop:0.3-1,flip,mixup",
        "--rows-per-part",
        "250",
    ];
    let points = cache_resumes_byte_identical(&flags, 3, false);
    assert!(points >= 7, "{points} fault points");
}

/// Holds the lock of `dir` as another distill process would.
fn hold_lock(dir: &Path) -> File {
    std::fs::create_dir_all(dir).unwrap();
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(".distill.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

#[test]
fn a_second_writer_of_a_folder_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    // A cache being written.
    let out = dir.path().join("busy-cache");
    let lock = hold_lock(&out);
    let err = fails(
        distill()
            .args(["cache-logits", "--teacher"])
            .arg(teacher("mlp"))
            .args(["--dataset", &mini(), "--out"])
            .arg(&out),
    );
    assert!(err.contains("in use by another distill process"), "{err}");
    assert!(!out.join("manifest.json").exists());
    drop(lock);
    // A run being trained.
    let run_dir = dir.path().join("busy-run");
    let lock = hold_lock(&run_dir);
    let out = kd_run(&run_dir, &train, &test)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("in use by another distill process"), "{err}");
    drop(lock);
    assert!(kd_run(&run_dir, &train, &test).status().unwrap().success());
}

/// A two-run grid over the subset.
fn small_sweep(dir: &Path, out: &Path, train: &Path, test: &Path) -> Command {
    let grid = dir.join("grid.toml");
    // Written whole and renamed into place: a sweep started just before may be reading it.
    let partial = dir.join("grid.toml.partial");
    std::fs::write(
        &partial,
        "seeds = [1]\nepochs = 2\nbatch_size = 64\n[[grid]]\narch = [\"mlp:8\", \"mlp:12\"]\ntemperature = [2]\nalpha = [0.5]\n",
    )
    .unwrap();
    std::fs::rename(&partial, &grid).unwrap();
    let mut cmd = distill();
    cmd.args(["sweep", "--grid"])
        .arg(&grid)
        .arg("--out")
        .arg(out);
    cmd.args([
        "--dataset",
        &mini(),
        "--limit",
        "600",
        "--test-limit",
        "200",
    ]);
    cmd.arg("--cache").arg(train).arg("--test-cache").arg(test);
    cmd.arg("--json");
    cmd
}

#[test]
fn shards_started_together_always_finish_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    for attempt in 0..3 {
        let out = dir.path().join(format!("sweep{attempt}"));
        let shards = ["1/2", "2/2"].iter().map(|shard| {
            let mut cmd = small_sweep(dir.path(), &out, &train, &test);
            cmd.args(["--shard", shard]);
            cmd
        });
        run_together(shards.collect());
        let report = json(&out.join("results.json"));
        assert!(report["missing"].as_array().unwrap().is_empty(), "{report}");
        assert_eq!(report["rows"].as_array().unwrap().len(), 4);
    }
}

/// Whether another process holds the lock of `dir`.
fn locked(dir: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(".distill.lock"))
    else {
        return false;
    };
    file.try_lock().is_err()
}

#[test]
fn a_killed_sweep_takes_its_trainer_with_it_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let out = dir.path().join("sweep");
    let mut sweep = small_sweep(dir.path(), &out, &train, &test)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first trainer to hold its run directory.
    let runs = out.join("runs");
    let started = Instant::now();
    let busy = loop {
        let found = walk(&runs).into_iter().find(|d| locked(d));
        if let Some(d) = found {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no trainer started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    sweep.kill().unwrap(); // SIGKILL: no handler runs
    sweep.wait().unwrap();
    let started = Instant::now();
    while locked(&busy) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the trainer outlived its sweep"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let rerun = run(&mut small_sweep(dir.path(), &out, &train, &test));
    let report: serde_json::Value = serde_json::from_slice(&rerun.stdout).unwrap();
    assert!(report["missing"].as_array().unwrap().is_empty(), "{report}");
}

/// Every folder under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            if e.path().is_dir() {
                out.push(e.path());
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

#[test]
fn sigterm_stops_training_with_a_message_and_a_resumable_state() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let out = dir.path().join("run");
    let child = kd_run_with(&out, &train, &test, "300", "30")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = out.join("checkpoint/state.json");
    let started = Instant::now();
    while !state.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: sends a signal to the child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM") && stderr.contains("resume"),
        "{stderr}"
    );
    assert!(!out.join("result.json").exists());
    let rerun = kd_run_with(&out, &train, &test, "300", "30")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(rerun.status.success());
    assert!(String::from_utf8_lossy(&rerun.stderr).contains("resuming after epoch"));
}

#[test]
fn training_that_diverges_stops_naming_the_epoch_and_writes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--lr", "1e10"), ("--weight-decay", "1e9")] {
        let out = dir.path().join(flag.trim_start_matches('-'));
        let err = fails(
            distill()
                .args(["train-student", "--arch", "mlp:32", "--dataset", &mini()])
                .args(["--limit", "500", "--test-limit", "100", "--epochs", "3"])
                .args([flag, value, "--out"])
                .arg(&out),
        );
        assert!(
            err.contains("training stopped at epoch")
                && (err.contains("NaN") || err.contains("inf")),
            "{flag}: {err}"
        );
        assert!(!out.join("result.json").exists() && !out.join("model.onnx").exists());
    }
    // A cache that holds NaN (made with --allow-nonfinite) cannot teach.
    let nan = dir.path().join("nan-cache");
    cache(&teacher("mlp-nan"), &nan, "train", &["--allow-nonfinite"]);
    let out = dir.path().join("from-nan");
    let err = fails(
        distill()
            .args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
            .arg("--cache")
            .arg(&nan)
            .arg("--out")
            .arg(&out),
    );
    assert!(err.contains("NaN") && err.contains("cannot teach"), "{err}");
    assert!(
        !out.exists(),
        "nothing is written for a run refused up front"
    );
}

#[test]
fn float_data_holding_nan_is_named_as_the_datas_fault() {
    let dir = tempfile::tempdir().unwrap();
    // f32 arrays: 20 samples of 4 features, the 7th holding NaN.
    let mut x: Vec<f32> = (0..80).map(|i| i as f32 / 80.0).collect();
    x[6 * 4 + 2] = f32::NAN;
    let y: Vec<i64> = (0..20).map(|i| i % 2).collect();
    let folder = dir.path().join("arrays");
    std::fs::create_dir(&folder).unwrap();
    write_npy(&folder.join("x_train.npy"), "<f4", &[20, 4], bytemuck(&x));
    let yb: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(&folder.join("y_train.npy"), "<i8", &[20], &yb);
    let err = fails(
        distill()
            .args(["cache-logits", "--teacher"])
            .arg(teacher("sklearn-wine"))
            .arg("--dataset")
            .arg(format!("npy:{}", folder.display()))
            .arg("--out")
            .arg(dir.path().join("c")),
    );
    assert!(
        err.contains("x_train") && err.contains("sample 6") && err.contains("NaN"),
        "{err}"
    );
    assert!(!err.contains("produced"), "blamed on the teacher: {err}");
}

fn bytemuck(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

/// Writes a version-1 `.npy` file.
fn write_npy(path: &Path, dtype: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn settings_that_train_nothing_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (flags, named)) in [
        (&["--batch-size", "1"][..], "batch_size"),
        (&["--limit", "1"][..], "training sample"),
        (&["--val-fraction", "0.9999"][..], "validation"),
        (&["--arch", "cnn:4,4,4,4,4"][..], "conv blocks"),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("run{i}"));
        let mut cmd = distill();
        cmd.args(["train-student", "--dataset", &mini(), "--test-limit", "50"]);
        if !flags.contains(&"--arch") {
            cmd.args(["--arch", "mlp:8"]);
        }
        let err = fails(cmd.args(*flags).arg("--out").arg(&out));
        assert!(err.contains(named), "{flags:?}: {err}");
        assert!(!out.exists(), "{flags:?}: a run folder was made");
    }
}

#[test]
fn a_cache_that_does_not_fit_its_data_is_refused_on_load() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let mut manifest = json(&train.join("manifest.json"));
    let sha = |p: &Path| distill_data::sha256_file(p).unwrap();
    // A part replaced by another part of the same cache, its checksum updated: duplicate ids.
    let (p0, p2) = (
        train.join("part-00000.parquet"),
        train.join("part-00002.parquet"),
    );
    std::fs::copy(&p0, &p2).unwrap();
    manifest["parts"][2]["sha256"] = sha(&p2).into();
    std::fs::write(train.join("manifest.json"), manifest.to_string()).unwrap();
    let err = fails(distill().arg("inspect").arg(&train));
    assert!(
        err.contains("part-00002.parquet") && err.contains("another cache or place"),
        "{err}"
    );
    let err = fails(kd_run(&dir.path().join("r1"), &train, &test).stderr(Stdio::piped()));
    assert!(err.contains("part-00002.parquet"), "{err}");
    // A part of the test cache in the training cache.
    std::fs::copy(test.join("part-00000.parquet"), &p2).unwrap();
    manifest["parts"][2]["sha256"] = sha(&p2).into();
    std::fs::write(train.join("manifest.json"), manifest.to_string()).unwrap();
    let err = fails(distill().arg("inspect").arg(&train));
    assert!(
        err.contains("another cache") && err.contains("dataset"),
        "{err}"
    );
}

#[test]
fn the_first_samples_of_a_split_join_a_cache_of_the_whole_split() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let out = dir.path().join("limited");
    run(&mut kd_run_with(&out, &train, &test, "250", "1"));
    let config = json(&out.join("config.json"));
    assert_eq!(config["train_data"]["samples"], 250);
    assert_eq!(config["distill"]["cache"]["samples"], 2000);
}

#[test]
fn overwrite_never_removes_or_writes_among_files_distill_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    // A project folder that happens to hold a config.json.
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("config.json"), b"{\"my\": \"settings\"}").unwrap();
    std::fs::write(project.join("main.py"), b"print('years of work')").unwrap();
    let err = fails(
        distill()
            .args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
            .args([
                "--limit",
                "200",
                "--test-limit",
                "50",
                "--epochs",
                "1",
                "--overwrite",
            ])
            .arg("--out")
            .arg(&project),
    );
    assert!(err.contains("no run distill made"), "{err}");
    assert!(project.join("main.py").is_file() && project.join("config.json").is_file());
    // A distill run with a file of the user's beside it: --overwrite keeps that file.
    let runs = dir.path().join("run");
    let train = |epochs: &str| {
        let mut cmd = distill();
        cmd.args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
            .args(["--limit", "200", "--test-limit", "50", "--epochs", epochs])
            .arg("--out")
            .arg(&runs);
        cmd
    };
    run(&mut train("1"));
    std::fs::write(runs.join("notes.txt"), b"mine").unwrap();
    run(train("2").arg("--overwrite"));
    assert_eq!(std::fs::read(runs.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(metrics(&runs).len(), 2);
    // A folder with a manifest.json of someone else's is never a cache to replace.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("manifest.json"), b"{\"name\": \"my web app\"}").unwrap();
    let err = fails(
        distill()
            .args(["cache-logits", "--teacher"])
            .arg(teacher("mlp"))
            .args(["--dataset", &mini(), "--overwrite", "--out"])
            .arg(&foreign),
    );
    assert!(err.contains("not a distill cache manifest"), "{err}");
    assert_eq!(
        std::fs::read(foreign.join("manifest.json")).unwrap(),
        b"{\"name\": \"my web app\"}"
    );
}

#[test]
fn outputs_read_as_probabilities_must_hold_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let err = fails(
        distill()
            .args(["cache-logits", "--teacher"])
            .arg(teacher("mlp"))
            .args(["--dataset", &mini(), "--teacher-output", "probs", "--out"])
            .arg(&out),
    );
    assert!(
        err.contains("does not hold probs") && err.contains("sample id"),
        "{err}"
    );
    assert!(!out.join("part-00000.parquet").exists());
}

#[test]
fn a_model_whose_recorded_preprocessing_is_not_valid_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    run(distill()
        .args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
        .args([
            "--limit",
            "200",
            "--test-limit",
            "50",
            "--epochs",
            "1",
            "--out",
        ])
        .arg(&run_dir));
    let mut bytes = std::fs::read(run_dir.join("model.onnx")).unwrap();
    // Same length, so the protobuf stays valid: only the JSON breaks.
    let at = bytes
        .windows(8)
        .position(|w| w == b"\"scale\":")
        .expect("the export records its preprocessing");
    bytes[at + 1..at + 6].copy_from_slice(b"scalx");
    let model = dir.path().join("broken.onnx");
    std::fs::write(&model, bytes).unwrap();
    let err = fails(distill().args(["eval", "--model"]).arg(&model).args([
        "--dataset",
        &mini(),
        "--latency-runs",
        "1",
    ]));
    assert!(
        err.contains("distill.preprocess") && err.contains("scale"),
        "{err}"
    );
}

#[test]
fn a_sweep_of_a_cnn_deeper_than_its_input_is_refused_before_it_claims_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let grid = dir.path().join("deep.toml");
    std::fs::write(
        &grid,
        "epochs = 1\n[[grid]]\narch = [\"mlp:8\", \"cnn:4,4,4,4,4\"]\nalpha = [0]\n",
    )
    .unwrap();
    let out = dir.path().join("sweep");
    let err = fails(
        distill()
            .args(["sweep", "--grid"])
            .arg(&grid)
            .arg("--out")
            .arg(&out)
            .args(["--dataset", &mini(), "--limit", "100", "--test-limit", "50"])
            .arg("--cache")
            .arg(&train)
            .arg("--test-cache")
            .arg(&test),
    );
    assert!(
        err.contains("cnn:4,4,4,4,4") && err.contains("conv blocks"),
        "{err}"
    );
    assert!(!out.join("sweep.json").exists());
}

#[test]
fn a_run_resumed_with_another_memory_budget_is_refused() {
    // Streaming a cache visits the samples in another order: the resumed run would differ.
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = caches(dir.path());
    let out = dir.path().join("run");
    run(&mut kd_run(&out, &train, &test));
    let err = fails(
        kd_run(&out, &train, &test)
            .args(["--max-memory", "1K"])
            .stderr(Stdio::piped()),
    );
    assert!(err.contains("streamed: false -> true"), "{err}");
}
