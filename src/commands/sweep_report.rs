//! `distill sweep report DIR`: the report of a sweep from the runs finished so far.
//! Every model (each student architecture once, and the teacher) is timed in this one
//! process, in interleaved rounds, so latencies compare fairly.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use distill_student::{RunDir, RunResult, TeacherTargets, accuracy};
use distill_sweep::{Budget, FinishedRun, Measure, Report, TeacherRow, plan};
use distill_teacher::{
    InferencePlan, LatencyProbe, OnnxModel, initializer_elements, model_preprocess,
};
use serde::Serialize;

use crate::commands::sweep::SweepDefinition;

/// Options of the report, shared by `sweep` (which writes it at the end) and `sweep report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportOptions {
    /// The teacher's ONNX model, opened only to measure the teacher row (size, latency);
    /// the teacher is never loaded for training [default: the one recorded by the sweep].
    #[arg(long, value_name = "M.onnx")]
    pub teacher: Option<PathBuf>,
    /// Pick the most accurate student (validation) with at most this batch-1 latency, in
    /// milliseconds per sample.
    #[arg(long, value_name = "MS")]
    pub budget_latency: Option<f64>,
    /// Pick the most accurate student (validation) with at most this many parameters.
    #[arg(long, value_name = "N")]
    pub budget_params: Option<u64>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The sweep directory (holding sweep.json).
    dir: PathBuf,
    #[command(flatten)]
    options: ReportOptions,
}

/// Interleaved timing rounds per model; the median is reported.
const ROUNDS: usize = 5;
/// Timed runs per round at batch 1 and at batch 256.
const RUNS_SMALL: usize = 100;
const RUNS_LARGE: usize = 3;

/// One model to time.
struct Timed {
    model: OnnxModel,
    plan: InferencePlan,
    probe: LatencyProbe,
    params: u64,
    bytes: u64,
    small: Vec<f64>,
    large: Vec<f64>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

impl Timed {
    fn open(path: &Path, test: &distill_data::Dataset) -> Result<Timed> {
        let model = OnnxModel::open(path, Some(1))?;
        let preprocess = model_preprocess(&model, test.shape);
        let plan = InferencePlan::new(&model, &preprocess.input_dims(test.shape), None)
            .with_context(|| format!("planning inference of {}", path.display()))?;
        let probe = LatencyProbe::new(&plan, test, &preprocess);
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Timed {
            model,
            plan,
            probe,
            params: initializer_elements(&bytes).unwrap_or(0),
            bytes: bytes.len() as u64,
            small: Vec::new(),
            large: Vec::new(),
        })
    }

    fn round(&mut self) -> Result<()> {
        let l = self
            .probe
            .measure(&mut self.model, &self.plan, RUNS_SMALL, RUNS_LARGE)?;
        self.small.push(l.batch1_ms);
        if let Some(v) = l.batch256_ms {
            self.large.push(v);
        }
        Ok(())
    }

