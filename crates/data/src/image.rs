//! Image datasets (folders, Hugging Face Parquet) from their files. An image folder is
//! listed without reading its files (paths, labels, sizes): its pixels are decoded when a
//! batch needs them, and its bytes hashed then (the `content` module). Each image's size
//! and colour come from its header, read in parallel when a consumer needs them before
//! decoding ([`Dataset::read_headers`]): a split is RGB when any image has colour. Images
//! inside Parquet files are in memory anyway: their headers are read, and they are
//! fingerprinted, in one pass as they are listed; so are image files with `--skip-bad`,
//! which decodes each to leave out the bad ones before samples are numbered.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use crate::dataset::{EncodedImage, Fingerprinter, ImageBytes, key_at, sample_digest};
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
    /// The first `limit` bytes (all of them in memory) and the total size.
    fn read_start(&self, limit: u64) -> Result<(Cow<'_, [u8]>, u64), DataError> {
        match self {
            ImageBytes::InMemory(bytes) => Ok((Cow::Borrowed(bytes), bytes.len() as u64)),
            ImageBytes::File(path) => {
                let io = |e| DataError::io(path, e);
                let file = std::fs::File::open(path).map_err(io)?;
                let size = file.metadata().map_err(io)?.len();
                let mut start = Vec::with_capacity(limit.min(size) as usize);
                file.take(limit).read_to_end(&mut start).map_err(io)?;
                Ok((Cow::Owned(start), size))
            }
        }
    }
}

/// The size and colour of an image (decoded whole with `decode`), its encoded size, and
/// the digest of an image file that was read whole on the way (so it need not be read
/// again for the content hash).
type Probed = (Result<(usize, usize, bool), String>, u64, Option<[u8; 32]>);

/// Probes `image`, sample `id` with `label`.
fn probe_image(image: &ImageBytes, decode: bool, id: u64, label: i32) -> Result<Probed, DataError> {
    let digest = |bytes: &[u8]| {
        matches!(image, ImageBytes::File(_)).then(|| sample_digest(id, bytes, label))
    };
    if decode {
        let bytes = image.read()?;
        return Ok((probe(&bytes), bytes.len() as u64, digest(&bytes)));
    }
    let (start, size) = image.read_start(HEADER_BYTES)?;
    let probed = probe_header(&start);
    if probed.is_err() && (start.len() as u64) < size {
        // A header longer than the bytes read (large metadata): read the file whole.
        let bytes = image.read()?;
        return Ok((probe_header(&bytes), size, digest(&bytes)));
    }
    let whole = start.len() as u64 == size;
    Ok((probed, size, whole.then(|| digest(&start)).flatten()))
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
                let (probed, _, digest) = probe_image(&image.bytes, false, id, label)?;
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

/// The dataset of `files` (in id order: file `i` gets id `i`), each probed in parallel for
/// its size and colour: from its header, or, with `skip_bad`, by decoding it whole. A bad
/// image fails with its key (path under `origin`) unless `skip_bad`, when it is left out,
/// keeps its id unused and is listed. The split is grayscale when every image is, else RGB
/// (grayscale images are then replicated to three channels). Images in memory are
/// fingerprinted in the same pass; image files are fingerprinted by their listing.
pub(crate) fn image_dataset(
    source: String,
    split: &str,
    origin: &Path,
    files: Vec<ImageFile>,
    skip_bad: bool,
) -> Result<Dataset, DataError> {
    let (mut ids, mut labels, mut keys, mut images) = (vec![], vec![], vec![], vec![]);
    let mut skipped = Vec::new();
    let mut color = false;
    // The fingerprint of `Dataset::fingerprint` of images held in memory, over the samples
    // kept, in id order.
    let mut hasher = Fingerprinter::default();
    let mut in_memory = false;
    let mut files = files.into_iter().enumerate().peekable();
    while files.peek().is_some() {
        let chunk: Vec<(usize, ImageFile)> = files.by_ref().take(PROBE_CHUNK).collect();
        // Leaving bad files out needs them known before the samples are numbered: decode
        // each. Otherwise the header says the size and colour, and a file whose pixels are
        // damaged is met, and named, when its batch is read.
        let probed: Vec<Result<Probed, DataError>> = chunk
            .par_iter()
            .map(|(i, f)| probe_image(&f.bytes, skip_bad, *i as u64, f.label))
            .collect();
        for ((i, file), probed) in chunk.into_iter().zip(probed) {
            let (probed, size, digest) = probed?;
            match probed {
                Ok((height, width, has_color)) => {
                    color |= has_color;
                    let image = EncodedImage::new(file.bytes, height, width, size);
                    if let ImageBytes::InMemory(b) = &image.bytes {
                        in_memory = true;
                        hasher.add(i as u64, b, file.label);
                    }
                    if let Some(d) = digest {
                        let _ = image.digest.set(d);
                    }
                    ids.push(i as u64);
                    labels.push(file.label);
                    keys.push(file.key);
                    images.push(image);
                }
                Err(reason) if skip_bad => skipped.push(SkippedSample {
                    key: file.key,
                    reason,
                }),
                Err(reason) => {
                    return Err(DataError::BadImage {
                        path: origin.join(&file.key),
                        reason,
                    });
                }
            }
        }
    }
    let channels = if color { 3 } else { 1 };
    let mut data = encoded_dataset(source, split, channels, (ids, labels, keys), images);
    data.skipped = skipped;
    if in_memory {
        data.source_fingerprint = Some(hasher.finish());
    }
    Ok(data)
}
