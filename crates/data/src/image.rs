//! Image datasets (folders, Hugging Face Parquet) from their files. An image folder is
//! listed without reading its files (paths, labels, sizes): its pixels are decoded when a
//! batch needs them, and its bytes hashed then (the `content` module). Each image's size
//! and colour come from its header, read in parallel when a consumer needs them before
//! decoding ([`Dataset::read_headers`]): a split is RGB when any image has colour. Rows of
//! Parquet files are listed the same way, from their labels alone. With `--skip-bad` every
//! image is decoded as it is listed, to leave out the bad ones before samples are numbered.

use std::io::Read;

use rayon::prelude::*;

use crate::dataset::{EncodedImage, ImageBytes, key_at, sample_digest};
use crate::decode::{probe, probe_header};
use crate::{DataError, Dataset, SampleShape, Samples, SkippedSample};

/// A file of an image dataset: its key (relative path or `file:row`), label and bytes (or
/// where they are).
pub(crate) struct ImageFile {
    pub key: String,
    pub label: i32,
    pub bytes: ImageBytes,
}

/// Images read at once while a split is listed: memory holds this many files (or headers).
const PROBE_CHUNK: usize = 256;

/// Bytes of an image file read for its header: enough for the size and colour of PNG,
/// BMP and WebP files and of JPEG files with their usual metadata; a file whose header
/// is longer is read whole.
const HEADER_BYTES: u64 = 16 * 1024;

impl ImageBytes {
    /// The first `limit` bytes (all of them of a Parquet row, which is read with its row
    /// group anyway) and the total size.
    fn read_start(&self, limit: u64) -> Result<(Vec<u8>, u64), DataError> {
        match self {
            ImageBytes::Parquet(cell) => {
                let bytes = cell.read()?;
                let size = bytes.len() as u64;
                Ok((bytes, size))
            }
            ImageBytes::File(path) => {
                let io = |e| DataError::io(path, e);
                let file = std::fs::File::open(path).map_err(io)?;
                let size = file.metadata().map_err(io)?.len();
                let mut start = Vec::with_capacity(limit.min(size) as usize);
                file.take(limit).read_to_end(&mut start).map_err(io)?;
                Ok((start, size))
            }
        }
    }
}

/// The size and colour of an image (decoded whole with `decode`), and the digest of an
/// image that was read whole on the way (so it need not be read again for the content
/// hash).
type Probed = (Result<(usize, usize, bool), String>, Option<[u8; 32]>);

/// Probes `image`, sample `id` with `label`.
fn probe_image(image: &ImageBytes, decode: bool, id: u64, label: i32) -> Result<Probed, DataError> {
    let digest = |bytes: &[u8]| Some(sample_digest(id, bytes, label));
    if decode {
        let bytes = image.read()?;
        return Ok((probe(&bytes), digest(&bytes)));
    }
    let (start, size) = image.read_start(HEADER_BYTES)?;
    let probed = probe_header(&start);
    if probed.is_err() && (start.len() as u64) < size {
        // A header longer than the bytes read (large metadata): read the file whole.
        let bytes = image.read()?;
        return Ok((probe_header(&bytes), digest(&bytes)));
    }
    let whole = start.len() as u64 == size;
    Ok((probed, whole.then(|| digest(&start)).flatten()))
}

/// The dataset of image files `files` of `sizes` bytes (in id order: file `i` gets id
/// `i`), listed by path, label and size without reading them: shape unknown (0) until
/// [`Dataset::read_headers`].
pub(crate) fn listed_image_files(
    source: String,
    split: &str,
    files: Vec<ImageFile>,
    sizes: Vec<u64>,
) -> Dataset {
    let (mut labels, mut keys, mut images) = (vec![], vec![], vec![]);
    for (file, size) in files.into_iter().zip(sizes) {
        labels.push(file.label);
        keys.push(file.key);
        images.push(EncodedImage::new(file.bytes, 0, 0, size));
    }
    let ids = (0..images.len() as u64).collect();
    // Channels 0: not known until the headers are read.
    encoded_dataset(source, split, 0, (ids, labels, keys), images)
}

