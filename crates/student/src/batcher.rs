//! Turns dataset positions into model-ready batches `[batch, C, H, W]`: plain, or through
//! views (a cache's views, or views drawn online from `--augment`), with the hard labels
//! mixed where a view mixes two samples.

use std::collections::HashMap;

use burn::prelude::*;
use distill_data::{Dataset, Preprocess, ViewParams, ViewSpec};

use crate::StudentError;

pub struct Batcher<'a> {
    pub dataset: &'a Dataset,
    pub preprocess: &'a Preprocess,
    /// Augmentation drawn online (empty: none).
    pub augment: &'a ViewSpec,
    /// Position of each sample id, for mixup partners (empty without views).
    by_id: HashMap<u64, usize>,
}

impl<'a> Batcher<'a> {
    /// A batcher of `dataset`; `views` says whether batches go through views (a cache of
    /// views, or online augmentation), which needs the samples indexed by id.
    pub fn new(
        dataset: &'a Dataset,
        preprocess: &'a Preprocess,
        augment: &'a ViewSpec,
        views: bool,
    ) -> Self {
        let by_id = if views || !augment.is_empty() {
            dataset.positions_by_id()
        } else {
            HashMap::new()
        };
        Batcher {
            dataset,
            preprocess,
            augment,
            by_id,
        }
    }

    /// The views of `positions` in `epoch` drawn online from the augmentation, keyed by
    /// (seed, sample id, epoch) so they are reproducible and independent of thread
    /// scheduling; none without augmentation.
    pub fn online_views(
        &self,
        positions: &[usize],
        seed: u64,
        epoch: u64,
    ) -> Option<Vec<ViewParams>> {
        if self.augment.is_empty() {
            return None;
        }
        Some(
            positions
                .iter()
                .map(|&p| self.dataset.draw_view(self.augment, seed, p, epoch))
                .collect(),
        )
    }

    /// Preprocessed images of `positions`, `[positions.len(), C, H, W]`, through `views`
    /// (one per position) when given.
    pub fn images(
        &self,
        positions: &[usize],
        views: Option<&[ViewParams]>,
        device: &Device,
    ) -> Result<Tensor<4>, StudentError> {
        let Some(views) = views else {
            return self.plain_images(positions, device);
        };
        let pairs: Vec<(usize, ViewParams)> = positions
            .iter()
            .copied()
            .zip(views.iter().copied())
            .collect();
        let values = self
            .dataset
            .view_batch(self.preprocess, &pairs, &self.by_id)
            .map_err(|e| match e {
                distill_data::DataError::MissingPartner(missing) => {
                    StudentError::setting("views", missing.to_string())
                }
                other => StudentError::Data(other),
            })?;
        Ok(self.tensor(values, positions.len(), device))
    }

    /// Preprocessed images of `positions` without views, `[positions.len(), C, H, W]`.
    pub fn plain_images(
        &self,
        positions: &[usize],
        device: &Device,
    ) -> Result<Tensor<4>, StudentError> {
        let values = self.dataset.batch(self.preprocess, positions)?;
        Ok(self.tensor(values, positions.len(), device))
    }

    fn tensor(&self, values: Vec<f32>, rows: usize, device: &Device) -> Tensor<4> {
        let s = self.dataset.shape;
        Tensor::from_data(
            TensorData::new(values, [rows, s.channels, s.height, s.width]),
            device,
        )
    }

    /// Labels of `positions`, `[positions.len()]`.
    pub fn labels(&self, positions: &[usize], device: &Device) -> Tensor<1, Int> {
        let labels: Vec<i64> = positions
            .iter()
            .map(|&p| self.dataset.labels[p] as i64)
            .collect();
        Tensor::from_data(TensorData::new(labels, [positions.len()]), device)
    }

    /// The hard targets of views that mix two samples, `[positions.len(), classes]`:
    /// `lambda * onehot(label) + (1 - lambda) * onehot(partner's label)` (one-hot for views
    /// that do not mix); none when no view of the batch mixes.
    pub fn mixed_labels(
        &self,
        positions: &[usize],
        views: Option<&[ViewParams]>,
        classes: usize,
        device: &Device,
    ) -> Option<Tensor<2>> {
        let views = views?;
        if views.iter().all(|v| v.mix.is_none()) {
            return None;
        }
        let mut targets = vec![0f32; positions.len() * classes];
        for (i, (&p, view)) in positions.iter().zip(views).enumerate() {
            let row = &mut targets[i * classes..(i + 1) * classes];
            let label = self.dataset.labels[p] as usize;
            match view.mix {
                Some(mix) => {
                    // Partners were checked to be samples of the data when the views were
                    // joined or drawn.
                    let partner = self.by_id.get(&mix.partner).copied().unwrap_or(p);
                    row[label] += mix.lambda;
                    row[self.dataset.labels[partner] as usize] += 1.0 - mix.lambda;
                }
                None => row[label] = 1.0,
            }
        }
        Some(Tensor::from_data(
            TensorData::new(targets, [positions.len(), classes]),
            device,
        ))
    }
}
