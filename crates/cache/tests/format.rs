//! Cache format v1: real Parquet files, read back by our reader and by the plain arrow
//! reader, and every way a part can go missing or bad.

use std::fs::File;

use arrow::array::{Array, FixedSizeListArray, Float32Array, UInt64Array};
use arrow::datatypes::DataType;
use distill_cache::{CacheError, CachePart, LogitDtype, Manifest, read_part, write_part};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn manifest(dtype: LogitDtype) -> Manifest {
    Manifest {
        format_version: distill_cache::FORMAT_VERSION,
        num_classes: 3,
        dtype,
        storage: "dense".into(),
        rows_per_part: 4,
        teacher: serde_json::json!({"file": "t.onnx", "sha256": "abc"}),
        dataset: serde_json::json!({"source": "idx:x", "split": "train", "fingerprint": "f00"}),
        preprocess: serde_json::json!({"scale": 0.00392}),
        tool_version: "0.1.0".into(),
        parts: vec![],
        complete: false,
    }
}

fn sample() -> CachePart {
    CachePart {
        sample_ids: vec![10, 11, 12, 13],
        labels: vec![Some(0), None, Some(2), Some(1)],
        // Values an f16 cannot hold exactly, and a large logit.
        logits: vec![
            1.0, -2.5, 0.1, 3.3333, 0.0, -7.25, 1e4, -1e4, 0.5, 2.0, 2.0, 2.0,
        ],
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
