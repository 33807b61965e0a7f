//! Shared set-up for the student crate's tests.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use distill_data::{Dataset, Preprocess, read_idx_split};
use distill_student::{ArchSpec, DataIdentity, Optimisation, Quiet, RunDir, Student, TrainConfig};

pub fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/fashion-mnist-mini")
}

pub fn split(name: &str, n: usize) -> Dataset {
    let mut d = read_idx_split(&mini(), name).expect("committed subset reads");
    d.truncate(n);
    d
}

/// burn's flex backend keeps one global RNG: tests that train hold this lock so their
/// draws do not interleave.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn identity(d: &Dataset) -> DataIdentity {
    DataIdentity {
        source: d.source.clone(),
        split: d.split.clone(),
        samples: d.len(),
        fingerprint: d.fingerprint(),
    }
}

pub fn config(
    arch: &str,
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
    seed: u64,
) -> TrainConfig {
    let arch: ArchSpec = arch.parse().expect("valid arch");
    TrainConfig::new(
        arch,
        Preprocess::default(),
        10,
        identity(train),
        identity(test),
    )
    .with_optimisation(Optimisation::new().with_epochs(epochs).with_batch_size(64))
    .with_seed(seed)
}

/// `config` with peak learning rate `lr`.
pub fn with_lr(config: TrainConfig, lr: f64) -> TrainConfig {
    let optimisation = config.optimisation.clone().with_lr(lr);
    config.with_optimisation(optimisation)
}

/// Trains `config` in a fresh temporary run directory.
pub fn train(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
) -> (Student, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::prepare(&dir.path().join("run"), config, false).unwrap();
    let (model, metrics) = distill_student::train(
        config,
        train,
        test,
        &run,
        &mut Quiet,
        None,
        Default::default(),
    )
    .unwrap();
    assert_eq!(metrics.len(), config.optimisation.epochs);
    (model, dir)
}

/// The manifest of a 10-class cache of `data` by a made-up teacher.
pub fn manifest(data: &Dataset, rows_per_part: usize) -> distill_cache::Manifest {
    use distill_cache::{DatasetInfo, LogitDtype, Manifest, TeacherInfo};
    Manifest {
        format_version: distill_cache::FORMAT_VERSION,
        num_classes: 10,
        dtype: LogitDtype::F32,
        storage: distill_cache::Storage::Dense,
        rows_per_part,
        teacher: TeacherInfo {
            file: "made-up.onnx".into(),
            sha256: "0".repeat(64),
            input: "x".into(),
            input_shape: vec![None, Some(1), Some(28), Some(28)],
            output: "y".into(),
            output_shape: vec![None, Some(10)],
            output_kind: distill_cache::OutputKind::Logits,
        },
        dataset: DatasetInfo {
            source: data.source.clone(),
            split: data.split.clone(),
            samples: data.len(),
            fingerprint: data.fingerprint(),
            content: None,
            classes: vec![],
            skipped: vec![],
        },
        preprocess: Preprocess::default(),
        tool_version: "test".into(),
        parts: vec![],
        complete: false,
        views: None,
        shard: None,
        shards: None,
    }
}

/// Writes a complete cache for `data` into `dir`: a made-up but label-aware teacher whose
/// logits are 4 for the label and a deterministic ripple elsewhere.
pub fn write_cache(dir: &Path, data: &Dataset, rows_per_part: usize) {
    let mut writer =
        distill_cache::CacheWriter::open(dir, manifest(data, rows_per_part), false).unwrap();
    let labels: Vec<Option<i32>> = data.labels.iter().map(|&l| Some(l)).collect();
    let logits: Vec<f32> = (0..data.len())
        .flat_map(|i| {
            let label = data.labels[i] as usize;
            (0..10).map(move |c| {
                if c == label {
                    4.0
                } else {
                    ((i * 7 + c * 3) % 5) as f32 * 0.3
                }
            })
        })
        .collect();
    writer.push(&data.ids, &labels, &logits, &[]).unwrap();
    writer.finish().unwrap();
}

/// Trains `config` with teacher logits `targets` in a fresh run directory.
pub fn train_with(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    targets: distill_student::Targets<'_>,
) -> (Student, Vec<distill_student::EpochMetrics>) {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::prepare(&dir.path().join("run"), config, false).unwrap();
    distill_student::train(
        config,
        train,
        test,
        &run,
        &mut Quiet,
        Some(targets),
        Default::default(),
    )
    .unwrap()
}