    fn measure(mut self) -> Measure {
        Measure {
            params: self.params,
            onnx_bytes: self.bytes,
            latency_ms_batch1: median(&mut self.small),
            latency_ms_batch256: (!self.large.is_empty()).then(|| median(&mut self.large)),
        }
    }
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

fn write(path: &Path, text: &str) -> Result<()> {
    distill_student::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Copies the picked student to `best.onnx` with its card `best.json`; removes stale ones
/// when nothing fits the budget.
fn write_best(dir: &Path, report: &Report, finished: &[FinishedRun]) -> Result<Option<PathBuf>> {
    let (onnx, card) = (dir.join("best.onnx"), dir.join("best.json"));
    let Some(b) = report.best else {
        for stale in [&onnx, &card] {
            if stale.exists() {
                std::fs::remove_file(stale)
                    .with_context(|| format!("removing {}", stale.display()))?;
            }
        }
        return Ok(None);
    };
    let row = &report.rows[b];
    let run = finished
        .iter()
        .find(|f| f.planned.dir == row.best_run)
        .context("the picked run is not among the finished runs")?;
    let source = dir.join(&run.planned.dir).join("model.onnx");
    let bytes = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    distill_student::write_atomic(&onnx, &bytes)?;
    let card_value = BestCard {
        onnx: onnx.clone(),
        source_run: dir.join(&run.planned.dir),
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
    write(&card, &serde_json::to_string_pretty(&card_value)?)?;
    Ok(Some(onnx))
}

/// Builds the report of the sweep in `dir` from its finished runs, writes `results.csv`,
/// `results.md`, `results.json`, `tradeoff.svg` and (when a student is picked) `best.onnx`
/// with `best.json`, and prints the table.
pub fn write_report(dir: &Path, def: &SweepDefinition, options: &ReportOptions) -> Result<()> {
    let planned = plan(&def.grid);
    let finished: Vec<FinishedRun> = planned
        .iter()
        .filter_map(|p| {
            RunResult::read(&RunDir {
                path: dir.join(&p.dir),
            })
            .map(|result| FinishedRun {
                planned: p.clone(),
                result,
            })
        })
        .collect();
    let test = def.data.load_test()?;

    // The teacher row: accuracy from the cached test logits, size and latency measured.
    let test_targets = match &def.test_cache {
        Some(d) => Some(TeacherTargets::join(d, &test, u64::MAX)?),
        None => None,
    };
    let teacher_accuracy = match &test_targets {
        Some(t) => Some(accuracy(&t.all()?, t.classes, &test.labels)),
        None => None,
    };
    let teacher_path = options.teacher.clone().or_else(|| def.teacher.clone());
    let mut timed: Vec<(String, Timed)> = Vec::new();
    let mut teacher_sha = None;
    if let Some(path) = &teacher_path {
        let sha = distill_data::sha256_file(path)
            .with_context(|| format!("reading the teacher {}", path.display()))?;
        if let Some(t) = &test_targets
            && t.identity.teacher_sha256 != sha
        {
            anyhow::bail!(
                "--teacher {} (sha256 {sha}) is not the teacher that made the cache {} (sha256 {})",
                path.display(),
                t.identity.dir,
                t.identity.teacher_sha256
            );
        }
        timed.push(("teacher".into(), Timed::open(path, &test)?));
        teacher_sha = Some(sha);
    }
    // One model per architecture: every setting and seed of it shares the graph.
    for f in &finished {
        let arch = f.result.arch.clone();
        if !timed.iter().any(|(a, _)| *a == arch) {
            let path = dir.join(&f.planned.dir).join("model.onnx");
            timed.push((arch, Timed::open(&path, &test)?));
        }
    }
    if !timed.is_empty() {
        eprintln!(
            "timing {} models on ONNX Runtime (1 intra-op thread, batch 1 and 256, {ROUNDS} interleaved rounds)",
            timed.len()
        );
    }
    for _ in 0..ROUNDS {
        for (_, t) in &mut timed {
            t.round()?;
        }
    }
    let measures: Vec<(String, Measure)> = timed
        .into_iter()
        .map(|(name, t)| (name, t.measure()))
        .collect();
    let find = |name: &str| measures.iter().find(|(n, _)| n == name).map(|(_, m)| *m);
    let teacher = teacher_path
        .as_ref()
        .map(|file| TeacherRow {
            file: file.clone(),
            sha256: teacher_sha.clone().unwrap_or_default(),
            test_accuracy: teacher_accuracy,
            measure: find("teacher"),
        })
        .or_else(|| {
            test_targets.as_ref().map(|t| TeacherRow {
                file: PathBuf::from(&t.identity.teacher_file),
                sha256: t.identity.teacher_sha256.clone(),
                test_accuracy: teacher_accuracy,
                measure: None,
            })
        });
    let budget = Budget {
        latency_ms: options.budget_latency,
        params: options.budget_params,
    };
    let report = distill_sweep::build(&def.grid, &planned, &finished, &find, teacher, budget);

    let markdown = distill_sweep::markdown(&report);
    write(&dir.join("results.csv"), &distill_sweep::csv(&report))?;
    write(&dir.join("results.md"), &markdown)?;
    write(
        &dir.join("results.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    let plot = dir.join("tradeoff.svg");
    let plot = match distill_sweep::svg(&report) {
        Some(svg) => {
            write(&plot, &svg)?;
            Some(plot)
        }
        None => None,
    };
    let best = write_best(dir, &report, &finished)?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{markdown}");
        println!("table:  {}", dir.join("results.md").display());
        println!("csv:    {}", dir.join("results.csv").display());
        if let Some(p) = &plot {
            println!("plot:   {}", p.display());
        }
        match &best {
            Some(b) => println!(
                "best:   {} (card {})",
                b.display(),
                dir.join("best.json").display()
            ),
            None => println!("best:   none (no finished student fits the budget)"),
        }
    }
    Ok(())
}

pub fn run(args: ReportArgs) -> Result<()> {
    let def = SweepDefinition::read(&args.dir)?;
    write_report(&args.dir, &def, &args.options)
}
