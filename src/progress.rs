//! Progress on the terminal: bars drawn on a terminal and silent in pipes (indicatif hides
//! itself when stderr is not a terminal), and one line per epoch or run.

use std::time::Instant;

use distill_student::{EpochMetrics, TeacherLogits, TrainObserver, TrainingPlan};
use distill_sweep::{RunDescription, SweepObserver, SweepSummary};
use indicatif::{ProgressBar, ProgressStyle};

use crate::loading::report_loaded;

/// A bar over `total` samples showing throughput and ETA.
pub fn samples_bar(total: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} samples  {per_sec}  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// Peak resident memory of this process (`VmHWM` on Linux), for memory reports.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Training and sweep progress: what was loaded, a bar per epoch, one line of metrics per
/// epoch (unless `quiet`), one line per run of a sweep.
#[derive(Default)]
pub struct Reporter {
    bar: Option<ProgressBar>,
    /// No per-epoch lines (with `--json`).
    pub quiet: bool,
    /// Say how long the first batch took after training started (train-student: the time
    /// to first batch, which the data's first reads are in).
    first_batch: bool,
    /// When training started, until the first batch is reported.
    training_since: Option<Instant>,
}

impl Reporter {
    /// A reporter that prints per-epoch lines unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Reporter {
            quiet,
            ..Reporter::default()
        }
    }

    /// Also prints, once, how long after training started its first batch was done.
    pub fn with_first_batch(mut self) -> Self {
        self.first_batch = true;
        self
    }
}

impl TrainObserver for Reporter {
    fn data_loaded(&mut self, data: &distill_data::Dataset, seconds: f64) {
        report_loaded(data, seconds);
    }

    fn teacher_joined(&mut self, teacher: &TeacherLogits, seconds: f64) {
        eprintln!("teacher logits: {} in {seconds:.2} s", teacher.train);
    }

    fn training_started(&mut self, plan: &TrainingPlan) {
        // From here on the process trains, and keeps freed memory for the next step (see
        // `train_student::run`); the data read between steps lifts that for its pass
        // (`distill_core::returning_large_blocks`).
        distill_core::keep_freed_memory();
        eprintln!("{plan}");
        self.training_since = self.first_batch.then(Instant::now);
    }

    fn resumed(&mut self, from_epoch: usize) {
        eprintln!("resuming after epoch {from_epoch} from the checkpoint");
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, samples: usize) {
        self.bar = Some(samples_bar(
            samples as u64,
            &format!("epoch {epoch}/{epochs}"),
        ));
    }

    fn batch_done(&mut self, samples: usize, loss: f64) {
        if let Some(since) = self.training_since.take() {
            let seconds = since.elapsed().as_secs_f64();
            let line = format!("first batch done {seconds:.2} s after training started");
            match &self.bar {
                Some(bar) if !bar.is_hidden() => bar.println(line),
                _ => eprintln!("{line}"),
            }
        }
        if let Some(bar) = &self.bar {
            bar.inc(samples as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
    }

    fn epoch_finished(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("{m}");
        }
    }
}

impl SweepObserver for Reporter {
    fn checked(&mut self, summary: &SweepSummary) {
        eprintln!("{summary}");
    }

    fn run_skipped(&mut self, index: usize, total: usize, dir: &std::path::Path, holder: &str) {
        eprintln!(
            "[{}/{total}] {} is trained by another process ({holder}); left to it",
            index + 1,
            dir.display()
        );
    }

    fn run_started(&mut self, index: usize, total: usize, run: &RunDescription) {
        eprintln!(
            "[{}/{total}] {} ({} parameters) -> {}",
            index + 1,
            run.what,
            run.stats.params,
            run.dir.display()
        );
    }

    fn run_finished(
        &mut self,
        index: usize,
        total: usize,
        result: &distill_student::RunResult,
        elapsed: f64,
    ) {
        eprintln!(
            "[{}/{total}] done: val {:.2}%, test {:.2}% in {:.0} s (sweep so far {:.1} min)",
            index + 1,
            100.0 * result.val_accuracy.unwrap_or(f64::NAN),
            100.0 * result.test_accuracy,
            result.train_seconds,
            elapsed / 60.0
        );
    }
}
