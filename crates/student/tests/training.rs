//! Training is real and reproducible: the same seed gives bit-identical weights, and a
//! student learns Fashion-MNIST well above chance.

mod common;

use burn::prelude::*;
use distill_data::Preprocess;
use distill_data::accuracy;
use distill_student::{DistillConfig, HardLoss, KdLoss, Targets, TeacherTargets, predict_logits};

/// Weights of a short training run, and its logits on 200 test images.
fn train_briefly(arch: &str, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let _guard = common::rng_lock();
    let train = common::split("train", 600);
    let test = common::split("test", 200);
    let config = common::config(arch, &train, &test, 2, seed);
    let (model, _dir) = common::train(&config, &train, &test);
    let logits =
        predict_logits(&model, &test, &Preprocess::default(), 200, &Device::flex()).unwrap();
    (model.flat_weights(), logits)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn same_seed_gives_identical_weights() {
    // Every weight and batch-norm statistic bit for bit, so also the outputs.
    // The students on distill's own kernels too: 3x3 and 1x1 convolutions at strides 1 and 2,
    // depthwise convolutions, batch-norm with and without ReLU.
    for arch in [
        "mlp:32,dropout=0.1",
        "cnn:4,fc=16",
        "resnet:4,8",
        "mobilenet:4,8,expand=2",
    ] {
        let (wa, la) = train_briefly(arch, 11);
        let (wb, lb) = train_briefly(arch, 11);
        assert!(!wa.is_empty());
        assert_eq!(bits(&wa), bits(&wb), "{arch}: weights differ between runs");
        assert_eq!(bits(&la), bits(&lb), "{arch}: outputs differ between runs");
        let (wc, _) = train_briefly(arch, 12);
        assert_ne!(
            bits(&wa),
            bits(&wc),
            "{arch}: a different seed must give different weights"
        );
    }
}

#[test]
fn mlp_learns_fashion_mnist() {
    let _guard = common::rng_lock();
    let train = common::split("train", 2000);
    let test = common::split("test", 1000);
    let config = common::with_lr(common::config("mlp:128", &train, &test, 5, 1), 3e-3);
    let (model, _dir) = common::train(&config, &train, &test);
    let logits =
        predict_logits(&model, &test, &Preprocess::default(), 500, &Device::flex()).unwrap();
    let acc = accuracy(&logits, 10, &test.labels);
    // 2,000 training images, 5 epochs: a working MLP gets ~75-80%; chance is 10%.
    assert!(acc > 0.70, "test accuracy {acc}");
}

/// A distillation config for `config` with teacher logits from `targets`.
fn distilling(
    config: distill_student::TrainConfig,
    alpha: f64,
    train: &TeacherTargets,
    test: &TeacherTargets,
) -> distill_student::TrainConfig {
    config.with_distill(Some(DistillConfig {
        loss: KdLoss {
            temperature: 2.0,
            alpha,
            hard_loss: HardLoss::Ce,
            t2_scaling: true,
        },
        cache: train.identity.clone(),
        test_cache: Some(test.identity.clone()),
        streamed: train.is_streamed(),
    }))
}

#[test]
fn alpha_zero_trains_exactly_like_supervised() {
    let _guard = common::rng_lock();
    let train = common::split("train", 600);
    let test = common::split("test", 200);
    let dir = tempfile::tempdir().unwrap();
    common::write_cache(&dir.path().join("train"), &train, 256);
    common::write_cache(&dir.path().join("test"), &test, 256);
    let t_train = TeacherTargets::join(&dir.path().join("train"), &train, u64::MAX).unwrap();
    let t_test = TeacherTargets::join(&dir.path().join("test"), &test, u64::MAX).unwrap();

    let plain = common::config("mlp:32,dropout=0.1", &train, &test, 2, 9);
    let (supervised, _d) = common::train(&plain, &train, &test);
    let kd = distilling(plain.clone(), 0.0, &t_train, &t_test);
    let targets = Targets {
        train: &t_train,
        test: Some(&t_test),
    };
    let (distilled, metrics) = common::train_with(&kd, &train, &test, targets);
    assert_eq!(
        bits(&supervised.flat_weights()),
        bits(&distilled.flat_weights()),
        "alpha = 0 must give the supervised weights"
    );
    // The terms are still logged, and agreement is measured against the test cache.
    assert!(
        metrics
            .iter()
            .all(|m| m.kd_loss.is_some_and(f64::is_finite))
    );
    assert!(metrics.iter().all(|m| m.teacher_agreement.is_some()));
}

#[test]
fn streamed_cache_trains_and_follows_the_teacher() {
    let _guard = common::rng_lock();
    let train = common::split("train", 2000);
    let test = common::split("test", 500);
    let dir = tempfile::tempdir().unwrap();
    common::write_cache(&dir.path().join("train"), &train, 300);
    common::write_cache(&dir.path().join("test"), &test, 300);
    // A budget of 0 bytes forces streaming part by part.
    let t_train = TeacherTargets::join(&dir.path().join("train"), &train, 0).unwrap();
    assert!(t_train.is_streamed());
    let t_test = TeacherTargets::join(&dir.path().join("test"), &test, 0).unwrap();
    let config = distilling(
        common::with_lr(common::config("mlp:64", &train, &test, 3, 4), 3e-3),
        1.0,
        &t_train,
        &t_test,
    );
    let targets = Targets {
        train: &t_train,
        test: Some(&t_test),
    };
    let (_model, metrics) = common::train_with(&config, &train, &test, targets);
    let agreement: Vec<f64> = metrics
        .iter()
        .map(|m| m.teacher_agreement.unwrap())
        .collect();
    // alpha = 1: labels unused, yet the made-up teacher encodes them.
    assert!(
        agreement[2] > agreement[0] && agreement[2] > 0.6,
        "{agreement:?}"
    );
}

/// Counts the Parquet row groups `data` had read when the first batch was trained.
struct FirstBatch<'a> {
    data: &'a distill_data::Dataset,
    row_groups_read: Option<usize>,
}

