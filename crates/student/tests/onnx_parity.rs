//! Every exported architecture gives the same logits in ONNX Runtime as in burn.

mod common;

use burn::prelude::*;
use distill_data::Preprocess;
use distill_runtime::OnnxModel;
use distill_student::{export_onnx, predict_logits};

fn parity(arch: &str) {
    let _guard = common::rng_lock();
    let train = common::split("train", 512);
    let test = common::split("test", 200);
    // A short real training run, so batch-norm running statistics are not the identity.
    let config = common::config(arch, &train, &test, 1, 3);
    let (model, dir) = common::train(&config, &train, &test);
    let onnx = dir.path().join("model.onnx");
    export_onnx(
        &model,
        train.shape,
        &[("distill.arch", arch.to_string())],
        &onnx,
    )
    .unwrap();

    let pre = Preprocess::default();
    let burn_logits = predict_logits(&model, &test, &pre, 200, &Device::flex()).unwrap();

    let mut session = OnnxModel::open(&onnx, Some(1)).unwrap();
    assert_eq!(
        session.inputs[0].shape[0], None,
        "batch axis must be dynamic"
    );
    assert_eq!(
        session.metadata().get("distill.arch").map(String::as_str),
        Some(arch)
    );
    // Two batch sizes through the same session: the dynamic axis really is dynamic.
    let mut ort_logits = Vec::new();
    for chunk in (0..test.len()).collect::<Vec<_>>().chunks(128) {
        let x = test.batch(&pre, chunk).unwrap();
        let (shape, out) = session.run_f32(&x, &[chunk.len(), 1, 28, 28], 0).unwrap();
        assert_eq!(shape, vec![chunk.len(), 10]);
        ort_logits.extend(out);
    }
    assert_eq!(burn_logits.len(), ort_logits.len());
    let max_diff = burn_logits
        .iter()
        .zip(&ort_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff <= 1e-4, "{arch}: max |burn - ort| = {max_diff}");
    // And the logits are not trivially equal (e.g. all zeros).
    assert!(burn_logits.iter().any(|&v| v.abs() > 0.1));
}

#[test]
fn mlp_export_matches_burn() {
    parity("mlp:64,32,dropout=0.2");
}

#[test]
fn cnn_with_batch_norm_export_matches_burn() {
    parity("cnn:4,8,fc=16");
}

#[test]
fn resnet_with_projection_shortcuts_export_matches_burn() {
    parity("resnet:4,8,blocks=1");
    parity("resnet:4,8,blocks=1,stride=2");
    parity("resnet:4,8,blocks=1,stride=2,stem=2");
}

#[test]
fn mobilenet_with_depthwise_convolutions_export_matches_burn() {
    parity("mobilenet:8,16,blocks=2,width=0.5,expand=2");
    parity("mobilenet:8,16,width=0.5,stride=2");
    parity("mobilenet:8,16,width=0.5,stem=2");
}
