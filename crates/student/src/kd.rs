//! The distillation loss (Hinton et al. 2015):
//!
//! `L = alpha * T² * KL(softmax(t/T) ‖ softmax(s/T)) + (1 − alpha) * hard(s, y)`
//!
//! `alpha` weights the distillation term (Keras' `Distiller` puts its alpha on the hard
//! term instead). The KL is the batch mean of the per-sample sum over classes (PyTorch's
//! `batchmean`). The T² factor keeps the soft term's gradients at the same scale for every
//! T (they shrink as 1/T² otherwise). Both distributions come from `log_softmax`, which
//! subtracts the row maximum, so no exponential overflows and no log of zero is taken, for
//! any logit magnitude.
//!
//! Against a top-k cache both distributions live on the same support: the teacher's K kept
//! classes plus one tail bucket (the teacher's reconstructed tail, the student's summed
//! probability of every other class), so neither is normalised over classes the other
//! leaves out ([`KdLoss::soft_topk`]).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use distill_data::ParseError;

use crate::StudentError;
use crate::teacher_rows::{TeacherBatch, TopKBatch};

/// The hard-label term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HardLoss {
    /// Cross-entropy with the labels.
    #[default]
    Ce,
    /// Mean squared error between the logits and one-hot labels (as some tutorials do).
    Mse,
}

impl std::str::FromStr for HardLoss {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ce" => Ok(HardLoss::Ce),
            "mse" => Ok(HardLoss::Mse),
            _ => Err(ParseError::new("hard loss", s, "expected ce or mse")),
        }
    }
}

/// How the two terms are computed and mixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KdLoss {
    /// The temperature T that softens both distributions.
    pub temperature: f64,
    /// Weight of the distillation term; `1 - alpha` weights the hard term.
    pub alpha: f64,
    /// The hard-label term.
    pub hard_loss: HardLoss,
    /// Multiply the distillation term by T² (on by default).
    pub t2_scaling: bool,
}

impl Default for KdLoss {
    /// T = 4, alpha = 0.5, cross-entropy, T² scaling on.
    fn default() -> Self {
        KdLoss {
            temperature: 4.0,
            alpha: 0.5,
            hard_loss: HardLoss::Ce,
            t2_scaling: true,
        }
    }
}

/// What the hard-label term compares the student with: class ids, or per-class targets
/// (labels mixed by mixup views, `[batch, classes]`, rows summing to 1).
pub enum HardTargets {
    /// `[batch]` class ids.
    Labels(Tensor<1, Int>),
    /// `[batch, classes]` target distributions.
    Mixed(Tensor<2>),
}

impl From<Tensor<1, Int>> for HardTargets {
    fn from(labels: Tensor<1, Int>) -> Self {
        HardTargets::Labels(labels)
    }
}

impl HardLoss {
    /// The term for `student` logits `[batch, classes]` against `targets`; returns `[1]`.
    /// Mixed targets use cross-entropy with a target distribution (the batch mean of
    /// `-sum(target * log_softmax(student))`) or the squared error to the targets, which
    /// equal the plain terms for one-hot targets.
    pub fn forward(&self, student: Tensor<2>, targets: HardTargets) -> Tensor<1> {
        match (self, targets) {
            (HardLoss::Ce, HardTargets::Labels(labels)) => CrossEntropyLossConfig::new()
                .init(&student.device())
                .forward(student, labels),
            (HardLoss::Ce, HardTargets::Mixed(t)) => {
                (t * log_softmax(student, 1)).sum_dim(1).mean().neg()
            }
            (HardLoss::Mse, targets) => {
                let classes = student.dims()[1];
                let t = match targets {
                    HardTargets::Labels(labels) => labels.one_hot::<2>(classes).float(),
                    HardTargets::Mixed(t) => t,
                };
                (student - t).powi_scalar(2).mean()
            }
        }
    }
}

/// One batch's loss: the total to differentiate and its two terms (unweighted).
pub struct KdTerms {
    /// `alpha * kd + (1 - alpha) * hard`, `[1]`.
    pub total: Tensor<1>,
    /// The distillation term, `[1]`.
    pub kd: Tensor<1>,
    /// The hard-label term, `[1]`.
    pub hard: Tensor<1>,
}

