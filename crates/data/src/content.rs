//! What identifies a streamed split (an image folder or Hugging Face Parquet, whose images
//! are read only when a batch needs them) without an extra pass over its files:
//!
//! * its **listing**, known before any image is read: SHA-256 over each sample's id, key
//!   (relative path, or `file:row` for Parquet), size and label, in id order, where the size
//!   is the image file's (image folders) or the whole Parquet file's that holds the row. It
//!   is the split's [fingerprint](Dataset::fingerprint), written `listing:<hex>`. It catches
//!   added, removed, renamed, relabelled and resized files, not a file rewritten at the
//!   same size;
//! * its **content**, known once every file has been read by the work itself (a cache's
//!   batches, a student's first epoch): SHA-256 over the samples' digests in id order, where
//!   a sample's digest is SHA-256 over its id (u64 little-endian), its file's bytes and its
//!   label (i32 little-endian). Digests are kept as files are read, in any order, so a
//!   shuffled epoch computes it as well as an ordered pass. It catches any changed byte.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use distill_core::hex;

use crate::dataset::{EncodedImage, sample_digest};
use crate::{DataError, Dataset, Samples};

/// How a listing fingerprint starts: a fingerprint without it is of the content.
pub const LISTING_PREFIX: &str = "listing:";

/// The hash of a split's listing, fed one sample at a time in id order.
#[derive(Default)]
pub(crate) struct ListingHasher(Sha256);

impl ListingHasher {
    /// Adds sample `id`, its `key`, its file's `size` in bytes and its `label`.
    pub(crate) fn add(&mut self, id: u64, key: &str, size: u64, label: i32) {
        self.0.update(id.to_le_bytes());
        self.0.update((key.len() as u64).to_le_bytes());
        self.0.update(key.as_bytes());
        self.0.update(size.to_le_bytes());
        self.0.update(label.to_le_bytes());
    }

    /// The fingerprint, `listing:<hex>`.
    pub(crate) fn finish(self) -> String {
        format!("{LISTING_PREFIX}{}", hex(&self.0.finalize()))
    }
}

impl EncodedImage {
    /// Keeps the digest of this image's `bytes` as sample `id` with `label`, unless it is
    /// kept already; returns it.
    pub(crate) fn keep_digest(&self, id: u64, bytes: &[u8], label: i32) -> [u8; 32] {
        *self.digest.get_or_init(|| sample_digest(id, bytes, label))
    }

    /// This image's digest as sample `id` with `label`: the one kept when its file was read,
    /// else read from its file now (and kept).
    fn digest(&self, id: u64, label: i32) -> Result<[u8; 32], DataError> {
        match self.digest.get() {
            Some(d) => Ok(*d),
            None => Ok(self.keep_digest(id, &self.bytes.read()?, label)),
        }
    }
}

impl Dataset {
    /// The encoded image of the sample at position `i`, for splits that hold encoded files
    /// (as read, or behind a store of resized samples).
    pub(crate) fn encoded_at(&self, i: usize) -> Option<&EncodedImage> {
        match &self.samples {
            Samples::Encoded(images) => Some(&images[i]),
            Samples::Resized(r) => Some(r.image(i)),
            _ => None,
        }
    }

    /// Whether this split is streamed from files: an image folder or Hugging Face Parquet,
    /// whose images are read when a batch needs them. Its fingerprint is then its listing,
    /// and its [`content`](Dataset::content) is known once its files have been read.
    pub fn is_streamed(&self) -> bool {
        !self.is_empty() && self.encoded_at(0).is_some()
    }

    /// The listing fingerprint of a streamed split, from what memory holds (no file is
    /// read); none for other splits.
    pub(crate) fn listing(&self) -> Option<String> {
        if !self.is_streamed() {
            return None;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.ids[i]);
        let mut hasher = ListingHasher::default();
        for i in order {
            let size = self.encoded_at(i).map_or(0, |image| image.size);
            hasher.add(self.ids[i], &self.keys[i], size, self.labels[i]);
        }
        Some(hasher.finish())
    }

    /// The content hash of a streamed split (see the module docs); none for other splits,
    /// whose fingerprint is their content. Files not read yet are read now, in parallel.
    pub fn content(&self) -> Result<Option<String>, DataError> {
        self.content_of(&(0..self.len()).collect::<Vec<_>>())
    }

    /// [`Dataset::content`] of the samples at `positions` alone (the samples of one cache
    /// part), in id order.
    pub fn content_of(&self, positions: &[usize]) -> Result<Option<String>, DataError> {
        if !self.is_streamed() {
            return Ok(None);
        }
        let mut order = positions.to_vec();
        order.sort_by_key(|&i| self.ids[i]);
        let digests: Vec<[u8; 32]> = order
            .par_iter()
            .map(|&i| match self.encoded_at(i) {
                Some(image) => image.digest(self.ids[i], self.labels[i]),
                None => Ok([0; 32]), // a streamed split holds encoded images only
            })
            .collect::<Result<_, _>>()?;
        let mut h = Sha256::new();
        for d in &digests {
            h.update(d);
        }
        Ok(Some(hex(&h.finalize())))
    }

    /// Whether `recorded`, a fingerprint a cache or run recorded, is this split's. One
    /// recorded before splits were streamed (an image folder's content, without the
    /// `listing:` prefix) is checked against the content, which reads every file.
    pub fn fingerprint_matches(&self, recorded: &str) -> Result<bool, DataError> {
        if recorded == self.fingerprint() {
            return Ok(true);
        }
        if self.is_streamed() && !recorded.starts_with(LISTING_PREFIX) {
            return Ok(recorded == self.try_content_fingerprint()?);
        }
        Ok(false)
    }
}
