//! End-to-end tests of `distill cache-logits` and `distill inspect`: real ONNX teachers in
//! ONNX Runtime, real Parquet files read back with the plain arrow reader, the committed
//! Fashion-MNIST subset.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, FixedSizeListArray, Float16Array, Float32Array, Int32Array, UInt64Array,
};
use arrow::datatypes::DataType;
use common::{distill, fails, json, max_abs_diff, mini, part_batches, part_files, repo, run};
use distill_data::DatasetSpec;
use distill_runtime::{InferencePlan, OnnxModel, model_preprocess};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn teacher(name: &str) -> PathBuf {
    match name {
        "cnn" => repo("datasets/teacher/fashion-mnist-cnn.onnx"),
        _ => repo(&format!("datasets/teacher/test/{name}.onnx")),
    }
}

/// `distill cache-logits` of `teacher` over the subset's `split` into `out`.
fn cache_cmd(teacher: &Path, out: &Path, split: &str, extra: &[&str]) -> Command {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher)
        .arg("--out")
        .arg(out)
        .args(["--dataset", &mini(), "--split", split])
        .args(extra);
    cmd
}

/// A cache read with nothing but the arrow Parquet reader: ids, labels and logits
/// (`[rows, classes]`) of every `part-*.parquet` in name order.
struct PlainCache {
    ids: Vec<u64>,
    labels: Vec<Option<i32>>,
    logits: Vec<f32>,
    classes: usize,
}

fn read_plain(dir: &Path) -> PlainCache {
    let mut cache = PlainCache {
        ids: vec![],
        labels: vec![],
        logits: vec![],
        classes: 0,
    };
    for batch in part_batches(dir) {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        cache.ids.extend(ids.values().iter());
        let labels = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        cache.labels.extend(labels.iter());
        let logits = batch
            .column(2)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        cache.classes = logits.value_length() as usize;
        let values = logits.values();
        if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
            cache.logits.extend(v.values().iter());
        } else {
            let v = values.as_any().downcast_ref::<Float16Array>().unwrap();
            cache.logits.extend(v.values().iter().map(|h| h.to_f32()));
        }
    }
    cache
}

/// The model's output on the subset's `split` (first `limit` samples), run directly in ONNX
/// Runtime one sample at a time, preprocessed the way the model's metadata says.
fn direct_outputs(teacher: &Path, split: &str, limit: usize) -> (Vec<f32>, usize) {
    let spec: DatasetSpec = mini().parse().unwrap();
    let mut data = spec.load(split, &Default::default()).unwrap();
    data.truncate(limit);
    let mut model = OnnxModel::open(teacher, Some(1)).unwrap();
    let preprocess = model_preprocess(&model, data.shape).unwrap();
    let plan = InferencePlan::new(&model, &preprocess.input_dims(data.shape), None).unwrap();
    let mut out = Vec::new();
    let mut classes = 0;
    for i in 0..data.len() {
        let values = data.batch(&preprocess, &[i]).unwrap();
        let (c, logits) = plan.run(&mut model, &values, 1).unwrap();
        classes = c;
        out.extend(logits);
    }
    (out, classes)
}

#[test]
fn cached_logits_equal_a_direct_onnx_runtime_run() {
    let dir = tempfile::tempdir().unwrap();
    // (teacher, flags, samples): an exported MLP and CNN, a fixed batch of 1, a fixed batch
    // of 8 with a padded last batch, a model ending in softmax, a [batch, H, W] input.
    let cases: [(&str, &[&str], usize); 6] = [
        ("mlp", &[], 1000),
        ("cnn", &["--batch-size", "64"], 300),
        ("mlp-batch1", &[], 200),
        ("mlp-batch8", &[], 333),
        ("mlp-softmax", &["--teacher-output", "probs"], 1000),
        ("mlp-hw-input", &[], 100),
    ];
    for (name, flags, samples) in cases {
        let out = dir.path().join(name);
        let limit = samples.to_string();
        let mut cmd = cache_cmd(&teacher(name), &out, "test", flags);
        cmd.args(["--limit", &limit, "--rows-per-part", "128"]);
        run(&mut cmd);
        let cache = read_plain(&out);
        let (mut expected, classes) = direct_outputs(&teacher(name), "test", samples);
        if name == "mlp-softmax" {
            expected = expected.iter().map(|p| p.max(1e-30).ln()).collect();
        }
        assert_eq!(cache.classes, classes, "{name}");
        assert_eq!(cache.ids, (0..samples as u64).collect::<Vec<_>>(), "{name}");
        let diff = max_abs_diff(&cache.logits, &expected);
        assert!(diff <= 1e-6, "{name}: cached logits differ by {diff}");
        let manifest = json(&out.join("manifest.json"));
        assert_eq!(manifest["complete"], true, "{name}");
        assert_eq!(
            manifest["parts"].as_array().unwrap().len(),
            samples.div_ceil(128),
            "{name}"
        );
    }

    // The [batch, H, W] model is the MLP behind a reshape: same logits.
    let hw = read_plain(&dir.path().join("mlp-hw-input")).logits;
    let diff = max_abs_diff(&hw, &read_plain(&dir.path().join("mlp")).logits[..hw.len()]);
    assert!(diff <= 1e-6, "mlp-hw-input differs from mlp by {diff}");

    // f16 storage: the same logits within half-precision rounding (relative 2^-11).
    let out = dir.path().join("mlp-f16");
    run(&mut cache_cmd(
        &teacher("mlp"),
        &out,
        "test",
        &["--dtype", "f16"],
    ));
    let half = read_plain(&out);
    let full = read_plain(&dir.path().join("mlp"));
    for (h, f) in half.logits.iter().zip(&full.logits) {
        assert!((h - f).abs() <= f.abs() * 4.9e-4 + 1e-7, "{h} vs {f}");
    }
    assert_ne!(half.logits, full.logits, "f16 should round something");
}

