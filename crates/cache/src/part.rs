//! One part file: `sample_id`, `label`, `logits` rows (the top-k columns instead of
//! `logits` in a top-k cache; the view's columns in a cache of views; `key` for
//! file-based datasets), written atomically, read back with validation against the
//! manifest.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float16Array, Float32Array, Int32Array,
    RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use distill_core::{Mix, ViewParams, sha256_hex};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::atomic::write_bytes_atomic;
use crate::{CacheError, LogitDtype, Manifest, PartInfo, Storage, TailStats, TopKRows};

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
    /// `[rows, classes]`, row-major; empty in a top-k cache.
    pub logits: Vec<f32>,
    /// The rows of a top-k cache; none in a dense one.
    pub topk: Option<TopKRows>,
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
        for (r, label) in self.labels.iter().enumerate() {
            let Some(label) = label else { continue };
            labelled += 1;
            correct += usize::from(self.top1(r, classes) as i64 == i64::from(*label));
        }
        (correct, labelled)
    }

    /// The class of row `r`'s largest logit.
    pub fn top1(&self, r: usize, classes: usize) -> usize {
        match &self.topk {
            Some(t) => t.classes[r * t.k] as usize,
            None => distill_core::argmax(&self.logits[r * classes..(r + 1) * classes]),
        }
    }
}

