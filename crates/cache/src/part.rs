//! One part file: `sample_id`, `label`, `logits` rows (and `key` for file-based datasets;
//! and the view's columns in a v2 cache of views), written atomically, read back with
//! validation against the manifest.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float16Array, Float32Array, Int32Array,
    RecordBatch, StringArray, UInt16Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use distill_core::{Mix, ViewParams, sha256_hex};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::atomic::write_bytes_atomic;
use crate::{CacheError, LogitDtype, Manifest, PartInfo};

/// The view a row of a v2 cache holds: its index among the sample's views and its
/// parameters (the columns `view`, `crop_top`, `crop_left`, `crop_height`, `crop_width`,
/// `flip`, `mix_partner`, `mix_lambda`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CachedView {
    /// The view's index, `0..K`.
    pub index: u16,
    /// What the view is.
    pub params: ViewParams,
}

/// The view columns after `logits`, in order.
const VIEW_COLUMNS: [&str; 8] = [
    "view",
    "crop_top",
    "crop_left",
    "crop_height",
    "crop_width",
    "flip",
    "mix_partner",
    "mix_lambda",
];

/// Rows of one part, in memory: `logits` is `[rows, classes]` row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CachePart {
    /// The sample id of each row.
    pub sample_ids: Vec<u64>,
    /// The label of each row, where known.
    pub labels: Vec<Option<i32>>,
    /// `[rows, classes]`, row-major.
    pub logits: Vec<f32>,
    /// Relative path or source key per row, for file-based datasets; empty otherwise.
    pub keys: Vec<String>,
    /// The view of each row, in a cache of views; empty otherwise.
    pub views: Vec<CachedView>,
}

/// Key of the manifest essentials in each part's Parquet key-value metadata.
pub const METADATA_KEY: &str = "distill.cache";

impl CachePart {
    /// `(correct, labelled)`: rows whose top-1 logit is the label, among rows with a label.
    pub fn top1_correct(&self, classes: usize) -> (usize, usize) {
        let mut correct = 0;
        let mut labelled = 0;
        for (row, label) in self.logits.chunks(classes).zip(&self.labels) {
            let Some(label) = label else { continue };
            labelled += 1;
            let top = distill_core::argmax(row);
            correct += usize::from(top as i64 == i64::from(*label));
        }
        (correct, labelled)
    }
}

