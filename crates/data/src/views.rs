//! Augmented views of a dataset's samples: drawn per (seed, sample id, view) and rendered
//! into batches, in parallel. The teacher's cache and the student's training draw and
//! render them here, so both see the same pixels for the same view.

use std::collections::{HashMap, HashSet};

use distill_core::{Preprocess, SampleRef, SampleShape, ViewParams, ViewSpec, render_view};
use rayon::prelude::*;

use crate::{DataError, Dataset, Samples};

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
    /// [`Dataset::positions_by_id`], to find mixup partners. Encoded images are decoded
    /// once per batch, however many of its views show them. Float data is only normalised
    /// (views of float data are refused before any work).
    pub fn view_batch(
        &self,
        preprocess: &Preprocess,
        views: &[(usize, ViewParams)],
        by_id: &HashMap<u64, usize>,
    ) -> Result<Vec<f32>, DataError> {
        let partners: Vec<Option<usize>> = views
            .iter()
            .map(|&(pos, view)| match view.mix {
                Some(mix) => by_id
                    .get(&mix.partner)
                    .copied()
                    .map(Some)
                    .ok_or(MissingPartner {
                        sample: self.ids[pos],
                        partner: mix.partner,
                    }),
                None => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        let decoded = self.decode_once(
            views
                .iter()
                .map(|v| v.0)
                .chain(partners.iter().flatten().copied()),
        )?;
        let n = preprocess.output_shape(self.shape).len();
        let mut out = vec![0f32; views.len() * n];
        out.par_chunks_mut(n)
            .zip(views.par_iter().zip(partners.par_iter()))
            .try_for_each(|(dst, (&(pos, view), partner))| {
                self.with_decoded(&decoded, pos, |shape, src| match src {
                    SampleRef::U8(bytes) => match partner {
                        Some(p) => self.with_decoded(&decoded, *p, |p_shape, p_src| {
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
                        None => {
                            render_view(preprocess, shape, bytes, &view, None, dst);
                            Ok(())
                        }
                    },
                    SampleRef::F32(_) => {
                        preprocess.sample_into(shape, src, dst);
                        Ok(())
                    }
                })?
            })?;
        Ok(out)
    }

    /// The encoded images at `positions` decoded, each once, in parallel (empty for samples
    /// held decoded).
    fn decode_once(
        &self,
        positions: impl Iterator<Item = usize>,
    ) -> Result<HashMap<usize, (SampleShape, Vec<u8>)>, DataError> {
        if !matches!(self.samples, Samples::Encoded(_)) {
            return Ok(HashMap::new());
        }
        let unique: HashSet<usize> = positions.collect();
        let unique: Vec<usize> = unique.into_iter().collect();
        unique
            .par_iter()
            .map(|&p| {
                let decoded = self.with_sample(p, |shape, src| match src {
                    SampleRef::U8(bytes) => (shape, bytes.to_vec()),
                    SampleRef::F32(_) => (shape, Vec::new()),
                })?;
                Ok((p, decoded))
            })
            .collect()
    }

    /// [`Dataset::with_sample`], from `decoded` where the sample is there.
    fn with_decoded<R>(
        &self,
        decoded: &HashMap<usize, (SampleShape, Vec<u8>)>,
        pos: usize,
        f: impl FnOnce(SampleShape, SampleRef<'_>) -> R,
    ) -> Result<R, DataError> {
        match decoded.get(&pos) {
            Some((shape, bytes)) => Ok(f(*shape, SampleRef::U8(bytes))),
            None => self.with_sample(pos, f),
        }
    }
}
