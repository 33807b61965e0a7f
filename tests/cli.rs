//! End-to-end tests of the `distill` binary on the committed Fashion-MNIST subset, with
//! real training, real ONNX export and ONNX Runtime.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{distill, fails, json, metrics, mini, run};

fn train_args(out: &Path, arch: &str, epochs: usize) -> Vec<String> {
    [
        "train-student",
        "--arch",
        arch,
        "--dataset",
        &mini(),
        "--limit",
        "1000",
        "--test-limit",
        "500",
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "50",
        "--seed",
        "5",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

/// `distill eval --json` of `model` on the committed subset's test split.
fn eval_json(model: &Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = distill();
    cmd.args(["eval", "--model"]).arg(model);
    cmd.args(["--dataset", &mini(), "--latency-runs", "5", "--json"])
        .args(extra);
    serde_json::from_slice(&run(&mut cmd).stdout).unwrap()
}

#[test]
fn train_student_writes_a_complete_run_that_eval_agrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let stdout = run(distill().args(train_args(&out, "mlp:64", 2)).arg("--json")).stdout;
    let result: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    for file in [
        "config.json",
        "metrics.jsonl",
        "model.bpk",
        "model.onnx",
        "result.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let lines = metrics(&out);
    assert_eq!(lines.len(), 2);
    for key in [
        "epoch",
        "train_loss",
        "kd_loss",
        "hard_loss",
        "test_accuracy",
        "teacher_agreement",
        "test_kl",
        "seconds",
    ] {
        assert!(lines[1].get(key).is_some(), "metrics.jsonl lacks {key}");
    }
    assert_eq!(json(&out.join("config.json"))["arch"], "mlp:64");

    // ONNX Runtime on the exported model sees exactly what burn saw on the same test set.
    let eval = eval_json(&out.join("model.onnx"), &["--limit", "500"]);
    assert_eq!(eval["samples"], 500);
    assert_eq!(eval["accuracy"], result["test_accuracy"]);
    assert!(eval["accuracy"].as_f64().unwrap() > 0.5);
    assert!(eval["latency_ms_batch1"].as_f64().unwrap() > 0.0);
    assert!(eval["params"].as_u64().unwrap() >= 784 * 64 + 64 + 650);

    // A finished run is left alone; a different config in the same directory is refused.
    run(distill().args(train_args(&out, "mlp:64", 2)));
    let err = fails(
        distill()
            .args(train_args(&out, "mlp:64", 2))
            .args(["--lr", "0.01"]),
    );
    assert!(
        err.contains("different config") && err.contains("lr"),
        "{err}"
    );
}

#[test]
fn killed_training_resumes_to_the_same_result() {
    for arch in [
        "cnn:8,fc=32",
        "resnet:4,8,blocks=1",
        "mobilenet:8,16,expand=2",
    ] {
        killed_and_resumed(arch);
    }
}

/// `arch` trained 3 epochs, and trained again but killed after its first checkpoint and
/// resumed: the same metrics, epoch by epoch.
fn killed_and_resumed(arch: &str) {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    run(distill().args(train_args(&reference, arch, 3)));

    let resumed = dir.path().join("resumed");
    let mut child = distill()
        .args(train_args(&resumed, arch, 3))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = resumed.join("checkpoint/state.json");
    let started = Instant::now();
    while !state.exists() && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(state.exists(), "no checkpoint was written");
    assert!(
        !resumed.join("result.json").exists(),
        "killed too late to test resuming"
    );

    let stderr =
        String::from_utf8(run(distill().args(train_args(&resumed, arch, 3))).stderr).unwrap();
    assert!(stderr.contains("resuming after epoch"), "{stderr}");
    let (a, b) = (metrics(&reference), metrics(&resumed));
    assert_eq!(b.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x["train_loss"], y["train_loss"],
            "{arch} epoch {}",
            x["epoch"]
        );
        assert_eq!(
            x["test_accuracy"], y["test_accuracy"],
            "{arch} epoch {}",
            x["epoch"]
        );
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        distill()
            .args(["train-student", "--arch", "mlp:8", "--out"])
            .arg(dir.path().join("r"))
            .args(["--dataset", "idx:/nonexistent/fashion"]),
    );
    assert!(err.contains("/nonexistent/fashion"), "{err}");

    let err = fails(
        distill()
            .args([
                "train-student",
                "--arch",
                "mlp:8",
                "--epochs",
                "0",
                "--dataset",
                &mini(),
                "--out",
            ])
            .arg(dir.path().join("r")),
    );
    assert!(err.contains("--epochs"), "{err}");

    let bad = distill()
        .args([
            "train-student",
            "--arch",
            "transformer:8",
            "--dataset",
            &mini(),
            "--out",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown architecture"));

    // --overwrite never deletes a directory that is not a distill run.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.tex"), b"years of work").unwrap();
    let err = fails(
        distill()
            .args([
                "train-student",
                "--arch",
                "mlp:8",
                "--dataset",
                &mini(),
                "--overwrite",
                "--out",
            ])
            .arg(&precious),
    );
    assert!(err.contains("holds no run distill made"), "{err}");
    assert!(precious.join("thesis.tex").is_file());

    // ONNX Runtime missing: a message that says how to fix it, not a panic.
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, b"not a model").unwrap();
    let err = fails(
        distill()
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
            .args([
                "eval",
                "--model",
                model.to_str().unwrap(),
                "--dataset",
                &mini(),
            ]),
    );
    assert!(
        err.contains("scripts/setup.sh") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );

    // A file that is not ONNX is named in the error.
    let err = fails(distill().args([
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        &mini(),
    ]));
    assert!(err.contains("m.onnx"), "{err}");
}

#[test]
fn committed_teacher_is_a_real_teacher() {
    // The first 1,000 test images of Fashion-MNIST: the committed teacher (93.6 % on all
    // 10,000, see datasets/teacher/PROVENANCE.md) must classify them about as well, using
    // the preprocessing recorded in its own metadata.
    let teacher = format!(
        "{}/datasets/teacher/fashion-mnist-cnn.onnx",
        env!("CARGO_MANIFEST_DIR")
    );
    let eval = eval_json(Path::new(&teacher), &["--split", "test"]);
    assert_eq!(eval["samples"], 1000);
    let acc = eval["accuracy"].as_f64().unwrap();
    assert!(acc > 0.91, "teacher accuracy on the test subset: {acc}");
    // Sized like a teacher: 0.87 M weights (plus batch-norm statistics).
    let params = eval["params"].as_u64().unwrap();
    assert!(
        (800_000..1_000_000).contains(&params),
        "{params} parameters"
    );
}

/// `--device cuda` where no GPU can be had is an error saying what is missing, before
/// anything is written: the teacher with the CPU build of ONNX Runtime (no CUDA provider),
/// a student in a build without the `cuda` feature. `--device cpu` is the default.
#[test]
fn a_gpu_that_cannot_be_had_is_an_error_saying_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cpu_build = common::repo(".onnxruntime/libonnxruntime.so");
    let teacher = common::repo("datasets/teacher/fashion-mnist-cnn.onnx");
    let out = dir.path().join("cache");
    let err = fails(
        distill()
            .env("ORT_DYLIB_PATH", &cpu_build)
            .args(["cache-logits", "--device", "cuda", "--teacher"])
            .arg(&teacher)
            .args(["--dataset", &mini(), "--limit", "64", "--out"])
            .arg(&out),
    );
    assert!(
        err.contains("has no CUDA execution provider")
            && err.contains("scripts/setup.sh --gpu")
            && err.contains("--device cpu"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    let err = fails(
        distill()
            .env("ORT_DYLIB_PATH", &cpu_build)
            .args(["eval", "--device", "cuda:1", "--model"])
            .arg(&teacher)
            .args(["--dataset", &mini()]),
    );
    assert!(err.contains("has no CUDA execution provider"), "{err}");

    let run = dir.path().join("run");
    let mut args = train_args(&run, "mlp:8", 1);
    args.extend(["--device".into(), "cuda".into()]);
    let err = fails(distill().args(&args));
    assert!(
        err.contains("built without students on CUDA")
            && err.contains("--features cuda")
            && err.contains("--device cpu"),
        "{err}"
    );
    assert!(!run.exists(), "nothing written");
    // A sweep fails the same way, before it reads its grid's data or cache.
    let sweep = dir.path().join("sweep");
    let err = fails(
        distill()
            .args(["sweep", "--device", "cuda", "--grid"])
            .arg(common::repo("datasets/sweeps/fashion-mnist.toml"))
            .args(["--dataset", &mini(), "--cache"])
            .arg(dir.path().join("no-cache"))
            .arg("--out")
            .arg(&sweep),
    );
    assert!(
        err.contains("built without students on CUDA") && err.contains("--device cpu"),
        "{err}"
    );
    assert!(!sweep.exists(), "nothing written");

    let bad = distill()
        .args(["eval", "--device", "tpu", "--model"])
        .arg(&teacher)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expected cpu, cuda or cuda:N"), "{err}");
}
