//! The distillation loss against values worked out by hand, at extreme logits, and its
//! gradient scale across temperatures.

use burn::prelude::*;
use distill_student::{HardLoss, KdLoss};

fn loss(temperature: f64, alpha: f64, hard_loss: HardLoss) -> KdLoss {
    KdLoss {
        temperature,
        alpha,
        hard_loss,
        t2_scaling: true,
    }
}

fn tensor(rows: &[&[f32]], device: &Device) -> Tensor<2> {
    let classes = rows[0].len();
    let values: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), classes]), device)
}

fn labels(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// KL(p ‖ q) of two distributions, in f64.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(p, q)| p * (p / q).ln()).sum()
}

/// softmax(row / t) in f64.
fn softmax(row: &[f64], t: f64) -> Vec<f64> {
    let e: Vec<f64> = row.iter().map(|v| (v / t).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

#[test]
fn kl_is_zero_for_equal_logits() {
    let dev = Device::flex();
    let s = tensor(&[&[1.0, -2.0, 0.5], &[3.0, 3.0, -1.0]], &dev);
    let v = scalar(loss(3.0, 1.0, HardLoss::Ce).soft(s.clone(), s));
    assert!(v.abs() < 1e-6, "{v}");
}

#[test]
fn soft_and_hard_terms_match_hand_computation() {
    let dev = Device::flex();
    // Two samples, two classes; the KD term is the batch mean of per-sample KL sums.
    let student = [[0.0, 0.0], [1.0, -1.0]];
    let teacher = [[3f64.ln(), 0.0], [0.0, 2.0]];
    let s = tensor(&[&[0.0, 0.0], &[1.0, -1.0]], &dev);
    let t = tensor(&[&[3f32.ln(), 0.0], &[0.0, 2.0]], &dev);
    for temperature in [1.0, 2.0, 5.0] {
        let expected = temperature
            * temperature
            * (0..2)
                .map(|i| {
                    kl(
                        &softmax(&teacher[i], temperature),
                        &softmax(&student[i], temperature),
                    )
                })
                .sum::<f64>()
            / 2.0;
        let got = scalar(loss(temperature, 1.0, HardLoss::Ce).soft(s.clone(), t.clone()));
        assert!(
            (got - expected).abs() < 1e-5,
            "T={temperature}: {got} vs {expected}"
        );
    }
    // Without T² the term is T² times smaller.
    let plain = KdLoss {
        t2_scaling: false,
        ..loss(2.0, 1.0, HardLoss::Ce)
    };
    let scaled = scalar(loss(2.0, 1.0, HardLoss::Ce).soft(s.clone(), t.clone()));
    let unscaled = scalar(plain.soft(s.clone(), t.clone()));
    assert!((scaled - 4.0 * unscaled).abs() < 1e-5);

    // Hard terms: cross-entropy and MSE against one-hot labels.
    let y = labels(&[0, 1], &dev);
    let ce = -(0.5f64.ln() + softmax(&student[1], 1.0)[1].ln()) / 2.0;
    let got = scalar(loss(1.0, 0.0, HardLoss::Ce).hard(s.clone(), y.clone()));
    assert!((got - ce).abs() < 1e-5, "{got} vs {ce}");
    // (0-1)² + 0² + (1-0)² + (-1-1)² over 4 elements.
    let got = scalar(loss(1.0, 0.0, HardLoss::Mse).hard(s.clone(), y.clone()));
    assert!((got - 1.5).abs() < 1e-6, "{got}");

    // The mix weights the distillation term by alpha.
    let mixed = loss(2.0, 0.25, HardLoss::Ce).forward(s.clone(), t.clone(), y);
    let (kd, hard) = (scalar(mixed.kd), scalar(mixed.hard));
    assert!((scalar(mixed.total) - (0.25 * kd + 0.75 * hard)).abs() < 1e-5);
    assert!((kd - scaled).abs() < 1e-6 && (hard - ce).abs() < 1e-5);
}

#[test]
fn extreme_logits_stay_finite() {
    let dev = Device::flex().autodiff();
    let s = tensor(&[&[1e4, -1e4, 0.0], &[-1e4, 0.0, 1e4]], &dev).require_grad();
    let t = tensor(&[&[-1e4, 1e4, 0.0], &[1e4, 1e4, -1e4]], &dev);
    let y = labels(&[1, 0], &dev);
    for temperature in [1.0, 4.0] {
        let terms = loss(temperature, 0.5, HardLoss::Ce).forward(s.clone(), t.clone(), y.clone());
        let total = terms.total.clone();
        assert!(scalar(terms.kd).is_finite() && scalar(terms.hard).is_finite());
        let grads = total.backward();
        let g: Vec<f32> = s.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "T={temperature}: {g:?}");
    }
}

#[test]
fn t2_scaling_keeps_the_soft_gradient_scale_across_temperatures() {
    let dev = Device::flex().autodiff();
    // Deterministic, moderately spread logits for 8 samples of 10 classes.
    let row = |k: usize, shift: f32| -> Vec<f32> {
        (0..10)
            .map(|c| (((c * 7 + k * 3) % 11) as f32 - 5.0) * 0.4 + shift)
            .collect()
    };
    let s_rows: Vec<Vec<f32>> = (0..8).map(|k| row(k, 0.0)).collect();
    let t_rows: Vec<Vec<f32>> = (0..8).map(|k| row(k + 5, 0.3)).collect();
    let norm = |temperature: f64, scaled: bool| {
        let s = tensor(&s_rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), &dev).require_grad();
        let t = tensor(&t_rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), &dev);
        let l = KdLoss {
            t2_scaling: scaled,
            ..loss(temperature, 1.0, HardLoss::Ce)
        };
        let grads = l.soft(s.clone(), t).backward();
        let g: Vec<f32> = s.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
        g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt()
    };
    let scaled: Vec<f64> = [2.0, 4.0, 8.0].iter().map(|&t| norm(t, true)).collect();
    let unscaled: Vec<f64> = [2.0, 4.0, 8.0].iter().map(|&t| norm(t, false)).collect();
    // With T²: within a factor 2 from T = 2 to 8. Without: shrinks like 1/T² (16x).
    let spread = scaled.iter().cloned().fold(0.0, f64::max)
        / scaled.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 2.0, "scaled gradient norms {scaled:?}");
    assert!(
        unscaled[0] / unscaled[2] > 8.0,
        "unscaled gradient norms {unscaled:?}"
    );
}

