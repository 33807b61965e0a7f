//! One split of a dataset in memory, and how its samples become model input.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use distill_core::{Preprocess, PreprocessError, SampleRef, SampleShape, SkippedSample, hex};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::DataError;
use crate::decode::decode_chw;
use crate::parquet_images::ParquetCell;
use crate::resized::ResizedSamples;

/// The stored values of a split, in sample order.
#[derive(Debug, Clone)]
pub enum Samples {
    /// `[len, C, H, W]` bytes (IDX, u8 NumPy arrays, and images once resized).
    U8(Vec<u8>),
    /// `[len, C, H, W]` floats (f32 NumPy arrays, CSV features).
    F32(Vec<f32>),
    /// One encoded image file (PNG, JPEG, WebP, BMP) per sample, read and decoded when a
    /// batch is built, so that memory holds file paths (image folders) or the compressed
    /// bytes (Hugging Face Parquet), never the pixels. Each image's header was read when the
    /// split was listed; one whose pixels cannot be decoded is an error naming it.
    Encoded(Vec<EncodedImage>),
    /// Encoded images brought to a model's input size on their first read and kept (in
    /// memory or in a file) for the next ([`Dataset::into_geometry`]).
    Resized(ResizedSamples),
    /// `[len, C, H, W]` bytes in a file, read a sample at a time ([`Dataset::into_geometry_on_disk`]):
    /// memory holds none of them.
    Stored(SampleFile),
}

/// A file of fixed-shape byte samples, `[rows, C, H, W]`, read with positioned reads (so
/// any number of threads read it at once); a selection of its samples reads it through a
/// row index.
#[derive(Debug, Clone)]
pub struct SampleFile {
    path: PathBuf,
    file: Arc<std::fs::File>,
    /// Where row 0 starts (after a `.npy` header, inside a `.npz` archive).
    offset: u64,
    /// The file row of each sample; none: sample `i` is row `i`.
    rows: Option<Arc<Vec<usize>>>,
    /// Rows stored channels last (`[H, W, C]`), with this many channels: each is
    /// transposed to `[C, H, W]` as it is read.
    channels_last: Option<usize>,
}

impl SampleFile {
    /// The samples of the file at `path`, from byte `offset` on, stored `[C, H, W]`, or
    /// `[H, W, C]` with `channels_last` channels.
    pub(crate) fn open(
        path: &Path,
        offset: u64,
        channels_last: Option<usize>,
    ) -> Result<SampleFile, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(SampleFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
            offset,
            rows: None,
            channels_last,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample `i` of `n` bytes into `out`, `[C, H, W]`.
    pub(crate) fn read(&self, i: usize, n: usize, out: &mut Vec<u8>) -> Result<(), DataError> {
        let row = self.rows.as_ref().map_or(i, |rows| rows[i]);
        let at = self.offset + (row * n) as u64;
        let read = |buf: &mut [u8]| {
            self.file
                .read_exact_at(buf, at)
                .map_err(|e| DataError::io(&self.path, e))
        };
        out.resize(n, 0);
        match self.channels_last {
            None | Some(1) => read(out),
            Some(c) => {
                let mut hwc = vec![0u8; n];
                read(&mut hwc)?;
                let plane = n / c;
                for (p, pixel) in hwc.chunks_exact(c).enumerate() {
                    for (ch, &v) in pixel.iter().enumerate() {
                        out[ch * plane + p] = v;
                    }
                }
                Ok(())
            }
        }
    }

    /// The samples at `positions`, in that order.
    fn select(&self, positions: &[usize]) -> SampleFile {
        let row = |p: usize| self.rows.as_ref().map_or(p, |rows| rows[p]);
        SampleFile {
            rows: Some(Arc::new(positions.iter().map(|&p| row(p)).collect())),
            ..self.clone()
        }
    }
}

/// Where the bytes of an encoded image are: they are read each time a batch needs them,
/// never held for the whole split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageBytes {
    /// This file (image folders).
    File(PathBuf),
    /// A row of a Parquet file's image column (Hugging Face Parquet), read with its row
    /// group.
    Parquet(ParquetCell),
}

impl ImageBytes {
    /// The bytes, read from their file.
    pub fn read(&self) -> Result<Vec<u8>, DataError> {
        match self {
            ImageBytes::File(path) => std::fs::read(path).map_err(|e| DataError::io(path, e)),
            ImageBytes::Parquet(cell) => cell.read(),
        }
    }

