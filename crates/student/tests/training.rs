//! Training is real and reproducible: the same seed gives bit-identical weights, and a
//! student learns Fashion-MNIST well above chance.

mod common;

use burn::prelude::*;
use distill_data::Preprocess;
use distill_student::{accuracy, predict_logits};

/// Weights of a short training run, and its logits on 200 test images.
fn train_briefly(arch: &str, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let _guard = common::rng_lock();
    let train = common::split("train", 600);
    let test = common::split("test", 200);
    let config = common::config(arch, &train, &test, 2, seed);
    let (model, _dir) = common::train(&config, &train, &test);
    let logits = predict_logits(&model, &test, &Preprocess::default(), 200, &Device::flex());
    (model.flat_weights(), logits)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn same_seed_gives_identical_weights() {
    // Every weight and batch-norm statistic bit for bit, so also the outputs.
    for arch in ["mlp:32,dropout=0.1", "cnn:4,fc=16"] {
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
    let config = common::config("mlp:128", &train, &test, 5, 1).with_lr(3e-3);
    let (model, _dir) = common::train(&config, &train, &test);
    let logits = predict_logits(&model, &test, &Preprocess::default(), 500, &Device::flex());
    let acc = accuracy(&logits, 10, &test.labels);
    // 2,000 training images, 5 epochs: a working MLP gets ~75-80%; chance is 10%.
    assert!(acc > 0.70, "test accuracy {acc}");
}
