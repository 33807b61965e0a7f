//! Augmented views of a dataset's samples: drawn per (seed, sample id, view) and rendered
//! into batches, in parallel. The teacher's cache and the student's training draw and
//! render them here, so both see the same pixels for the same view.

use std::collections::HashMap;

use distill_core::{Preprocess, SampleRef, ViewParams, ViewSpec, render_view};
use rayon::prelude::*;

use crate::{Dataset, Samples};

/// A view whose mixup partner is not a sample of the data (a cache of the whole split
/// used with data cut to fewer samples).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the mixup partner (sample id {partner}) of a view of sample id {sample} is not in the data"
)]
pub struct MissingPartner {
    /// The sample whose view mixes.
    pub sample: u64,
    /// The partner it mixes with.
    pub partner: u64,
}

impl Dataset {
    /// The position of every sample id.
    pub fn positions_by_id(&self) -> HashMap<u64, usize> {
        self.ids
            .iter()
            .enumerate()
            .map(|(p, &id)| (id, p))
            .collect()
    }

    /// `[height, width]` of the sample at position `pos` as stored (before preprocessing).
    pub fn sample_size(&self, pos: usize) -> [usize; 2] {
        match &self.samples {
            Samples::Encoded(images) => [images[pos].height, images[pos].width],
            _ => [self.shape.height, self.shape.width],
        }
    }

    /// View `view` of the sample at `pos`, drawn from `spec` with `seed`; a mixup partner
    /// is any sample of this split.
    pub fn draw_view(&self, spec: &ViewSpec, seed: u64, pos: usize, view: u64) -> ViewParams {
        spec.draw(seed, self.ids[pos], view, self.sample_size(pos), &self.ids)
    }

    /// The views `views` (dataset position and view) preprocessed into one batch, in
    /// parallel, shaped as [`Dataset::batch`] shapes it. `by_id` is
    /// [`Dataset::positions_by_id`], to find mixup partners. Float data is only normalised
    /// (views of float data are refused before any work).
    pub fn view_batch(
        &self,
        preprocess: &Preprocess,
        views: &[(usize, ViewParams)],
        by_id: &HashMap<u64, usize>,
    ) -> Result<Vec<f32>, MissingPartner> {
        let n = preprocess.output_shape(self.shape).len();
        let mut out = vec![0f32; views.len() * n];
        out.par_chunks_mut(n)
            .zip(views.par_iter())
            .try_for_each(|(dst, &(pos, view))| {
                let partner = match view.mix {
                    Some(mix) => Some(by_id.get(&mix.partner).copied().ok_or(MissingPartner {
                        sample: self.ids[pos],
                        partner: mix.partner,
                    })?),
                    None => None,
                };
                self.with_sample(pos, |shape, src| match src {
                    SampleRef::U8(bytes) => match partner {
                        Some(p) => self.with_sample(p, |p_shape, p_src| {
                            let p_bytes = match p_src {
                                SampleRef::U8(b) => b,
                                SampleRef::F32(_) => &[][..],
                            };
                            render_view(
                                preprocess,
                                shape,
                                bytes,
                                &view,
                                Some((p_shape, p_bytes)),
                                dst,
                            )
                        }),
                        None => render_view(preprocess, shape, bytes, &view, None, dst),
                    },
                    SampleRef::F32(_) => preprocess.sample_into(shape, src, dst),
                });
                Ok(())
            })?;
        Ok(out)
    }
}
