//! The teacher on a GPU: ONNX Runtime's CUDA execution provider, registered so that a
//! failure is an error saying what is missing, never a silent fall-back to the CPU.
//!
//! The provider lives in the GPU build of ONNX Runtime (`onnxruntime-gpu`), which loads
//! `libonnxruntime_providers_cuda.so` from beside `libonnxruntime.so`, and that needs the
//! CUDA and cuDNN runtime libraries. `scripts/setup.sh --gpu` puts all of them in
//! `.onnxruntime-gpu/` (the CUDA libraries from NVIDIA's `nvidia-*` wheels under
//! `nvidia/*/lib/`); they are loaded here by full path first, so no `LD_LIBRARY_PATH` is
//! needed. A system CUDA install works as well: nothing is preloaded where that folder is
//! absent.

use std::path::{Path, PathBuf};

use ort::ep::{CUDA, ExecutionProvider, ExecutionProviderDispatch};

use crate::RuntimeError;

/// The libraries of the `nvidia-*` wheels that the CUDA provider loads (or that load each
/// other by name at run time, as cuDNN its parts and NVRTC its builtins), by name before
/// the version (`libcudart.so` for `libcudart.so.12`), in an order that loads each
/// library's dependencies before it. Other files there (static archives, `.alt` builds,
/// cuFFTW, NVBLAS) are not loaded.
const PRELOAD_ORDER: [&str; 16] = [
    "libcudart.so",
    "libnvJitLink.so",
    "libnvrtc-builtins.so",
    "libnvrtc.so",
    "libcublasLt.so",
    "libcublas.so",
    "libcufft.so",
    "libcurand.so",
    "libcudnn_graph.so",
    "libcudnn_engines_precompiled.so",
    "libcudnn_engines_runtime_compiled.so",
    "libcudnn_heuristic.so",
    "libcudnn_ops.so",
    "libcudnn_cnn.so",
    "libcudnn_adv.so",
    "libcudnn.so",
];

/// The CUDA execution provider on GPU `device_id`, to be registered with
/// `error_on_failure`, after checking that the library at `library` has one and loading
/// the CUDA libraries set up beside it.
pub(crate) fn cuda_provider(
    device_id: u32,
    library: &Path,
) -> Result<ExecutionProviderDispatch, RuntimeError> {
    if !CUDA::is_available().unwrap_or(false) {
        return Err(RuntimeError::NoCudaProvider {
            library: library.to_path_buf(),
        });
    }
    // The libraries first: a broken set-up is named as such even on a machine without GPU.
    if let Some(dir) = library.parent() {
        preload_cuda_libraries(&dir.join("nvidia"))?;
    }
    distill_data::cuda_driver::check_gpu(device_id).map_err(RuntimeError::NoGpu)?;
    Ok(CUDA::default()
        .with_device_id(device_id as i32)
        .build()
        .error_on_failure())
}

/// The libraries of [`PRELOAD_ORDER`] under `root/*/lib/`, in that order.
fn cuda_libraries(root: &Path) -> Vec<PathBuf> {
    let mut libs: Vec<(usize, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|package| {
            std::fs::read_dir(package.path().join("lib"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            PRELOAD_ORDER
                .iter()
                .position(|base| {
                    name.strip_prefix(base)
                        .is_some_and(|version| version.starts_with('.'))
                })
                .map(|place| (place, entry.path()))
        })
        .collect();
    libs.sort();
    libs.into_iter().map(|(_, path)| path).collect()
}

/// Loads every CUDA library set up under `root` (none when it does not exist), so that the
/// CUDA provider finds them by name; one that does not load is an error naming it.
fn preload_cuda_libraries(root: &Path) -> Result<(), RuntimeError> {
    for lib in cuda_libraries(root) {
        ort::util::preload_dylib(&lib).map_err(|e| RuntimeError::CudaLibrary {
            path: lib.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_libraries_load_dependencies_first() {
        let dir = tempfile::tempdir().unwrap();
        for (package, lib) in [
            ("cudnn", "libcudnn.so.9"),
            ("cudnn", "libcudnn_ops.so.9"),
            ("cudnn", "libcudnn_graph.so.9"),
            ("cublas", "libcublas.so.12"),
            ("cublas", "libcublasLt.so.12"),
            ("cuda_runtime", "libcudart.so.12"),
            ("cufft", "libcufft.so.11"),
            ("cufft", "libcufftw.so.11"),
            ("cuda_nvrtc", "libnvrtc.alt.so.12"),
            ("cuda_runtime", "libcudart_static.a"),
            ("cuda_runtime", "notes.txt"),
        ] {
            let at = dir.path().join(package).join("lib");
            std::fs::create_dir_all(&at).unwrap();
            std::fs::write(at.join(lib), b"").unwrap();
        }
        let names: Vec<String> = cuda_libraries(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "libcudart.so.12",
                "libcublasLt.so.12",
                "libcublas.so.12",
                "libcufft.so.11",
                "libcudnn_graph.so.9",
                "libcudnn_ops.so.9",
                "libcudnn.so.9"
            ]
        );
        assert!(cuda_libraries(&dir.path().join("absent")).is_empty());
    }
}
