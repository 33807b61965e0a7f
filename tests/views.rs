//! Consistent teaching: caches of augmented views (format v2) and their replay. Views are
//! drawn reproducibly, the stored parameters are the drawn ones, the stored logits are the
//! teacher's on exactly the rendered pixels (recomputed in ONNX Runtime), and students train
//! from the views, loaded or streamed.

mod common;

use std::path::{Path, PathBuf};

use arrow::array::{
    Array, BooleanArray, FixedSizeListArray, Float32Array, UInt16Array, UInt64Array,
};
use common::{distill, fails, json, max_abs_diff, metrics, mini, part_batches, repo, run};
use distill_data::{DatasetSpec, Mix, ViewParams, ViewSpec};
use distill_runtime::{InferencePlan, OnnxModel, model_preprocess};

const AUGMENT: &str = "crop:0.3-1,flip,shift:2,mixup:0.5,plain-first";

fn teacher() -> PathBuf {
    repo("datasets/teacher/fashion-mnist-cnn.onnx")
}

/// A cache of `views` views of the first `limit` samples of the subset's `split`.
fn cache_views(out: &Path, split: &str, limit: usize, views: usize, extra: &[&str]) {
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"]).arg(teacher());
    cmd.args(["--dataset", &mini(), "--split", split]);
    cmd.args(["--limit", &limit.to_string(), "--views", &views.to_string()]);
    cmd.args(["--augment", AUGMENT, "--view-seed", "11"]);
    cmd.arg("--out").arg(out).args(extra);
    run(&mut cmd);
}

/// One row of a cache of views as any Parquet reader sees it.
struct Row {
    id: u64,
    view: u16,
    params: ViewParams,
    logits: Vec<f32>,
}

fn f32_col(batch: &arrow::array::RecordBatch, name: &str) -> Float32Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .clone()
}

/// Every row of the cache in `dir`, read with the plain arrow reader, part by part.
fn read_rows(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in part_batches(dir) {
        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let ids = col("sample_id");
        let ids = ids.as_any().downcast_ref::<UInt64Array>().unwrap();
        let view = col("view");
        let view = view.as_any().downcast_ref::<UInt16Array>().unwrap();
        let flip = col("flip");
        let flip = flip.as_any().downcast_ref::<BooleanArray>().unwrap();
        let partner = col("mix_partner");
        let partner = partner.as_any().downcast_ref::<UInt64Array>().unwrap();
        let crop: Vec<Float32Array> = ["crop_top", "crop_left", "crop_height", "crop_width"]
            .iter()
            .map(|n| f32_col(&batch, n))
            .collect();
        let lambda = f32_col(&batch, "mix_lambda");
        let logits = col("logits");
        let logits = logits
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        let values = logits.values();
        let values = values.as_any().downcast_ref::<Float32Array>().unwrap();
        let classes = logits.value_length() as usize;
        for r in 0..batch.num_rows() {
            let params = ViewParams {
                crop: (!crop[0].is_null(r)).then(|| {
                    [
                        crop[0].value(r),
                        crop[1].value(r),
                        crop[2].value(r),
                        crop[3].value(r),
                    ]
                }),
                flip: flip.value(r),
                mix: (!partner.is_null(r)).then(|| Mix {
                    partner: partner.value(r),
                    lambda: lambda.value(r),
                }),
            };
            rows.push(Row {
                id: ids.value(r),
                view: view.value(r),
                params,
                logits: values.values()[r * classes..(r + 1) * classes].to_vec(),
            });
        }
    }
    rows
}