#[test]
fn output_is_chosen_by_name_and_probabilities_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let two = teacher("mlp-two-outputs");
    let model = OnnxModel::open(&two, Some(1)).unwrap();
    let logits_name = model.outputs[1].name.clone();
    assert_eq!(model.outputs[0].name, "probs");

    // The default is the first float [batch, classes] output: the probabilities, which
    // distill notices and warns about.
    let out = cmd_output(cache_cmd(&two, &dir.path().join("default"), "test", &[]));
    assert!(out.contains("looks like probabilities"), "{out}");
    let picked = dir.path().join("picked");
    run(&mut cache_cmd(
        &two,
        &picked,
        "test",
        &["--output", &logits_name],
    ));
    run(&mut cache_cmd(
        &teacher("mlp"),
        &dir.path().join("plain"),
        "test",
        &[],
    ));
    assert_eq!(
        read_plain(&picked).logits,
        read_plain(&dir.path().join("plain")).logits,
        "--output {logits_name} caches the logits"
    );
    let err = fails(&mut cache_cmd(
        &two,
        &dir.path().join("x"),
        "test",
        &["--output", "nope"],
    ));
    assert!(
        err.contains("no output named 'nope'") && err.contains(&logits_name),
        "{err}"
    );
}

/// Runs `cmd`, which must succeed, and returns its stderr.
fn cmd_output(mut cmd: Command) -> String {
    String::from_utf8_lossy(&run(&mut cmd).stderr).into_owned()
}

#[test]
fn killed_run_resumes_to_the_same_cache() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--rows-per-part",
        "100",
        "--batch-size",
        "25",
        "--threads",
        "1",
    ];
    let whole = dir.path().join("whole");
    run(&mut cache_cmd(&teacher("cnn"), &whole, "train", &flags));

    let killed = dir.path().join("killed");
    let mut child = cache_cmd(&teacher("cnn"), &killed, "train", &flags)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while part_files_if_any(&killed) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no parts appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it was killed");

    // Every file under a final name is complete: it opens and holds a full part.
    let parts = read_plain_parts(&killed);
    assert!(parts.iter().all(|&rows| rows == 100), "{parts:?}");
    if killed.join("manifest.json").exists() {
        assert_eq!(json(&killed.join("manifest.json"))["complete"], false);
    }

    let stderr = cmd_output(cache_cmd(&teacher("cnn"), &killed, "train", &flags));
    assert!(stderr.contains("resuming"), "{stderr}");
    let a = json(&whole.join("manifest.json"));
    let b = json(&killed.join("manifest.json"));
    assert_eq!(b["complete"], true);
    assert_eq!(a["parts"], b["parts"], "same part files, byte for byte");
    assert_eq!(read_plain(&whole).logits, read_plain(&killed).logits);
}

fn part_files_if_any(dir: &Path) -> usize {
    if dir.is_dir() {
        part_files(dir).len()
    } else {
        0
    }
}

/// Row counts of the part files, each read with the plain arrow reader.
fn read_plain_parts(dir: &Path) -> Vec<usize> {
    part_files(dir)
        .iter()
        .map(|p| {
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap())
                .unwrap_or_else(|e| panic!("{} is incomplete: {e}", p.display()));
            builder.metadata().file_metadata().num_rows() as usize
        })
        .collect()
}

/// No cache under `out` claims to be complete.
fn no_complete_cache(out: &Path) {
    let manifest = out.join("manifest.json");
    if manifest.exists() {
        assert_eq!(json(&manifest)["complete"], false, "{}", out.display());
    }
}

