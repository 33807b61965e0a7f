//! Image datasets stored as Parquet the way the Hugging Face hub stores them: an image
//! column (a struct of `bytes` and `path`, or plain binary) and an integer label column,
//! over one or several files (`data/train-00000-of-00002.parquet`, …).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use crate::dataset::ImageBytes;
use crate::image::{ImageFile, checked_image_dataset, listed_image_files};
use crate::imagefolder::{read_dir_sorted, relative_key};
use crate::parquet_images::{ParquetCell, ParquetImages, RowGroupCache};
use crate::{DataError, Dataset, SourceOptions};

/// The Parquet files of `split`: `path` itself when it is a file, else the `.parquet` files
/// under it whose name starts with the split (`train-…`, `train.parquet`) or that sit in a
/// folder named after it, sorted by relative path.
pub(crate) fn split_files(path: &Path, split: &str) -> Result<Vec<PathBuf>, DataError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(DataError::invalid(path, "no such file or folder"));
    }
    let mut all = Vec::new();
    collect_parquet(path, &mut all)?;
    if all.is_empty() {
        return Err(DataError::invalid(path, "no .parquet files in this folder"));
    }
    let in_split = |p: &PathBuf| {
        let rel = relative_key(path, p);
        let mut parts: Vec<&str> = rel.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        parts.contains(&split)
            || [
                format!("{split}-"),
                format!("{split}."),
                format!("{split}_"),
            ]
            .iter()
            .any(|prefix| name.starts_with(prefix.as_str()))
    };
    let chosen: Vec<PathBuf> = all.iter().filter(|p| in_split(p)).cloned().collect();
    if chosen.is_empty() {
        let names: Vec<String> = all.iter().take(8).map(|p| relative_key(path, p)).collect();
        return Err(DataError::invalid(
            path,
            format!(
                "no Parquet file of split '{split}' (expected {split}-*.parquet or a '{split}' folder; found {})",
                names.join(", ")
            ),
        ));
    }
    Ok(chosen)
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            collect_parquet(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads split `split`. Sample ids count rows over the files in order; keys are
/// `FILE:ROW` with the file relative to `path`. The files are listed from their footers and
/// label columns, not their images: those are read a row group at a time when a batch
/// needs them (see [`ParquetImages`]), so memory holds a few row groups, not the split.
/// Their headers are read by [`Dataset::read_headers`]. With `skip_bad` every image is
/// decoded now, and those that fail are left out.
pub fn read_hf_parquet(
    path: &Path,
    split: &str,
    options: &SourceOptions,
) -> Result<Dataset, DataError> {
    let files = split_files(path, split)?;
    let base = if path.is_file() {
        path.parent().unwrap_or(Path::new(""))
    } else {
        path
    };
    let (mut rows, mut sizes) = (Vec::new(), Vec::new());
    let cache = RowGroupCache::new();
    for (number, file) in files.iter().enumerate() {
        let name = relative_key(base, file);
        // The listing fingerprint's size of a row is its file's: a row's own size is not
        // known before its row group is read.
        let size = std::fs::metadata(file)
            .map_err(|e| DataError::io(file, e))?
            .len();
        list_file(
            file,
            options,
            (cache.clone(), number),
            |row, cell, label| {
                sizes.push(size);
                rows.push(ImageFile {
                    key: format!("{name}:{row}"),
                    label,
                    bytes: ImageBytes::Parquet(cell),
                });
            },
        )?;
    }
    let source = format!("parquet:{}", path.display());
    if options.skip_bad {
        checked_image_dataset(source, split, rows, sizes)
    } else {
        Ok(listed_image_files(source, split, rows, sizes))
    }
}

/// The columns of one file that hold the images and the labels, by index.
struct Columns {
    names: Vec<String>,
    image_at: usize,
    label_at: usize,
}

/// The image and label columns of `schema`: the named ones; without a name, `image` and
/// `label`, else the one column whose type fits (the hub's CIFAR-10 calls its images `img`,
/// its beans dataset its labels `labels`). Their types are checked.
fn columns(
    file: &Path,
    schema: &arrow::datatypes::Schema,
    options: &SourceOptions,
) -> Result<Columns, DataError> {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let choose = |named: Option<&String>, default: &str, fits: fn(&DataType) -> bool, setting| {
        let fitting: Vec<usize> = (0..names.len())
            .filter(|&i| fits(schema.field(i).data_type()))
            .collect();
        let name = named.map_or(default, |n| n.as_str());
        match (named, fitting.as_slice()) {
            (None, &[only]) if !names.iter().any(|c| c == default) => Ok(only),
            _ => names
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| DataError::SourceSetting {
                    path: file.to_path_buf(),
                    setting,
                    reason: format!(
                        "no {default} column '{name}' (columns: {})",
                        names.join(", ")
                    ),
                }),
        }
    };
    let image_at = choose(
        options.image_column.as_ref(),
        "image",
        is_image_type,
        "image_column",
    )?;
    let label_at = choose(
        options.label_column.as_ref(),
        "label",
        DataType::is_integer,
        "label_column",
    )?;
    let image_type = schema.field(image_at).data_type();
    let label_type = schema.field(label_at).data_type();
    if !is_image_type(image_type) {
        return Err(DataError::invalid(
            file,
            format!(
                "column '{}' holds {image_type}, expected images: binary, or a struct with a binary 'bytes' field",
                names[image_at]
            ),
        ));
    }
    if !label_type.is_integer() {
        return Err(DataError::invalid(
            file,
            format!(
                "label column '{}' holds {label_type}, expected integer class ids (map names to ids first)",
                names[label_at]
            ),
        ));
    }
    Ok(Columns {
        names,
        image_at,
        label_at,
    })
}

