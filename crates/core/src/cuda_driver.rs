//! Whether a CUDA GPU can be had, asked of the NVIDIA driver itself before ONNX Runtime's
//! CUDA provider or burn's CUDA backend touches it (the backend panics where the driver is
//! missing; the provider's messages speak of CUDA error codes): the driver library
//! `libcuda.so.1` is loaded, initialised, and asked how many GPUs it sees.

use std::ffi::{CStr, c_char, c_int, c_void};

/// The driver library: installed with the NVIDIA driver, never by a wheel or the toolkit.
const DRIVER: &CStr = c"libcuda.so.1";

/// `Ok` when CUDA GPU `index` is there; otherwise what is missing, in words.
pub fn check_gpu(index: u32) -> Result<(), String> {
    // SAFETY: dlopen/dlsym are called with NUL-terminated names; the symbols are called
    // with the signatures of the CUDA driver API (cuInit(unsigned), cuDeviceGetCount(int*)).
    unsafe {
        let lib = libc::dlopen(DRIVER.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if lib.is_null() {
            return Err(format!(
                "the NVIDIA driver library libcuda.so.1 cannot be loaded ({}): is there an NVIDIA GPU with its driver installed?",
                last_dl_error()
            ));
        }
        let init = symbol(lib, c"cuInit")?;
        let count = symbol(lib, c"cuDeviceGetCount")?;
        let init: extern "C" fn(u32) -> c_int = std::mem::transmute::<*mut c_void, _>(init);
        let count: extern "C" fn(*mut c_int) -> c_int =
            std::mem::transmute::<*mut c_void, _>(count);
        let status = init(0);
        if status != 0 {
            return Err(format!(
                "the NVIDIA driver did not start (cuInit returned CUDA error {status}; 100 means no GPU is visible, e.g. CUDA_VISIBLE_DEVICES hides them)"
            ));
        }
        let mut gpus: c_int = 0;
        let status = count(&mut gpus);
        if status != 0 {
            return Err(format!(
                "the NVIDIA driver could not count the GPUs (CUDA error {status})"
            ));
        }
        if index as i64 >= gpus as i64 {
            return Err(format!(
                "cuda:{index} asked for, but the driver sees {gpus} GPU(s) (cuda:0 to cuda:{})",
                (gpus - 1).max(0)
            ));
        }
    }
    Ok(())
}

/// `name` in `lib`, or an error naming it.
unsafe fn symbol(lib: *mut c_void, name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: `lib` is a handle from dlopen and `name` is NUL-terminated.
    let ptr = unsafe { libc::dlsym(lib, name.as_ptr()) };
    if ptr.is_null() {
        return Err(format!(
            "libcuda.so.1 has no {} (too old a driver?)",
            name.to_string_lossy()
        ));
    }
    Ok(ptr)
}

/// The dynamic loader's last message.
unsafe fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by the loader.
    let text: *const c_char = unsafe { libc::dlerror() };
    if text.is_null() {
        return "no reason given".into();
    }
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No machine has GPU number u32::MAX: with a driver the count is named, without one
    /// the driver library is.
    #[test]
    fn a_gpu_that_is_not_there_is_named_with_the_reason() {
        let err = check_gpu(u32::MAX).unwrap_err();
        assert!(
            err.contains("libcuda.so.1") || err.contains("GPU(s)") || err.contains("cuInit"),
            "{err}"
        );
    }
}
