//! CSV tables for tabular teachers: a header row, numeric feature columns and an integer
//! label column.

use std::path::{Path, PathBuf};

use crate::dataset::Samples;
use crate::{DataError, Dataset, SampleShape, SourceOptions};

/// The file of `split`: `path` itself when it is a file, else `path/<split>.csv`.
fn split_file(path: &Path, split: &str) -> Result<PathBuf, DataError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(DataError::invalid(path, "no such file or folder"));
    }
    let file = path.join(format!("{split}.csv"));
    if !file.is_file() {
        return Err(DataError::invalid(
            path,
            format!("no {split}.csv for split '{split}'"),
        ));
    }
    Ok(file)
}

/// A CSV reader error, naming the file.
fn csv_err(file: &Path) -> impl Fn(csv::Error) -> DataError + '_ {
    move |source| DataError::Csv {
        path: file.to_path_buf(),
        source,
    }
}

/// The class id in a label field: an integer, also when written as a float ("1.0", as
/// pandas writes integer labels after a float cast).
fn class_id(field: &str) -> Option<i32> {
    field
        .parse::<f64>()
        .ok()
        .filter(|l| *l >= 0.0 && l.fract() == 0.0 && *l <= i32::MAX as f64)
        .map(|l| l as i32)
}

/// Appends one record's features to `values` and returns its label; the error names the
/// line and column.
fn read_record(
    record: &csv::StringRecord,
    headers: &[String],
    label_at: usize,
    values: &mut Vec<f32>,
) -> Result<i32, String> {
    let line = record.position().map_or(0, |p| p.line());
    let at = |column: usize, reason: String| {
        format!("line {line}, column '{}': {reason}", headers[column])
    };
    let mut label = None;
    for (column, field) in record.iter().enumerate() {
        if field.is_empty() {
            return Err(at(
                column,
                "missing value (fill or drop missing values first)".into(),
            ));
        }
        if column == label_at {
            label = Some(class_id(field).ok_or_else(|| {
                at(
                    column,
                    format!("label '{field}' is not an integer class id"),
                )
            })?);
        } else {
            let v: f32 = field
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| at(column, format!("'{field}' is not a finite number")))?;
            values.push(v);
        }
    }
    label.ok_or_else(|| format!("line {line}: no label field"))
}

/// Reads split `split`: every column but the label column is a feature (`f32`), in file
/// order; samples are `[features, 1, 1]` (features are channels, so mean and std can
/// normalise each). Sample ids are the data row indices (0-based, header excluded). A
/// missing or non-numeric value is an error naming line and column.
pub fn read_csv(path: &Path, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
    let file = split_file(path, split)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(&file)
        .map_err(csv_err(&file))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_err(&file))?
        .iter()
        .map(str::to_string)
        .collect();
    let label_name = options.label_column.as_deref().unwrap_or("label");
    let label_at = headers
        .iter()
        .position(|h| h == label_name)
        .ok_or_else(|| DataError::SourceSetting {
            path: file.clone(),
            setting: "label_column",
            reason: format!(
                "no label column '{label_name}' (columns: {})",
                headers.join(", ")
            ),
        })?;
    let features = headers.len() - 1;
    if features == 0 {
        return Err(DataError::invalid(
            &file,
            "no feature columns besides the label",
        ));
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err(&file))?;
        let label = read_record(&record, &headers, label_at, &mut values)
            .map_err(|reason| DataError::invalid(&file, reason))?;
        labels.push(label);
    }
    let n = labels.len();
    Ok(Dataset::new(
        format!("csv:{}", path.display()),
        split.to_string(),
        SampleShape {
            channels: features,
            height: 1,
            width: 1,
        },
        (0..n as u64).collect(),
        labels,
        Samples::F32(values),
    ))
}
