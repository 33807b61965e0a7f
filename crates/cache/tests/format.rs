//! Cache formats v1 and v2 (views, top-k): real Parquet files, read back by our reader and by the plain arrow
//! reader, and every way a part can go missing or bad.

use std::fs::File;

use arrow::array::{Array, FixedSizeListArray, Float32Array, UInt64Array};
use arrow::datatypes::DataType;
use distill_cache::{
    CacheError, CachePart, CacheReader, CacheWriter, CachedView, DatasetInfo, LogitDtype, Manifest,
    TeacherInfo, read_part, write_part,
};
use distill_core::{Mix, Preprocess, ViewParams};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn manifest(dtype: LogitDtype) -> Manifest {
    Manifest {
        format_version: distill_cache::FORMAT_VERSION,
        num_classes: 3,
        dtype,
        storage: distill_cache::Storage::Dense,
        rows_per_part: 4,
        teacher: TeacherInfo {
            file: "t.onnx".into(),
            sha256: "abc".into(),
            input: "x".into(),
            input_shape: vec![None, Some(2)],
            output: "y".into(),
            output_shape: vec![None, Some(3)],
            output_kind: distill_cache::OutputKind::Logits,
        },
        dataset: DatasetInfo {
            source: "idx:x".into(),
            split: "train".into(),
            samples: 4,
            fingerprint: "f00".into(),
            content: None,
            classes: vec![],
            skipped: vec![],
        },
        preprocess: Preprocess::default(),
        tool_version: "0.1.0".into(),
        parts: vec![],
        complete: false,
        views: None,
        shard: None,
        shards: None,
    }
}

fn sample() -> CachePart {
    CachePart {
        sample_ids: vec![10, 11, 12, 13],
        labels: vec![Some(0), None, Some(2), Some(1)],
        // File-based datasets carry each row's relative path.
        keys: ["cat/1.png", "cat/2.png", "dog/a b.jpg", "dog/é.webp"]
            .map(String::from)
            .to_vec(),
        // Values an f16 cannot hold exactly, and a large logit.
        logits: vec![
            1.0, -2.5, 0.1, 3.3333, 0.0, -7.25, 1e4, -1e4, 0.5, 2.0, 2.0, 2.0,
        ],
        views: vec![],
        ..CachePart::default()
    }
}

#[test]
fn f32_part_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest(LogitDtype::F32);
    let info = write_part(dir.path(), &m, 0, &sample()).unwrap();
    assert_eq!((info.file.as_str(), info.rows), ("part-00000.parquet", 4));
    m.parts.push(info.clone());
    m.complete = true;
    m.write(dir.path()).unwrap();
    let m = Manifest::read(dir.path()).unwrap();
    assert_eq!(m.rows(), 4);
    assert_eq!(read_part(dir.path(), &m, &info).unwrap(), sample());
    // Nothing temporary is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
}

#[test]
fn f16_part_keeps_logits_within_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(LogitDtype::F16);
    let info = write_part(dir.path(), &m, 0, &sample()).unwrap();
    let back = read_part(dir.path(), &m, &info).unwrap();
    for (a, b) in sample().logits.iter().zip(&back.logits) {
        // f16 has an 11-bit significand: relative error at most 2^-11.
        assert!((a - b).abs() <= a.abs() * 4.9e-4, "{a} vs {b}");
    }
    assert_ne!(
        back.logits,
        sample().logits,
        "f16 storage should round something"
    );
}

