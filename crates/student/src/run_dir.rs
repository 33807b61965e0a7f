//! The run directory: `run.json` (the spec), `config.json`, `metrics.jsonl`, `checkpoint/`
//! (for resuming), and at the end `model.bpk`, `model.onnx` and `result.json`. Every file
//! appears under its final name only when complete (written to a temporary name, synced,
//! renamed). A directory distill made holds the marker `.distill-run`; one process at a time
//! writes it (its lock, `.distill.lock`, dies with the process).
//!
//! A checkpoint is one step: the weights, the optimizer state and the metrics of an epoch
//! are written into `checkpoint/.epoch-NNNNN.partial/`, synced, renamed to
//! `checkpoint/epoch-NNNNN/`, and only then does `checkpoint/state.json` (written
//! atomically) point at it. A crash at any moment leaves the pointer at a complete epoch.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use distill_data::fault;
use distill_data::{DirLock, LOCK_FILE};
use serde::{Deserialize, Serialize};

use crate::error::RunDirProblem;
use crate::{EpochMetrics, Student, StudentError, TrainConfig};

/// The file of a run directory that holds its spec.
pub const SPEC_FILE: &str = "run.json";
/// The lock a sweep process holds on a run it trains (beside the trainer's own lock).
pub const CLAIM_FILE: &str = ".distill.claim";
/// The marker distill writes into every run directory it makes.
pub const MARKER_FILE: &str = ".distill-run";
/// What distill writes in a run directory: all that `--overwrite` ever removes.
const RUN_FILES: &[&str] = &[
    SPEC_FILE,
    "config.json",
    "metrics.jsonl",
    "checkpoint",
    "model.bpk",
    "model.onnx",
    "result.json",
];

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
    /// The lock of a run directory being written.
    lock: Option<Arc<DirLock>>,
}

/// The checkpoint pointer, `checkpoint/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Last finished epoch (1-based).
    pub epoch: usize,
    /// The folder of `checkpoint/` holding that epoch's weights, optimizer and metrics.
    pub dir: String,
}

/// What a checkpoint restores.
pub(crate) struct Restored {
    pub epoch: usize,
    pub model: Student,
    pub optim: ModuleOptimizer,
    pub metrics: Vec<EpochMetrics>,
}

fn problem(path: &Path, reason: RunDirProblem) -> StudentError {
    StudentError::RunDir {
        path: path.to_path_buf(),
        reason,
    }
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> StudentError + '_ {
    move |source| StudentError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StudentError> {
    distill_data::write_atomic(path, |file| file.write_all(bytes)).map_err(write_err(path))
}

/// Writes `value` to `path` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StudentError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| StudentError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, text.as_bytes())
}

/// The files a run keeps its images at the student's size in while it trains, when they
/// do not fit its memory budget.
const IMAGE_FILES: [&str; 2] = [".images-train.u8", ".images-test.u8"];

/// Whether `name` is a temporary file: of a write that did not finish, ours
/// (`.config.json.PID.partial`) or burn's (`model.bpk.PID-N.tmp`), or a training run's
/// image file.
fn is_temporary(name: &str) -> bool {
    let burns = (name.starts_with("model.bpk.") || name.starts_with(".model.bpk"))
        && name.ends_with(".tmp");
    burns
        || IMAGE_FILES.contains(&name)
        || RUN_FILES
            .iter()
            .chain(&[MARKER_FILE])
            .any(|f| distill_data::is_partial(name, f))
}

/// Whether `name` is something distill writes in a run directory (its files, their
/// temporaries, the marker, the locks).
fn is_run_file(name: &str) -> bool {
    [MARKER_FILE, LOCK_FILE, CLAIM_FILE].contains(&name)
        || RUN_FILES.contains(&name)
        || is_temporary(name)
}

/// Removes the temporary files of writes a crash interrupted.
fn remove_temporaries(dir: &Path) -> Result<(), StudentError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        if is_temporary(&entry.file_name().to_string_lossy()) {
            let p = entry.path();
            fs::remove_file(&p).map_err(write_err(&p))?;
        }
    }
    Ok(())
}

