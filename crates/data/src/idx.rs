//! The IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! Header: two zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets
//! use), a rank byte, then one big-endian u32 per dimension; then the data, row-major.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, SampleShape, Samples};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone)]
pub struct IdxArray {
    /// The dimensions from the header.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes; a `.gz` file (detected by content, not by name) is
/// decompressed as it is read, so memory holds the decoded data only.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let gzipped = reader
        .fill_buf()
        .map_err(|e| DataError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    let mut bytes = Vec::new();
    if gzipped {
        flate2::bufread::MultiGzDecoder::new(reader)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                // A gzip stream cut short surfaces as UnexpectedEof: that is truncation.
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    DataError::io(path, std::io::Error::new(e.kind(), "truncated gzip stream"))
                } else {
                    DataError::io(path, e)
                }
            })?;
    } else {
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::io(path, e))?;
    }
    parse_idx(path, bytes)
}

fn parse_idx(path: &Path, mut bytes: Vec<u8>) -> Result<IdxArray, DataError> {
    let truncated = |expected: usize, actual: usize| DataError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual,
    };
    if bytes.len() < 4 {
        return Err(truncated(4, bytes.len()));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let rank = bytes[3] as usize;
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || rank == 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic,
        });
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(truncated(header, bytes.len()));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| truncated(usize::MAX, bytes.len() - header))?;
    let actual = bytes.len() - header;
    if actual < expected {
        return Err(truncated(expected, actual));
    }
    // Trailing bytes beyond the promised size are ignored, as other readers do.
    bytes.truncate(header + expected);
    bytes.drain(..header);
    Ok(IdxArray { dims, data: bytes })
}

/// File-name prefix of each split in the MNIST layout.
fn split_prefix(dir: &Path, split: &str) -> Result<&'static str, DataError> {
    match split {
        "train" => Ok("train"),
        "test" | "t10k" => Ok("t10k"),
        _ => Err(DataError::UnknownSplit {
            path: dir.to_path_buf(),
            split: split.to_string(),
        }),
    }
}

fn find_split_file(
    dir: &Path,
    split: &str,
    what: &'static str,
    stem: &str,
) -> Result<PathBuf, DataError> {
    // Both the canonical `-idx3-ubyte` names and the `.idx3-ubyte` spelling some mirrors use.
    let names = [
        stem.to_string(),
        format!("{stem}.gz"),
        stem.replacen("-idx", ".idx", 1),
        format!("{}.gz", stem.replacen("-idx", ".idx", 1)),
    ];
    for name in &names {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::MissingSplitFile {
        dir: dir.to_path_buf(),
        split: split.to_string(),
        what,
        candidates: names.join(", "),
    })
}

/// Reads split `train` or `test` of an MNIST-layout directory (`train-images-idx3-ubyte[.gz]`,
/// `train-labels-idx1-ubyte[.gz]`, `t10k-…`). Sample ids are the index in the file.
pub fn read_idx_split(dir: &Path, split: &str) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let prefix = split_prefix(dir, split)?;
    let images_path =
        find_split_file(dir, split, "images", &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path =
        find_split_file(dir, split, "labels", &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    if images.dims.len() != 3 {
        return Err(DataError::WrongRank {
            path: images_path,
            expected: 3,
            actual: images.dims.len(),
        });
    }
    if labels.dims.len() != 1 {
        return Err(DataError::WrongRank {
            path: labels_path,
            expected: 1,
            actual: labels.dims.len(),
        });
    }
    if images.dims[0] != labels.dims[0] {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images: images.dims[0],
            n_labels: labels.dims[0],
        });
    }
    let n = images.dims[0];
    Ok(Dataset::new(
        format!("idx:{}", dir.display()),
        if prefix == "t10k" { "test" } else { "train" }.to_string(),
        SampleShape {
            channels: 1,
            height: images.dims[1],
            width: images.dims[2],
        },
        (0..n as u64).collect(),
        labels.data.iter().map(|&l| l as i32).collect(),
        Samples::U8(images.data),
    ))
}
