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

/// Reads split `split`: every column but the label column is a feature (`f32`), in file
/// order; samples are `[features, 1, 1]` (features are channels, so `--mean`/`--std` can
/// normalise each). Sample ids are the data row indices (0-based,
/// header excluded). A missing or non-numeric value is an error naming line and column.
pub fn read_csv(path: &Path, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
    let file = split_file(path, split)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(&file)
        .map_err(|e| DataError::invalid(&file, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::invalid(&file, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let label_name = options.label_column.as_deref().unwrap_or("label");
    let label_at = headers
        .iter()
        .position(|h| h == label_name)
        .ok_or_else(|| {
            DataError::invalid(
                &file,
                format!(
                    "no label column '{label_name}' (columns: {}); name it with --label-column",
                    headers.join(", ")
                ),
            )
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
        let record = record.map_err(|e| DataError::invalid(&file, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |column: usize, reason: String| {
            DataError::invalid(
                &file,
                format!("line {line}, column '{}': {reason}", headers[column]),
            )
        };
        for (column, field) in record.iter().enumerate() {
            if field.is_empty() {
                return Err(at(
                    column,
                    "missing value (fill or drop missing values first)".into(),
                ));
            }
            if column == label_at {
                // pandas writes integer labels with NaN-free columns as "1", but "1.0"
                // after a float cast: both are class 1.
                let label = field
                    .parse::<f64>()
                    .ok()
                    .filter(|l| *l >= 0.0 && l.fract() == 0.0 && *l <= i32::MAX as f64)
                    .map(|l| l as i32)
                    .ok_or_else(|| {
                        at(
                            column,
                            format!("label '{field}' is not an integer class id"),
                        )
                    })?;
                labels.push(label);
            } else {
                let v: f32 = field
                    .parse()
                    .ok()
                    .filter(|v: &f32| v.is_finite())
                    .ok_or_else(|| at(column, format!("'{field}' is not a finite number")))?;
                values.push(v);
            }
        }
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
