//! Encoded images brought to a student's input size the first time each is read, and kept
//! for every later read: in memory, or in a file of fixed-size rows when memory would not
//! hold them. Nothing is decoded before training starts; the first epoch decodes (in
//! parallel, batch by batch) and the next ones read the kept bytes.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use distill_core::Preprocess;

use crate::DataError;
use crate::dataset::EncodedImage;

/// Where the resized samples are kept.
#[derive(Debug)]
enum Kept {
    /// One slot per row, filled once.
    Memory(Vec<OnceLock<Box<[u8]>>>),
    /// Row `r` at byte `r * sample_len` of the file; `written[r]` once it is there.
    File {
        path: PathBuf,
        file: std::fs::File,
        written: Vec<AtomicBool>,
    },
}

/// The store behind [`ResizedSamples`]: the source images by row and what became of them.
#[derive(Debug)]
struct Store {
    images: Vec<EncodedImage>,
    /// The channels the images decode to (the split's).
    channels: usize,
    /// The decoding, resizing and cropping that makes a student's input.
    geometry: Preprocess,
    sample_len: usize,
    kept: Kept,
}

/// Samples of a split of encoded images, each resized on its first read and kept.
/// Clones and selections share the store.
#[derive(Debug, Clone)]
pub struct ResizedSamples {
    store: Arc<Store>,
    /// The store row of each sample; none: sample `i` is row `i`.
    rows: Option<Arc<Vec<usize>>>,
}

impl ResizedSamples {
    /// A store of `images` (decoding into `channels` planes) resized by `geometry` to
    /// `sample_len` bytes each, kept in memory, or in a file created (or replaced) at
    /// `file`.
    pub(crate) fn new(
        images: Vec<EncodedImage>,
        channels: usize,
        geometry: Preprocess,
        sample_len: usize,
        file: Option<&Path>,
    ) -> Result<ResizedSamples, DataError> {
        let rows = images.len();
        let kept = match file {
            None => Kept::Memory((0..rows).map(|_| OnceLock::new()).collect()),
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(path)
                    .map_err(|e| DataError::io(path, e))?;
                Kept::File {
                    path: path.to_path_buf(),
                    file,
                    written: (0..rows).map(|_| AtomicBool::new(false)).collect(),
                }
            }
        };
        Ok(ResizedSamples {
            store: Arc::new(Store {
                images,
                channels,
                geometry,
                sample_len,
                kept,
            }),
            rows: None,
        })
    }

    fn row(&self, i: usize) -> usize {
        self.rows.as_ref().map_or(i, |rows| rows[i])
    }

    /// The source image of sample `i`.
    pub(crate) fn image(&self, i: usize) -> &EncodedImage {
        &self.store.images[self.row(i)]
    }

    /// The file the samples are kept in, if they are kept in one.
    pub fn file(&self) -> Option<&Path> {
        match &self.store.kept {
            Kept::File { path, .. } => Some(path),
            Kept::Memory(_) => None,
        }
    }

    /// Whether sample `i` has been brought to the student's size (and is kept).
    pub(crate) fn is_kept(&self, i: usize) -> bool {
        let row = self.row(i);
        match &self.store.kept {
            Kept::Memory(slots) => slots[row].get().is_some(),
            Kept::File { written, .. } => written[row].load(Ordering::Acquire),
        }
    }

    /// Sample `i` (id `id`, label `label`, called `name` in an error when it is not a file)
    /// at the student's size into `out`: the kept bytes, or the image decoded and resized
    /// now (and kept).
    pub(crate) fn read(
        &self,
        i: usize,
        (id, label): (u64, i32),
        name: impl Fn() -> PathBuf,
        out: &mut Vec<u8>,
    ) -> Result<(), DataError> {
        let s = &*self.store;
        let row = self.row(i);
        let n = s.sample_len;
        out.resize(n, 0);
        match &s.kept {
            Kept::Memory(slots) => {
                if let Some(bytes) = slots[row].get() {
                    out.copy_from_slice(bytes);
                    return Ok(());
                }
            }
            Kept::File {
                path,
                file,
                written,
            } => {
                if written[row].load(Ordering::Acquire) {
                    return file
                        .read_exact_at(out, (row * n) as u64)
                        .map_err(|e| DataError::io(path, e));
                }
            }
        }
        let image = &s.images[row];
        let (shape, pixels) = image.decode(s.channels, id, label, name)?;
        let (_, resized) = s.geometry.geometry(shape, &pixels);
        out.copy_from_slice(&resized);
        // Two threads may resize the same sample (a mixup partner): both keep the same bytes.
        match &s.kept {
            Kept::Memory(slots) => {
                let _ = slots[row].set(resized.into_boxed_slice());
            }
            Kept::File {
                path,
                file,
                written,
            } => {
                file.write_all_at(out, (row * n) as u64)
                    .map_err(|e| DataError::io(path, e))?;
                written[row].store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// The samples at `positions`, in that order, sharing the store.
    pub(crate) fn select(&self, positions: &[usize]) -> ResizedSamples {
        ResizedSamples {
            store: self.store.clone(),
            rows: Some(Arc::new(positions.iter().map(|&p| self.row(p)).collect())),
        }
    }
}
