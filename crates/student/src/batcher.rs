//! Turns dataset positions into model-ready batches `[batch, C, H, W]`, optionally augmented.

use burn::prelude::*;
use distill_data::{Dataset, Preprocess, SampleRef};
use rayon::prelude::*;

use crate::Augment;
use crate::rng::SplitMix64;

pub struct Batcher<'a> {
    pub dataset: &'a Dataset,
    pub preprocess: &'a Preprocess,
    pub augment: &'a [Augment],
}

impl Batcher<'_> {
    /// Preprocessed images of `positions`, `[positions.len(), C, H, W]`. Augmentation (if
    /// any) is drawn per sample from `(seed, epoch, position)`, so it is reproducible and
    /// independent of thread scheduling.
    pub fn images(&self, positions: &[usize], device: &Device, seed: u64, epoch: u64) -> Tensor<4> {
        let shape = self.dataset.shape;
        let values = if self.augment.is_empty() {
            self.dataset.batch(self.preprocess, positions)
        } else {
            let n = shape.len();
            let mut out = vec![0f32; positions.len() * n];
            out.par_chunks_mut(n)
                .zip(positions.par_iter())
                .for_each_init(
                    || vec![0u8; n],
                    |scratch, (dst, &pos)| {
                        let mut rng = SplitMix64::derive(seed, epoch, pos as u64);
                        self.dataset.with_sample(pos, |shape, src| match src {
                            SampleRef::U8(bytes) => {
                                augment_into(self.augment, shape, bytes, scratch, &mut rng);
                                self.preprocess
                                    .sample_into(shape, SampleRef::U8(scratch), dst);
                            }
                            // Config validation refuses augmenting float data.
                            SampleRef::F32(_) => self.preprocess.sample_into(shape, src, dst),
                        });
                    },
                );
            out
        };
        Tensor::from_data(
            TensorData::new(
                values,
                [positions.len(), shape.channels, shape.height, shape.width],
            ),
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
}

/// Random flip and/or shift of one `[C, H, W]` byte image into `dst`.
fn augment_into(
    augment: &[Augment],
    shape: distill_data::SampleShape,
    src: &[u8],
    dst: &mut [u8],
    rng: &mut SplitMix64,
) {
    let (h, w) = (shape.height as i64, shape.width as i64);
    let flip = augment.contains(&Augment::Flip) && rng.below(2) == 1;
    let (dy, dx) = if augment.contains(&Augment::Shift) {
        (rng.below(5) as i64 - 2, rng.below(5) as i64 - 2)
    } else {
        (0, 0)
    };
    let plane = (h * w) as usize;
    for c in 0..shape.channels {
        let src = &src[c * plane..(c + 1) * plane];
        let dst = &mut dst[c * plane..(c + 1) * plane];
        for y in 0..h {
            for x in 0..w {
                let sy = y - dy;
                let sx = if flip { w - 1 - (x - dx) } else { x - dx };
                let v = if (0..h).contains(&sy) && (0..w).contains(&sx) {
                    src[(sy * w + sx) as usize]
                } else {
                    0
                };
                dst[(y * w + x) as usize] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distill_data::SampleShape;

    #[test]
    fn flip_then_shift_moves_pixels_as_expected() {
        let shape = SampleShape {
            channels: 1,
            height: 3,
            width: 3,
        };
        let src: Vec<u8> = (1..=9).collect();
        let mut dst = vec![0u8; 9];
        // With only flip enabled, find a seed that flips and check the mirror image.
        for seed in 0..16 {
            let mut rng = SplitMix64::new(seed);
            augment_into(&[Augment::Flip], shape, &src, &mut dst, &mut rng);
            assert!(
                dst == src || dst == vec![3, 2, 1, 6, 5, 4, 9, 8, 7],
                "{dst:?}"
            );
        }
        // A shift moves every kept pixel by one common offset of at most 2 in each axis.
        let shape = SampleShape {
            channels: 1,
            height: 5,
            width: 5,
        };
        let src: Vec<u8> = (1..=25).collect();
        let mut dst = vec![0u8; 25];
        for seed in 0..16 {
            let mut rng = SplitMix64::new(seed);
            augment_into(&[Augment::Shift], shape, &src, &mut dst, &mut rng);
            let offsets: std::collections::BTreeSet<(i64, i64)> = dst
                .iter()
                .enumerate()
                .filter(|&(_, &v)| v != 0)
                .map(|(p, &v)| {
                    let from = (v - 1) as i64;
                    (p as i64 / 5 - from / 5, p as i64 % 5 - from % 5)
                })
                .collect();
            assert_eq!(offsets.len(), 1, "{dst:?}");
            let (dy, dx) = offsets.into_iter().next().unwrap();
            assert!(dy.abs() <= 2 && dx.abs() <= 2);
        }
    }
}