#[test]
fn view_logits_are_the_teachers_on_exactly_the_rendered_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("views");
    // 100 samples x 3 views in parts of 70 rows: a sample's views straddle parts.
    cache_views(&out, "test", 100, 3, &["--rows-per-part", "70"]);
    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["format_version"], 2);
    assert_eq!(manifest["views"]["count"], 3);
    assert_eq!(manifest["views"]["seed"], 11);
    let spec: ViewSpec = AUGMENT.parse().unwrap();
    assert_eq!(manifest["views"]["augment"], spec.to_string());

    let mut cmd = distill();
    let shown = String::from_utf8(run(cmd.arg("inspect").arg(&out)).stdout).unwrap();
    assert!(
        shown.contains("views        3 per sample from 'crop:0.3-1:"),
        "{shown}"
    );
    let rows = read_rows(&out);
    assert_eq!(rows.len(), 300);
    let spec_of_data: DatasetSpec = mini().parse().unwrap();
    let mut data = spec_of_data.load("test", &Default::default()).unwrap();
    data.truncate(100);
    let by_id = data.positions_by_id();
    let mut model = OnnxModel::open(&teacher(), Some(1)).unwrap();
    let preprocess = model_preprocess(&model, data.shape).unwrap();
    let plan = InferencePlan::new(&model, &preprocess.input_dims(data.shape), None).unwrap();
    let mut mixed = 0;
    for (i, row) in rows.iter().enumerate() {
        // Rows in sample order, views in order; the stored view is the drawn one.
        let pos = i / 3;
        assert_eq!((row.id, usize::from(row.view)), (data.ids[pos], i % 3));
        let drawn = data.draw_view(&spec, 11, pos, u64::from(row.view));
        assert_eq!(row.params, drawn, "row {i}");
        assert_eq!(row.view == 0, row.params.is_plain(), "row {i}");
        mixed += usize::from(row.params.mix.is_some());
        if i % 5 != 0 {
            continue; // the teacher on every fifth row keeps the test quick
        }
        // The same view gives the same pixels every time, and the teacher's logits on them
        // are the stored ones.
        let pixels = data
            .view_batch(&preprocess, &[(pos, drawn)], &by_id)
            .unwrap();
        let again = data
            .view_batch(&preprocess, &[(pos, drawn)], &by_id)
            .unwrap();
        assert_eq!(pixels, again);
        let (_, logits) = plan.run(&mut model, &pixels, 1).unwrap();
        let diff = max_abs_diff(&logits, &row.logits);
        assert!(
            diff < 1e-4,
            "row {i} (sample {}, view {}): {diff}",
            row.id,
            row.view
        );
        if row.view > 0 {
            let plain = data.batch(&preprocess, &[pos]).unwrap();
            assert_ne!(
                pixels, plain,
                "row {i}: an augmented view is not the plain image"
            );
        }
    }
    assert!(mixed >= 150, "{mixed} of 200 augmented views mix");

    // Another seed draws other views; the same seed into another folder, the same bytes.
    let again = dir.path().join("again");
    cache_views(&again, "test", 100, 3, &["--rows-per-part", "70"]);
    for name in ["part-00000.parquet", "part-00004.parquet"] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap()
        );
    }
}