/// Calls `row(index, where its image is, label)` for each row of one file, reading its
/// footer and label column only; its images will be read through `cache`, as file `number`.
fn list_file(
    file: &Path,
    options: &SourceOptions,
    cache: (Arc<RowGroupCache>, usize),
    mut row: impl FnMut(usize, ParquetCell, i32),
) -> Result<(), DataError> {
    let bad = |reason: String| DataError::invalid(file, reason);
    let parquet_err = |source| DataError::Parquet {
        path: file.to_path_buf(),
        source,
    };
    let handle = File::open(file).map_err(|e| DataError::io(file, e))?;
    let metadata =
        ArrowReaderMetadata::load(&handle, ArrowReaderOptions::default()).map_err(parquet_err)?;
    let c = columns(file, &metadata.schema().clone(), options)?;
    let images = Arc::new(ParquetImages::new(
        file,
        metadata.clone(),
        (
            ProjectionMask::roots(metadata.parquet_schema(), [c.image_at]),
            c.names[c.image_at].clone(),
        ),
        cache,
    ));
    // The first row of each row group, and the end of the last.
    let mut group_starts = vec![0usize];
    for group in metadata.metadata().row_groups() {
        let rows = usize::try_from(group.num_rows())
            .map_err(|_| bad(format!("a row group of {} rows", group.num_rows())))?;
        group_starts.push(group_starts[group_starts.len() - 1] + rows);
    }
    let mask = ProjectionMask::roots(metadata.parquet_schema(), [c.label_at]);
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata)
        .with_projection(mask)
        .build()
        .map_err(parquet_err)?;
    let (mut index, mut group) = (0, 0);
    for batch in reader {
        let batch = batch.map_err(|source| DataError::Arrow {
            path: file.to_path_buf(),
            source,
        })?;
        let labels = batch
            .column_by_name(&c.names[c.label_at])
            .ok_or_else(|| bad("label column vanished on reading".into()))?;
        let labels = labels_i32(labels).map_err(|r| bad(format!("rows from {index}: {r}")))?;
        for label in labels {
            let label = label.ok_or_else(|| {
                bad(format!(
                    "row {index}: label is null (every sample needs a class id)"
                ))
            })?;
            while group + 1 < group_starts.len() - 1 && index >= group_starts[group + 1] {
                group += 1;
            }
            let cell = ParquetCell {
                images: images.clone(),
                group,
                row: index - group_starts[group],
            };
            row(index, cell, label);
            index += 1;
        }
    }
    Ok(())
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

fn is_image_type(t: &DataType) -> bool {
    match t {
        DataType::Struct(fields) => fields
            .iter()
            .any(|f| f.name() == "bytes" && is_binary(f.data_type())),
        t => is_binary(t),
    }
}

/// An integer column as `i32` class ids (`None` for nulls); the error names the reason.
fn labels_i32(column: &ArrayRef) -> Result<Vec<Option<i32>>, String> {
    macro_rules! convert {
        ($($t:ty),*) => {$(
            if let Some(a) = column.as_primitive_opt::<$t>() {
                return a
                    .iter()
                    .map(|v| match v {
                        None => Ok(None),
                        Some(v) => i32::try_from(v)
                            .ok()
                            .filter(|v| *v >= 0)
                            .map(Some)
                            .ok_or_else(|| format!("label {v} is not a class id (0 or more)")),
                    })
                    .collect();
            }
        )*};
    }
    convert!(
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    Err(format!(
        "labels of type {} are not integers",
        column.data_type()
    ))
}

/// Writes `images` (encoded files, a binary column named `columns.0`) and their `labels`
/// (int64, `columns.1`) as one Parquet file of the layout [`read_hf_parquet`] reads, in row
/// groups of `group_rows` rows: to pack an image dataset, or to make one for a test.
pub fn write_hf_parquet(
    path: &Path,
    columns: (&str, &str),
    images: &[Vec<u8>],
    labels: &[i64],
    group_rows: usize,
) -> Result<(), DataError> {
    use arrow::array::{BinaryArray, Int64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};

    let arrow_err = |source| DataError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let parquet_err = |source| DataError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new(columns.0, DataType::Binary, false),
        Field::new(columns.1, DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(BinaryArray::from_iter_values(images)),
            Arc::new(Int64Array::from(labels.to_vec())),
        ],
    )
    .map_err(arrow_err)?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows.max(1)))
        .build();
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).map_err(parquet_err)?;
    writer.write(&batch).map_err(parquet_err)?;
    writer.close().map_err(parquet_err)?;
    Ok(())
}
