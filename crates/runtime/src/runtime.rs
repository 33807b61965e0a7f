//! Locating and loading `libonnxruntime.so` (ort's `load-dynamic`): ort cannot download
//! binaries here, so `scripts/setup.sh` unpacks the library from the `onnxruntime` wheel
//! (and `scripts/setup.sh --gpu` the GPU build from the `onnxruntime-gpu` wheel).

use std::path::PathBuf;
use std::sync::Mutex;

use ort::environment::Environment;

use distill_data::ComputeDevice;

use crate::RuntimeError;

const LIB_NAME: &str = "libonnxruntime.so";

/// Where `scripts/setup.sh` unpacks the CPU build of ONNX Runtime, and `scripts/setup.sh
/// --gpu` its GPU build (`onnxruntime-gpu`, with its CUDA provider and the CUDA libraries).
const CPU_DIR: &str = ".onnxruntime";
const GPU_DIR: &str = ".onnxruntime-gpu";

/// Candidate library paths, in order: `ORT_DYLIB_PATH`; next to the executable; the set-up
/// location in the working directory; the set-up location of the checkout this binary was
/// built from. For a GPU (`gpu`), the GPU build's set-up locations come before the CPU
/// build's.
fn candidates(gpu: bool) -> Vec<PathBuf> {
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
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs: &[&str] = if gpu { &[GPU_DIR, CPU_DIR] } else { &[CPU_DIR] };
    for dir in dirs {
        out.push(PathBuf::from(dir).join(LIB_NAME));
        out.push(checkout.join(dir).join(LIB_NAME));
    }
    out
}

/// The first existing runtime library among the candidates (the CPU build's places).
pub fn locate_runtime() -> Result<PathBuf, RuntimeError> {
    locate_runtime_for(ComputeDevice::Cpu)
}

/// The first existing runtime library among the candidates for `device`.
fn locate_runtime_for(device: ComputeDevice) -> Result<PathBuf, RuntimeError> {
    let all = candidates(device.is_cuda());
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

static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use. ONNX
/// Runtime allows one environment per process.
pub fn environment() -> Result<Environment, RuntimeError> {
    environment_for(ComputeDevice::Cpu).map(|(env, _)| env)
}

/// The process-wide environment and the library it was loaded from, loading the library
/// for `device` on first use (a GPU prefers the GPU build). Once loaded, the library stays.
pub(crate) fn environment_for(
    device: ComputeDevice,
) -> Result<(Environment, PathBuf), RuntimeError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(loaded) = slot.as_ref() {
        return Ok(loaded.clone());
    }
    let path = locate_runtime_for(device)?;
    let load_err = |source: Box<dyn std::error::Error + Send + Sync>| RuntimeError::RuntimeLoad {
        path: path.clone(),
        source,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.into()))?
        .with_name("distill")
        .build()
        .map_err(|e| load_err(e.into()))?;
    *slot = Some((env.clone(), path.clone()));
    Ok((env, path))
}