    /// The file's path, or `name()` for a row of a Parquet file (its `file:row` key): what
    /// an error about the image names.
    pub(crate) fn path_or(&self, name: impl FnOnce() -> PathBuf) -> PathBuf {
        match self {
            ImageBytes::File(path) => path.clone(),
            ImageBytes::Parquet(_) => name(),
        }
    }
}

/// An encoded image's bytes and the size it decodes to.
#[derive(Debug, Clone)]
pub struct EncodedImage {
    /// The encoded file's bytes, or where to read them.
    pub bytes: ImageBytes,
    /// Rows of pixels it decodes to (0 until its header is read).
    pub height: usize,
    /// Columns of pixels it decodes to (0 until its header is read).
    pub width: usize,
    /// Size of the encoded file in bytes.
    pub size: u64,
    /// The sample's content digest (see [`Dataset::content`]), once its file was read.
    pub(crate) digest: OnceLock<[u8; 32]>,
}

impl EncodedImage {
    /// An image of `size` bytes at `bytes` that decodes to `height` x `width` pixels.
    pub(crate) fn new(bytes: ImageBytes, height: usize, width: usize, size: u64) -> Self {
        EncodedImage {
            bytes,
            height,
            width,
            size,
            digest: OnceLock::new(),
        }
    }

    /// The image as sample `id` with `label`, decoded into `channels` planes (0: the
    /// image's own colour, for a split whose headers were not read), with its shape; an
    /// image that cannot be read or decoded, or that decodes to another size than its header
    /// said, is an error naming it (`name`). Reading a file keeps its digest.
    pub(crate) fn decode(
        &self,
        channels: usize,
        id: u64,
        label: i32,
        name: impl Fn() -> PathBuf,
    ) -> Result<(SampleShape, Vec<u8>), DataError> {
        let bad = |reason: String| DataError::BadImage {
            path: self.bytes.path_or(&name),
            reason,
        };
        let bytes = self.bytes.read()?;
        self.keep_digest(id, &bytes, label);
        let (shape, pixels) =
            decode_chw(&bytes, (channels != 0).then_some(channels)).map_err(bad)?;
        if self.height != 0 && (shape.height, shape.width) != (self.height, self.width) {
            return Err(bad(format!(
                "it no longer decodes to {}x{} pixels, as its header said when the split was read (changed since?)",
                self.height, self.width
            )));
        }
        Ok((shape, pixels))
    }
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
    /// The split's name.
    pub split: String,
    /// The common shape of the samples. For images of different sizes, `height` and `width`
    /// are 0 and preprocessing must resize them to one size. For an image folder listed
    /// without reading its files ([`Dataset::headers_read`] false) all three are 0: each
    /// image decodes to its own colour and size, which preprocessing brings to one.
    pub shape: SampleShape,
    /// The stable id of each sample.
    pub ids: Vec<u64>,
    /// The class id of each sample.
    pub labels: Vec<i32>,
    /// Relative paths or source keys, for file-based sources; empty otherwise.
    pub keys: Vec<String>,
    /// The stored values.
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
    /// The sample count and fingerprint of the whole split, when this one was cut from it
    /// with [`Dataset::truncate`].
    pub(crate) whole: Option<(usize, String)>,
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
            whole: None,
        }
    }

    /// Samples in the split.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the split holds no samples.
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

    /// The bytes of fixed-shape byte samples held in memory (IDX, u8 arrays read into
    /// memory), if that is what this is; `None` for samples read from disk or decoded per
    /// batch (u8 arrays stored uncompressed, images): read any split with `with_sample` or
    /// `batch`.
    pub fn pixels(&self) -> Option<&[u8]> {
        match &self.samples {
            Samples::U8(v) => Some(v),
            _ => None,
        }
    }

    /// Sample at position `i` (not id) with its shape, reading and decoding an encoded
    /// image: an error names an image that can no longer be read or decoded, or that
    /// decodes to another size than when the split was read.
    pub fn with_sample<R>(
        &self,
        i: usize,
        f: impl FnOnce(SampleShape, SampleRef<'_>) -> R,
    ) -> Result<R, DataError> {
        let n = self.shape.len();
        match &self.samples {
            Samples::U8(v) => Ok(f(self.shape, SampleRef::U8(&v[i * n..(i + 1) * n]))),
            Samples::F32(v) => Ok(f(self.shape, SampleRef::F32(&v[i * n..(i + 1) * n]))),
            Samples::Stored(file) => {
                let mut bytes = Vec::new();
                file.read(i, n, &mut bytes)?;
                Ok(f(self.shape, SampleRef::U8(&bytes)))
            }
            Samples::Encoded(images) => {
                let (shape, pixels) =
                    images[i].decode(self.shape.channels, self.ids[i], self.labels[i], || {
                        PathBuf::from(self.key_of(i))
                    })?;
                Ok(f(shape, SampleRef::U8(&pixels)))
            }
            Samples::Resized(resized) => {
                let mut bytes = Vec::new();
                let sample = (self.ids[i], self.labels[i]);
                resized.read(i, sample, || PathBuf::from(self.key_of(i)), &mut bytes)?;
                Ok(f(self.shape, SampleRef::U8(&bytes)))
            }
        }
    }

    /// The key of sample `i`, or its id where the source has no keys.
    fn key_of(&self, i: usize) -> String {
        key_at(&self.keys, &self.ids, i)
    }

    /// The bytes the fingerprint covers for sample `i`: the encoded file for images, the
    /// raw values (little-endian for floats) otherwise.
    fn stored_bytes(&self, i: usize, out: &mut Vec<u8>) -> Result<(), DataError> {
        out.clear();
        let n = self.shape.len();
        match &self.samples {
            Samples::U8(v) => out.extend_from_slice(&v[i * n..(i + 1) * n]),
            Samples::F32(v) => {
                for x in &v[i * n..(i + 1) * n] {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Samples::Encoded(images) => out.extend_from_slice(&images[i].bytes.read()?),
            Samples::Resized(resized) => out.extend_from_slice(&resized.image(i).bytes.read()?),
            Samples::Stored(file) => file.read(i, n, out)?,
        }
        Ok(())
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

    /// Keeps only the first `n` samples (for quick runs and tests), remembering the sample
    /// count and fingerprint of the whole split ([`Dataset::whole_split`]) so that a cache of
    /// the whole split still joins to the first samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            let whole = self
                .whole
                .clone()
                .unwrap_or_else(|| (self.len(), self.fingerprint()));
            let positions: Vec<usize> = (0..n).collect();
            *self = self.select(&positions);
            self.whole = Some(whole);
        }
    }

    /// The sample count and fingerprint of the whole split this one was cut from with a
    /// limit; none when it is a whole split.
    pub fn whole_split(&self) -> Option<(usize, String)> {
        self.whole.clone()
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
            // A selection (a validation split, a cut) reads the same file through its rows.
            Samples::Stored(file) => Samples::Stored(file.select(positions)),
            Samples::Resized(resized) => Samples::Resized(resized.select(positions)),
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
            whole: None,
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
    /// resized, cropped: the geometry of [`Preprocess::geometry`]) as bytes, so that
    /// training decodes every image once, not once per epoch. Encoded images are decoded on
    /// their first read (a batch's, or for Parquet rows a [`Dataset::prefill`] of the few
    /// row groups about to be trained on, in parallel) and kept in memory, so nothing is
    /// decoded before training starts; other byte samples are resized now, in parallel. Ids,
    /// labels, keys and the fingerprint stay those of the source. Float data and data
    /// already in shape are returned as they are.
    pub fn into_geometry(self, preprocess: &Preprocess) -> Result<Dataset, DataError> {
        self.into_geometry_kept(preprocess, None)
    }

    /// [`Dataset::into_geometry`], keeping resized images in a file at `path` (created or
    /// replaced) instead of memory, so memory holds none of them. The caller removes the
    /// file when done.
    pub fn into_geometry_on_disk(
        self,
        preprocess: &Preprocess,
        path: &Path,
    ) -> Result<Dataset, DataError> {
        self.into_geometry_kept(preprocess, Some(path))
    }

    fn into_geometry_kept(
        self,
        preprocess: &Preprocess,
        file: Option<&Path>,
    ) -> Result<Dataset, DataError> {
        let encoded = matches!(self.samples, Samples::Encoded(_));
        if self.is_float() || (!encoded && preprocess.keeps_geometry(self.shape)) {
            return Ok(self);
        }
        let out = preprocess.output_shape(self.shape);
        let n = out.len();
        let fingerprint = self.fingerprint();
        let samples = if let Samples::Encoded(images) = self.samples {
            let channels = self.shape.channels;
            Samples::Resized(ResizedSamples::new(
                images,
                channels,
                preprocess.clone(),
                n,
                file,
            )?)
        } else {
            let mut values = vec![0u8; self.len() * n];
            values
                .par_chunks_mut(n)
                .enumerate()
                .try_for_each(|(i, dst)| {
                    self.with_sample(i, |shape, src| {
                        if let SampleRef::U8(bytes) = src {
                            let (_, resized) = preprocess.geometry(shape, bytes);
                            dst.copy_from_slice(&resized);
                        }
                    })
                })?;
            Samples::U8(values)
        };
        let data = Dataset {
            shape: out,
            samples,
            source_fingerprint: Some(fingerprint),
            ..self
        };
        Ok(data)
    }

    /// The positions of a split of Parquet rows brought to a new size
    /// ([`Dataset::into_geometry`]) grouped by the row group each is read with, groups in
    /// file and row order, positions in id order; none for samples that can be read in any
    /// order. A row group is read whole: an order that visits these samples at random
    /// before they are kept reads a row group per sample, so a first epoch goes through
    /// them a few groups at a time, and [`Dataset::prefill`]s each few.
    pub fn read_groups(&self) -> Option<Vec<Vec<usize>>> {
        let Samples::Resized(resized) = &self.samples else {
            return None;
        };
        let mut groups: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.ids[i]);
        for i in order {
            let ImageBytes::Parquet(cell) = &resized.image(i).bytes else {
                return None;
            };
            groups.entry(cell.row_group()).or_default().push(i);
        }
        Some(groups.into_values().collect())
    }

    /// Parquet row groups this split has read so far, its files together (a row group read
    /// again after it was dropped counts again); 0 for other sources.
    pub fn row_groups_read(&self) -> usize {
        let image = |i: usize| match &self.samples {
            Samples::Encoded(images) => Some(&images[i]),
            Samples::Resized(resized) => Some(resized.image(i)),
            _ => None,
        };
        let mut files = std::collections::HashMap::new();
        for i in 0..self.len() {
            if let Some(EncodedImage {
                bytes: ImageBytes::Parquet(cell),
                ..
            }) = image(i)
            {
                files
                    .entry(Arc::as_ptr(&cell.images))
                    .or_insert_with(|| cell.images.row_groups_read());
            }
        }
        files.values().sum()
    }

    /// Brings the samples at `positions` to their new size now, in parallel and in id
    /// order (the files' row order), so that each row group they need is read once; the
    /// next reads of them read what is kept. Nothing to do for samples already kept, for
    /// image files (read one by one, in any order) and for data not being resized.
    pub fn prefill(&self, positions: &[usize]) -> Result<(), DataError> {
        let Samples::Resized(resized) = &self.samples else {
            return Ok(());
        };
        // A split's images all come from one source: files need no pass (nor a scan).
        if self.is_empty() || !matches!(resized.image(0).bytes, ImageBytes::Parquet(_)) {
            return Ok(());
        }
        let mut missing: Vec<usize> = positions
            .iter()
            .copied()
            .filter(|&i| !resized.is_kept(i))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_by_key(|&i| self.ids[i]);
        missing.dedup();
        // Row groups of megabytes freed by several threads: mapped on their own, so that
        // a pass in the middle of training does not fragment the heap training keeps.
        distill_core::returning_large_blocks(|| {
            missing
                .par_chunks(64)
                .try_for_each_init(Vec::new, |out, chunk| {
                    chunk.iter().try_for_each(|&i| {
                        let name = || PathBuf::from(key_at(&self.keys, &self.ids, i));
                        resized.read(i, (self.ids[i], self.labels[i]), name, out)
                    })
                })
        })
    }

    /// The dataset fingerprint of DESIGN.md: SHA-256, in sample-id order, over each
    /// sample's id (u64 little-endian), its stored bytes and its label (i32 little-endian),
    /// as lowercase hex. Images brought to another size keep the fingerprint of the files
    /// they came from.
    ///
    /// A streamed split (an image folder, see [`Dataset::is_streamed`]) is fingerprinted by
    /// its listing instead (`listing:<hex>`, the `content` module), which needs no file
    /// read; its [`Dataset::content`] covers the bytes once the files have been read.
    ///
    /// Two datasets with the same fingerprint hold the same samples under the same ids, so a
    /// logit cache made from one can be used with the other.
    pub fn fingerprint(&self) -> String {
        self.source_fingerprint
            .clone()
            .or_else(|| self.listing())
            .unwrap_or_else(|| self.content_fingerprint())
    }

    /// The fingerprint from the stored bytes. Image files are read for it only when the
    /// split was not fingerprinted as it was read (a selection of its samples); a file that
    /// cannot be read then gives a fingerprint that names it and matches no cache.
    fn content_fingerprint(&self) -> String {
        self.try_content_fingerprint()
            .unwrap_or_else(|e| format!("unreadable ({e})"))
    }

    /// The fingerprint from the stored bytes, or the error of the first sample that cannot
    /// be read.
    pub(crate) fn try_content_fingerprint(&self) -> Result<String, DataError> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.ids[i]);
        let mut hasher = Fingerprinter::default();
        let mut bytes = Vec::new();
        for i in order {
            self.stored_bytes(i, &mut bytes)?;
            hasher.add(self.ids[i], &bytes, self.labels[i]);
        }
        Ok(hasher.finish())
    }
}