impl distill_student::TrainObserver for FirstBatch<'_> {
    fn batch_done(&mut self, _samples: usize, _loss: f64) {
        self.row_groups_read
            .get_or_insert_with(|| self.data.row_groups_read());
    }
}

/// Writes `data`'s images as PNG into a Hugging Face style Parquet file (`image` bytes,
/// `label`), `copies` times over, in row groups of `group_rows`.
fn write_parquet(
    path: &std::path::Path,
    data: &distill_data::Dataset,
    copies: usize,
    group_rows: usize,
) {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..copies {
        for i in 0..data.len() {
            let distill_data::Samples::U8(pixels) = &data.samples else {
                panic!("IDX images are bytes");
            };
            let n = data.shape.len();
            let gray = image::GrayImage::from_raw(28, 28, pixels[i * n..(i + 1) * n].to_vec())
                .expect("28x28");
            let mut png = Vec::new();
            gray.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .expect("PNG encodes");
            images.push(png);
            labels.push(i64::from(data.labels[i]));
        }
    }
    distill_data::write_hf_parquet(path, ("image", "label"), &images, &labels, group_rows).unwrap();
}

/// Parquet rows brought to the student's size are read a row group at a time: the first
/// batch waits for one window of row groups, not for the split (time to first batch that
/// does not grow with the data), the first epoch reads each group about once, and later
/// epochs (and the scattered validation samples) read what was kept.
#[test]
fn the_first_epoch_over_parquet_reads_one_window_of_row_groups_before_its_first_batch() {
    use distill_data::{DatasetSpec, SourceOptions};
    use distill_student::{FIRST_EPOCH_WINDOW, Validation};

    let _guard = common::rng_lock();
    let mini = common::split("train", 2000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("train.parquet");
    // 20,000 rows in 40 row groups of 500: a window of 8,192 samples needs about 19 groups.
    write_parquet(&file, &mini, 10, 500);
    let spec: DatasetSpec = format!("parquet:{}", file.display()).parse().unwrap();
    let preprocess = Preprocess {
        channels: Some(1),
        resize: Some([28, 28]),
        ..Preprocess::default()
    };
    let train = spec
        .load_listed("train", &SourceOptions::default())
        .unwrap()
        .into_geometry(&preprocess)
        .unwrap();
    let test = common::split("test", 200);
    assert_eq!(train.read_groups().map(|g| g.len()), Some(40));
    assert_eq!(
        train.row_groups_read(),
        0,
        "nothing is read before training"
    );
    let mut config =
        common::config("mlp:16", &train, &test, 2, 3).with_validation(Some(Validation {
            fraction: 0.1,
            seed: 1,
        }));
    config.preprocess = preprocess;
    let run_dir = dir.path().join("run");
    let run = distill_student::RunDir::prepare(&run_dir, &config, false).unwrap();
    let mut observer = FirstBatch {
        data: &train,
        row_groups_read: None,
    };
    let (_, metrics) = distill_student::train(
        &config,
        &train,
        &test,
        &run,
        &mut observer,
        None,
        Default::default(),
    )
    .unwrap();
    let first = observer.row_groups_read.expect("a batch was trained");
    // A window's training samples, and the validation samples among their rows.
    let window_groups = (FIRST_EPOCH_WINDOW as f64 / 0.9 / 500.0).ceil() as usize + 1;
    assert!(
        (1..=window_groups).contains(&first),
        "{first} row groups read before the first batch"
    );
    // Every group about once (a group split between two windows may be read twice), the
    // second epoch and every evaluation from what was kept.
    let read = train.row_groups_read();
    assert!(
        (40..=45).contains(&read),
        "{read} row groups read in two epochs"
    );
    // And it learns: the first epoch's batches mix a few row groups, not the split.
    assert!(
        metrics[1].val_accuracy.is_some_and(|a| a > 0.6),
        "{:?}",
        metrics[1]
    );
}
