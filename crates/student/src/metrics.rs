//! Per-epoch metrics, one JSON object per line in `metrics.jsonl`.

use serde::{Deserialize, Serialize};

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Mean total loss over the epoch's batches.
    pub train_loss: f64,
    /// Mean distillation term (null without a cache).
    pub kd_loss: Option<f64>,
    /// Mean hard-label term.
    pub hard_loss: f64,
    /// Top-1 accuracy on the training batches (while training).
    pub train_accuracy: f64,
    /// Accuracy on the held-out validation samples (null without a validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// Accuracy on the test split after the epoch.
    pub test_accuracy: f64,
    /// Top-1 agreement with the cached teacher on the test split (null without one).
    pub teacher_agreement: Option<f64>,
    /// Mean KL(teacher || student) at T = 1 on the test split (null without a teacher cache).
    pub test_kl: Option<f64>,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch's training steps (evaluation excluded).
    pub seconds: f64,
    /// Training samples per second of the epoch.
    pub samples_per_second: f64,
}

impl std::fmt::Display for EpochMetrics {
    /// One line: `epoch   3  loss 0.4123  (kd …, hard …)  val acc …  train acc …  test acc …
    /// agreement …  kl …  12.3s  4500 samples/s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epoch {:>3}  loss {:.4}", self.epoch, self.train_loss)?;
        if let Some(kd) = self.kd_loss {
            write!(f, "  (kd {kd:.4}, hard {:.4})", self.hard_loss)?;
        }
        if let Some(v) = self.val_accuracy {
            write!(f, "  val acc {:.2}%", 100.0 * v)?;
        }
        write!(
            f,
            "  train acc {:.2}%  test acc {:.2}%",
            100.0 * self.train_accuracy,
            100.0 * self.test_accuracy
        )?;
        if let (Some(a), Some(kl)) = (self.teacher_agreement, self.test_kl) {
            write!(f, "  agreement {:.2}%  kl {kl:.4}", 100.0 * a)?;
        }
        write!(
            f,
            "  {:.1}s  {:.0} samples/s",
            self.seconds, self.samples_per_second
        )
    }
}