/// The names in `dir` that distill did not write.
fn foreign_entries(dir: &Path) -> Result<Vec<String>, StudentError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|source| StudentError::Read {
        path: dir.to_path_buf(),
        source,
    })? {
        let name = entry
            .map_err(|source| StudentError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !is_run_file(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Syncs a file or folder to disk.
fn sync(path: &Path) -> Result<(), StudentError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(write_err(path))
}

impl RunDir {
    /// A run directory to read (a sweep's finished runs); it takes no lock.
    pub fn at(path: &Path) -> RunDir {
        RunDir {
            path: path.to_path_buf(),
            lock: None,
        }
    }

    /// Opens `path` for a run of `config`, holding its lock: a second process writing the
    /// same directory is refused at once, naming the holder. A new or empty directory (or
    /// one holding only a run spec) is initialised; one that holds the same config is reused
    /// (the run resumes); one holding another run is refused unless `overwrite`, which
    /// removes the files distill wrote there and nothing else. A directory distill did not
    /// make is never written to.
    pub fn prepare(
        path: &Path,
        config: &TrainConfig,
        overwrite: bool,
    ) -> Result<Self, StudentError> {
        let config_json = serde_json::to_value(config).map_err(|source| StudentError::Json {
            path: path.join("config.json"),
            source,
        })?;
        if path.exists() {
            if !path.is_dir() {
                return Err(problem(path, RunDirProblem::NotADirectory));
            }
            let ours = path.join(MARKER_FILE).exists();
            let holds_run = path.join("config.json").exists();
            if !ours && (holds_run || !foreign_entries(path)?.is_empty()) {
                return Err(problem(path, RunDirProblem::NotARun));
            }
        }
        fs::create_dir_all(path).map_err(write_err(path))?;
        let lock = DirLock::try_acquire(path, LOCK_FILE, "training a student")
            .map_err(StudentError::Lock)?;
        let run = RunDir {
            path: path.to_path_buf(),
            lock: Some(Arc::new(lock)),
        };
        remove_temporaries(path)?;
        if let Ok(text) = fs::read_to_string(run.config_path()) {
            if !overwrite {
                run.check_same(&text, &config_json)?;
                return Ok(run);
            }
            run.clear()?;
        }
        write_atomic(&path.join(MARKER_FILE), b"a distill run directory\n")?;
        fs::create_dir_all(run.checkpoint_dir()).map_err(write_err(&run.checkpoint_dir()))?;
        write_json(&run.config_path(), &config_json)?;
        Ok(run)
    }

    /// Removes what distill wrote here (never the spec a sweep handed in, never another file).
    fn clear(&self) -> Result<(), StudentError> {
        for name in RUN_FILES.iter().filter(|&&f| f != SPEC_FILE) {
            let p = self.path.join(name);
            let removed = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(write_err(&p)(e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses a directory whose `config.json` (`text`) differs from `config`.
    fn check_same(&self, text: &str, config: &serde_json::Value) -> Result<(), StudentError> {
        let old: serde_json::Value =
            serde_json::from_str(text).map_err(|source| StudentError::Json {
                path: self.config_path(),
                source,
            })?;
        let mut diffs = Vec::new();
        distill_data::json_diff(&old, config, "", &mut diffs);
        if !diffs.is_empty() {
            return Err(problem(
                &self.path,
                RunDirProblem::OtherRun(diffs.join("; ")),
            ));
        }
        Ok(())
    }

    /// `run.json`: the spec the run was made from.
    pub fn spec_path(&self) -> PathBuf {
        self.path.join(SPEC_FILE)
    }
    /// `config.json`: the resolved configuration.
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    /// `metrics.jsonl`: one line per epoch.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    /// `checkpoint/`: the state to resume from.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join("checkpoint")
    }
    /// `model.bpk`: the trained weights.
    pub fn model_path(&self) -> PathBuf {
        self.path.join("model.bpk")
    }
    /// `model.onnx`: the exported student.
    pub fn onnx_path(&self) -> PathBuf {
        self.path.join("model.onnx")
    }
    /// `result.json`: written last; its presence marks a finished run.
    pub fn result_path(&self) -> PathBuf {
        self.path.join("result.json")
    }
    /// The file of the training (or test) images at the student's size, while a run that
    /// keeps them on disk trains (removed when it ends).
    pub fn image_file_path(&self, train: bool) -> PathBuf {
        self.path.join(IMAGE_FILES[usize::from(!train)])
    }

    /// Whether this handle holds the directory's lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// The checkpoint pointer, if there is a checkpoint.
    pub fn checkpoint(&self) -> Result<Option<CheckpointState>, StudentError> {
        let path = self.checkpoint_dir().join("state.json");
        let Ok(text) = fs::read_to_string(&path) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StudentError::Json { path, source })
    }

    /// The checkpoint to resume from, if any, after removing the folders of unfinished
    /// or superseded checkpoints.
    pub(crate) fn resume_point(&self) -> Result<Option<CheckpointState>, StudentError> {
        let state = self.checkpoint()?;
        self.remove_stale(state.as_ref().map(|s| s.dir.as_str()))?;
        Ok(state)
    }

    /// Restores the checkpoint `state` into `model` and `optim` (fresh ones of the run's
    /// config).
    pub(crate) fn restore(
        &self,
        state: &CheckpointState,
        model: Student,
        optim: ModuleOptimizer,
    ) -> Result<Restored, StudentError> {
        let dir = self.checkpoint_dir().join(&state.dir);
        let file = |name: &str| {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(problem(
                    &self.path,
                    RunDirProblem::BrokenCheckpoint(format!("{} is missing", p.display())),
                ))
            }
        };
        let load_err = |path: PathBuf| move |source| StudentError::Load { path, source };
        let model_file = file("model.bpk")?;
        let model = model
            .try_load_file(&model_file)
            .map_err(load_err(model_file.clone()))?;
        let optim_file = file("optim.bpk")?;
        let optim = optim
            .load(&optim_file)
            .map_err(load_err(optim_file.clone()))?;
        let metrics = read_metrics(&file("metrics.jsonl")?)?;
        if metrics.last().map(|m| m.epoch) != Some(state.epoch) {
            return Err(problem(
                &self.path,
                RunDirProblem::BrokenCheckpoint(format!(
                    "{} does not end at epoch {}",
                    dir.join("metrics.jsonl").display(),
                    state.epoch
                )),
            ));
        }
        Ok(Restored {
            epoch: state.epoch,
            model,
            optim,
            metrics,
        })
    }

    /// Checkpoints `epoch` in one step (see the module's documentation), then rewrites
    /// `metrics.jsonl` for the reader.
    pub(crate) fn save_checkpoint(
        &self,
        epoch: usize,
        model: &Student,
        optim: &ModuleOptimizer,
        metrics: &[EpochMetrics],
    ) -> Result<(), StudentError> {
        let name = format!("epoch-{epoch:05}");
        let root = self.checkpoint_dir();
        let tmp = root.join(format!(".{name}.partial"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(write_err(&tmp))?;
        let save_err = |path: PathBuf| move |source| StudentError::Save { path, source };
        let (model_file, optim_file) = (tmp.join("model.bpk"), tmp.join("optim.bpk"));
        model
            .clone()
            .save_file(&model_file)
            .map_err(save_err(model_file.clone()))?;
        optim
            .save(&optim_file)
            .map_err(save_err(optim_file.clone()))?;
        write_atomic(&tmp.join("metrics.jsonl"), &metrics_text(metrics)?)?;
        for p in [&model_file, &optim_file, &tmp] {
            sync(p)?;
        }
        fault::point("checkpoint written").map_err(write_err(&tmp))?;
        let dir = root.join(&name);
        if dir.exists() {
            // Left by a crash after the rename and before the pointer: not pointed at.
            fs::remove_dir_all(&dir).map_err(write_err(&dir))?;
        }
        fs::rename(&tmp, &dir).map_err(write_err(&dir))?;
        sync(&root)?;
        fault::point("checkpoint renamed").map_err(write_err(&dir))?;
        write_json(
            &root.join("state.json"),
            &CheckpointState {
                epoch,
                dir: name.clone(),
            },
        )?;
        self.remove_stale(Some(&name))?;
        write_atomic(&self.metrics_path(), &metrics_text(metrics)?)
    }

    /// Rewrites `metrics.jsonl` with `metrics`, one object per line.
    pub fn write_metrics(&self, metrics: &[EpochMetrics]) -> Result<(), StudentError> {
        write_atomic(&self.metrics_path(), &metrics_text(metrics)?)
    }

    /// Removes the checkpoint folders other than `keep` (older epochs, unfinished ones).
    fn remove_stale(&self, keep: Option<&str>) -> Result<(), StudentError> {
        let root = self.checkpoint_dir();
        let Ok(entries) = fs::read_dir(&root) else {
            return Ok(());
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with("epoch-") || name.starts_with(".epoch-");
            if ours && Some(name.as_str()) != keep {
                let p = entry.path();
                fs::remove_dir_all(&p).map_err(write_err(&p))?;
            }
            if distill_data::is_partial(&name, "state.json") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Writes `value` to `path` as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), StudentError> {
        write_json(path, value)
    }
}

/// `metrics` as JSON lines.
fn metrics_text(metrics: &[EpochMetrics]) -> Result<Vec<u8>, StudentError> {
    let mut text = String::new();
    for m in metrics {
        let line = serde_json::to_string(m).map_err(|source| StudentError::Json {
            path: PathBuf::from("metrics.jsonl"),
            source,
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text.into_bytes())
}

/// The metrics of a `metrics.jsonl` file.
fn read_metrics(path: &Path) -> Result<Vec<EpochMetrics>, StudentError> {
    let text = fs::read_to_string(path).map_err(|source| StudentError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .map(|line| {
            serde_json::from_str(line).map_err(|source| StudentError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}
