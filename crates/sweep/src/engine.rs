//! Running a sweep: check it against its data and caches, claim its directory, then train
//! the runs of a shard one after another. Launching a run is the caller's: the CLI starts
//! `distill train-student --spec run.json` in a process of its own; [`InProcess`] trains in
//! this process.

use std::path::{Path, PathBuf};
use std::time::Instant;

use distill_data::{DirLock, LockError};
use distill_student::{
    CLAIM_FILE, ModelStats, Quiet, RunDir, RunResult, RunSpec, SPEC_FILE, TrainObserver, Validation,
};

use crate::{FinishedRun, PlannedRun, Shard, SweepDefinition, SweepError, plan};

/// Trains one run of a sweep.
pub trait Launcher {
    /// Trains the run whose spec is `spec_file` into `run_dir` (the folder holding it),
    /// returning once it has finished or failed. The sweep reads the run's `result.json`
    /// afterwards to know that it finished.
    fn launch(
        &mut self,
        spec_file: &Path,
        run_dir: &Path,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Trains every run in this process, without progress output. (The CLI prefers a process
/// per run: burn's CPU backend slows down over successive trainings in one process, and a
/// crash in one run cannot take the sweep down.)
pub struct InProcess;

impl Launcher for InProcess {
    fn launch(
        &mut self,
        spec_file: &Path,
        run_dir: &Path,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        RunSpec::read(spec_file)?.execute(run_dir, false, &mut Quiet)?;
        Ok(())
    }
}

/// Progress of a sweep, for reporting; every method does nothing by default.
pub trait SweepObserver: TrainObserver {
    /// The sweep was checked: what it holds and what this shard will do.
    fn checked(&mut self, _summary: &SweepSummary) {}
    /// Run `index` (0-based) of `total` is starting.
    fn run_started(&mut self, _index: usize, _total: usize, _run: &RunDescription) {}
    /// Run `index` of `total` (in `dir`) is left to the process that claimed it (`holder`).
    fn run_skipped(&mut self, _index: usize, _total: usize, _dir: &Path, _holder: &str) {}
    /// Run `index` of `total` finished with `result`; `elapsed` is the shard's time so far.
    fn run_finished(&mut self, _index: usize, _total: usize, _result: &RunResult, _elapsed: f64) {}
}

/// A sweep observer that reports nothing.
impl SweepObserver for Quiet {}

/// What a sweep holds, once checked.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Configurations of the grid.
    pub configurations: usize,
    /// Runs of the grid (configurations × seeds).
    pub runs: usize,
    /// Runs of this shard.
    pub shard_runs: usize,
    /// The shard, when the sweep is split.
    pub shard: Shard,
    /// Runs of this shard that were already finished.
    pub finished: usize,
    /// Training samples per run (the split without the held-out ones).
    pub train_samples: usize,
    /// Samples held out for validation.
    pub held_out: usize,
    /// Samples of the test split.
    pub test_samples: usize,
}

impl std::fmt::Display for SweepSummary {
    /// One line: the grid, this shard's share, what is done, the data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sweep {}: {} configurations, {} runs",
            self.dir.display(),
            self.configurations,
            self.runs
        )?;
        if self.shard.count > 1 {
            write!(f, ", {} of them in shard {}", self.shard_runs, self.shard)?;
        }
        write!(
            f,
            "; {} of them already finished; {} training samples ({} held out for validation), {} test samples",
            self.finished, self.train_samples, self.held_out, self.test_samples
        )
    }
}

/// One run about to train.
#[derive(Debug, Clone)]
pub struct RunDescription {
    /// What it trains, in words.
    pub what: String,
    /// Parameters and multiply-accumulates of its student.
    pub stats: ModelStats,
    /// Its directory.
    pub dir: PathBuf,
}

/// A sweep directory and its definition.
pub struct Sweep {
    /// The sweep directory.
    pub dir: PathBuf,
    /// What it trains.
    pub definition: SweepDefinition,
    /// Every run of the grid, in grid order.
    pub planned: Vec<PlannedRun>,
}

impl Sweep {
    /// The sweep in `dir`, as its `sweep.json` defines it.
    pub fn open(dir: &Path) -> Result<Sweep, SweepError> {
        let definition = SweepDefinition::read(dir)?;
        Ok(Sweep::new(dir, definition))
    }

    fn new(dir: &Path, definition: SweepDefinition) -> Sweep {
        Sweep {
            dir: dir.to_path_buf(),
            planned: plan(&definition.grid),
            definition,
        }
    }