#[test]
fn plain_arrow_reader_sees_the_documented_schema_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(LogitDtype::F32);
    write_part(dir.path(), &m, 7, &sample()).unwrap();
    let file = File::open(dir.path().join("part-00007.parquet")).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    let essentials = kv.iter().find(|k| k.key == "distill.cache").unwrap();
    let essentials: serde_json::Value =
        serde_json::from_str(essentials.value.as_deref().unwrap()).unwrap();
    assert_eq!(essentials["num_classes"], 3);
    assert_eq!(essentials["part"], 7);
    assert_eq!(essentials["teacher"]["sha256"], "abc");
    assert_eq!(essentials["dataset"]["fingerprint"], "f00");

    let schema = builder.schema().clone();
    assert_eq!(schema.field(0).name(), "sample_id");
    assert_eq!(schema.field(0).data_type(), &DataType::UInt64);
    assert_eq!(schema.field(1).name(), "label");
    assert!(schema.field(1).is_nullable());
    match schema.field(2).data_type() {
        DataType::FixedSizeList(item, 3) => assert_eq!(item.data_type(), &DataType::Float32),
        other => panic!("logits column is {other:?}"),
    }
    let batch = builder.build().unwrap().next().unwrap().unwrap();
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), vec![10, 11, 12, 13]);
    assert!(batch.column(1).is_null(1));
    let logits = batch
        .column(2)
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .unwrap();
    let row2 = logits.value(2);
    let row2 = row2.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(row2.values().to_vec(), vec![1e4, -1e4, 0.5]);
}

#[test]
fn corrupt_truncated_and_missing_parts_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(LogitDtype::F32);
    let info = write_part(dir.path(), &m, 0, &sample()).unwrap();
    let path = dir.path().join(&info.file);
    let bytes = std::fs::read(&path).unwrap();

    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_part(dir.path(), &m, &info).unwrap_err();
    assert!(matches!(err, CacheError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("part-00000.parquet"), "{err}");

    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 0xff;
    std::fs::write(&path, &flipped).unwrap();
    assert!(matches!(
        read_part(dir.path(), &m, &info),
        Err(CacheError::Corrupt { .. })
    ));

    std::fs::remove_file(&path).unwrap();
    let err = read_part(dir.path(), &m, &info).unwrap_err();
    assert!(matches!(err, CacheError::MissingPart { .. }), "{err:?}");
    assert!(err.to_string().contains("part-00000.parquet"));
}

#[test]
fn mismatched_rows_are_refused_and_manifest_versions_checked() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(LogitDtype::F32);
    let mut bad = sample();
    bad.logits.pop();
    assert!(matches!(
        write_part(dir.path(), &m, 0, &bad),
        Err(CacheError::BadData(_))
    ));
    assert!(!dir.path().join("part-00000.parquet").exists());

    let mut future = m.clone();
    future.format_version = 2;
    future.write(dir.path()).unwrap();
    let err = Manifest::read(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("version 2"),
        "{err}"
    );
}

/// A manifest for `samples` rows in parts of `rows_per_part`.
fn manifest_for(samples: usize, rows_per_part: usize) -> Manifest {
    let mut m = manifest(LogitDtype::F32);
    m.dataset.samples = samples;
    m.rows_per_part = rows_per_part;
    m
}

/// Rows `range` of a made-up cache: id 100 + i, label i % 3, logits i, -i, 0.5.
fn rows(range: std::ops::Range<usize>) -> CachePart {
    CachePart {
        sample_ids: range.clone().map(|i| 100 + i as u64).collect(),
        labels: range.clone().map(|i| Some((i % 3) as i32)).collect(),
        logits: range.flat_map(|i| [i as f32, -(i as f32), 0.5]).collect(),
        keys: vec![],
        views: vec![],
        ..CachePart::default()
    }
}

fn push(writer: &mut CacheWriter, part: &CachePart) {
    writer
        .push(&part.sample_ids, &part.labels, &part.logits, &part.keys)
        .unwrap();
}

#[test]
fn writer_splits_rows_into_parts_and_reader_loads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let mut writer = CacheWriter::open(&out, manifest_for(10, 4), false).unwrap();
    // Batches that straddle part boundaries.
    push(&mut writer, &rows(0..3));
    push(&mut writer, &rows(3..9));
    assert_eq!(writer.parts_done(), 2);
    assert!(!Manifest::read(&out).unwrap().complete);
    push(&mut writer, &rows(9..10));
    let m = writer.finish().unwrap();
    assert!(m.complete);
    assert_eq!(
        m.parts.iter().map(|p| p.rows).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );

    let reader = CacheReader::open(&out).unwrap();
    reader.require_complete().unwrap();
    let all = reader.load().unwrap();
    assert_eq!(all.sample_ids, rows(0..10).sample_ids);
    assert_eq!(all.logits, rows(0..10).logits);
    assert_eq!(all.row(7), &[7.0, -7.0, 0.5]);
    let streamed: Vec<usize> = reader
        .parts()
        .map(|p| p.unwrap().sample_ids.len())
        .collect();
    assert_eq!(streamed, vec![4, 4, 2]);
}

