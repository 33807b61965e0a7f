use std::path::Path;

use crate::CacheError;

/// Writes `bytes` to `path` with [`distill_core::write_atomic`], the error naming `path`.
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    use std::io::Write;
    distill_core::write_atomic(path, |file| file.write_all(bytes))
        .map_err(|e| CacheError::io(path, e))
}