    /// Checks `definition` against its data and caches (loading them as every run will)
    /// and claims `dir` for it: a new directory gets its `sweep.json`, an existing sweep
    /// must have the same settings.
    pub fn create(
        dir: &Path,
        definition: SweepDefinition,
        observer: &mut dyn TrainObserver,
    ) -> Result<(Sweep, Checked), SweepError> {
        let sweep = Sweep::new(dir, definition);
        let checked = sweep.check(observer)?;
        sweep.definition.claim(dir)?;
        Ok((sweep, checked))
    }

    /// Loads the data and caches once, as the first run will, so that a sweep that cannot
    /// train fails before its directory is touched.
    fn check(&self, observer: &mut dyn TrainObserver) -> Result<Checked, SweepError> {
        let first = self.planned.first().ok_or(SweepError::EmptyGrid)?;
        let loaded = self.definition.spec(first).load(observer)?;
        let validation: Validation = self.definition.validation;
        let held_out = validation.count(loaded.train.len());
        let stats = self
            .definition
            .grid
            .configurations
            .iter()
            .map(|c| loaded.stats(&c.arch))
            .collect::<Result<_, _>>()?;
        Ok(Checked {
            stats,
            train_samples: loaded.train.len() - held_out,
            held_out,
            test_samples: loaded.test.len(),
        })
    }

    /// The directory of a planned run.
    pub fn run_dir(&self, run: &PlannedRun) -> PathBuf {
        self.dir.join(&run.dir)
    }

    /// The result of a planned run, if it finished.
    pub fn result(&self, run: &PlannedRun) -> Option<RunResult> {
        RunResult::read(&RunDir::at(&self.run_dir(run)))
    }

    /// Every finished run, in plan order.
    pub fn finished(&self) -> Vec<FinishedRun> {
        self.planned
            .iter()
            .filter_map(|p| {
                self.result(p).map(|result| FinishedRun {
                    planned: p.clone(),
                    result,
                })
            })
            .collect()
    }

    /// Trains the runs of `shard` that have not finished, one after another, each through
    /// `launcher` from the spec written into its directory.
    pub fn run(
        &self,
        checked: &Checked,
        shard: Shard,
        launcher: &mut dyn Launcher,
        observer: &mut dyn SweepObserver,
    ) -> Result<(), SweepError> {
        let mine: Vec<&PlannedRun> = self
            .planned
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.includes(*i))
            .map(|(_, p)| p)
            .collect();
        observer.checked(&SweepSummary {
            dir: self.dir.clone(),
            configurations: self.definition.grid.configurations.len(),
            runs: self.planned.len(),
            shard_runs: mine.len(),
            shard,
            finished: mine.iter().filter(|p| self.result(p).is_some()).count(),
            train_samples: checked.train_samples,
            held_out: checked.held_out,
            test_samples: checked.test_samples,
        });
        let started = Instant::now();
        for (k, p) in mine.iter().enumerate() {
            if self.result(p).is_some() {
                continue;
            }
            let dir = self.run_dir(p);
            std::fs::create_dir_all(&dir).map_err(|e| SweepError::io(&dir, e))?;
            // Another process of this sweep may train the run already: leave it to that one.
            let _claim = match DirLock::try_acquire(&dir, CLAIM_FILE, "a sweep trains this run") {
                Ok(claim) => claim,
                Err(LockError::Busy { holder, .. }) => {
                    observer.run_skipped(k, mine.len(), &dir, &holder);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if self.result(p).is_some() {
                continue; // finished by another process meanwhile
            }
            observer.run_started(
                k,
                mine.len(),
                &RunDescription {
                    what: self.definition.grid.configurations[p.configuration].describe(p.seed),
                    stats: checked.stats[p.configuration],
                    dir: dir.clone(),
                },
            );
            self.launch(p, &dir, launcher)?;
            let result = self.result(p).ok_or_else(|| SweepError::RunFailed {
                dir: dir.clone(),
                reason: "it left no result.json".into(),
            })?;
            observer.run_finished(k, mine.len(), &result, started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Writes the run's spec into its directory and trains it.
    fn launch(
        &self,
        run: &PlannedRun,
        dir: &Path,
        launcher: &mut dyn Launcher,
    ) -> Result<(), SweepError> {
        let spec_file = dir.join(SPEC_FILE);
        self.definition.spec(run).write(&spec_file)?;
        launcher
            .launch(&spec_file, dir)
            .map_err(|source| SweepError::Launch {
                dir: dir.to_path_buf(),
                source,
            })
    }
}

/// What checking a sweep found: the size of its data and of its students.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Parameters and MACs of each configuration's student, in grid order.
    pub stats: Vec<ModelStats>,
    /// Training samples per run.
    pub train_samples: usize,
    /// Samples held out for validation.
    pub held_out: usize,
    /// Samples of the test split.
    pub test_samples: usize,
}
