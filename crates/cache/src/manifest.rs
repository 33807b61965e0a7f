use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::CacheError;

pub const FORMAT_VERSION: u32 = 1;

/// Element type of the stored logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogitDtype {
    F32,
    F16,
}

/// One finished part file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub file: String,
    pub rows: usize,
    pub sha256: String,
}

/// `manifest.json`. Teacher, dataset and preprocessing descriptions are free-form JSON
/// objects owned by the stages that write them; the cache crate only stores and compares
/// them (it depends on neither the teacher nor the student).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub num_classes: usize,
    pub dtype: LogitDtype,
    /// `dense` in v1.
    pub storage: String,
    pub rows_per_part: usize,
    pub teacher: serde_json::Value,
    pub dataset: serde_json::Value,
    pub preprocess: serde_json::Value,
    pub tool_version: String,
    pub parts: Vec<PartInfo>,
    pub complete: bool,
}

impl Manifest {
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|p| p.rows).sum()
    }

    pub fn read(dir: &Path) -> Result<Self, CacheError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| CacheError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| CacheError::Read {
            path: path.clone(),
            reason: format!("not a distill cache manifest: {e}"),
        })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(CacheError::Read {
                path,
                reason: format!(
                    "cache format version {} (this distill reads version {FORMAT_VERSION})",
                    manifest.format_version
                ),
            });
        }
        Ok(manifest)
    }

    /// Writes `manifest.json` atomically (temporary name, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<(), CacheError> {
        let path = dir.join("manifest.json");
        let text = serde_json::to_vec_pretty(self).map_err(|e| CacheError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::part::write_atomic(&path, |file| {
            use std::io::Write;
            file.write_all(&text).map_err(|e| e.to_string())
        })
    }
}