/// The distillation term against a top-k cache is the support KL the cache format defines
/// (teacher and student both over "kept classes + one tail bucket"), batch-averaged and
/// T²-scaled, for teachers of any spread and students far from them; extreme student
/// logits stay finite.
#[test]
fn topk_term_is_the_support_kl_of_the_cache_format() {
    use distill_cache::{CachePart, TopKRows};
    use distill_student::RowFormat;
    let dev = Device::flex();
    let classes = 50;
    let mut rng = distill_data::SplitMix64::new(9);
    let teacher: Vec<f32> = (0..4 * classes)
        .map(|i| (rng.normal() * if i < 100 { 1.0 } else { 4.0 }) as f32)
        .collect();
    let mut student: Vec<f32> = (0..4 * classes).map(|_| rng.normal() as f32).collect();
    student[7] = 80.0; // one very confident student row
    let mut topk = TopKRows::new(5);
    topk.push_dense(&teacher, classes);
    let part = CachePart {
        topk: Some(topk.clone()),
        ..CachePart::default()
    };
    let format = RowFormat::TopK { k: 5, classes };
    let packed = format.pack(&part).into_owned();
    for t in [1.0, 2.0, 5.0] {
        let expected: f64 = (0..4)
            .map(|r| {
                topk.row(r)
                    .support_kl(&student[r * classes..(r + 1) * classes], t)
            })
            .sum::<f64>()
            / 4.0
            * t
            * t;
        let batch = format.batch(&packed, &[0, 1, 2, 3], t, &dev);
        let s = Tensor::from_data(TensorData::new(student.clone(), [4, classes]), &dev);
        let got = scalar(loss(t, 1.0, HardLoss::Ce).soft_against(s, batch));
        assert!(
            (got - expected).abs() <= 1e-4 * expected.max(1.0),
            "T = {t}: {got} vs {expected}"
        );
    }
}