/// A split of encoded `images` with `channels` (its size from the images'), and their
/// ids, labels and keys.
fn encoded_dataset(
    source: String,
    split: &str,
    channels: usize,
    (ids, labels, keys): (Vec<u64>, Vec<i32>, Vec<String>),
    images: Vec<EncodedImage>,
) -> Dataset {
    let shape = SampleShape {
        channels,
        height: 0,
        width: 0,
    };
    let mut data = Dataset::new(
        source,
        split.to_string(),
        shape,
        ids,
        labels,
        Samples::Encoded(images),
    );
    data.keys = keys;
    data.refresh_shape();
    data
}

impl Dataset {
    /// Whether the size and colour of the samples are known: false only for an image folder
    /// listed without reading its files, until [`Dataset::read_headers`].
    pub fn headers_read(&self) -> bool {
        self.shape.channels != 0
    }

    /// This split with its headers read ([`Dataset::read_headers`]).
    pub fn with_headers(mut self) -> Result<Self, DataError> {
        self.read_headers()?;
        Ok(self)
    }

    /// Reads the header of every image of a split listed without reading its files, in
    /// parallel, for its size and colour (the split is RGB when any image has colour), and
    /// sets the split's shape; nothing to do for other splits. An image whose header cannot
    /// be read is an error naming it.
    pub fn read_headers(&mut self) -> Result<(), DataError> {
        if self.headers_read() {
            return Ok(());
        }
        let (ids, labels, keys) = (&self.ids, &self.labels, &self.keys);
        let Samples::Encoded(images) = &mut self.samples else {
            return Ok(());
        };
        let color = images
            .par_iter_mut()
            .zip(ids.par_iter().zip(labels.par_iter()))
            .enumerate()
            .map(|(i, (image, (&id, &label)))| {
                let (probed, digest) = probe_image(&image.bytes, false, id, label)?;
                let (height, width, color) = probed.map_err(|reason| DataError::BadImage {
                    path: image.bytes.path_or(|| key_at(keys, ids, i).into()),
                    reason,
                })?;
                (image.height, image.width) = (height, width);
                if let Some(d) = digest {
                    let _ = image.digest.set(d);
                }
                Ok::<bool, DataError>(color)
            })
            .try_reduce(|| false, |a, b| Ok(a || b))?;
        self.shape.channels = if color { 3 } else { 1 };
        self.refresh_shape();
        Ok(())
    }
}

/// The dataset of `files` of `sizes` bytes (their listing sizes; in id order: file `i`
/// gets id `i`), each decoded whole, in parallel, to leave out those that fail before the
/// samples are numbered (`--skip-bad`): a bad image keeps its id unused and is listed. The
/// split is grayscale when every image kept is, else RGB (grayscale images are then
/// replicated to three channels). It is fingerprinted by its listing, as a listed split is;
/// the digests of the images read are kept for its content hash.
pub(crate) fn checked_image_dataset(
    source: String,
    split: &str,
    files: Vec<ImageFile>,
    sizes: Vec<u64>,
) -> Result<Dataset, DataError> {
    let (mut ids, mut labels, mut keys, mut images) = (vec![], vec![], vec![], vec![]);
    let mut skipped = Vec::new();
    let mut color = false;
    let mut files = files.into_iter().zip(sizes).enumerate().peekable();
    while files.peek().is_some() {
        // A chunk at a time, in order: memory holds this many images, and the rows of a
        // Parquet file are read a row group at a time.
        let chunk: Vec<(usize, (ImageFile, u64))> = files.by_ref().take(PROBE_CHUNK).collect();
        let probed: Vec<Result<Probed, DataError>> = chunk
            .par_iter()
            .map(|(i, (f, _))| probe_image(&f.bytes, true, *i as u64, f.label))
            .collect();
        for ((i, (file, size)), probed) in chunk.into_iter().zip(probed) {
            let (probed, digest) = probed?;
            match probed {
                Ok((height, width, has_color)) => {
                    color |= has_color;
                    let image = EncodedImage::new(file.bytes, height, width, size);
                    if let Some(d) = digest {
                        let _ = image.digest.set(d);
                    }
                    ids.push(i as u64);
                    labels.push(file.label);
                    keys.push(file.key);
                    images.push(image);
                }
                Err(reason) => skipped.push(SkippedSample {
                    key: file.key,
                    reason,
                }),
            }
        }
    }
    let channels = if color { 3 } else { 1 };
    let mut data = encoded_dataset(source, split, channels, (ids, labels, keys), images);
    data.skipped = skipped;
    Ok(data)
}