impl KdLoss {
    /// Checks the temperature and alpha; the error names the setting at fault.
    pub fn validate(&self) -> Result<(), StudentError> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(StudentError::setting(
                "temperature",
                format!("temperature {} must be a positive number", self.temperature),
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(StudentError::setting(
                "alpha",
                format!("alpha {} is outside [0, 1]", self.alpha),
            ));
        }
        Ok(())
    }

    /// `T² · KL(softmax(teacher/T) ‖ softmax(student/T))` (without T² when scaling is off),
    /// batch mean of per-sample sums. `[batch, classes]` each; returns `[1]`.
    pub fn soft(&self, student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
        let t = self.temperature;
        let log_q = log_softmax(student.div_scalar(t), 1);
        let log_p = log_softmax(teacher.div_scalar(t), 1);
        self.scaled_kl(log_p, log_q)
    }

    /// `T² · KL(p ‖ q)` (without T² when scaling is off) from log-probabilities over the
    /// same support, batch mean of per-sample sums; returns `[1]`.
    fn scaled_kl(&self, log_p: Tensor<2>, log_q: Tensor<2>) -> Tensor<1> {
        let kl = (log_p.clone().exp() * (log_p - log_q)).sum_dim(1).mean();
        if self.t2_scaling {
            kl.mul_scalar(self.temperature * self.temperature)
        } else {
            kl
        }
    }

    /// The distillation term against a top-k cache's batch: `T² · KL(p ‖ q)` over the
    /// support of K kept classes and a tail bucket, `p` the teacher's reconstructed
    /// log-probabilities at this temperature, `q` the student's probabilities of the kept
    /// classes and of all the others together; no `[batch, classes]` teacher tensor is made.
    pub fn soft_topk(&self, student: Tensor<2>, teacher: TopKBatch) -> Tensor<1> {
        let TopKBatch {
            log_probs: log_p,
            classes,
        } = teacher;
        let t = self.temperature;
        let log_q = log_softmax(student.div_scalar(t), 1);
        let kept_q = log_q.clone().gather(1, classes.clone());
        // log Σ over the classes left out: the kept ones pushed to -1e30 (their exp is 0),
        // shifted by the row maximum. Only [batch, K] teacher values enter.
        let push = Tensor::full(kept_q.dims(), -1e30, &kept_q.device());
        let rest = log_q.scatter(1, classes, push, IndexingUpdateOp::Add);
        let max = rest.clone().max_dim(1).detach();
        let tail_q = (rest - max.clone()).exp().sum_dim(1).log() + max;
        self.scaled_kl(log_p, Tensor::cat(vec![kept_q, tail_q], 1))
    }

    /// The distillation term against a batch of either kind of cache.
    pub fn soft_against(&self, student: Tensor<2>, teacher: TeacherBatch) -> Tensor<1> {
        match teacher {
            TeacherBatch::Dense(t) => self.soft(student, t),
            TeacherBatch::TopK(batch) => self.soft_topk(student, batch),
        }
    }

    /// The hard-label term for `student` logits `[batch, classes]` and `labels` (`[batch]`
    /// class ids, or mixed targets).
    pub fn hard(&self, student: Tensor<2>, labels: impl Into<HardTargets>) -> Tensor<1> {
        self.hard_loss.forward(student, labels.into())
    }

    /// Both terms and their mix. A term with weight 0 is computed for the log but kept out
    /// of the gradient, so `alpha = 0` trains exactly like supervised training.
    pub fn forward(
        &self,
        student: Tensor<2>,
        teacher: impl Into<TeacherBatch>,
        labels: impl Into<HardTargets>,
    ) -> KdTerms {
        let labels = labels.into();
        let teacher = teacher.into();
        let soft = |s: Tensor<2>| self.soft_against(s, teacher.clone());
        let (kd, hard) = match self.alpha {
            0.0 => (soft(student.clone().detach()), self.hard(student, labels)),
            1.0 => (soft(student.clone()), self.hard(student.detach(), labels)),
            _ => (soft(student.clone()), self.hard(student, labels)),
        };
        let total = match self.alpha {
            0.0 => hard.clone(),
            1.0 => kd.clone(),
            a => kd.clone().mul_scalar(a) + hard.clone().mul_scalar(1.0 - a),
        };
        KdTerms { total, kd, hard }
    }
}
