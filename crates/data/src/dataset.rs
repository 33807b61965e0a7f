use serde::{Deserialize, Serialize};

/// Shape of one decoded sample, channels first: `[channels, height, width]`.
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

/// One split of a dataset, decoded into memory.
///
/// `pixels` holds `[len, channels, height, width]` raw bytes in sample-id order; sample `i`
/// has id `ids[i]` and label `labels[i]`. Ids are stable: they come from the source (the
/// index in an IDX file), never from a shuffle.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Human-readable origin, e.g. `idx:datasets/fashion-mnist`.
    pub source: String,
    pub split: String,
    pub shape: SampleShape,
    pub ids: Vec<u64>,
    pub labels: Vec<i32>,
    pub pixels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Raw bytes of sample at position `i` (not id).
    pub fn sample(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Number of classes implied by the labels (max label + 1).
    pub fn num_classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }

    /// Keeps only the first `n` samples (for quick runs and tests).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.ids.truncate(n);
            self.labels.truncate(n);
            self.pixels.truncate(n * self.shape.len());
            self.pixels.shrink_to_fit(); // give the memory of the dropped samples back
        }
    }

    /// The samples at `positions`, in that order (ids, labels and pixels kept together).
    pub fn select(&self, positions: &[usize]) -> Dataset {
        let n = self.shape.len();
        let mut pixels = Vec::with_capacity(positions.len() * n);
        for &p in positions {
            pixels.extend_from_slice(self.sample(p));
        }
        Dataset {
            source: self.source.clone(),
            split: self.split.clone(),
            shape: self.shape,
            ids: positions.iter().map(|&p| self.ids[p]).collect(),
            labels: positions.iter().map(|&p| self.labels[p]).collect(),
            pixels,
        }
    }

    /// Content hash of the split; see [`crate::fingerprint`].
    pub fn fingerprint(&self) -> String {
        crate::fingerprint(self)
    }
}