/// The error output of a command that must fail cleanly (a usage error or a refusal, never
/// a panic).
fn refused(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(matches!(out.status.code(), Some(1 | 2)), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_view_settings_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    let base = |extra: &[&str]| {
        let mut cmd = distill();
        cmd.args(["cache-logits", "--teacher"]).arg(teacher());
        cmd.args(["--dataset", &mini(), "--split", "test", "--limit", "10"]);
        cmd.arg("--out").arg(&out).args(extra);
        cmd
    };
    let err = refused(&mut base(&["--views", "2", "--augment", "rotate"]));
    assert!(err.contains("unknown augmentation 'rotate'"), "{err}");
    let err = refused(&mut base(&["--views", "0", "--augment", "flip"]));
    assert!(err.contains("between 1 and 65536"), "{err}");
    let err = refused(&mut base(&["--views", "4"]));
    assert!(err.contains("--augment"), "{err}");
    let err = refused(&mut base(&["--views", "2", "--augment", "crop:0.5-2"]));
    assert!(err.contains("crop scale"), "{err}");
    assert!(!out.join("manifest.json").exists());
    // A cache of views is no test cache: agreement is measured on the plain test images.
    cache_views(&out, "test", 100, 2, &[]);
    let train = dir.path().join("train");
    cache_views(&train, "train", 200, 2, &[]);
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--test-limit", "100", "--epochs", "1"]);
    cmd.arg("--cache").arg(&train).arg("--test-cache").arg(&out);
    cmd.arg("--out").arg(dir.path().join("run"));
    let err = fails(&mut cmd);
    assert!(
        err.contains("the test cache holds augmented views"),
        "{err}"
    );
}

/// A distillation run of `cnn:4,8` from the views cache `cache` on the first 200 images.
fn views_run(out: &Path, cache: &Path, test_cache: &Path, extra: &[&str]) -> serde_json::Value {
    run(&mut views_cmd(out, cache, test_cache, extra));
    json(&out.join("config.json"))
}

fn views_cmd(out: &Path, cache: &Path, test_cache: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "cnn:4,8", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--test-limit", "100", "--epochs", "3"]);
    cmd.args(["--batch-size", "50", "--seed", "5", "--temperature", "2"]);
    cmd.arg("--cache")
        .arg(cache)
        .arg("--test-cache")
        .arg(test_cache);
    cmd.arg("--out").arg(out).args(extra);
    cmd
}

#[test]
fn students_train_from_views_loaded_or_streamed_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train"), dir.path().join("test"));
    cache_views(&train, "train", 200, 4, &["--rows-per-part", "300"]);
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"]).arg(teacher());
    cmd.args(["--dataset", &mini(), "--split", "test", "--limit", "100"]);
    cmd.arg("--out").arg(&test);
    run(&mut cmd);

    let loaded = dir.path().join("loaded");
    let config = views_run(&loaded, &train, &test, &[]);
    assert_eq!(config["distill"]["cache"]["views"]["count"], 4);
    assert_eq!(config["distill"]["streamed"], false);
    let m = metrics(&loaded);
    assert_eq!(m.len(), 3);
    assert!(m.iter().all(|e| e["kd_loss"].as_f64().unwrap().is_finite()));

    let streamed = dir.path().join("streamed");
    let config = views_run(&streamed, &train, &test, &["--max-memory", "1K"]);
    assert_eq!(config["distill"]["streamed"], true);
    assert_eq!(metrics(&streamed).len(), 3);

    // Crashed at a durable write after the first epoch's checkpoint and resumed: the same
    // model as the uninterrupted run.
    let mut mid_run = 0;
    for n in (4..).step_by(7) {
        let resumed = dir.path().join(format!("resumed-{n}"));
        let crashed = views_cmd(&resumed, &train, &test, &[])
            .env("DISTILL_FAULT_AT", n.to_string())
            .status()
            .unwrap();
        if crashed.success() {
            break; // fewer durable writes than n
        }
        let epochs =
            std::fs::read_to_string(resumed.join("metrics.jsonl")).map_or(0, |m| m.lines().count());
        mid_run += usize::from((1..3).contains(&epochs));
        views_run(&resumed, &train, &test, &[]);
        assert_eq!(
            std::fs::read(loaded.join("model.onnx")).unwrap(),
            std::fs::read(resumed.join("model.onnx")).unwrap(),
            "fault {n}"
        );
    }
    assert!(mid_run > 0, "no fault stopped the run between epochs");
}

