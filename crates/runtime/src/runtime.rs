//! Locating and loading `libonnxruntime.so` (ort's `load-dynamic`): ort cannot download
//! binaries here, so `scripts/setup.sh` unpacks the library from the `onnxruntime` wheel.

use std::path::PathBuf;
use std::sync::Mutex;

use ort::environment::Environment;

use crate::RuntimeError;

const LIB_NAME: &str = "libonnxruntime.so";

/// Candidate library paths, in order: `ORT_DYLIB_PATH`; next to the executable; the set-up
/// location `.onnxruntime/` in the working directory; the set-up location of the checkout
/// this binary was built from.
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        out.push(dir.join(LIB_NAME));
    }
    out.push(PathBuf::from(".onnxruntime").join(LIB_NAME));
    out.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.onnxruntime")
            .join(LIB_NAME),
    );
    out
}

/// The first existing runtime library among the candidates.
pub fn locate_runtime() -> Result<PathBuf, RuntimeError> {
    let all = candidates();
    // ORT_DYLIB_PATH, when set, is authoritative: a wrong value is an error, not a fallback.
    if std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()) && !all[0].is_file() {
        return Err(RuntimeError::RuntimeNotFound {
            searched: format!("ORT_DYLIB_PATH={}", all[0].display()),
        });
    }
    all.iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| RuntimeError::RuntimeNotFound {
            searched: all
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use. ONNX
/// Runtime allows one environment per process.
pub fn environment() -> Result<Environment, RuntimeError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = locate_runtime()?;
    let load_err = |source: Box<dyn std::error::Error + Send + Sync>| RuntimeError::RuntimeLoad {
        path: path.clone(),
        source,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.into()))?
        .with_name("distill")
        .build()
        .map_err(|e| load_err(e.into()))?;
    *slot = Some(env.clone());
    Ok(env)
}
