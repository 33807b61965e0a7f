//! Progress on the terminal: bars drawn on a terminal and silent in pipes (indicatif hides
//! itself when stderr is not a terminal), and one line per epoch or run.

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
}

impl Reporter {
    /// A reporter that prints per-epoch lines unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Reporter { bar: None, quiet }
    }
}

impl TrainObserver for Reporter {
    fn data_loaded(&mut self, data: &distill_data::Dataset, seconds: f64) {
        report_loaded(data, seconds);
    }

    fn teacher_joined(&mut self, teacher: &TeacherLogits, seconds: f64) {
        let t = &teacher.train;
        let sha = &t.identity.teacher_sha256;
        eprintln!(
            "teacher logits: {} ({} classes, teacher {}, sha256 {}…) {} in {seconds:.2} s",
            t.identity.dir,
            t.classes,
            t.identity.teacher_file,
            &sha[..12.min(sha.len())],
            if t.is_streamed() {
                "indexed for streaming"
            } else {
                "loaded"
            },
        );
    }

    fn training_started(&mut self, plan: &TrainingPlan) {
        let held_out = if plan.held_out > 0 {
            format!(" ({} held out for validation)", plan.held_out)
        } else {
            String::new()
        };
        eprintln!(
            "training {} ({} parameters, {} MACs/sample) on {} samples of {}{held_out}, testing on {}",
            plan.arch,
            plan.stats.params,
            plan.stats.macs,
            plan.train_samples,
            plan.train_source,
            plan.test_samples
        );
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
            eprintln!("{}", epoch_line(m));
        }
    }
}

/// `epoch   3  loss 0.41  (kd …, hard …)  train acc …  test acc …  agreement …  kl …`.
fn epoch_line(m: &EpochMetrics) -> String {
    let mut extra = String::new();
    if let Some(kd) = m.kd_loss {
        extra += &format!("  (kd {kd:.4}, hard {:.4})", m.hard_loss);
    }
    if let Some(v) = m.val_accuracy {
        extra += &format!("  val acc {:.2}%", 100.0 * v);
    }
    let mut teacher = String::new();
    if let (Some(a), Some(kl)) = (m.teacher_agreement, m.test_kl) {
        teacher += &format!("  agreement {:.2}%  kl {kl:.4}", 100.0 * a);
    }
    format!(
        "epoch {:>3}  loss {:.4}{extra}  train acc {:.2}%  test acc {:.2}%{teacher}  {:.1}s  {:.0} samples/s",
        m.epoch,
        m.train_loss,
        100.0 * m.train_accuracy,
        100.0 * m.test_accuracy,
        m.seconds,
        m.samples_per_second
    )
}

impl SweepObserver for Reporter {
    fn checked(&mut self, s: &SweepSummary) {
        let shard = if s.shard.count > 1 {
            format!(", {} of them in shard {}", s.shard_runs, s.shard)
        } else {
            String::new()
        };
        eprintln!(
            "sweep {}: {} configurations, {} runs{shard}; {} of them already finished; {} training samples ({} held out for validation), {} test samples",
            s.dir.display(),
            s.configurations,
            s.runs,
            s.finished,
            s.train_samples,
            s.held_out,
            s.test_samples
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
