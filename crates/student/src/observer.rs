//! What a run tells its caller while it works: the library prints nothing itself.

use distill_data::Dataset;

use crate::{ArchSpec, EpochMetrics, ModelStats, TeacherLogits};

/// Hooks for progress reporting; the library itself prints nothing. Every method does
/// nothing by default.
pub trait TrainObserver {
    /// A split was loaded in `seconds`.
    fn data_loaded(&mut self, _data: &Dataset, _seconds: f64) {}
    /// The teacher's cached logits were joined to the data in `seconds`.
    fn teacher_joined(&mut self, _teacher: &TeacherLogits, _seconds: f64) {}
    /// Training is about to start.
    fn training_started(&mut self, _plan: &TrainingPlan) {}
    /// The run resumes after epoch `from_epoch` of its checkpoint.
    fn resumed(&mut self, _from_epoch: usize) {}
    /// Epoch `epoch` of `epochs` starts over `samples` samples.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _samples: usize) {}
    /// A step over `samples` samples finished with this loss.
    fn batch_done(&mut self, _samples: usize, _loss: f64) {}
    /// An epoch finished (and was checkpointed).
    fn epoch_finished(&mut self, _metrics: &EpochMetrics) {}
}

/// Observer that reports nothing.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// What a run is about to train, for progress reports.
#[derive(Debug, Clone)]
pub struct TrainingPlan {
    /// The architecture.
    pub arch: ArchSpec,
    /// Parameters and multiply-accumulates per sample.
    pub stats: ModelStats,
    /// Samples trained on (the training split without the held-out ones).
    pub train_samples: usize,
    /// Samples held out for validation.
    pub held_out: usize,
    /// `KIND:PATH` of the training data.
    pub train_source: String,
    /// Samples of the test split.
    pub test_samples: usize,
    /// Where the training images at the student's size are read from, when they are kept
    /// in a file rather than in memory.
    pub image_file: Option<std::path::PathBuf>,
}

impl std::fmt::Display for TrainingPlan {
    /// `training ARCH (P parameters, M MACs/sample) on N samples of SOURCE (H held out for
    /// validation), testing on T`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "training {} ({} parameters, {} MACs/sample) on {} samples of {}",
            self.arch, self.stats.params, self.stats.macs, self.train_samples, self.train_source
        )?;
        if self.held_out > 0 {
            write!(f, " ({} held out for validation)", self.held_out)?;
        }
        write!(f, ", testing on {}", self.test_samples)?;
        if let Some(file) = &self.image_file {
            write!(
                f,
                "; images at the student's size read from {}",
                file.display()
            )?;
        }
        Ok(())
    }
}
