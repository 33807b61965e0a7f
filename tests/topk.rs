//! Top-k caches (format v2): each row keeps the teacher's K largest logits, their classes
//! and a summary of the rest. The kept values are the dense cache's, any Parquet reader
//! (arrow, pyarrow) reads them, and students train from them with the loss normalised over
//! the same support on both sides: with K = classes − 1 the tail is one class, the
//! reconstruction is exact, and training matches the dense cache's.

mod common;

use std::path::{Path, PathBuf};

use arrow::array::{
    Array, FixedSizeListArray, Float16Array, Float32Array, UInt16Array, UInt32Array,
};
use common::{distill, fails, json, metrics, mini, part_batches, repo, run};

fn teacher() -> PathBuf {
    repo("datasets/teacher/fashion-mnist-cnn.onnx")
}

/// Caches the teacher's logits over the committed subset's `split` into `out`.
fn cache_with(out: &Path, split: &str, extra: &[&str]) {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher())
        .arg("--out")
        .arg(out);
    cmd.args(["--dataset", &mini(), "--split", split])
        .args(extra);
    run(&mut cmd);
}

/// The column `name` of every part of the cache in `dir`, as f32 (f16 widened).
fn floats(dir: &Path, name: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for batch in part_batches(dir) {
        let col = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no {name}"));
        let values = match col.as_any().downcast_ref::<FixedSizeListArray>() {
            Some(list) => list.values().clone(),
            None => col.clone(),
        };
        if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
            out.extend(v.values().iter());
        } else {
            let v = values.as_any().downcast_ref::<Float16Array>().unwrap();
            out.extend(v.values().iter().map(|h| h.to_f32()));
        }
    }
    out
}

/// The `topk_index` of every row, as stored (uint16 for fewer than 65,536 classes).
fn classes(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for batch in part_batches(dir) {
        let list = batch.column_by_name("topk_index").unwrap();
        let list = list.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        let values = list.values();
        let ids = values.as_any().downcast_ref::<UInt16Array>().unwrap();
        out.extend(ids.values().iter().map(|&c| u32::from(c)));
        assert!(values.as_any().downcast_ref::<UInt32Array>().is_none());
    }
    out
}

#[test]
fn a_topk_cache_keeps_the_largest_logits_and_any_reader_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (dense, top, half) = (
        dir.path().join("dense"),
        dir.path().join("top3"),
        dir.path().join("top3-f16"),
    );
    let limit = ["--limit", "300", "--rows-per-part", "120"];
    cache_with(&dense, "test", &limit);
    cache_with(
        &top,
        "test",
        &[&limit[..], &["--storage", "topk:3"]].concat(),
    );
    let f16 = [&limit[..], &["--storage", "topk:3", "--dtype", "f16"]].concat();
    cache_with(&half, "test", &f16);

    let manifest = json(&top.join("manifest.json"));
    assert_eq!(manifest["format_version"], 2);
    assert_eq!(manifest["storage"]["kind"], "topk");
    assert_eq!(manifest["storage"]["k"], 3);
    assert!(
        manifest["storage"]["reconstruction"]
            .as_str()
            .unwrap()
            .contains("tail_logsumexp")
    );
    let logits = floats(&dense, "logits");
    let (values, ids) = (floats(&top, "topk_logit"), classes(&top));
    let (lse, tail_lse) = (floats(&top, "logsumexp"), floats(&top, "tail_logsumexp"));
    let (mean, std) = (floats(&top, "tail_mean"), floats(&top, "tail_std"));
    assert_eq!(values.len(), 300 * 3);
    for r in 0..300 {
        let row = &logits[r * 10..(r + 1) * 10];
        let mut order: Vec<usize> = (0..10).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        for j in 0..3 {
            assert_eq!(ids[r * 3 + j] as usize, order[j], "row {r}");
            assert_eq!(values[r * 3 + j], row[order[j]], "row {r}");
        }
        let exp_sum = |cs: &[usize]| cs.iter().map(|&c| f64::from(row[c]).exp()).sum::<f64>();
        assert!(
            (f64::from(lse[r]) - exp_sum(&order).ln()).abs() < 1e-4,
            "row {r}"
        );
        assert!((f64::from(tail_lse[r]) - exp_sum(&order[3..]).ln()).abs() < 1e-4);
        let tail: Vec<f64> = order[3..].iter().map(|&c| f64::from(row[c])).collect();
        let m = tail.iter().sum::<f64>() / 7.0;
        let s = (tail.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 7.0).sqrt();
        assert!((f64::from(mean[r]) - m).abs() < 1e-4 && (f64::from(std[r]) - s).abs() < 1e-4);
    }
    // f16 keeps the same classes, its values within half-precision rounding.
    assert_eq!(classes(&half), ids);
    for (h, f) in floats(&half, "topk_logit").iter().zip(&values) {
        assert!((h - f).abs() <= f.abs() * 1e-3 + 1e-3, "{h} vs {f}");
    }

    // inspect names the storage and its size; the top-k cache is smaller than the dense.
    let report = |cache: &Path| {
        let mut cmd = distill();
        cmd.arg("inspect").arg(cache).arg("--json");
        serde_json::from_slice::<serde_json::Value>(&run(&mut cmd).stdout).unwrap()
    };
    let (r_dense, r_top) = (report(&dense), report(&top));
    assert_eq!(r_top["storage"]["k"], 3);
    assert_eq!(r_top["teacher_accuracy"], r_dense["teacher_accuracy"]);
    let mut cmd = distill();
    let text = run(cmd.arg("inspect").arg(&half)).stdout;
    assert!(String::from_utf8_lossy(&text).contains("topk:3 storage"));

    // pyarrow reads the parts as one table, columns and values as above.
    let deps = std::env::var_os("DISTILL_PYTHON_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/distill-python")
        });
    assert!(
        deps.join("VERSION").exists(),
        "run scripts/setup.sh for pyarrow"
    );
    let script = "import sys, json, glob, pyarrow.parquet as pq\n\
        t = pq.read_table(sorted(glob.glob(sys.argv[1] + '/part-*.parquet')))\n\
        print(json.dumps({'rows': t.num_rows, 'names': t.column_names, \
        'classes': t.column('topk_index')[7].as_py(), 'type': str(t.schema.field('topk_index').type)}))\n";
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script]).arg(&half).env("PYTHONPATH", &deps);
    let seen: serde_json::Value = serde_json::from_slice(&run(&mut cmd).stdout).unwrap();
    assert_eq!(seen["rows"], 300);
    assert_eq!(seen["classes"], serde_json::json!(ids[21..24]));
    assert_eq!(seen["type"], "fixed_size_list<item: uint16 not null>[3]");
    for name in [
        "sample_id",
        "label",
        "topk_logit",
        "logsumexp",
        "tail_logsumexp",
        "tail_count",
        "tail_mean",
        "tail_std",
    ] {
        assert!(
            seen["names"].as_array().unwrap().iter().any(|n| n == name),
            "{name}"
        );
    }

    // Another storage is another cache: resuming it under other settings is refused.
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher())
        .arg("--out")
        .arg(&top);
    cmd.args(["--dataset", &mini(), "--split", "test"])
        .args(limit);
    let err = fails(&mut cmd);
    assert!(err.contains("storage") && err.contains("topk:3"), "{err}");
    // Keeping every class is dense storage: refused before anything is written.
    let ten = dir.path().join("top10");
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher())
        .arg("--out")
        .arg(&ten);
    cmd.args([
        "--dataset",
        &mini(),
        "--split",
        "test",
        "--storage",
        "topk:10",
    ]);
    let err = fails(&mut cmd);
    assert!(err.contains("between 1 and 9"), "{err}");
    assert!(!ten.exists());
}

