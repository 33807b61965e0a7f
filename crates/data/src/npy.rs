//! NumPy arrays: a `.npz` archive, or a folder of `.npy` files, holding an `[N, …]` array
//! of u8 or f32 samples and an `[N]` array of integer labels.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::dataset::{SampleFile, Samples};
use crate::{DataError, Dataset, SampleShape, SourceOptions};

/// The element types read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    U8,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
    F32,
    F64,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        // Byte order: '<' little, '|' not applicable, '=' native (little on the
        // platforms we build for). Big-endian arrays are refused.
        let (order, code) = descr.split_at(1);
        if !matches!(order, "<" | "|" | "=") {
            return None;
        }
        Some(match code {
            "u1" | "b1" => Dtype::U8,
            "i1" => Dtype::I8,
            "i2" => Dtype::I16,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            "u2" => Dtype::U16,
            "u4" => Dtype::U32,
            "u8" => Dtype::U64,
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    /// Element `i` of little-endian `data` as f64 (exact for every type but 64-bit ints).
    fn value(self, data: &[u8], i: usize) -> f64 {
        let at = |n: usize| &data[i * n..(i + 1) * n];
        let mut b8 = [0u8; 8];
        match self {
            Dtype::U8 => data[i] as f64,
            Dtype::I8 => data[i] as i8 as f64,
            Dtype::I16 => i16::from_le_bytes([at(2)[0], at(2)[1]]) as f64,
            Dtype::U16 => u16::from_le_bytes([at(2)[0], at(2)[1]]) as f64,
            Dtype::I32 => i32::from_le_bytes(at(4).try_into().unwrap_or([0; 4])) as f64,
            Dtype::U32 => u32::from_le_bytes(at(4).try_into().unwrap_or([0; 4])) as f64,
            Dtype::F32 => f32::from_le_bytes(at(4).try_into().unwrap_or([0; 4])) as f64,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => {
                b8.copy_from_slice(at(8));
                match self {
                    Dtype::I64 => i64::from_le_bytes(b8) as f64,
                    Dtype::U64 => u64::from_le_bytes(b8) as f64,
                    _ => f64::from_le_bytes(b8),
                }
            }
        }
    }
}

/// One parsed `.npy` array.
struct NpyArray {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Parses the `.npy` format (versions 1 to 3): magic, header length, a Python dict literal
/// with `descr`, `fortran_order` and `shape`, then the raw data.
fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    let (dtype, shape, start, expected) = parse_header(bytes)?;
    let data = &bytes[start..];
    if data.len() < expected {
        return Err(format!(
            "truncated .npy: shape {shape:?} needs {expected} bytes of data, found {}",
            data.len()
        ));
    }
    Ok(NpyArray {
        dtype,
        shape,
        data: data[..expected].to_vec(),
    })
}

/// The `.npy` header at the start of `bytes`: the element type, the shape, where the data
/// starts and its length in bytes.
fn parse_header(bytes: &[u8]) -> Result<(Dtype, Vec<usize>, usize, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy .npy array (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    let field = |name: &str| -> Option<&str> {
        let at = header.find(&format!("'{name}'"))? + name.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or("no 'descr' in the .npy header")?;
    let dtype = Dtype::parse(descr).ok_or_else(|| {
        format!("element type '{descr}' is not supported (u8, integers, f32 or f64, little-endian)")
    })?;
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err(
            "Fortran-ordered arrays are not supported (save with np.ascontiguousarray)".into(),
        );
    }
    let dims = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or("no 'shape' in the .npy header")?;
    let shape = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("bad shape ({dims}) in the .npy header"))?;
    let expected = shape
        .iter()
        .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    Ok((dtype, shape, start + header_len, expected))
}

/// Where an array's `.npy` bytes lie uncompressed: in its own file (a folder of `.npy`
/// files), or as a stored member of a `.npz` archive (`np.savez` stores, only
/// `np.savez_compressed` deflates).
struct ArrayBytes {
    file: PathBuf,
    /// Where the `.npy` bytes start in the file.
    offset: u64,
    /// How many bytes they take.
    len: u64,
}

/// The uncompressed place of array `name` of `path` (folder or archive), if it has one.
fn array_bytes(path: &Path, name: &str) -> Result<Option<ArrayBytes>, DataError> {
    let member = format!("{name}.npy");
    if path.is_dir() {
        let file = path.join(member);
        let len = std::fs::metadata(&file)
            .map_err(|e| DataError::io(&file, e))?
            .len();
        return Ok(Some(ArrayBytes {
            file,
            offset: 0,
            len,
        }));
    }
    let mut archive = zip_archive(path)?;
    let entry = archive.by_name(&member).map_err(|source| DataError::Zip {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(
        (entry.compression() == zip::CompressionMethod::Stored).then(|| ArrayBytes {
            file: path.to_path_buf(),
            offset: entry.data_start(),
            len: entry.size(),
        }),
    )
}

/// An array of `samples` u8 samples (`[N, F]`, `[N, H, W]`, `[N, C, H, W]` or
/// `[N, H, W, C]`) stored uncompressed, as samples read from the file batch by batch (a
/// channels-last sample transposed as it is read): memory holds none of them. None when it
/// holds anything else (those are read into memory, converted).
fn u8_samples_on_disk(
    at: &ArrayBytes,
    samples: usize,
) -> Result<Option<(SampleShape, Samples)>, DataError> {
    let mut head = vec![0u8; 4096.min(at.len as usize)];
    std::fs::File::open(&at.file)
        .and_then(|f| f.read_exact_at(&mut head, at.offset))
        .map_err(|e| DataError::io(&at.file, e))?;
    let Ok((dtype, shape, start, expected)) = parse_header(&head) else {
        return Ok(None); // a header beyond 4 KiB: read it the usual way
    };
    let Some((sample, channels_last)) = sample_layout(&shape) else {
        return Ok(None);
    };
    if dtype != Dtype::U8 || shape[0] != samples || at.len < (start + expected) as u64 {
        return Ok(None); // converted, or an error the usual reading names
    }
    let channels_last = channels_last.then_some(sample.channels);
    let samples = SampleFile::open(&at.file, at.offset + start as u64, channels_last)?;
    Ok(Some((sample, Samples::Stored(samples))))
}

/// The arrays of a `.npz` archive or a folder of `.npy` files, by name (without `.npy`),
/// as raw file bytes.
fn list_arrays(path: &Path) -> Result<BTreeMap<String, PathBuf>, DataError> {
    let mut names = BTreeMap::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| DataError::io(path, e))? {
            let p = entry.map_err(|e| DataError::io(path, e))?.path();
            if p.extension().is_some_and(|e| e == "npy")
                && let Some(stem) = p.file_stem()
            {
                names.insert(stem.to_string_lossy().into_owned(), p);
            }
        }
    } else if path.is_file() {
        if path.extension().is_some_and(|e| e == "npy") {
            return Err(DataError::invalid(
                path,
                "give the .npz archive or the folder holding the .npy files of samples and labels",
            ));
        }
        let mut archive = zip_archive(path)?;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|source| DataError::Zip {
                path: path.to_path_buf(),
                source,
            })?;
            if let Some(stem) = entry.name().strip_suffix(".npy") {
                names.insert(stem.to_string(), path.join(entry.name()));
            }
        }
    } else {
        return Err(DataError::invalid(path, "no such file or folder"));
    }
    Ok(names)
}

