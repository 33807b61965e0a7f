//! The report of a sweep from its finished runs, written beside them: `results.csv`,
//! `results.md`, `results.json`, `tradeoff.svg`, and the picked student as `best.onnx` with
//! its card `best.json`. Timing the models is the caller's ([`ModelTimer`]), so this crate
//! does not link ONNX Runtime.

use std::path::{Path, PathBuf};

use distill_cache::CacheReader;
use distill_data::{Dataset, DirLock, ModelMeasure};
use distill_student::TeacherTargets;
use serde::Serialize;

use crate::definition::CLAIM_LOCK;
use crate::files::{write, write_bytes};
use crate::report::{Budget, Report, TeacherRow, build};
use crate::{FinishedRun, Sweep, SweepError};

/// Measures ONNX models fairly against one another.
pub trait ModelTimer {
    /// The measurement of each model of `paths`, in order, fed samples of `data`.
    fn measure(
        &mut self,
        paths: &[PathBuf],
        data: &Dataset,
    ) -> Result<Vec<ModelMeasure>, Box<dyn std::error::Error + Send + Sync>>;
}

/// What a report is made with besides the finished runs.
#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    /// The teacher's ONNX file, timed for the teacher row [default: the sweep's].
    pub teacher: Option<PathBuf>,
    /// Limits on the picked student.
    pub budget: Budget,
}

/// A written report and where its files are.
pub struct WrittenReport {
    /// The report.
    pub report: Report,
    /// The report as a Markdown table (also in `results.md`).
    pub markdown: String,
    /// `results.md`.
    pub markdown_file: PathBuf,
    /// `results.csv`.
    pub csv_file: PathBuf,
    /// `tradeoff.svg`, when there was something to plot.
    pub plot_file: Option<PathBuf>,
    /// `best.onnx`, when a student fits the budget.
    pub best: Option<PathBuf>,
    /// `best.json`, beside `best.onnx`.
    pub best_card: PathBuf,
}

/// `best.json`: the picked student and where it came from.
#[derive(Serialize)]
struct BestCard<'a> {
    onnx: PathBuf,
    source_run: PathBuf,
    arch: &'a str,
    temperature: Option<f64>,
    alpha: f64,
    train: &'a str,
    seed: u64,
    val_accuracy: Option<f64>,
    test_accuracy: f64,
    teacher_agreement: Option<f64>,
    latency_ms_batch1: Option<f64>,
    latency_ms_batch256: Option<f64>,
    params: u64,
    onnx_bytes: u64,
    teacher_sha256: Option<String>,
    size_ratio: Option<f64>,
    speed_ratio: Option<f64>,
    accuracy_drop_pp: Option<f64>,
    budget: Budget,
}