/// A one-epoch distillation run of `mlp:16` on the first 200 training images.
fn kd_run(out: &Path, cache: &Path, test_cache: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--test-limit", "100", "--epochs", "2"]);
    cmd.args(["--batch-size", "50", "--seed", "3", "--temperature", "4"]);
    cmd.arg("--cache")
        .arg(cache)
        .arg("--test-cache")
        .arg(test_cache);
    cmd.arg("--out").arg(out).args(extra);
    run(&mut cmd);
    metrics(out)
}

#[test]
fn students_train_from_topk_caches_and_k_of_all_but_one_class_matches_dense() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let train = ["--limit", "200"];
    let test = ["--limit", "100"];
    cache_with(&p("dense"), "train", &train);
    cache_with(
        &p("top9"),
        "train",
        &[&train[..], &["--storage", "topk:9"]].concat(),
    );
    cache_with(
        &p("top2"),
        "train",
        &[&train[..], &["--storage", "topk:2"]].concat(),
    );
    cache_with(&p("test"), "test", &test);
    cache_with(
        &p("test9"),
        "test",
        &[&test[..], &["--storage", "topk:9"]].concat(),
    );

    // With nine of ten classes kept the tail is one class: its mass is exact at every
    // temperature, the support is all classes, and the loss is the dense loss.
    let dense = kd_run(&p("run-dense"), &p("dense"), &p("test"), &[]);
    let top9 = kd_run(&p("run-top9"), &p("top9"), &p("test9"), &[]);
    for (d, t) in dense.iter().zip(&top9) {
        for key in [
            "kd_loss",
            "train_loss",
            "test_kl",
            "teacher_agreement",
            "test_accuracy",
        ] {
            let (a, b) = (d[key].as_f64().unwrap(), t[key].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-3 * a.abs().max(1.0),
                "{key}: dense {a}, top-9 {b}"
            );
        }
    }
    // Two kept classes: a real top-k run, loaded or streamed, learns and reports the
    // teacher's agreement from a top-k test cache.
    let loaded = kd_run(&p("run-top2"), &p("top2"), &p("test9"), &[]);
    let streamed = kd_run(
        &p("run-top2s"),
        &p("top2"),
        &p("test9"),
        &["--max-memory", "1K"],
    );
    for m in [&loaded, &streamed] {
        let first = m[0]["kd_loss"].as_f64().unwrap();
        let last = m[1]["kd_loss"].as_f64().unwrap();
        assert!(
            last.is_finite() && last < first,
            "the top-2 loss falls: {first} -> {last}"
        );
        let agreement = m[1]["teacher_agreement"].as_f64().unwrap();
        let kl = m[1]["test_kl"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&agreement) && kl.is_finite() && kl > 0.0,
            "{m:?}"
        );
    }
    let config = json(&p("run-top2s").join("config.json"));
    assert_eq!(config["distill"]["streamed"], true);

    // Views and top-k together: each view's row keeps its top k beside its parameters.
    let views = [&train[..], &["--storage", "topk:2", "--views", "2"]].concat();
    cache_with(
        &p("views"),
        "train",
        &[&views[..], &["--augment", "crop:0.5-1,flip"]].concat(),
    );
    let columns: Vec<String> = part_batches(&p("views"))[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert!(
        columns.contains(&"topk_index".to_string()) && columns.contains(&"crop_top".to_string())
    );
    let m = kd_run(&p("run-views"), &p("views"), &p("test9"), &[]);
    assert!(m[1]["kd_loss"].as_f64().unwrap().is_finite());
}