fn zip_archive(path: &Path) -> Result<zip::ZipArchive<std::fs::File>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    zip::ZipArchive::new(file).map_err(|source| DataError::Zip {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads array `name` from `path` (archive or folder) and parses it.
fn read_array(path: &Path, name: &str) -> Result<NpyArray, DataError> {
    let (bytes, origin) = if path.is_dir() {
        let file = path.join(format!("{name}.npy"));
        (
            std::fs::read(&file).map_err(|e| DataError::io(&file, e))?,
            file,
        )
    } else {
        let mut archive = zip_archive(path)?;
        let member = format!("{name}.npy");
        let mut entry = archive.by_name(&member).map_err(|source| DataError::Zip {
            path: path.to_path_buf(),
            source,
        })?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::io(path.join(&member), e))?;
        (bytes, path.join(member))
    };
    parse_npy(&bytes).map_err(|reason| DataError::invalid(origin, reason))
}

/// The array for `split`: the named one, else the first of the conventional names present.
fn pick(
    arrays: &BTreeMap<String, PathBuf>,
    path: &Path,
    named: Option<&String>,
    candidates: &[String],
    what: &str,
    setting: &'static str,
) -> Result<String, DataError> {
    let found = match named {
        Some(n) => arrays.contains_key(n).then(|| n.clone()),
        None => candidates.iter().find(|c| arrays.contains_key(*c)).cloned(),
    };
    found.ok_or_else(|| {
        let have: Vec<&str> = arrays.keys().map(String::as_str).collect();
        let looked = named.map_or_else(|| candidates.join(", "), |n| n.clone());
        DataError::SourceSetting {
            path: path.to_path_buf(),
            setting,
            reason: format!(
                "no {what} array (looked for {looked}; arrays: {})",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ),
        }
    })
}

/// The conventional array names of `split`, `SPLIT` replaced by it.
fn names(split: &str, patterns: &[&str]) -> Vec<String> {
    patterns.iter().map(|p| p.replace("SPLIT", split)).collect()
}

/// The sample shape of a samples array of `shape`, and whether its samples are channels
/// last; none for a rank distill does not read.
fn sample_layout(shape: &[usize]) -> Option<(SampleShape, bool)> {
    let s = |channels, height, width| SampleShape {
        channels,
        height,
        width,
    };
    match *shape {
        // Features are channels: one mean/std each.
        [_, f] => Some((s(f, 1, 1), false)),
        [_, h, w] => Some((s(1, h, w), false)),
        [_, a, h, w] if matches!(a, 1 | 3) || !matches!(w, 1 | 3) => Some((s(a, h, w), false)),
        [_, h, w, c] => Some((s(c, h, w), true)),
        _ => None,
    }
}

/// An array of the wrong rank.
fn rank_error(origin: &Path, what: &str, shape: &[usize]) -> DataError {
    let expected = if what == "labels" {
        "[N] or [N, 1]"
    } else {
        "[N, F], [N, H, W], [N, C, H, W] or [N, H, W, C]"
    };
    DataError::invalid(
        origin,
        format!(
            "{what} array has shape {shape:?} (rank {}), expected {expected}",
            shape.len()
        ),
    )
}

/// The class ids of a labels array (`[n]` or `[n, 1]` of integers).
fn class_ids(labels: &NpyArray, n: usize, origin: &Path) -> Result<Vec<i32>, DataError> {
    if !matches!(labels.shape[..], [_] | [_, 1]) {
        return Err(rank_error(origin, "labels", &labels.shape));
    }
    if labels.shape[0] != n {
        return Err(DataError::invalid(
            origin,
            format!("{} labels for {n} samples", labels.shape[0]),
        ));
    }
    if matches!(labels.dtype, Dtype::F32 | Dtype::F64) {
        return Err(DataError::invalid(
            origin,
            "labels are floats, expected integer class ids",
        ));
    }
    (0..n)
        .map(|i| {
            let v = labels.dtype.value(&labels.data, i);
            if v < 0.0 || v > i32::MAX as f64 {
                Err(DataError::invalid(
                    origin,
                    format!("label {v} at index {i} is not a class id"),
                ))
            } else {
                Ok(v as i32)
            }
        })
        .collect()
}

/// The values of `n` samples of `shape`, channels first: u8 stays bytes, any other type
/// becomes f32. Channels-last samples are transposed, `[h, w, c] -> [c, h, w]`. A value that
/// is not finite (NaN, infinity) is the data's fault and named as such (`origin`).
fn channels_first(
    images: &NpyArray,
    n: usize,
    shape: SampleShape,
    channels_last: bool,
    origin: &Path,
) -> Result<Samples, DataError> {
    let per = shape.len();
    let order = |i: usize| -> usize {
        if !channels_last {
            return i;
        }
        let (sample, rest) = (i / per, i % per);
        let plane = shape.height * shape.width;
        let (c, p) = (rest / plane, rest % plane);
        sample * per + p * shape.channels + c
    };
    let total = n * per;
    if images.dtype == Dtype::U8 {
        return Ok(Samples::U8(
            (0..total).map(|i| images.data[order(i)]).collect(),
        ));
    }
    let values: Vec<f32> = (0..total)
        .map(|i| images.dtype.value(&images.data, order(i)) as f32)
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(
            origin,
            format!(
                "sample {} holds {} (value {} of the sample): the data must be finite",
                i / per.max(1),
                values[i],
                i % per.max(1)
            ),
        ));
    }
    Ok(Samples::F32(values))
}

