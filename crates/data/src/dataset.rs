use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Preprocess;
use crate::image::decode_chw;

/// Shape of one decoded sample, channels first: `[channels, height, width]`.
///
/// Tabular rows (CSV, `[N, F]` arrays) are `[F, 1, 1]`: each feature is a channel, with its
/// own mean and std.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl SampleShape {
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The stored values of a split, in sample order.
#[derive(Debug, Clone)]
pub enum Samples {
    /// `[len, C, H, W]` bytes (IDX, u8 NumPy arrays, and images once resized).
    U8(Vec<u8>),
    /// `[len, C, H, W]` floats (f32 NumPy arrays, CSV features).
    F32(Vec<f32>),
    /// One encoded image file (PNG, JPEG, WebP, BMP) per sample, decoded when a batch is
    /// built so that memory holds the compressed files only. Every image decoded once when
    /// the split was read, so decoding cannot fail later.
    Encoded(Vec<EncodedImage>),
}

/// An image file's bytes and the size it decodes to.
#[derive(Debug, Clone)]
pub struct EncodedImage {
    pub bytes: Vec<u8>,
    pub height: usize,
    pub width: usize,
}

/// A sample left out of a split with `--skip-bad`, and why; listed in cache manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSample {
    /// The relative path or source key of the sample.
    pub key: String,
    pub reason: String,
}

/// One sample's values, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum SampleRef<'a> {
    U8(&'a [u8]),
    F32(&'a [f32]),
}

/// One split of a dataset, in memory.
///
/// Sample `i` has id `ids[i]`, label `labels[i]` and, for file-based sources, key `keys[i]`
/// (its relative path or source key). Ids are stable: they come from the source (the index
/// in an IDX file or array, the rank of the path among the sorted paths), never from a
/// shuffle.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Human-readable origin, e.g. `idx:datasets/fashion-mnist`.
    pub source: String,
    pub split: String,
    /// The common shape of the samples. For images of different sizes, `height` and `width`
    /// are 0 and preprocessing must resize them to one size.
    pub shape: SampleShape,
    pub ids: Vec<u64>,
    pub labels: Vec<i32>,
    /// Relative paths or source keys, for file-based sources; empty otherwise.
    pub keys: Vec<String>,
    pub samples: Samples,
    /// Samples left out with `--skip-bad`.
    pub skipped: Vec<SkippedSample>,
    /// Class names by class id, where the source names them (image folders).
    pub class_names: Vec<String>,
    /// Files of an image folder that are not images by their extension, and not read.
    pub ignored: Vec<String>,
    /// The fingerprint of the source data when `samples` were derived from it (resized
    /// images keep the fingerprint of the files they came from).
    pub(crate) source_fingerprint: Option<String>,
}