/// The file name of part `index`: `part-00000.parquet`, …
pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// The part schema. `essentials` goes into the Arrow schema's metadata as well as the
/// Parquet key-value metadata, so readers that only show one of them (pyarrow's
/// `table.schema.metadata`, or a Parquet footer dump) both find it.
fn schema(manifest: &Manifest, essentials: &str, keys: bool) -> Schema {
    let element = match manifest.dtype {
        LogitDtype::F32 => DataType::Float32,
        LogitDtype::F16 => DataType::Float16,
    };
    let list = |element: DataType, len: usize| {
        DataType::FixedSizeList(Arc::new(Field::new("item", element, false)), len as i32)
    };
    let metadata =
        std::collections::HashMap::from([(METADATA_KEY.to_string(), essentials.to_string())]);
    let mut fields = vec![
        Field::new("sample_id", DataType::UInt64, false),
        Field::new("label", DataType::Int32, true),
    ];
    match manifest.storage {
        Storage::Dense => fields.push(Field::new(
            "logits",
            list(element, manifest.num_classes),
            false,
        )),
        Storage::TopK { k } => fields.extend([
            Field::new("topk_logit", list(element.clone(), k), false),
            Field::new(
                "topk_index",
                list(class_type(manifest.num_classes), k),
                false,
            ),
            Field::new("logsumexp", DataType::Float32, false),
            Field::new("tail_logsumexp", DataType::Float32, false),
            Field::new("tail_count", DataType::UInt32, false),
            Field::new("tail_mean", element.clone(), false),
            Field::new("tail_std", element, false),
        ]),
    }
    let views = manifest.views.is_some();
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

/// The type of a top-k cache's class ids: uint16 up to 65,536 classes, else uint32.
fn class_type(classes: usize) -> DataType {
    if classes <= 1 << 16 {
        DataType::UInt16
    } else {
        DataType::UInt32
    }
}

/// `values` as an array of the cache's logit type.
fn float_array(values: impl Iterator<Item = f32>, dtype: LogitDtype) -> ArrayRef {
    match dtype {
        LogitDtype::F32 => Arc::new(Float32Array::from_iter_values(values)),
        LogitDtype::F16 => Arc::new(Float16Array::from_iter_values(
            values.map(half::f16::from_f32),
        )),
    }
}

/// The values of a float array of either logit type, as f32.
fn float_values(array: &dyn Array, name: &str) -> Result<Vec<f32>, String> {
    if let Some(v) = array.as_any().downcast_ref::<Float32Array>() {
        Ok(v.values().to_vec())
    } else if let Some(v) = array.as_any().downcast_ref::<Float16Array>() {
        Ok(v.values().iter().map(|h| h.to_f32()).collect())
    } else {
        Err(format!("{name} is neither float32 nor float16"))
    }
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
    let stored = match (manifest.storage, &part.topk) {
        (Storage::Dense, None) => part.logits.len() == rows * classes,
        (Storage::TopK { k }, Some(t)) => {
            t.k == k
                && t.rows() == rows
                && t.values.len() == rows * k
                && t.classes.len() == rows * k
                && part.logits.is_empty()
        }
        _ => false,
    };
    if part.labels.len() != rows
        || !stored
        || (with_keys && part.keys.len() != rows)
        || part.views.len() != if with_views { rows } else { 0 }
    {
        return Err(CacheError::BadData(format!(
            "part {index}: {rows} ids, {} labels, {} keys, {} views and logits that are not {} storage of {classes} classes",
            part.labels.len(),
            part.keys.len(),
            part.views.len(),
            manifest.storage
        )));
    }
    let essentials = manifest.essentials(index).to_string();
    let schema = Arc::new(schema(manifest, &essentials, with_keys));
    let path = dir.join(part_file_name(index));
    let arrow_err = |source| CacheError::Arrow {
        path: path.clone(),
        source,
    };
    // The fixed-size list column `field` of the schema, over `values`.
    let list = |field: usize, values: ArrayRef| -> Result<ArrayRef, CacheError> {
        let DataType::FixedSizeList(item, len) = schema.field(field).data_type().clone() else {
            unreachable!("field {field} is a fixed-size list by construction")
        };
        Ok(Arc::new(
            FixedSizeListArray::try_new(item, len, values, None).map_err(arrow_err)?,
        ))
    };
    let dtype = manifest.dtype;
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(part.sample_ids.clone())),
        Arc::new(Int32Array::from(part.labels.clone())),
    ];
    match &part.topk {
        None => columns.push(list(2, float_array(part.logits.iter().copied(), dtype))?),
        Some(t) => {
            let class_ids: ArrayRef = match class_type(classes) {
                DataType::UInt16 => Arc::new(UInt16Array::from_iter_values(
                    t.classes.iter().map(|&c| c as u16),
                )),
                _ => Arc::new(UInt32Array::from(t.classes.clone())),
            };
            let tail = |f: fn(&TailStats) -> f32| t.tails.iter().map(f);
            columns.extend([
                list(2, float_array(t.values.iter().copied(), dtype))?,
                list(3, class_ids)?,
                Arc::new(Float32Array::from_iter_values(tail(|s| s.logsumexp))),
                Arc::new(Float32Array::from_iter_values(tail(|s| s.tail_logsumexp))),
                Arc::new(UInt32Array::from_iter_values(
                    t.tails.iter().map(|s| s.count),
                )),
                float_array(tail(|s| s.mean), dtype),
                float_array(tail(|s| s.std), dtype),
            ]);
        }
    }
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
        content: None,
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
        logits: Vec::with_capacity(if manifest.storage.is_topk() {
            0
        } else {
            info.rows * classes
        }),
        ..CachePart::default()
    };
    for batch in reader {
        let batch = batch.map_err(|source| CacheError::Arrow {
            path: path.clone(),
            source,
        })?;
        append(&mut part, &batch, manifest).map_err(|reason| CacheError::Corrupt {
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

/// Appends the rows of one record batch to `part`, checking every column's type and, in a
/// cache of views or a top-k cache, every row's values.
fn append(part: &mut CachePart, batch: &RecordBatch, manifest: &Manifest) -> Result<(), String> {
    let classes = manifest.num_classes;
    let ids: &UInt64Array = column(batch, "sample_id", "uint64")?;
    part.sample_ids.extend(ids.values().iter().copied());
    let labels: &Int32Array = column(batch, "label", "int32")?;
    part.labels.extend(labels.iter());
    match manifest.storage {
        Storage::Dense => {
            let logits = list_values(batch, "logits", classes)?;
            part.logits.extend(float_values(logits.as_ref(), "logits")?);
        }
        Storage::TopK { k } => {
            let topk = part.topk.get_or_insert_with(|| TopKRows::new(k));
            append_topk(topk, batch, classes)?;
        }
    }
    if let Some(views) = &manifest.views {
        append_views(&mut part.views, batch, views.count)?;
    }
    if batch.column_by_name("key").is_some() {
        let keys: &StringArray = column(batch, "key", "utf8")?;
        part.keys
            .extend(keys.iter().map(|k| k.unwrap_or_default().to_string()));
    }
    Ok(())
}

/// The values of the fixed-size list column `name`, which must hold `len` per row.
fn list_values(batch: &RecordBatch, name: &str, len: usize) -> Result<ArrayRef, String> {
    let list: &FixedSizeListArray = column(batch, name, "a fixed-size list")?;
    if list.value_length() as usize != len {
        return Err(format!("{name} is not a fixed-size list of {len}"));
    }
    Ok(list.values().clone())
}

/// Appends the top-k columns of `batch` to `topk`: each row's classes distinct and below
/// `classes`, its logits in descending order, its tail as large as the classes left out.
fn append_topk(topk: &mut TopKRows, batch: &RecordBatch, classes: usize) -> Result<(), String> {
    let k = topk.k;
    let values = float_values(list_values(batch, "topk_logit", k)?.as_ref(), "topk_logit")?;
    let ids = list_values(batch, "topk_index", k)?;
    let ids: Vec<u32> = if let Some(a) = ids.as_any().downcast_ref::<UInt16Array>() {
        a.values().iter().map(|&c| u32::from(c)).collect()
    } else if let Some(a) = ids.as_any().downcast_ref::<UInt32Array>() {
        a.values().to_vec()
    } else {
        return Err("topk_index is neither uint16 nor uint32".into());
    };
    let f32s = |name| -> Result<Vec<f32>, String> {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column '{name}'"))?;
        float_values(array.as_ref(), name)
    };
    let (lse, tail_lse) = (f32s("logsumexp")?, f32s("tail_logsumexp")?);
    let (mean, std) = (f32s("tail_mean")?, f32s("tail_std")?);
    let count: &UInt32Array = column(batch, "tail_count", "uint32")?;
    let mut sorted = Vec::with_capacity(k);
    for r in 0..batch.num_rows() {
        let row = &ids[r * k..(r + 1) * k];
        sorted.clear();
        sorted.extend_from_slice(row);
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != k || sorted.last().is_some_and(|&c| c as usize >= classes) {
            return Err(format!(
                "row {r}: topk_index {row:?} are not {k} distinct classes below {classes}"
            ));
        }
        if values[r * k..(r + 1) * k].windows(2).any(|w| w[0] < w[1]) {
            return Err(format!("row {r}: topk_logit are not in descending order"));
        }
        if count.value(r) as usize != classes - k {
            return Err(format!(
                "row {r}: tail_count {} is not the {} classes left out",
                count.value(r),
                classes - k
            ));
        }
        topk.tails.push(TailStats {
            logsumexp: lse[r],
            tail_logsumexp: tail_lse[r],
            count: count.value(r),
            mean: mean[r],
            std: std[r],
        });
    }
    topk.values.extend(values);
    topk.classes.extend(ids);
    Ok(())
}
