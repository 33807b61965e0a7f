//! Shared set-up for the student crate's tests.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use distill_data::{Dataset, Preprocess, read_idx_split};
use distill_student::{ArchSpec, DataIdentity, Quiet, RunDir, Student, TrainConfig};

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
    .with_epochs(epochs)
    .with_batch_size(64)
    .with_seed(seed)
}

/// Trains `config` in a fresh temporary run directory.
pub fn train(
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
) -> (Student, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::prepare(&dir.path().join("run"), config, false).unwrap();
    let (model, metrics) = distill_student::train(config, train, test, &run, &mut Quiet).unwrap();
    assert_eq!(metrics.len(), config.epochs);
    (model, dir)
}