impl Dataset {
    /// Checks that `preprocess` can be applied to these samples: its settings against their
    /// shape, geometry only on 8-bit images, and one output size for images of several.
    pub fn check(&self, preprocess: &Preprocess) -> Result<(), PreprocessError> {
        if !self.headers_read() && !preprocess.fixes_output() {
            return Err(PreprocessError {
                setting: "channels",
                reason: format!(
                    "{} was listed without reading its images: give the channels (1 or 3) and a size (resize HxW or a crop), or read the images' headers first",
                    self.source
                ),
            });
        }
        preprocess.validate_shape(self.shape)?;
        if self.is_float() && !preprocess.keeps_geometry(self.shape) {
            let setting = if preprocess.channels.is_some() {
                "channels"
            } else if preprocess.crop.is_some() {
                "crop"
            } else if preprocess.resize_shorter.is_some() {
                "resize_shorter"
            } else {
                "resize"
            };
            return Err(PreprocessError {
                setting,
                reason: format!(
                    "{}: resizing, cropping and channel conversion work on 8-bit images, and this data holds floats",
                    self.source
                ),
            });
        }
        let out = preprocess.output_shape(self.shape);
        if out.height == 0 || out.width == 0 {
            return Err(PreprocessError {
                setting: "resize",
                reason: format!(
                    "the images of {} have different sizes: resize them to HxW, or resize their shorter side and crop them, to bring them to one size",
                    self.source
                ),
            });
        }
        Ok(())
    }

