//! The validation split: a fixed, seeded fraction of the training samples held out of
//! training, so that configurations are compared (and chosen) on data neither trained on
//! nor the test split.

use serde::{Deserialize, Serialize};

use crate::StudentError;
use crate::rng::SplitMix64;

/// How the validation samples are drawn from the training split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Share of the training split held out, in (0, 1).
    pub fraction: f64,
    /// Seed of the draw; the same seed gives the same samples for every run of a sweep.
    pub seed: u64,
}

impl Validation {
    /// Checks the fraction; the error names the setting.
    pub fn validate(&self) -> Result<(), StudentError> {
        if !(self.fraction > 0.0 && self.fraction < 1.0) {
            return Err(StudentError::setting(
                "fraction",
                format!(
                    "the validation fraction must be in (0, 1), got {}",
                    self.fraction
                ),
            ));
        }
        Ok(())
    }

    /// An error unless `samples` leave at least two to train on after the held-out ones.
    pub fn check_room(&self, samples: usize) -> Result<(), StudentError> {
        if samples < 2 || samples - self.count(samples) < 2 {
            return Err(StudentError::setting(
                "fraction",
                format!(
                    "the training split has {samples} samples: too few to hold {} out for validation",
                    self.count(samples)
                ),
            ));
        }
        Ok(())
    }

    /// Number of held-out samples among `samples` (at least one, at most all but one; none
    /// of a single sample).
    pub fn count(&self, samples: usize) -> usize {
        let wanted = (samples as f64 * self.fraction).round() as usize;
        wanted.max(1).min(samples.saturating_sub(1))
    }

    /// Positions of the held-out samples among `samples`, ascending.
    pub fn positions(&self, samples: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..samples).collect();
        SplitMix64::derive(self.seed, 0x0a11_da7e, samples as u64).shuffle(&mut order);
        let mut held = order[..self.count(samples)].to_vec();
        held.sort_unstable();
        held
    }

    /// `mask[p]` is true when position `p` is held out.
    pub fn mask(&self, samples: usize) -> Vec<bool> {
        let mut mask = vec![false; samples];
        for p in self.positions(samples) {
            mask[p] = true;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let v = Validation {
            fraction: 0.1,
            seed: 3,
        };
        let a = v.positions(1000);
        assert_eq!(a.len(), 100);
        assert_eq!(a, v.positions(1000));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        let other = Validation { seed: 4, ..v }.positions(1000);
        assert_ne!(a, other);
        assert_eq!(v.mask(1000).iter().filter(|&&m| m).count(), 100);
    }

    #[test]
    fn bad_fractions_are_refused() {
        for fraction in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(Validation { fraction, seed: 0 }.validate().is_err());
        }
    }
}