#[test]
fn writer_resumes_after_the_last_intact_part() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let mut writer = CacheWriter::open(&out, manifest_for(10, 4), false).unwrap();
    push(&mut writer, &rows(0..9));
    drop(writer); // interrupted after two parts
    // A stale temporary file from the crash is cleaned up.
    std::fs::write(out.join(".part-00002.parquet.partial"), b"half").unwrap();

    let writer = CacheWriter::open(&out, manifest_for(10, 4), false).unwrap();
    assert_eq!(writer.rows_done(), 8);
    assert!(!out.join(".part-00002.parquet.partial").exists());
    drop(writer);

    // An altered part is redone from there on.
    std::fs::write(out.join("part-00001.parquet"), b"garbage").unwrap();
    let mut writer = CacheWriter::open(&out, manifest_for(10, 4), false).unwrap();
    assert_eq!(writer.rows_done(), 4);
    push(&mut writer, &rows(4..10));
    let resumed = writer.finish().unwrap();

    let fresh_dir = dir.path().join("fresh");
    let mut writer = CacheWriter::open(&fresh_dir, manifest_for(10, 4), false).unwrap();
    push(&mut writer, &rows(0..10));
    let fresh = writer.finish().unwrap();
    assert_eq!(resumed.parts, fresh.parts, "same files, byte for byte");
}

#[test]
fn writer_refuses_another_cache_and_foreign_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let mut writer = CacheWriter::open(&out, manifest_for(4, 4), false).unwrap();
    push(&mut writer, &rows(0..4));
    writer.finish().unwrap();

    let mut other = manifest_for(4, 4);
    other.teacher.sha256 = "def".into();
    other.preprocess.scale = 1.0;
    let err = CacheWriter::open(&out, other.clone(), false)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("teacher.sha256: \"abc\" -> \"def\"") && err.contains("preprocess.scale"),
        "{err}"
    );
    // With --overwrite the old cache is replaced.
    let writer = CacheWriter::open(&out, other, true).unwrap();
    assert_eq!(writer.rows_done(), 0);
    assert!(!out.join("part-00000.parquet").exists());

    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    for overwrite in [false, true] {
        let err = CacheWriter::open(&foreign, manifest_for(4, 4), overwrite)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("notes.txt"), "{err}");
    }
    assert!(foreign.join("notes.txt").exists());
}

#[test]
fn reader_names_incomplete_caches_and_missing_parts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let mut writer = CacheWriter::open(&out, manifest_for(10, 4), false).unwrap();
    push(&mut writer, &rows(0..8));
    drop(writer);
    let reader = CacheReader::open(&out).unwrap();
    let err = reader.require_complete().unwrap_err().to_string();
    assert!(
        err.contains("incomplete") && err.contains("8 of 10"),
        "{err}"
    );

    std::fs::remove_file(out.join("part-00001.parquet")).unwrap();
    let err = CacheReader::open(&out).err().unwrap();
    assert!(matches!(err, CacheError::MissingPart { .. }), "{err:?}");
    assert!(err.to_string().contains("part-00001.parquet"));
}

#[test]
fn logits_beyond_the_f16_range_are_refused_not_stored_as_infinity() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = CacheWriter::open(dir.path(), manifest(LogitDtype::F16), false).unwrap();
    let mut part = sample();
    part.logits[7] = 1e5; // sample id 12
    let err = writer
        .push(&part.sample_ids, &part.labels, &part.logits, &part.keys)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sample id 12") && err.contains("float16") && err.contains("float32"),
        "{err}"
    );
    assert!(!dir.path().join("part-00000.parquet").exists());
}

