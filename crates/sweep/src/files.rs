//! Atomic writes of a sweep's files.

use std::path::Path;

use crate::SweepError;

/// Writes `text` to `path` atomically.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), SweepError> {
    write_bytes(path, text.as_bytes())
}

pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    use std::io::Write;
    distill_data::write_atomic(path, |f| f.write_all(bytes)).map_err(|e| SweepError::io(path, e))
}
