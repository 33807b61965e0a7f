//! One part file: `sample_id`, `label`, `logits` rows, written atomically, read back with
//! validation against the manifest.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float16Array, Float32Array, Int32Array, RecordBatch,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::{CacheError, LogitDtype, Manifest, PartInfo};

/// Rows of one part, in memory: `logits` is `[rows, classes]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePart {
    pub sample_ids: Vec<u64>,
    pub labels: Vec<Option<i32>>,
    pub logits: Vec<f32>,
}

pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// [`distill_data::write_atomic`] with the error naming `path`.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), String>,
) -> Result<(), CacheError> {
    distill_data::write_atomic(path, |file| fill(file).map_err(std::io::Error::other)).map_err(
        |e| CacheError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    )
}

fn schema(classes: usize, dtype: LogitDtype) -> Schema {
    let element = match dtype {
        LogitDtype::F32 => DataType::Float32,
        LogitDtype::F16 => DataType::Float16,
    };
    Schema::new(vec![
        Field::new("sample_id", DataType::UInt64, false),
        Field::new("label", DataType::Int32, true),
        Field::new(
            "logits",
            DataType::FixedSizeList(Arc::new(Field::new("item", element, false)), classes as i32),
            false,
        ),
    ])
}

fn sha256_file(path: &Path) -> Result<String, CacheError> {
    let bytes = std::fs::read(path).map_err(|e| CacheError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Writes part `index` of a cache described by `manifest` (its `num_classes`, `dtype` and
/// identity, which are repeated in the part's key-value metadata) into `dir`.
pub fn write_part(
    dir: &Path,
    manifest: &Manifest,
    index: usize,
    part: &CachePart,
) -> Result<PartInfo, CacheError> {
    let classes = manifest.num_classes;
    let rows = part.sample_ids.len();
    if part.labels.len() != rows || part.logits.len() != rows * classes {
        return Err(CacheError::BadData(format!(
            "part {index}: {rows} ids, {} labels and {} logits for {classes} classes",
            part.labels.len(),
            part.logits.len()
        )));
    }
    let schema = Arc::new(schema(classes, manifest.dtype));
    let values: ArrayRef = match manifest.dtype {
        LogitDtype::F32 => Arc::new(Float32Array::from(part.logits.clone())),
        LogitDtype::F16 => Arc::new(Float16Array::from(
            part.logits
                .iter()
                .map(|&v| half::f16::from_f32(v))
                .collect::<Vec<_>>(),
        )),
    };
    let DataType::FixedSizeList(item, _) = schema.field(2).data_type().clone() else {
        unreachable!("logits is a fixed-size list by construction")
    };
    let logits = FixedSizeListArray::try_new(item, classes as i32, values, None)
        .map_err(|e| CacheError::BadData(e.to_string()))?;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from(part.sample_ids.clone())),
            Arc::new(Int32Array::from(part.labels.clone())),
            Arc::new(logits),
        ],
    )
    .map_err(|e| CacheError::BadData(e.to_string()))?;

    let essentials = serde_json::json!({
        "format_version": manifest.format_version,
        "num_classes": classes,
        "dtype": manifest.dtype,
        "storage": manifest.storage,
        "teacher": manifest.teacher,
        "dataset": manifest.dataset,
        "preprocess": manifest.preprocess,
        "tool_version": manifest.tool_version,
        "part": index,
    });
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "distill.cache".to_string(),
            essentials.to_string(),
        )]))
        .build();
    let path = dir.join(part_file_name(index));
    write_atomic(&path, |file| {
        let mut writer = ArrowWriter::try_new(
            file.try_clone().map_err(|e| e.to_string())?,
            schema,
            Some(props),
        )
        .map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())?;
        writer.close().map_err(|e| e.to_string())?;
        Ok(())
    })?;
    Ok(PartInfo {
        file: part_file_name(index),
        rows,
        sha256: sha256_file(&path)?,
    })
}

/// Reads part `info` of the cache in `dir`, checking its checksum, row count and schema.
pub fn read_part(
    dir: &Path,
    manifest: &Manifest,
    info: &PartInfo,
) -> Result<CachePart, CacheError> {
    let path = dir.join(&info.file);
    if !path.is_file() {
        return Err(CacheError::MissingPart { path });
    }
    let corrupt = |reason: String| CacheError::Corrupt {
        path: path.clone(),
        reason,
    };
    let sha = sha256_file(&path)?;
    if sha != info.sha256 {
        return Err(corrupt(format!(
            "sha256 {sha} does not match the manifest's {}",
            info.sha256
        )));
    }
    let file = File::open(&path).map_err(|e| corrupt(e.to_string()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| corrupt(e.to_string()))?
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let classes = manifest.num_classes;
    let mut part = CachePart {
        sample_ids: Vec::with_capacity(info.rows),
        labels: Vec::with_capacity(info.rows),
        logits: Vec::with_capacity(info.rows * classes),
    };
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| corrupt(format!("no column '{name}'")))
        };
        let ids = column("sample_id")?;
        let ids = ids
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| corrupt("sample_id is not uint64".into()))?;
        part.sample_ids.extend(ids.values().iter().copied());
        let labels = column("label")?;
        let labels = labels
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(|| corrupt("label is not int32".into()))?;
        part.labels.extend(labels.iter());
        let logits = column("logits")?;
        let logits = logits
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .filter(|l| l.value_length() as usize == classes)
            .ok_or_else(|| corrupt(format!("logits is not a fixed-size list of {classes}")))?;
        let values = logits.values();
        if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
            part.logits.extend(v.values().iter().copied());
        } else if let Some(v) = values.as_any().downcast_ref::<Float16Array>() {
            part.logits.extend(v.values().iter().map(|h| h.to_f32()));
        } else {
            return Err(corrupt("logits are neither float32 nor float16".into()));
        }
    }
    if part.sample_ids.len() != info.rows {
        return Err(corrupt(format!(
            "{} rows, the manifest says {}",
            part.sample_ids.len(),
            info.rows
        )));
    }
    Ok(part)
}
