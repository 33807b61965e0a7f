//! The cache join checks what it gets: ids, labels, finiteness; and the first samples of a
//! split join a cache of the whole split.

mod common;

use std::path::Path;

use distill_cache::CacheWriter;
use distill_data::{Dataset, SampleShape};
use distill_student::{ArchSpec, TeacherTargets, Validation};

/// A cache of `data` whose rows are `rows` (sample ids, labels) with logits from `logit`.
fn cache_rows(dir: &Path, data: &Dataset, rows: &[(u64, i32)], logit: f32) {
    let mut manifest = common::manifest(data, 100);
    manifest.dataset.samples = rows.len();
    let mut writer = CacheWriter::open(dir, manifest, false).unwrap();
    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
    let labels: Vec<Option<i32>> = rows.iter().map(|r| Some(r.1)).collect();
    let logits = vec![logit; rows.len() * 10];
    writer.push(&ids, &labels, &logits, &[]).unwrap();
    writer.finish().unwrap();
}

fn join_err(dir: &Path, data: &Dataset) -> String {
    match TeacherTargets::join(dir, data, u64::MAX) {
        Ok(_) => panic!("joined"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn duplicate_ids_wrong_labels_and_non_finite_logits_are_refused() {
    let data = common::split("train", 50);
    let rows: Vec<(u64, i32)> = data.ids.iter().copied().zip(data.labels.clone()).collect();
    let dir = tempfile::tempdir().unwrap();

    let mut dup = rows.clone();
    dup[7] = dup[6];
    cache_rows(&dir.path().join("dup"), &data, &dup, 0.0);
    let err = join_err(&dir.path().join("dup"), &data);
    assert!(
        err.contains(&format!("sample id {} has more than one row", rows[6].0)),
        "{err}"
    );

    let mut wrong = rows.clone();
    wrong[3].1 = (wrong[3].1 + 1) % 10;
    cache_rows(&dir.path().join("wrong"), &data, &wrong, 0.0);
    let err = join_err(&dir.path().join("wrong"), &data);
    assert!(err.contains("cached with label"), "{err}");

    cache_rows(&dir.path().join("nan"), &data, &rows, f32::NAN);
    let err = join_err(&dir.path().join("nan"), &data);
    assert!(err.contains("NaN") && err.contains("cannot teach"), "{err}");

    // The same checks hold when the cache is streamed part by part.
    let err = match TeacherTargets::join(&dir.path().join("dup"), &data, 0) {
        Ok(_) => panic!("joined"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("more than one row"), "{err}");
}

#[test]
fn the_first_samples_join_a_cache_of_the_whole_split_by_id() {
    let whole = common::split("train", usize::MAX);
    let rows: Vec<(u64, i32)> = whole
        .ids
        .iter()
        .copied()
        .zip(whole.labels.clone())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    cache_rows(dir.path(), &whole, &rows, 1.0);
    let mut first = whole.clone();
    first.truncate(40);
    for budget in [u64::MAX, 0] {
        let t = TeacherTargets::join(dir.path(), &first, budget).unwrap();
        assert_eq!(t.all().unwrap().len(), 40 * 10);
    }
    // Another split cut to 40 samples does not.
    let mut other = common::split("test", 120);
    other.truncate(40);
    assert!(TeacherTargets::join(dir.path(), &other, u64::MAX).is_err());
}

#[test]
fn architectures_deeper_than_their_input_and_tiny_splits_are_refused_without_a_panic() {
    let mnist = SampleShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    // Each spec halves 28x28 down to 1x1 before the place named: a CNN block floors
    // (28, 14, 7, 3, 1); a stride-2 convolution rounds odd sizes up (28, 14, 7, 4, 2, 1),
    // from stage 2 on, from stage 1 with stride=2, from the stem with stem=2 as well.
    for (spec, place) in [
        ("cnn:4,4,4,4,4", "1x1 before block 5"),
        ("resnet:4,4,4,4,4,4,4,blocks=1", "1x1 before stage 7"),
        ("resnet:4,4,4,4,4,4,blocks=1,stride=2", "1x1 before stage 6"),
        (
            "resnet:4,4,4,4,4,blocks=1,stride=2,stem=2",
            "1x1 before stage 5",
        ),
    ] {
        let deep: ArchSpec = spec.parse().unwrap();
        let err = deep.check_input(mnist).unwrap_err().to_string();
        assert!(err.contains(place), "{spec}: {err}");
    }
    for spec in [
        "resnet:4,4,4,4,blocks=1,stride=2,stem=2",
        "mobilenet:4,4,4,4,4,4",
        "cnn:4,4,4,4",
    ] {
        let fits: ArchSpec = spec.parse().unwrap();
        assert!(fits.check_input(mnist).is_ok(), "{spec}");
    }
    let v = Validation {
        fraction: 0.5,
        seed: 0,
    };
    for samples in 0..4 {
        assert!(v.count(samples) < samples.max(1), "{samples}");
        assert!(v.check_room(samples).is_err(), "{samples}");
    }
    assert!(v.check_room(4).is_ok());
}