#[test]
fn bad_inputs_give_clear_errors_and_no_complete_cache() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");

    // A truncated and a garbage ONNX file.
    let bytes = std::fs::read(teacher("mlp")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a model").unwrap();
    for bad in [&truncated, &garbage] {
        let err = fails(&mut cache_cmd(bad, &out, "test", &[]));
        assert!(err.contains(&bad.display().to_string()), "{err}");
        no_complete_cache(&out);
    }

    // Input shapes the data cannot fill.
    let err = fails(&mut cache_cmd(
        &teacher("mlp"),
        &out,
        "test",
        &["--layout", "flat"],
    ));
    assert!(
        err.contains("has shape [?, 1, 28, 28]") && err.contains("[batch, 784]"),
        "{err}"
    );
    let err = fails(&mut cache_cmd(
        &teacher("mlp"),
        &out,
        "test",
        &["--resize", "32x32"],
    ));
    assert!(err.contains("[batch, 1, 32, 32]"), "{err}");
    no_complete_cache(&out);

    // A missing dataset, and a truncated dataset file.
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher("mlp"))
        .arg("--out")
        .arg(&out);
    cmd.args(["--dataset", "idx:/nonexistent/fashion"]);
    let err = fails(&mut cmd);
    assert!(err.contains("/nonexistent/fashion"), "{err}");
    let short = dir.path().join("short");
    std::fs::create_dir(&short).unwrap();
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::copy(
            repo(&format!("datasets/fashion-mnist-mini/{f}")),
            short.join(f),
        )
        .unwrap();
    }
    let images = short.join("t10k-images-idx3-ubyte.gz");
    let full = std::fs::read(&images).unwrap();
    std::fs::write(&images, &full[..full.len() / 2]).unwrap();
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"])
        .arg(teacher("mlp"))
        .arg("--out")
        .arg(&out);
    cmd.arg("--dataset").arg(format!("idx:{}", short.display()));
    cmd.args(["--split", "test"]);
    let err = fails(&mut cmd);
    assert!(err.contains("t10k-images-idx3-ubyte.gz"), "{err}");
    no_complete_cache(&out);

    // An existing cache from another teacher is refused, naming the difference.
    run(&mut cache_cmd(
        &teacher("mlp"),
        &out,
        "test",
        &["--limit", "100"],
    ));
    let before = std::fs::read(out.join("manifest.json")).unwrap();
    let err = fails(&mut cache_cmd(
        &teacher("cnn"),
        &out,
        "test",
        &["--limit", "100"],
    ));
    assert!(
        err.contains("teacher.sha256") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), before);

    // An output path under a regular file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = fails(&mut cache_cmd(
        &teacher("mlp"),
        &file.join("cache"),
        "test",
        &[],
    ));
    assert!(err.contains("a-file/cache"), "{err}");

    // NaN from the teacher: refused, naming the first bad sample.
    let nan_out = dir.path().join("nan");
    let err = fails(&mut cache_cmd(&teacher("mlp-nan"), &nan_out, "test", &[]));
    let first_bad = first_negative_mean_sample();
    assert!(
        err.contains(&format!("NaN for sample id {first_bad}")),
        "expected sample {first_bad}: {err}"
    );
    no_complete_cache(&nan_out);
}

/// The first test sample whose preprocessed input has a negative mean (where `mlp-nan`
/// emits NaN).
fn first_negative_mean_sample() -> usize {
    let spec: DatasetSpec = mini().parse().unwrap();
    let data = spec.load("test", &Default::default()).unwrap();
    let model = OnnxModel::open(&teacher("mlp-nan"), Some(1)).unwrap();
    let preprocess = model_preprocess(&model, data.shape).unwrap();
    (0..data.len())
        .find(|&i| {
            let v = data.batch(&preprocess, &[i]).unwrap();
            v.iter().sum::<f32>() < 0.0
        })
        .expect("some sample has a negative mean")
}

#[test]
fn a_full_disk_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("tiny");
    std::fs::create_dir(&mount).unwrap();
    // A 16 KiB tmpfs holds the first part or two, then writes fail with ENOSPC. Tests run
    // as root; where mounting is not allowed the case cannot be simulated.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here: the full-disk case is not simulated");
        return;
    }
    let out = mount.join("cache");
    let result = cache_cmd(&teacher("mlp"), &out, "train", &["--rows-per-part", "200"]).output();
    let parts = read_plain_parts(&out);
    let manifest_exists = out.join("manifest.json").exists();
    let complete = manifest_exists && json(&out.join("manifest.json"))["complete"] == true;
    let _ = Command::new("umount").arg(&mount).status();
    let result = result.unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!complete);
    assert!(parts.iter().all(|&rows| rows == 200), "{parts:?}");
}

