//! The resolved configuration of a training run, saved as the run's `config.json`: a rerun
//! with the same config resumes, a different one is refused. It is made from a
//! [`RunSpec`](crate::RunSpec) once the data and the caches are known.

use burn::prelude::*;
use distill_data::{Preprocess, ViewSpec};
use serde::{Deserialize, Serialize};

use crate::{ArchSpec, CacheIdentity, KdLoss, StudentError, Validation};

/// Where the data came from, recorded so a run can be traced and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// `KIND:PATH` as given.
    pub source: String,
    /// The split's name.
    pub split: String,
    /// Samples in the split.
    pub samples: usize,
    /// The split's content hash (see `distill_data::fingerprint`).
    pub fingerprint: String,
}

impl DataIdentity {
    /// The identity of `data`.
    pub fn of(data: &distill_data::Dataset) -> Self {
        DataIdentity {
            source: data.source.clone(),
            split: data.split.clone(),
            samples: data.len(),
            fingerprint: data.fingerprint(),
        }
    }
}

/// Distillation settings of a run and the caches it learns from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// The loss and its weights.
    pub loss: KdLoss,
    /// The cache of the training split.
    pub cache: CacheIdentity,
    /// The cache of the test split, for agreement and KL after every epoch.
    pub test_cache: Option<CacheIdentity>,
    /// Whether the training cache is streamed part by part (it did not fit the memory
    /// budget): the epochs then visit the samples in another order, so a run resumed with
    /// another budget would not give the uninterrupted result, and is refused.
    #[serde(default)]
    pub streamed: bool,
}

/// How a student is optimised: AdamW (decoupled weight decay), the learning rate decaying
/// from its peak to zero on a cosine over all steps. The defaults are those of
/// `train-student` and of a sweep grid.
#[derive(Config, Debug, PartialEq)]
pub struct Optimisation {
    /// Passes over the training split.
    #[config(default = 10)]
    pub epochs: usize,
    /// Samples per step.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f64,
}

impl Default for Optimisation {
    fn default() -> Self {
        Optimisation::new()
    }
}

impl Optimisation {
    /// Checks every setting; the error names the setting at fault.
    pub fn validate(&self) -> Result<(), StudentError> {
        if self.epochs == 0 {
            return Err(StudentError::setting("epochs", "epochs must be at least 1"));
        }
        if self.batch_size < 2 {
            return Err(StudentError::setting(
                "batch_size",
                format!(
                    "batch_size must be at least 2 (batch-norm needs two samples per batch), got {}",
                    self.batch_size
                ),
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(StudentError::setting(
                "lr",
                format!("lr must be a positive number, got {}", self.lr),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(StudentError::setting(
                "weight_decay",
                format!("weight_decay must be >= 0, got {}", self.weight_decay),
            ));
        }
        Ok(())
    }
}

/// Everything a training run depends on, resolved: saved as `config.json`.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// The student's architecture.
    pub arch: ArchSpec,
    /// The full preprocessing of the student's input (recorded in its ONNX metadata).
    pub preprocess: Preprocess,
    /// Classes of the output layer.
    pub num_classes: usize,
    /// The training split.
    pub train_data: DataIdentity,
    /// The test split.
    pub test_data: DataIdentity,
    /// Epochs, batch size, learning rate and weight decay.
    #[config(default = "Optimisation::new()")]
    pub optimisation: Optimisation,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    #[config(default = 42)]
    pub seed: u64,
    /// Augmentation drawn online for every sample of every epoch (supervised training; a
    /// cache of views brings its own).
    #[config(default = "ViewSpec::default()")]
    pub augment: ViewSpec,
    /// Knowledge distillation from cached teacher logits; none: supervised training.
    pub distill: Option<DistillConfig>,
    /// Samples of the training split held out for validation (never trained on).
    pub validation: Option<Validation>,
}

impl TrainConfig {
    /// Checks every setting; the error names the setting at fault.
    pub fn validate(&self) -> Result<(), StudentError> {
        self.optimisation.validate()?;
        if self.num_classes < 2 {
            return Err(StudentError::setting(
                "num_classes",
                "the labels name fewer than 2 classes",
            ));
        }
        if let Some(v) = &self.validation {
            v.validate()?;
        }
        if let Some(d) = &self.distill {
            d.loss.validate()?;
        }
        check_augment(&self.augment, self.distill.as_ref().map(|d| d.loss.alpha))?;
        if self.preprocess.layout != distill_data::Layout::Nchw {
            return Err(StudentError::setting(
                "layout",
                "students take NCHW input: the layout must be nchw",
            ));
        }
        Ok(())
    }
}

/// Online augmentation changes the images; cached logits belong to the images the teacher
/// saw (a cache of views carries its augmentation with it). With `alpha` = 0 (a baseline
/// that reads the cache only to report agreement) the logits weigh nothing in training, so
/// online augmentation is allowed. `distilling_alpha` is the distillation weight, if any.
pub(crate) fn check_augment(
    augment: &ViewSpec,
    distilling_alpha: Option<f64>,
) -> Result<(), StudentError> {
    if distilling_alpha.is_some_and(|a| a > 0.0) && !augment.is_empty() {
        return Err(StudentError::setting(
            "augment",
            "online augmentation cannot be combined with distillation from a cache: the cached logits belong to the images the teacher saw (cache augmented views with cache-logits --views K --augment SPEC, and train from that cache)",
        ));
    }
    if augment.plain_first {
        return Err(StudentError::setting(
            "augment",
            "plain-first names the view 0 of a cache of views; online augmentation draws a new view every epoch",
        ));
    }
    Ok(())
}
