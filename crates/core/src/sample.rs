use serde::{Deserialize, Serialize};

/// Shape of one decoded sample, channels first: `[channels, height, width]`.
///
/// Tabular rows (CSV, `[N, F]` arrays) are `[F, 1, 1]`: each feature is a channel, with its
/// own mean and std.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleShape {
    /// Colour channels, or features of a tabular row.
    pub channels: usize,
    /// Rows of pixels (0 for images of different sizes).
    pub height: usize,
    /// Columns of pixels (0 for images of different sizes).
    pub width: usize,
}

impl SampleShape {
    /// Values in one sample.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether a sample holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One sample's values, borrowed, `[C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub enum SampleRef<'a> {
    /// 8-bit values (images, IDX, u8 arrays).
    U8(&'a [u8]),
    /// Float values (f32 arrays, CSV features).
    F32(&'a [f32]),
}

/// A sample left out of a split because it could not be read, and why; listed in cache
/// manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSample {
    /// The relative path or source key of the sample.
    pub key: String,
    /// Why it could not be read.
    pub reason: String,
}