/// Reads split `split`: samples `[N, F]`, `[N, H, W]`, `[N, C, H, W]` or `[N, H, W, C]`
/// (channels last when the last dim is 1 or 3 and the second is not) of u8 (kept as bytes)
/// or another numeric type (read as f32), labels `[N]` or `[N, 1]` of integers. Sample ids
/// are the indices.
pub fn read_npy(path: &Path, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
    let arrays = list_arrays(path)?;
    let images_name = pick(
        &arrays,
        path,
        options.images_key.as_ref(),
        &names(
            split,
            &[
                "x_SPLIT",
                "SPLIT_x",
                "SPLIT_images",
                "images_SPLIT",
                "x",
                "X",
                "images",
                "data",
            ],
        ),
        "samples",
        "images_key",
    )?;
    let labels_name = pick(
        &arrays,
        path,
        options.labels_key.as_ref(),
        &names(
            split,
            &[
                "y_SPLIT",
                "SPLIT_y",
                "SPLIT_labels",
                "labels_SPLIT",
                "y",
                "Y",
                "labels",
                "targets",
            ],
        ),
        "labels",
        "labels_key",
    )?;
    let source = format!("npy:{}", path.display());
    // The labels come first: their count says how many samples to expect of an array that
    // stays on disk.
    let labels = read_array(path, &labels_name)?;
    let n = labels.shape.first().copied().unwrap_or(0);
    // u8 samples stored uncompressed stay on disk, fingerprinted in one sequential read.
    if let Some(at) = array_bytes(path, &images_name)?
        && let Some((shape, samples)) = u8_samples_on_disk(&at, n)?
    {
        let labels = class_ids(&labels, n, &path.join(&labels_name))?;
        let ids = (0..n as u64).collect();
        let mut data = Dataset::new(source, split.to_string(), shape, ids, labels, samples);
        data.source_fingerprint = Some(data.try_content_fingerprint()?);
        return Ok(data);
    }
    let images = read_array(path, &images_name)?;
    let n = images.shape.first().copied().unwrap_or(0);
    let (shape, channels_last) = sample_layout(&images.shape)
        .ok_or_else(|| rank_error(&path.join(&images_name), "samples", &images.shape))?;
    let labels = class_ids(&labels, n, &path.join(&labels_name))?;
    Ok(Dataset::new(
        source,
        split.to_string(),
        shape,
        (0..n as u64).collect(),
        labels,
        channels_first(&images, n, shape, channels_last, &path.join(&images_name))?,
    ))
}