#[test]
fn inspect_reports_what_the_cache_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let summary: serde_json::Value = serde_json::from_slice(
        &run(&mut cache_cmd(
            &teacher("mlp"),
            &out,
            "test",
            &["--rows-per-part", "300", "--json"],
        ))
        .stdout,
    )
    .unwrap();
    assert_eq!(summary["samples"], 1000);
    assert!(summary["bytes_on_disk"].as_u64().unwrap() > 0);

    let mut cmd = distill();
    cmd.args(["inspect", "--json"]).arg(&out);
    cmd.arg("--teacher")
        .arg(teacher("mlp"))
        .args(["--dataset", &mini()]);
    let report: serde_json::Value = serde_json::from_slice(&run(&mut cmd).stdout).unwrap();
    assert_eq!(report["rows"], 1000);
    assert_eq!(report["complete"], true);
    assert_eq!(report["num_classes"], 10);
    assert_eq!(report["parts"], 4);
    assert_eq!(report["bytes_on_disk"], summary["bytes_on_disk"]);
    assert_eq!(
        report["manifest"]["teacher"]["sha256"],
        distill_data::sha256_file(&teacher("mlp")).unwrap()
    );
    // The teacher's accuracy from the cache equals `distill eval` of the same model.
    let mut eval = distill();
    eval.args(["eval", "--model"]).arg(teacher("mlp"));
    eval.args(["--dataset", &mini(), "--latency-runs", "1", "--json"]);
    let eval: serde_json::Value = serde_json::from_slice(&run(&mut eval).stdout).unwrap();
    let (a, b) = (
        report["teacher_accuracy"].as_f64().unwrap(),
        eval["accuracy"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-12, "inspect {a} vs eval {b}");

    // The human-readable form, and checks against the wrong teacher.
    let mut cmd = distill();
    cmd.arg("inspect").arg(&out);
    let text = String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned();
    assert!(
        text.contains("complete     yes") && text.contains("teacher top-1"),
        "{text}"
    );
    let mut cmd = distill();
    cmd.arg("inspect")
        .arg(&out)
        .arg("--teacher")
        .arg(teacher("cnn"));
    let err = fails(&mut cmd);
    assert!(err.contains("was not made by"), "{err}");

    // A damaged part is named.
    let part = out.join("part-00001.parquet");
    let mut bytes = std::fs::read(&part).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&part, bytes).unwrap();
    let mut cmd = distill();
    cmd.arg("inspect").arg(&out);
    let err = fails(&mut cmd);
    assert!(
        err.contains("part-00001.parquet") && err.contains("sha256"),
        "{err}"
    );
}

#[test]
fn parts_are_self_describing_for_any_parquet_reader() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    run(&mut cache_cmd(
        &teacher("mlp"),
        &out,
        "test",
        &["--limit", "50"],
    ));
    let file = File::open(out.join("part-00000.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["sample_id", "label", "logits"]);
    assert_eq!(schema.field(0).data_type(), &DataType::UInt64);
    assert_eq!(schema.field(1).data_type(), &DataType::Int32);
    assert!(matches!(
        schema.field(2).data_type(),
        DataType::FixedSizeList(item, 10) if item.data_type() == &DataType::Float32
    ));
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap();
    let essentials = kv.iter().find(|k| k.key == "distill.cache").unwrap();
    let essentials: serde_json::Value =
        serde_json::from_str(essentials.value.as_deref().unwrap()).unwrap();
    assert_eq!(
        essentials["teacher"]["sha256"],
        distill_data::sha256_file(&teacher("mlp")).unwrap()
    );
    assert_eq!(essentials["dataset"]["split"], "test");
    assert_eq!(essentials["num_classes"], 10);
    let labels = read_plain(&out).labels;
    assert!(labels.iter().all(|l| l.is_some()));
}

/// A cache written before a teacher's fixed channel count was always recorded (no
/// `channels` where the data had the teacher's count) still resumes: the same
/// preprocessing in the older form, kept as it is.
#[test]
fn a_cache_recorded_without_the_teachers_channel_count_still_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let teacher = repo("datasets/teacher/fashion-mnist-cnn.onnx");
    // The committed test split: 1,000 rows, 2 parts of 500.
    common::cache(&teacher, &out, "test", &[]);
    let path = out.join("manifest.json");
    let mut manifest = json(&path);
    assert_eq!(manifest["preprocess"]["channels"], 1, "recorded now");
    // As an earlier distill wrote it: no channels, and the last part not written yet.
    manifest["preprocess"]
        .as_object_mut()
        .unwrap()
        .remove("channels");
    manifest["complete"] = false.into();
    let last = manifest["parts"].as_array_mut().unwrap().pop().unwrap();
    std::fs::remove_file(out.join(last["file"].as_str().unwrap())).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();

    common::cache(&teacher, &out, "test", &[]);
    let resumed = json(&path);
    assert_eq!(resumed["complete"], true);
    assert_eq!(resumed["parts"].as_array().unwrap().len(), 2);
    assert!(
        resumed["preprocess"].get("channels").is_none(),
        "the older form kept"
    );
}