impl Dataset {
    /// A dataset of fixed-shape samples without keys.
    pub fn new(
        source: String,
        split: String,
        shape: SampleShape,
        ids: Vec<u64>,
        labels: Vec<i32>,
        samples: Samples,
    ) -> Dataset {
        Dataset {
            source,
            split,
            shape,
            ids,
            labels,
            keys: Vec::new(),
            samples,
            skipped: Vec::new(),
            class_names: Vec::new(),
            ignored: Vec::new(),
            source_fingerprint: None,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether samples are encoded images of different sizes.
    pub fn has_varying_size(&self) -> bool {
        self.shape.height == 0 || self.shape.width == 0
    }

    /// Whether the values are floats rather than bytes.
    pub fn is_float(&self) -> bool {
        matches!(self.samples, Samples::F32(_))
    }

    /// The bytes of fixed-shape byte samples (IDX, u8 arrays), if that is what this is.
    pub fn pixels(&self) -> Option<&[u8]> {
        match &self.samples {
            Samples::U8(v) => Some(v),
            _ => None,
        }
    }

    /// Sample at position `i` (not id) with its shape, decoding an encoded image.
    pub fn with_sample<R>(&self, i: usize, f: impl FnOnce(SampleShape, SampleRef<'_>) -> R) -> R {
        let n = self.shape.len();
        match &self.samples {
            Samples::U8(v) => f(self.shape, SampleRef::U8(&v[i * n..(i + 1) * n])),
            Samples::F32(v) => f(self.shape, SampleRef::F32(&v[i * n..(i + 1) * n])),
            Samples::Encoded(images) => {
                let image = &images[i];
                let shape = SampleShape {
                    channels: self.shape.channels,
                    height: image.height,
                    width: image.width,
                };
                // Every image was decoded when the split was read; a failure here would
                // mean the in-memory bytes changed, so an empty (zero) image is the
                // only sensible stand-in and cannot occur in practice.
                let pixels = decode_chw(&image.bytes, self.shape.channels)
                    .unwrap_or_else(|_| vec![0; shape.len()]);
                f(shape, SampleRef::U8(&pixels))
            }
        }
    }

    /// The bytes the fingerprint covers for sample `i`: the encoded file for images, the
    /// raw values (little-endian for floats) otherwise.
    pub(crate) fn stored_bytes(&self, i: usize, out: &mut Vec<u8>) {
        out.clear();
        let n = self.shape.len();
        match &self.samples {
            Samples::U8(v) => out.extend_from_slice(&v[i * n..(i + 1) * n]),
            Samples::F32(v) => {
                for x in &v[i * n..(i + 1) * n] {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Samples::Encoded(images) => out.extend_from_slice(&images[i].bytes),
        }
    }

    /// Number of classes implied by the labels (max label + 1), or the named classes.
    pub fn num_classes(&self) -> usize {
        let from_labels = self
            .labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        from_labels.max(self.class_names.len())
    }

    /// Keeps only the first `n` samples (for quick runs and tests).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            let positions: Vec<usize> = (0..n).collect();
            *self = self.select(&positions);
        }
    }

    /// The samples at `positions`, in that order (ids, labels, keys and values together).
    pub fn select(&self, positions: &[usize]) -> Dataset {
        let n = self.shape.len();
        let samples = match &self.samples {
            Samples::U8(v) => Samples::U8(gather(v, n, positions)),
            Samples::F32(v) => Samples::F32(gather(v, n, positions)),
            Samples::Encoded(images) => {
                Samples::Encoded(positions.iter().map(|&p| images[p].clone()).collect())
            }
        };
        let mut out = Dataset {
            source: self.source.clone(),
            split: self.split.clone(),
            shape: self.shape,
            ids: positions.iter().map(|&p| self.ids[p]).collect(),
            labels: positions.iter().map(|&p| self.labels[p]).collect(),
            keys: if self.keys.is_empty() {
                Vec::new()
            } else {
                positions.iter().map(|&p| self.keys[p].clone()).collect()
            },
            samples,
            skipped: self.skipped.clone(),
            class_names: self.class_names.clone(),
            ignored: self.ignored.clone(),
            source_fingerprint: None,
        };
        out.refresh_shape();
        out
    }

    /// Recomputes the common size of encoded images (a subset may share one size).
    pub(crate) fn refresh_shape(&mut self) {
        if let Samples::Encoded(images) = &self.samples {
            let first = images.first().map(|i| (i.height, i.width));
            let uniform = images.iter().all(|i| Some((i.height, i.width)) == first);
            let (height, width) = match first {
                Some(hw) if uniform => hw,
                _ => (0, 0),
            };
            self.shape.height = height;
            self.shape.width = width;
        }
    }

    /// The samples brought to the output size and channels of `preprocess` (decoded,
    /// resized, cropped: the geometry of [`Preprocess::geometry`]) as bytes, in parallel,
    /// so that training decodes every image once, not once per epoch. Ids, labels, keys and
    /// the fingerprint stay those of the source. Float data and data already in shape are
    /// returned as they are.
    pub fn into_geometry(self, preprocess: &Preprocess) -> Dataset {
        let in_shape =
            !matches!(self.samples, Samples::Encoded(_)) && preprocess.keeps_geometry(self.shape);
        if self.is_float() || in_shape {
            return self;
        }
        let out = preprocess.output_shape(self.shape);
        let n = out.len();
        let mut values = vec![0u8; self.len() * n];
        values.par_chunks_mut(n).enumerate().for_each(|(i, dst)| {
            self.with_sample(i, |shape, src| {
                if let SampleRef::U8(bytes) = src {
                    let (_, resized) = preprocess.geometry(shape, bytes);
                    dst.copy_from_slice(&resized);
                }
            })
        });
        let fingerprint = self.fingerprint();
        Dataset {
            shape: out,
            samples: Samples::U8(values),
            source_fingerprint: Some(fingerprint),
            ..self
        }
    }

    /// Content hash of the split; see [`crate::fingerprint`].
    pub fn fingerprint(&self) -> String {
        self.source_fingerprint
            .clone()
            .unwrap_or_else(|| crate::fingerprint(self))
    }
}

fn gather<T: Copy>(values: &[T], n: usize, positions: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(positions.len() * n);
    for &p in positions {
        out.extend_from_slice(&values[p * n..(p + 1) * n]);
    }
    out
}