/// The file name of part `index`: `part-00000.parquet`, …
pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// The part schema. `essentials` goes into the Arrow schema's metadata as well as the
/// Parquet key-value metadata, so readers that only show one of them (pyarrow's
/// `table.schema.metadata`, or a Parquet footer dump) both find it.
fn schema(classes: usize, dtype: LogitDtype, essentials: &str, keys: bool, views: bool) -> Schema {
    let element = match dtype {
        LogitDtype::F32 => DataType::Float32,
        LogitDtype::F16 => DataType::Float16,
    };
    let metadata =
        std::collections::HashMap::from([(METADATA_KEY.to_string(), essentials.to_string())]);
    let mut fields = vec![
        Field::new("sample_id", DataType::UInt64, false),
        Field::new("label", DataType::Int32, true),
        Field::new(
            "logits",
            DataType::FixedSizeList(Arc::new(Field::new("item", element, false)), classes as i32),
            false,
        ),
    ];
    if views {
        for name in VIEW_COLUMNS {
            let (kind, nullable) = match name {
                "view" => (DataType::UInt16, false),
                "flip" => (DataType::Boolean, false),
                "mix_partner" => (DataType::UInt64, true),
                _ => (DataType::Float32, true),
            };
            fields.push(Field::new(name, kind, nullable));
        }
    }
    if keys {
        fields.push(Field::new("key", DataType::Utf8, false));
    }
    Schema::new_with_metadata(fields, metadata)
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
    let with_keys = !part.keys.is_empty();
    let with_views = manifest.views.is_some();
    if part.labels.len() != rows
        || part.logits.len() != rows * classes
        || (with_keys && part.keys.len() != rows)
        || part.views.len() != if with_views { rows } else { 0 }
    {
        return Err(CacheError::BadData(format!(
            "part {index}: {rows} ids, {} labels, {} keys and {} logits for {classes} classes",
            part.labels.len(),
            part.keys.len(),
            part.logits.len()
        )));
    }
    let essentials = manifest.essentials(index).to_string();
    let schema = Arc::new(schema(
        classes,
        manifest.dtype,
        &essentials,
        with_keys,
        with_views,
    ));
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
    let path = dir.join(part_file_name(index));
    let arrow_err = |source| CacheError::Arrow {
        path: path.clone(),
        source,
    };
    let logits =
        FixedSizeListArray::try_new(item, classes as i32, values, None).map_err(arrow_err)?;
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(part.sample_ids.clone())),
        Arc::new(Int32Array::from(part.labels.clone())),
        Arc::new(logits),
    ];
    if with_views {
        columns.extend(view_columns(&part.views));
    }
    if with_keys {
        columns.push(Arc::new(StringArray::from(part.keys.clone())));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)?;

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            METADATA_KEY.to_string(),
            essentials,
        )]))
        .build();
    // Encoded in memory (a part is small by design) so the checksum needs no second read.
    let encode_err = |source| CacheError::Parquet {
        path: path.clone(),
        source,
    };
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(props)).map_err(encode_err)?;
    writer.write(&batch).map_err(encode_err)?;
    let bytes = writer.into_inner().map_err(encode_err)?;
    write_bytes_atomic(&path, &bytes)?;
    Ok(PartInfo {
        file: part_file_name(index),
        rows,
        sha256: sha256_hex(&bytes),
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
    let bytes = std::fs::read(&path).map_err(|e| CacheError::io(&path, e))?;
    let sha = sha256_hex(&bytes);
    if sha != info.sha256 {
        return Err(CacheError::Corrupt {
            path,
            reason: format!("sha256 {sha} does not match the manifest's {}", info.sha256),
        });
    }
    let parquet_err = |source| CacheError::Parquet {
        path: path.clone(),
        source,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).map_err(parquet_err)?;
    check_essentials(&builder, manifest, info).map_err(|reason| CacheError::Corrupt {
        path: path.clone(),
        reason,
    })?;
    let reader = builder.build().map_err(parquet_err)?;
    let classes = manifest.num_classes;
    let mut part = CachePart {
        sample_ids: Vec::with_capacity(info.rows),
        labels: Vec::with_capacity(info.rows),
        logits: Vec::with_capacity(info.rows * classes),
        ..CachePart::default()
    };
    for batch in reader {
        let batch = batch.map_err(|source| CacheError::Arrow {
            path: path.clone(),
            source,
        })?;
        let views = manifest.views.as_ref().map(|v| v.count);
        append(&mut part, &batch, classes, views).map_err(|reason| CacheError::Corrupt {
            path: path.clone(),
            reason,
        })?;
    }
    if part.sample_ids.len() != info.rows {
        return Err(CacheError::Corrupt {
            reason: format!(
                "{} rows, the manifest says {}",
                part.sample_ids.len(),
                info.rows
            ),
            path,
        });
    }
    Ok(part)
}

/// Checks that a part's own key-value metadata (`distill.cache`) describes the cache of
/// `manifest` and is the part the manifest lists at its place: a part taken from another
/// cache, or moved to another place, is refused even with a matching checksum. The tool
/// version may differ (a cache resumed by a newer distill).
fn check_essentials<T>(
    builder: &parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
    manifest: &Manifest,
    info: &PartInfo,
) -> Result<(), String> {
    let index =
        part_index(&info.file).ok_or_else(|| format!("'{}' is not a part file name", info.file))?;
    let text = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == METADATA_KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| format!("no '{METADATA_KEY}' metadata"))?;
    let mut own: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("its '{METADATA_KEY}' metadata: {e}"))?;
    let mut expected = manifest.essentials(index);
    for v in [&mut own, &mut expected] {
        if let Some(map) = v.as_object_mut() {
            map.remove("tool_version");
        }
    }
    let mut diffs = Vec::new();
    distill_core::json_diff(&expected, &own, "", &mut diffs);
    if diffs.is_empty() {
        return Ok(());
    }
    Err(format!(
        "it belongs to another cache or place ({})",
        diffs.join("; ")
    ))
}

/// The index of a part file from its name.
fn part_index(file: &str) -> Option<usize> {
    file.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// The column `name` of `batch` as an array of type `A`, or what is wrong with it.
fn column<'b, A: 'static>(batch: &'b RecordBatch, name: &str, kind: &str) -> Result<&'b A, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column '{name}'"))?
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| format!("{name} is not {kind}"))
}

