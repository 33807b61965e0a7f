//! Progress bars: drawn on a terminal, silent in pipes (indicatif hides itself when stderr
//! is not a terminal).

use distill_student::{EpochMetrics, TrainObserver};
use indicatif::{ProgressBar, ProgressStyle};

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

/// Training progress: a bar per epoch, then one line of metrics (unless `quiet`).
pub struct EpochBars {
    pub bar: Option<ProgressBar>,
    pub quiet: bool,
}

impl TrainObserver for EpochBars {
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
        if self.quiet {
            return;
        }
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
        eprintln!(
            "epoch {:>3}  loss {:.4}{extra}  train acc {:.2}%  test acc {:.2}%{teacher}  {:.1}s  {:.0} samples/s",
            m.epoch,
            m.train_loss,
            100.0 * m.train_accuracy,
            100.0 * m.test_accuracy,
            m.seconds,
            m.samples_per_second
        );
    }
}