    /// The samples at `positions` preprocessed into one batch, in parallel (image files
    /// are read and decoded here, in parallel too): `[positions.len(), C, H, W]` for NCHW
    /// and flat, `[…, H, W, C]` for NHWC, with the output shape of
    /// [`Preprocess::output_shape`]. An image that can no longer be read is an error naming
    /// it.
    pub fn batch(
        &self,
        preprocess: &Preprocess,
        positions: &[usize],
    ) -> Result<Vec<f32>, DataError> {
        let n = preprocess.output_shape(self.shape).len();
        let mut out = vec![0f32; positions.len() * n];
        out.par_chunks_mut(n)
            .zip(positions.par_iter())
            .try_for_each(|(dst, &pos)| {
                self.with_sample(pos, |shape, src| preprocess.sample_into(shape, src, dst))
            })?;
        Ok(out)
    }
}

/// The hash of [`Dataset::fingerprint`], fed one sample at a time in id order.
#[derive(Default)]
pub(crate) struct Fingerprinter(Sha256);

impl Fingerprinter {
    /// Adds sample `id`, its stored `bytes` and its `label`.
    pub(crate) fn add(&mut self, id: u64, bytes: &[u8], label: i32) {
        self.0.update(id.to_le_bytes());
        self.0.update(bytes);
        self.0.update(label.to_le_bytes());
    }

    /// The fingerprint, as lowercase hex.
    pub(crate) fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// A sample's content digest (see [`Dataset::content`]): SHA-256 over what the
/// fingerprint covers of it alone, its id, its stored bytes and its label.
pub(crate) fn sample_digest(id: u64, bytes: &[u8], label: i32) -> [u8; 32] {
    let mut one = Fingerprinter::default();
    one.add(id, bytes, label);
    one.0.finalize().into()
}

/// The key of sample `i` of a split with `keys` and `ids`, or its id where the source has
/// no keys.
pub(crate) fn key_at(keys: &[String], ids: &[u64], i: usize) -> String {
    keys.get(i)
        .cloned()
        .unwrap_or_else(|| format!("sample id {}", ids[i]))
}

fn gather<T: Copy>(values: &[T], n: usize, positions: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(positions.len() * n);
    for &p in positions {
        out.extend_from_slice(&values[p * n..(p + 1) * n]);
    }
    out
}