#[test]
fn hard_label_runs_draw_the_same_augmentation_online() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--test-limit", "100", "--epochs", "2"]);
    cmd.args(["--augment", "crop:0.3-1,flip,mixup:0.5"]);
    cmd.arg("--out").arg(&out);
    run(&mut cmd);
    let config = json(&out.join("config.json"));
    assert_eq!(
        config["augment"],
        "crop:0.3-1:0.75-1.3333333333333333,flip,mixup:0.5"
    );
    // Mixed labels make the hard loss larger than it is on plain images.
    let plain = dir.path().join("plain");
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--test-limit", "100", "--epochs", "2"]);
    cmd.arg("--out").arg(&plain);
    run(&mut cmd);
    let loss = |run: &Path| metrics(run)[1]["hard_loss"].as_f64().unwrap();
    assert!(
        loss(&out) > loss(&plain),
        "{} vs {}",
        loss(&out),
        loss(&plain)
    );
    // Online augmentation and a plain cache do not mix: the logits are of plain images.
    let cache = dir.path().join("cache");
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"]).arg(teacher());
    cmd.args(["--dataset", &mini(), "--limit", "200"])
        .arg("--out")
        .arg(&cache);
    run(&mut cmd);
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "200", "--augment", "flip"])
        .arg("--cache")
        .arg(&cache);
    cmd.arg("--out").arg(dir.path().join("refused"));
    let err = fails(&mut cmd);
    assert!(err.contains("--views K --augment SPEC"), "{err}");
}

#[test]
fn a_sweep_block_distils_from_views_against_a_baseline_augmented_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (views, plain, test) = (
        dir.path().join("views"),
        dir.path().join("plain"),
        dir.path().join("test"),
    );
    cache_views(&views, "train", 200, 2, &[]);
    for (out, split) in [(&plain, "train"), (&test, "test")] {
        let mut cmd = distill();
        cmd.args(["cache-logits", "--teacher"]).arg(teacher());
        cmd.args(["--dataset", &mini(), "--split", split]);
        cmd.args(["--limit", if split == "train" { "200" } else { "100" }]);
        cmd.arg("--out").arg(out);
        run(&mut cmd);
    }
    let grid = dir.path().join("grid.toml");
    let text = format!(
        "seeds = [1]\nepochs = 2\nbatch_size = 50\n[[grid]]\narch = [\"mlp:16\"]\ntemperature = [2]\nalpha = [0.5]\ncache = {:?}\n",
        views.display().to_string()
    );
    std::fs::write(&grid, text).unwrap();
    let out = dir.path().join("sweep");
    let mut cmd = distill();
    cmd.args(["sweep", "--grid"])
        .arg(&grid)
        .arg("--out")
        .arg(&out);
    cmd.args([
        "--dataset",
        &mini(),
        "--limit",
        "200",
        "--test-limit",
        "100",
    ]);
    cmd.arg("--cache")
        .arg(&plain)
        .arg("--test-cache")
        .arg(&test);
    run(&mut cmd);
    let arch_dir = out.join("runs/mlp-16");
    let mut runs: Vec<String> = std::fs::read_dir(&arch_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2, "{runs:?}");
    // The baseline draws the views' augmentation online (without the plain view 0) ...
    let baseline = json(&arch_dir.join(&runs[1]).join("seed1/config.json"));
    assert!(runs[1].starts_with("hard-crop"), "{runs:?}");
    assert_eq!(
        baseline["augment"],
        "crop:0.3-1:0.75-1.3333333333333333,flip,shift:2,mixup:0.5"
    );
    assert_eq!(baseline["distill"]["loss"]["alpha"], 0.0);
    // ... and the distilled run replays the cached views.
    let distilled = json(&arch_dir.join(&runs[0]).join("seed1/config.json"));
    assert!(runs[0].starts_with("T2-a0.5-views"), "{runs:?}");
    assert_eq!(distilled["distill"]["cache"]["views"]["count"], 2);
    assert!(
        distilled.get("augment").is_none_or(|a| a == ""),
        "{distilled}"
    );
}

/// The Python of the README's replay snippet (between its `replay-view` markers).
fn readme_replay_snippet() -> String {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let start = readme
        .find("<!-- replay-view:start -->")
        .expect("start marker");
    let end = readme.find("<!-- replay-view:end -->").expect("end marker");
    let block = &readme[start..end];
    let code = block
        .split_once("```python\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a python block between the markers");
    code.0.to_string()
}