#[test]
fn a_part_moved_to_another_place_is_refused_despite_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest(LogitDtype::F32);
    m.dataset.samples = 8;
    let first = write_part(dir.path(), &m, 0, &sample()).unwrap();
    // Part 0 copied over part 1, its checksum "fixed" in the manifest.
    std::fs::copy(
        dir.path().join("part-00000.parquet"),
        dir.path().join("part-00001.parquet"),
    )
    .unwrap();
    let moved = distill_cache::PartInfo {
        file: "part-00001.parquet".into(),
        ..first.clone()
    };
    m.parts = vec![first, moved.clone()];
    let err = read_part(dir.path(), &m, &moved).unwrap_err().to_string();
    assert!(
        err.contains("part-00001.parquet") && err.contains("part: 1 -> 0"),
        "{err}"
    );
}

#[test]
fn a_second_writer_waits_for_nobody_and_a_foreign_manifest_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let first = CacheWriter::open(dir.path(), manifest(LogitDtype::F32), false).unwrap();
    let err = CacheWriter::open(dir.path(), manifest(LogitDtype::F32), true)
        .err()
        .expect("a second writer is refused")
        .to_string();
    assert!(err.contains("in use by another distill process"), "{err}");
    drop(first);
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("manifest.json"), b"{\"app\": 1}").unwrap();
    let err = CacheWriter::open(other.path(), manifest(LogitDtype::F32), true)
        .err()
        .expect("a foreign manifest is refused")
        .to_string();
    assert!(err.contains("not a distill cache manifest"), "{err}");
    assert_eq!(
        std::fs::read(other.path().join("manifest.json")).unwrap(),
        b"{\"app\": 1}"
    );
}

/// A cache of 2 views of 2 samples: a plain view 0, then a cropped, flipped, mixed view.
/// The first record batch of the part file at `path`, read by the plain arrow reader.
fn first_batch(path: &std::path::Path) -> arrow::array::RecordBatch {
    let file = File::open(path).unwrap();
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.next().unwrap().unwrap()
}

fn views_manifest() -> (Manifest, CachePart) {
    let mut m = manifest(LogitDtype::F32);
    m.dataset.samples = 2;
    m.format_version = distill_cache::VIEWS_FORMAT_VERSION;
    m.views = Some(distill_cache::ViewsInfo {
        count: 2,
        augment: "crop,flip,mixup,plain-first".parse().unwrap(),
        seed: 3,
    });
    let view = |index: u16, lambda: f32| CachedView {
        index,
        params: if index == 0 {
            ViewParams::default()
        } else {
            ViewParams {
                crop: Some([0.25, -0.0625, 0.5, 0.75]),
                flip: true,
                mix: Some(Mix {
                    partner: 11,
                    lambda,
                }),
            }
        },
    };
    let part = CachePart {
        sample_ids: vec![10, 10, 11, 11],
        labels: vec![Some(0), Some(0), Some(2), Some(2)],
        logits: (0..12).map(|v| v as f32).collect(),
        keys: vec![],
        views: vec![view(0, 0.0), view(1, 0.3), view(0, 0.0), view(1, 0.75)],
        ..CachePart::default()
    };
    (m, part)
}

#[test]
fn views_round_trip_as_plain_columns_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, part) = views_manifest();
    let info = write_part(dir.path(), &m, 0, &part).unwrap();
    m.parts.push(info.clone());
    m.complete = true;
    m.write(dir.path()).unwrap();
    let read = Manifest::read(dir.path()).unwrap();
    assert_eq!(read.views, m.views);
    assert_eq!(read.total_rows(), 4);
    assert_eq!(read_part(dir.path(), &read, &info).unwrap(), part);
    // Any reader sees the columns by name, nulls where a view has no box or partner.
    let batch = first_batch(&dir.path().join(&info.file));
    let crop_top = batch.column_by_name("crop_top").unwrap();
    assert_eq!(crop_top.null_count(), 2);
    let partner = batch.column_by_name("mix_partner").unwrap();
    let partner = partner.as_any().downcast_ref::<UInt64Array>().unwrap();
    assert_eq!(partner.value(1), 11);
    // A version that does not match the views, and values no view can have, are refused.
    let mut text: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    text["format_version"] = 1.into();
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("manifest.json"), text.to_string()).unwrap();
    let err = Manifest::read(other.path()).unwrap_err().to_string();
    assert!(err.contains("does not match its views"), "{err}");
    let (m, mut bad) = views_manifest();
    bad.views[3].params.mix = Some(Mix {
        partner: 10,
        lambda: 1.5,
    });
    let info = write_part(other.path(), &m, 0, &bad).unwrap();
    let err = read_part(other.path(), &m, &info).unwrap_err().to_string();
    assert!(err.contains("mix_lambda 1.5 is outside [0, 1]"), "{err}");
}

