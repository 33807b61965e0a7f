use std::fs::File;
use std::path::Path;

use crate::fault;

/// Writes `path` via a hidden temporary sibling (`.NAME.PID.partial`, so that two processes
/// never share one): `fill` writes the content, then the file is synced and renamed, so the
/// final name only ever holds a complete file. On failure the temporary file is removed; one
/// left by a crash is recognised by [`is_partial`] and cleaned by the next writer.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        fill(&mut file)?;
        file.sync_all()?;
        fault::point("before rename")?;
        std::fs::rename(&tmp, path)?;
        fault::point("after rename")
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `name` is a temporary file [`write_atomic`] writes for the final name `of`
/// (`.OF.PID.partial`).
pub fn is_partial(name: &str, of: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".partial"))
        .and_then(|n| n.strip_prefix(of))
        .and_then(|n| n.strip_prefix('.'))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}