fn to_json<T: Serialize>(path: &Path, value: &T) -> Result<String, SweepError> {
    serde_json::to_string_pretty(value).map_err(|source| SweepError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The teacher's accuracy on the test samples the students are tested on, from the test
/// cache joined to them as training joins it, and the teacher's SHA-256.
fn cached_teacher_accuracy(
    dir: &Path,
    test: &Dataset,
) -> Result<(String, Option<f64>), SweepError> {
    let t = TeacherTargets::join(dir, test, u64::MAX)?;
    // The rows as the cache holds them (a top-k cache's are packed): they know their top-1.
    let accuracy = t.format.accuracy(&t.all()?, &test.labels);
    Ok((t.identity.teacher_sha256.clone(), Some(accuracy)))
}

impl Sweep {
    /// Builds the report from the runs finished so far (every shard's), timing the teacher
    /// and one model per architecture with `timer`, and writes its files.
    pub fn write_report(
        &self,
        settings: &ReportSettings,
        timer: &mut dyn ModelTimer,
    ) -> Result<WrittenReport, SweepError> {
        // Shards that finish together take turns: the last to write reads every shard's
        // runs after they finished, so its report, the one left, misses none.
        let _turn = DirLock::acquire(&self.dir, CLAIM_LOCK, "writing the sweep's report")?;
        let finished = self.finished();
        let test = self.definition.data.load_test()?;
        let cached = match &self.definition.test_cache {
            Some(d) => Some(cached_teacher_accuracy(d, &test)?),
            None => None,
        };
        let teacher_path = settings
            .teacher
            .clone()
            .or_else(|| self.definition.teacher.clone());
        let teacher_sha = match &teacher_path {
            Some(path) => Some(self.teacher_sha(path, cached.as_ref().map(|c| c.0.as_str()))?),
            None => None,
        };
        // One model per architecture: every setting and seed of it shares the graph.
        let mut names: Vec<String> = Vec::new();
        let mut paths: Vec<PathBuf> = Vec::new();
        if let Some(p) = &teacher_path {
            names.push("teacher".into());
            paths.push(p.clone());
        }
        for f in &finished {
            if !names.contains(&f.result.arch) {
                names.push(f.result.arch.clone());
                paths.push(self.run_dir(&f.planned).join("model.onnx"));
            }
        }
        let measures = if paths.is_empty() {
            Vec::new()
        } else {
            timer
                .measure(&paths, &test)
                .map_err(|source| SweepError::Timing { source })?
        };
        let find = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|i| measures.get(i).copied())
        };
        let teacher_accuracy = cached.as_ref().and_then(|c| c.1);
        let teacher = match (&teacher_path, &self.definition.test_cache) {
            (Some(file), _) => Some(TeacherRow {
                file: file.clone(),
                sha256: teacher_sha.unwrap_or_default(),
                test_accuracy: teacher_accuracy,
                measure: find("teacher"),
            }),
            (None, Some(dir)) => {
                let reader = CacheReader::open(dir)?;
                let t = &reader.manifest().teacher;
                Some(TeacherRow {
                    file: PathBuf::from(&t.file),
                    sha256: t.sha256.clone(),
                    test_accuracy: teacher_accuracy,
                    measure: None,
                })
            }
            (None, None) => None,
        };
        let report = build(
            &self.definition.grid,
            &self.planned,
            &finished,
            &find,
            teacher,
            settings.budget,
        );
        self.write_files(report, &finished)
    }

    /// The SHA-256 of the teacher file, which must be the teacher of the test cache.
    fn teacher_sha(&self, path: &Path, cached: Option<&str>) -> Result<String, SweepError> {
        let sha = distill_data::sha256_file(path).map_err(|e| SweepError::io(path, e))?;
        if let (Some(cached), Some(dir)) = (cached, &self.definition.test_cache)
            && cached != sha
        {
            return Err(SweepError::OtherTeacher {
                teacher: path.to_path_buf(),
                sha256: sha,
                cache: dir.clone(),
                cache_sha256: cached.to_string(),
            });
        }
        Ok(sha)
    }

    fn write_files(
        &self,
        report: Report,
        finished: &[FinishedRun],
    ) -> Result<WrittenReport, SweepError> {
        let dir = &self.dir;
        let markdown = crate::markdown(&report);
        let (csv_file, markdown_file) = (dir.join("results.csv"), dir.join("results.md"));
        write(&csv_file, &crate::csv(&report))?;
        write(&markdown_file, &markdown)?;
        let json_file = dir.join("results.json");
        write(&json_file, &to_json(&json_file, &report)?)?;
        let plot_file = match crate::svg(&report) {
            Some(svg) => {
                let plot = dir.join("tradeoff.svg");
                write(&plot, &svg)?;
                Some(plot)
            }
            None => None,
        };
        let best = self.write_best(&report, finished)?;
        Ok(WrittenReport {
            report,
            markdown,
            markdown_file,
            csv_file,
            plot_file,
            best,
            best_card: dir.join("best.json"),
        })
    }

    /// Copies the picked student to `best.onnx` with its card `best.json`; removes stale
    /// ones when nothing fits the budget.
    fn write_best(
        &self,
        report: &Report,
        finished: &[FinishedRun],
    ) -> Result<Option<PathBuf>, SweepError> {
        let (onnx, card) = (self.dir.join("best.onnx"), self.dir.join("best.json"));
        let Some(b) = report.best else {
            for stale in [&onnx, &card] {
                if stale.exists() {
                    std::fs::remove_file(stale).map_err(|e| SweepError::io(stale, e))?;
                }
            }
            return Ok(None);
        };
        let row = &report.rows[b];
        let run = finished
            .iter()
            .find(|f| f.planned.dir == row.best_run)
            .ok_or_else(|| SweepError::RunFailed {
                dir: self.dir.join(&row.best_run),
                reason: "the picked run is not among the finished runs".into(),
            })?;
        let source = self.run_dir(&run.planned).join("model.onnx");
        let bytes = std::fs::read(&source).map_err(|e| SweepError::io(&source, e))?;
        write_bytes(&onnx, &bytes)?;
        let value = BestCard {
            onnx: onnx.clone(),
            source_run: self.run_dir(&run.planned),
            arch: &row.arch,
            temperature: row.temperature,
            alpha: row.alpha,
            train: &row.train,
            seed: run.planned.seed,
            val_accuracy: run.result.val_accuracy,
            test_accuracy: run.result.test_accuracy,
            teacher_agreement: run.result.teacher_agreement,
            latency_ms_batch1: row.latency_ms_batch1,
            latency_ms_batch256: row.latency_ms_batch256,
            params: row.params,
            onnx_bytes: bytes.len() as u64,
            teacher_sha256: run.result.teacher_sha256.clone(),
            size_ratio: row.size_ratio,
            speed_ratio: row.speed_ratio,
            accuracy_drop_pp: row.accuracy_drop_pp,
            budget: report.budget,
        };
        write(&card, &to_json(&card, &value)?)?;
        Ok(Some(onnx))
    }
}
