//! End-to-end tests of `distill train-student --cache`: stage one with a small exported
//! teacher, then distillation from its cache alone, and every way a cache can fail to match.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cache, distill, fails, json, metrics, mini, repo, run};

fn teacher(name: &str) -> PathBuf {
    repo(&format!("datasets/teacher/test/{name}.onnx"))
}

/// `train-student` of a small MLP on the subset with the given caches and flags.
fn train_cmd(out: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:64", "--dataset", &mini()]);
    cmd.args([
        "--mean",
        "0.2860",
        "--std",
        "0.3530",
        "--batch-size",
        "64",
        "--seed",
        "2",
    ]);
    cmd.arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .args(extra);
    cmd
}

#[test]
fn distillation_from_a_cache_alone_tracks_the_teacher() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the teacher that is deleted after caching: training must not need it.
    let copy = dir.path().join("teacher.onnx");
    std::fs::copy(teacher("mlp"), &copy).unwrap();
    let (train_cache, test_cache) = (dir.path().join("train"), dir.path().join("test"));
    cache(&copy, &train_cache, "train", &[]);
    cache(&copy, &test_cache, "test", &[]);
    let sha = distill_data::sha256_file(&copy).unwrap();
    std::fs::remove_file(&copy).unwrap();

    let out = dir.path().join("run");
    let mut cmd = train_cmd(&out, &train_cache, &["--epochs", "4", "--lr", "3e-3"]);
    cmd.arg("--test-cache").arg(&test_cache);
    cmd.args(["--temperature", "2", "--alpha", "0.7"]);
    run(&mut cmd);

    let m = metrics(&out);
    assert_eq!(m.len(), 4);
    for e in &m {
        for key in [
            "kd_loss",
            "hard_loss",
            "teacher_agreement",
            "test_kl",
            "test_accuracy",
        ] {
            assert!(e[key].as_f64().is_some_and(f64::is_finite), "{key}: {e}");
        }
        let total = 0.7 * e["kd_loss"].as_f64().unwrap() + 0.3 * e["hard_loss"].as_f64().unwrap();
        assert!(
            (e["train_loss"].as_f64().unwrap() - total).abs() < 1e-4,
            "{e}"
        );
    }
    let agreement: Vec<f64> = m
        .iter()
        .map(|e| e["teacher_agreement"].as_f64().unwrap())
        .collect();
    assert!(
        agreement[3] > agreement[0],
        "agreement should rise: {agreement:?}"
    );
    let kl: Vec<f64> = m.iter().map(|e| e["test_kl"].as_f64().unwrap()).collect();
    assert!(kl[3] < kl[0], "KL to the teacher should fall: {kl:?}");

    // The run records the caches' identity and the loss settings.
    let config = json(&out.join("config.json"));
    assert_eq!(config["distill"]["cache"]["teacher_sha256"], sha);
    assert_eq!(config["distill"]["test_cache"]["split"], "test");
    assert_eq!(config["distill"]["loss"]["alpha"], 0.7);
    assert_eq!(config["distill"]["loss"]["t2_scaling"], true);
    let result = json(&out.join("result.json"));
    assert_eq!(result["teacher_sha256"], sha);
    assert!(out.join("model.onnx").is_file());

    // Streaming the cache under a tiny memory budget trains too (here with the MSE hard
    // term).
    let streamed = dir.path().join("streamed");
    let flags = ["--epochs", "1", "--max-memory", "1K", "--hard-loss", "mse"];
    let mut cmd = train_cmd(&streamed, &train_cache, &flags);
    let stderr = String::from_utf8_lossy(&run(&mut cmd).stderr).into_owned();
    assert!(stderr.contains("indexed for streaming"), "{stderr}");
    let config = json(&streamed.join("config.json"));
    assert_eq!(config["distill"]["loss"]["hard_loss"], "mse");
    assert!(
        metrics(&streamed)[0]["hard_loss"]
            .as_f64()
            .is_some_and(f64::is_finite)
    );
}

#[test]
fn mismatched_caches_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (train_cache, test_cache) = (dir.path().join("train"), dir.path().join("test"));
    cache(&teacher("mlp"), &train_cache, "train", &[]);
    cache(&teacher("mlp"), &test_cache, "test", &[]);
    let out = dir.path().join("run");
    let epochs = ["--epochs", "1"];

    // A cache of another split.
    let err = fails(&mut train_cmd(&out, &test_cache, &epochs));
    assert!(
        err.contains("holds split 'test'") && err.contains("split 'train'"),
        "{err}"
    );
    // A cache of other data: the first 1,000 samples of the split against all of it...
    let partial = dir.path().join("partial");
    cache(&teacher("mlp"), &partial, "train", &["--limit", "1000"]);
    let err = fails(&mut train_cmd(&out, &partial, &epochs));
    assert!(
        err.contains("1000 samples") && err.contains("has 2000"),
        "{err}"
    );
    // ...or as many other samples: a "train" split made of the subset's test images.
    let other = dir.path().join("other-data");
    std::fs::create_dir(&other).unwrap();
    for (from, to) in [
        ("t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"),
        ("t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ] {
        std::fs::copy(
            repo(&format!("datasets/fashion-mnist-mini/{from}")),
            other.join(to),
        )
        .unwrap();
    }
    let mut cmd = distill();
    cmd.args([
        "train-student",
        "--arch",
        "mlp:64",
        "--epochs",
        "1",
        "--test-dataset",
        &mini(),
    ]);
    cmd.arg("--dataset").arg(format!("idx:{}", other.display()));
    cmd.arg("--out").arg(&out).arg("--cache").arg(&partial);
    let err = fails(&mut cmd);
    assert!(
        err.contains("made from other data") && err.contains("fingerprint"),
        "{err}"
    );

    // A teacher with another class count.
    let five = dir.path().join("five");
    cache(&teacher("mlp-5-classes"), &five, "train", &[]);
    let err = fails(&mut train_cmd(&dir.path().join("run4"), &five, &epochs));
    assert!(
        err.contains("5 classes") && err.contains("need 10"),
        "{err}"
    );

    // An incomplete cache.
    let manifest = train_cache.join("manifest.json");
    let mut m = json(&manifest);
    m["complete"] = serde_json::Value::Bool(false);
    m["parts"].as_array_mut().unwrap().pop();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let err = fails(&mut train_cmd(
        &dir.path().join("run5"),
        &train_cache,
        &epochs,
    ));
    assert!(
        err.contains("incomplete cache") && err.contains("1500 of 2000"),
        "{err}"
    );

    // Flags that make no sense with a cache, or without one.
    let err = fails(&mut train_cmd(
        &dir.path().join("run6"),
        &partial,
        &["--augment", "flip"],
    ));
    assert!(
        err.contains("augmentation cannot be combined with distillation from a cache")
            && err.contains("--augment"),
        "{err}"
    );
    for bad in [["--alpha", "1.5"], ["--temperature", "0"]] {
        let err = fails(&mut train_cmd(&dir.path().join("run7"), &partial, &bad));
        assert!(err.contains(bad[0]), "{err}");
    }
    let mut cmd = distill();
    cmd.args([
        "train-student",
        "--arch",
        "mlp:64",
        "--dataset",
        &mini(),
        "--alpha",
        "0.5",
    ]);
    cmd.arg("--out").arg(dir.path().join("run8"));
    let err = fails(&mut cmd);
    assert!(err.contains("need --cache"), "{err}");
}