#[test]
fn the_readme_replays_a_view_to_our_pixels_and_logits_bit_for_bit() {
    let deps = std::env::var_os("DISTILL_PYTHON_DEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/distill-python")
        });
    assert!(
        deps.join("VERSION").exists(),
        "NumPy and pyarrow are not in {}: run scripts/setup.sh (the README's test command does)",
        deps.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("views");
    cache_views(&cache, "test", 40, 3, &["--rows-per-part", "50"]);
    let pairs: Vec<(usize, u16)> = (0..40)
        .step_by(3)
        .flat_map(|i| [(i, 1), (i, 2)])
        .chain([(5, 0)])
        .collect();
    let script = format!(
        "{}\nimport gzip, sys\nimages = np.frombuffer(gzip.open(sys.argv[2], 'rb').read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)\nfor pair in sys.argv[4:]:\n    i, v = map(int, pair.split(','))\n    x, logits = replay(sys.argv[1], images, i, v)\n    open(f'{{sys.argv[3]}}/{{i}}-{{v}}.f32', 'wb').write(np.ascontiguousarray(x, np.float32).tobytes())\n    open(f'{{sys.argv[3]}}/{{i}}-{{v}}.logits', 'wb').write(logits.tobytes())\n",
        readme_replay_snippet()
    );
    let script_path = dir.path().join("replay.py");
    std::fs::write(&script_path, script).unwrap();
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script_path)
        .arg(&cache)
        .arg(repo(
            "datasets/fashion-mnist-mini/t10k-images-idx3-ubyte.gz",
        ))
        .arg(dir.path())
        .args(pairs.iter().map(|(i, v)| format!("{i},{v}")))
        .env("PYTHONPATH", &deps);
    run(&mut cmd);

    let spec_of_data: DatasetSpec = mini().parse().unwrap();
    let mut data = spec_of_data.load("test", &Default::default()).unwrap();
    data.truncate(40);
    let by_id = data.positions_by_id();
    let preprocess =
        model_preprocess(&OnnxModel::open(&teacher(), Some(1)).unwrap(), data.shape).unwrap();
    let rows = read_rows(&cache);
    let spec: ViewSpec = AUGMENT.parse().unwrap();
    let floats = |path: PathBuf| -> Vec<f32> {
        std::fs::read(&path)
            .unwrap()
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let mut mixed = 0;
    for &(i, v) in &pairs {
        let view = data.draw_view(&spec, 11, i, u64::from(v));
        mixed += usize::from(view.mix.is_some());
        let ours = data.view_batch(&preprocess, &[(i, view)], &by_id).unwrap();
        let theirs = floats(dir.path().join(format!("{i}-{v}.f32")));
        assert_eq!(ours.len(), theirs.len());
        let differ = ours
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(differ, 0, "sample {i} view {v}: {differ} pixels differ");
        let row = &rows[i * 3 + usize::from(v)];
        assert_eq!(
            floats(dir.path().join(format!("{i}-{v}.logits"))),
            row.logits
        );
    }
    assert!(mixed >= 10, "{mixed} mixed views replayed");
}

#[test]
fn a_cache_of_one_mixup_view_per_sample_trains() {
    // One view per sample still carries its mixup partner: the student must find it.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("one-view");
    let mut cmd = distill();
    cmd.args(["cache-logits", "--teacher"]).arg(teacher());
    cmd.args(["--dataset", &mini(), "--limit", "100"]);
    cmd.args(["--views", "1", "--augment", "mixup"]);
    cmd.arg("--out").arg(&cache);
    run(&mut cmd);
    let out = dir.path().join("run");
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:16", "--dataset", &mini()]);
    cmd.args(["--limit", "100", "--test-limit", "50", "--epochs", "1"]);
    cmd.arg("--cache").arg(&cache).arg("--out").arg(&out);
    run(&mut cmd);
    assert_eq!(
        json(&out.join("config.json"))["distill"]["cache"]["views"]["count"],
        1
    );
}
