//! Everything a training run depends on. Saved as the run's `config.json`; a rerun with the
//! same config resumes, a different one is refused.

use burn::prelude::*;
use distill_data::Preprocess;
use serde::{Deserialize, Serialize};

use crate::{ArchSpec, CacheIdentity, KdLoss, StudentError, Validation};

/// Light augmentation for supervised training (never with cached logits: those belong to
/// the unaugmented images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// Mirror left-right with probability 1/2.
    Flip,
    /// Translate by up to 2 pixels in each direction, filling with zeros.
    Shift,
}

impl std::str::FromStr for Augment {
    type Err = StudentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flip" => Ok(Augment::Flip),
            "shift" => Ok(Augment::Shift),
            _ => Err(StudentError::BadConfig(format!(
                "unknown augmentation '{s}' (flip, shift)"
            ))),
        }
    }
}

/// Where the data came from, recorded so a run can be traced and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataIdentity {
    pub source: String,
    pub split: String,
    pub samples: usize,
    pub fingerprint: String,
}

impl DataIdentity {
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
    pub loss: KdLoss,
    pub cache: CacheIdentity,
    pub test_cache: Option<CacheIdentity>,
}

#[derive(Config, Debug)]
pub struct TrainConfig {
    pub arch: ArchSpec,
    pub preprocess: Preprocess,
    pub num_classes: usize,
    pub train_data: DataIdentity,
    pub test_data: DataIdentity,
    #[config(default = 10)]
    pub epochs: usize,
    #[config(default = 128)]
    pub batch_size: usize,
    /// Peak learning rate of AdamW; a cosine schedule takes it to zero over all steps.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    #[config(default = 42)]
    pub seed: u64,
    #[config(default = "Vec::new()")]
    pub augment: Vec<Augment>,
    /// Knowledge distillation from cached teacher logits; none: supervised training.
    pub distill: Option<DistillConfig>,
    /// Samples of the training split held out for validation (never trained on).
    pub validation: Option<Validation>,
}

impl TrainConfig {
    pub fn validate(&self) -> Result<(), StudentError> {
        let bad = |m: &str| Err(StudentError::BadConfig(m.to_string()));
        if self.epochs == 0 {
            return bad("--epochs must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("--batch-size must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("--lr must be a positive number");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("--weight-decay must be >= 0");
        }
        if self.num_classes < 2 {
            return bad("the labels name fewer than 2 classes");
        }
        if let Some(v) = &self.validation {
            v.validate()?;
        }
        if let Some(d) = &self.distill {
            d.loss.validate()?;
            if !self.augment.is_empty() {
                return bad(
                    "--augment cannot be used with --cache: the cached logits belong to the unaugmented images",
                );
            }
        }
        if self.preprocess.layout != distill_data::Layout::Nchw {
            return bad("students take NCHW input: use --layout nchw");
        }
        Ok(())
    }
}
