//! What to do about an error, in command-line terms. The libraries name settings and files;
//! this adds the flag that sets them and the usual way out.

use distill_cache::CacheError;
use distill_data::{DataError, PreprocessError};
use distill_runtime::RuntimeError;
use distill_student::{RunDirProblem, StudentError};

/// The flag of a setting as the libraries name it: `batch_size` is `--batch-size`.
fn flag(setting: &str) -> String {
    // The validation split's fraction is the only setting whose flag has a prefix.
    let name = if setting == "fraction" {
        "val_fraction"
    } else {
        setting
    };
    format!("--{}", name.replace('_', "-"))
}

/// One hint per error of the chain that has one.
pub fn for_error(err: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = err.chain().filter_map(hint).collect();
    hints.dedup();
    hints
}

fn hint(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = cause.downcast_ref::<PreprocessError>() {
        return Some(format!("set it with {}", flag(e.setting)));
    }
    if let Some(e) = cause.downcast_ref::<distill_sweep::SweepError>() {
        // Transparent wrappers show the inner error, which the chain then skips.
        return match e {
            distill_sweep::SweepError::Student(inner) => hint(inner),
            distill_sweep::SweepError::Data(inner) => hint(inner),
            distill_sweep::SweepError::Cache(inner) => hint(inner),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<StudentError>() {
        return student(e);
    }
    if let Some(e) = cause.downcast_ref::<CacheError>() {
        return cache(e);
    }
    // A boxed data error (the source of `DataError::Split`) is itself in the chain.
    if let Some(e) = cause.downcast_ref::<Box<DataError>>() {
        return data(e);
    }
    if let Some(e) = cause.downcast_ref::<DataError>() {
        return data(e);
    }
    cause.downcast_ref::<RuntimeError>().and_then(runtime)
}

fn student(e: &StudentError) -> Option<String> {
    match e {
        StudentError::Cache(inner) => hint(inner),
        StudentError::Data(inner) => hint(inner),
        StudentError::Preprocess(inner) => hint(inner),
        StudentError::Setting { setting, .. } => Some(format!("set it with {}", flag(setting))),
        StudentError::RunDir {
            reason: RunDirProblem::OtherRun(_),
            ..
        } => Some("choose another --out, or pass --overwrite to replace that run".into()),
        StudentError::RunDir {
            reason: RunDirProblem::NotARun,
            ..
        } => Some("choose another --out".into()),
        StudentError::Cuda(_) => Some("pass --device cpu to train on the CPU".into()),
        StudentError::OtherDevice { began, .. } => Some(format!(
            "pass --device {began}, or --overwrite to start the run over"
        )),
        _ => None,
    }
}

fn cache(e: &CacheError) -> Option<String> {
    match e {
        CacheError::Mismatch { .. } => {
            Some("choose another --out, or pass --overwrite to replace that cache".into())
        }
        CacheError::F16Range { .. } => Some("pass --dtype f32".into()),
        CacheError::Incomplete { .. } => {
            Some("rerun the cache-logits command that made it to finish it".into())
        }
        _ => None,
    }
}

fn data(e: &DataError) -> Option<String> {
    match e {
        DataError::BadImage { .. } => {
            Some("--skip-bad leaves unreadable images out and lists them".into())
        }
        DataError::TestIsTrain { .. } => Some("give --test-dataset or another --test-split".into()),
        DataError::SourceSetting { setting, .. } => Some(format!("name it with {}", flag(setting))),
        DataError::Preprocess(inner) => hint(inner),
        _ => None,
    }
}

fn runtime(e: &RuntimeError) -> Option<String> {
    match e {
        RuntimeError::Cache(inner) => hint(inner),
        RuntimeError::Data(inner) => hint(inner),
        RuntimeError::NonFinite { .. } => {
            Some("pass --allow-nonfinite to store non-finite logits anyway".into())
        }
        RuntimeError::RuntimeNotFound { .. } => Some(
            "run scripts/setup.sh, or set ORT_DYLIB_PATH to a libonnxruntime.so (1.24 or newer)"
                .into(),
        ),
        RuntimeError::Setting { setting, .. } => Some(format!("set it with {}", flag(setting))),
        RuntimeError::InputMismatch { .. } => {
            Some("check --layout, --resize and --channels against the model's input".into())
        }
        RuntimeError::NoCudaProvider { .. } | RuntimeError::CudaLibrary { .. } => Some(
            "run scripts/setup.sh --gpu (the GPU build and its CUDA libraries), or pass --device cpu"
                .into(),
        ),
        RuntimeError::NoGpu(_) | RuntimeError::Cuda { .. } => {
            Some("pass --device cpu to run on the CPU".into())
        }
        RuntimeError::DataChanged { .. } => Some(
            "pass --overwrite to cache the data as it is now, or restore the files it was cached from"
                .into(),
        ),
        _ => None,
    }
}