/// The view columns of `views`, in [`VIEW_COLUMNS`] order: crop columns null for a view
/// without a box, mix columns null for a view without mixup.
fn view_columns(views: &[CachedView]) -> Vec<ArrayRef> {
    let crop = |k: usize| -> ArrayRef {
        Arc::new(Float32Array::from_iter(
            views.iter().map(|v| v.params.crop.map(|c| c[k])),
        ))
    };
    vec![
        Arc::new(UInt16Array::from_iter_values(views.iter().map(|v| v.index))),
        crop(0),
        crop(1),
        crop(2),
        crop(3),
        Arc::new(BooleanArray::from_iter(
            views.iter().map(|v| Some(v.params.flip)),
        )),
        Arc::new(UInt64Array::from_iter(
            views.iter().map(|v| v.params.mix.map(|m| m.partner)),
        )),
        Arc::new(Float32Array::from_iter(
            views.iter().map(|v| v.params.mix.map(|m| m.lambda)),
        )),
    ]
}

/// Appends the view columns of `batch` to `views`: every index below `count`, the crop
/// columns all set or all null, the mix columns likewise.
fn append_views(
    views: &mut Vec<CachedView>,
    batch: &RecordBatch,
    count: usize,
) -> Result<(), String> {
    let index: &UInt16Array = column(batch, "view", "uint16")?;
    let crop: Vec<&Float32Array> = VIEW_COLUMNS[1..5]
        .iter()
        .map(|name| column(batch, name, "float32"))
        .collect::<Result<_, _>>()?;
    let flip: &BooleanArray = column(batch, "flip", "bool")?;
    let partner: &UInt64Array = column(batch, "mix_partner", "uint64")?;
    let lambda: &Float32Array = column(batch, "mix_lambda", "float32")?;
    for r in 0..batch.num_rows() {
        let value = |a: &Float32Array| (!a.is_null(r)).then(|| a.value(r));
        let corners: Vec<Option<f32>> = crop.iter().map(|a| value(a)).collect();
        let crop = match corners[..] {
            // Boxes are drawn within the image (a shift moves them off it by a few pixels);
            // anything else is damage, refused before it sizes an allocation.
            [Some(t), Some(l), Some(h), Some(w)] => {
                let in_range = [t, l].iter().all(|v| v.abs() <= 2.0)
                    && [h, w].iter().all(|v| *v > 0.0 && *v <= 1.0);
                if !in_range {
                    return Err(format!(
                        "row {r}: crop box {t}, {l}, {h}, {w} is not a box of the image"
                    ));
                }
                Some([t, l, h, w])
            }
            [None, None, None, None] => None,
            _ => return Err(format!("row {r}: crop columns are partly null")),
        };
        let mix = match (
            (!partner.is_null(r)).then(|| partner.value(r)),
            value(lambda),
        ) {
            (Some(partner), Some(lambda)) if (0.0..=1.0).contains(&lambda) => {
                Some(Mix { partner, lambda })
            }
            (Some(_), Some(lambda)) => {
                return Err(format!("row {r}: mix_lambda {lambda} is outside [0, 1]"));
            }
            (None, None) => None,
            _ => {
                return Err(format!(
                    "row {r}: mix_partner and mix_lambda are partly null"
                ));
            }
        };
        if index.is_null(r) || usize::from(index.value(r)) >= count {
            return Err(format!(
                "row {r}: view index is not below the {count} views"
            ));
        }
        views.push(CachedView {
            index: index.value(r),
            params: ViewParams {
                crop,
                flip: !flip.is_null(r) && flip.value(r),
                mix,
            },
        });
    }
    Ok(())
}

/// Appends the rows of one record batch to `part`, checking every column's type; `views`
/// is the view count of a cache of views.
fn append(
    part: &mut CachePart,
    batch: &RecordBatch,
    classes: usize,
    views: Option<usize>,
) -> Result<(), String> {
    let ids: &UInt64Array = column(batch, "sample_id", "uint64")?;
    part.sample_ids.extend(ids.values().iter().copied());
    let labels: &Int32Array = column(batch, "label", "int32")?;
    part.labels.extend(labels.iter());
    let logits: &FixedSizeListArray = column(batch, "logits", "a fixed-size list")?;
    if logits.value_length() as usize != classes {
        return Err(format!("logits is not a fixed-size list of {classes}"));
    }
    let values = logits.values();
    if let Some(v) = values.as_any().downcast_ref::<Float32Array>() {
        part.logits.extend(v.values().iter().copied());
    } else if let Some(v) = values.as_any().downcast_ref::<Float16Array>() {
        part.logits.extend(v.values().iter().map(|h| h.to_f32()));
    } else {
        return Err("logits are neither float32 nor float16".into());
    }
    if let Some(count) = views {
        append_views(&mut part.views, batch, count)?;
    }
    if batch.column_by_name("key").is_some() {
        let keys: &StringArray = column(batch, "key", "utf8")?;
        part.keys
            .extend(keys.iter().map(|k| k.unwrap_or_default().to_string()));
    }
    Ok(())
}