/// A top-k cache of `classes` classes (v2): three rows whose logits are `(c * 7919) %
/// classes` scaled, so every row's largest are known.
fn topk_manifest(classes: usize, k: usize) -> Manifest {
    let mut m = manifest(LogitDtype::F32);
    m.num_classes = classes;
    m.storage = distill_cache::Storage::TopK { k };
    m.format_version = distill_cache::VIEWS_FORMAT_VERSION;
    m.dataset.samples = 3;
    m
}

#[test]
fn topk_rows_round_trip_with_wide_class_ids_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // More classes than a uint16 holds: class ids are stored as uint32.
    let classes = 70_000;
    let logits: Vec<f32> = (0..3 * classes)
        .map(|i| ((i * 7919) % classes) as f32 / 1000.0)
        .collect();
    let m = topk_manifest(classes, 4);
    let mut writer = CacheWriter::open(dir.path(), m.clone(), false).unwrap();
    writer
        .push(&[5, 6, 7], &[Some(1), None, Some(69_999)], &logits, &[])
        .unwrap();
    let m = writer.finish().unwrap();
    let part = CacheReader::open(dir.path()).unwrap().part(0).unwrap();
    let topk = part.topk.as_ref().expect("top-k rows");
    assert!(part.logits.is_empty());
    for r in 0..3 {
        let row = &logits[r * classes..(r + 1) * classes];
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        let kept = topk.row(r);
        assert_eq!(
            kept.classes,
            order[..4].iter().map(|&c| c as u32).collect::<Vec<_>>()
        );
        assert_eq!(kept.tail.count, (classes - 4) as u32);
    }
    let batch = first_batch(&dir.path().join("part-00000.parquet"));
    let ids = batch.column_by_name("topk_index").unwrap();
    assert_eq!(
        ids.data_type(),
        &DataType::FixedSizeList(
            std::sync::Arc::new(arrow::datatypes::Field::new(
                "item",
                DataType::UInt32,
                false
            )),
            4
        )
    );

    // A row whose classes repeat, or whose values rise, is damage: refused by name.
    let damaged = |edit: &dyn Fn(&mut distill_cache::TopKRows)| {
        let mut part = part.clone();
        edit(part.topk.as_mut().unwrap());
        let info = write_part(dir.path(), &m, 0, &part).unwrap();
        match read_part(dir.path(), &m, &info) {
            Err(CacheError::Corrupt { reason, .. }) => reason,
            other => panic!("damage read back: {other:?}"),
        }
    };
    let reason = damaged(&|t| t.classes[1] = t.classes[0]);
    assert!(reason.contains("distinct"), "{reason}");
    let reason = damaged(&|t| t.values[5] = 1e9);
    assert!(reason.contains("descending"), "{reason}");
    let reason = damaged(&|t| t.tails[2].count = 3);
    assert!(reason.contains("tail_count"), "{reason}");

    // Keeping every class is not top-k storage; a manifest whose version does not match
    // its storage is refused.
    let err = CacheWriter::open(&dir.path().join("all"), topk_manifest(10, 10), false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("between 1 and 9"), "{err}");
    let mut wrong = topk_manifest(10, 3);
    wrong.format_version = 1;
    let other = dir.path().join("v1");
    std::fs::create_dir(&other).unwrap();
    wrong.write(&other).unwrap();
    let err = Manifest::read(&other).unwrap_err().to_string();
    assert!(err.contains("topk:3 storage"), "{err}");
}
