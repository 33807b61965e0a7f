//! NumPy arrays: a `.npz` archive, or a folder of `.npy` files, holding an `[N, …]` array
//! of u8 or f32 samples and an `[N]` array of integer labels.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dataset::Samples;
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
    let data = &bytes[start + header_len..];
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
            let entry = archive
                .by_index(i)
                .map_err(|e| DataError::invalid(path, format!("bad .npz archive: {e}")))?;
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
    zip::ZipArchive::new(file)
        .map_err(|e| DataError::invalid(path, format!("not a .npz (zip) archive: {e}")))
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
        let mut entry = archive
            .by_name(&member)
            .map_err(|e| DataError::invalid(path, format!("{member}: {e}")))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::invalid(path, format!("{member}: {e}")))?;
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
    flag: &str,
) -> Result<String, DataError> {
    let found = match named {
        Some(n) => arrays.contains_key(n).then(|| n.clone()),
        None => candidates.iter().find(|c| arrays.contains_key(*c)).cloned(),
    };
    found.ok_or_else(|| {
        let have: Vec<&str> = arrays.keys().map(String::as_str).collect();
        let looked = named.map_or_else(|| candidates.join(", "), |n| n.clone());
        DataError::invalid(
            path,
            format!(
                "no {what} array (looked for {looked}; arrays: {}); name it with {flag}",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                }
            ),
        )
    })
}

/// Reads split `split`: samples `[N, F]`, `[N, H, W]`, `[N, C, H, W]` or `[N, H, W, C]`
/// (channels last when the last dim is 1 or 3 and the second is not) of u8 (kept as bytes)
/// or another numeric type (read as f32), labels `[N]` or `[N, 1]` of integers. Sample ids
/// are the indices.
pub fn read_npy(path: &Path, split: &str, options: &SourceOptions) -> Result<Dataset, DataError> {
    let arrays = list_arrays(path)?;
    let names = |patterns: &[&str]| -> Vec<String> {
        patterns.iter().map(|p| p.replace("SPLIT", split)).collect()
    };
    let images_name = pick(
        &arrays,
        path,
        options.images_key.as_ref(),
        &names(&[
            "x_SPLIT",
            "SPLIT_x",
            "SPLIT_images",
            "images_SPLIT",
            "x",
            "X",
            "images",
            "data",
        ]),
        "samples",
        "--images-key",
    )?;
    let labels_name = pick(
        &arrays,
        path,
        options.labels_key.as_ref(),
        &names(&[
            "y_SPLIT",
            "SPLIT_y",
            "SPLIT_labels",
            "labels_SPLIT",
            "y",
            "Y",
            "labels",
            "targets",
        ]),
        "labels",
        "--labels-key",
    )?;
    let images = read_array(path, &images_name)?;
    let labels = read_array(path, &labels_name)?;
    let images_origin = path.join(&images_name);
    let labels_origin = path.join(&labels_name);
    let n = images.shape.first().copied().unwrap_or(0);
    let rank_error = |origin: &Path, what: &str, shape: &[usize]| {
        DataError::invalid(
            origin,
            format!(
                "{what} array has shape {shape:?} (rank {}), expected {}",
                shape.len(),
                if what == "labels" {
                    "[N] or [N, 1]"
                } else {
                    "[N, F], [N, H, W], [N, C, H, W] or [N, H, W, C]"
                }
            ),
        )
    };
    let (shape, channels_last) = match images.shape[..] {
        // Features are channels: one mean/std each.
        [_, f] => (
            SampleShape {
                channels: f,
                height: 1,
                width: 1,
            },
            false,
        ),
        [_, h, w] => (
            SampleShape {
                channels: 1,
                height: h,
                width: w,
            },
            false,
        ),
        [_, a, h, w] if matches!(a, 1 | 3) || !matches!(w, 1 | 3) => (
            SampleShape {
                channels: a,
                height: h,
                width: w,
            },
            false,
        ),
        [_, h, w, c] => (
            SampleShape {
                channels: c,
                height: h,
                width: w,
            },
            true,
        ),
        _ => return Err(rank_error(&images_origin, "samples", &images.shape)),
    };
    if !matches!(labels.shape[..], [_] | [_, 1]) {
        return Err(rank_error(&labels_origin, "labels", &labels.shape));
    }
    if labels.shape[0] != n {
        return Err(DataError::invalid(
            &labels_origin,
            format!(
                "{} labels for {n} samples in {images_name}",
                labels.shape[0]
            ),
        ));
    }
    if matches!(labels.dtype, Dtype::F32 | Dtype::F64) {
        return Err(DataError::invalid(
            &labels_origin,
            "labels are floats, expected integer class ids",
        ));
    }
    let labels = (0..n)
        .map(|i| {
            let v = labels.dtype.value(&labels.data, i);
            if v < 0.0 || v > i32::MAX as f64 {
                Err(DataError::invalid(
                    &labels_origin,
                    format!("label {v} at index {i} is not a class id"),
                ))
            } else {
                Ok(v as i32)
            }
        })
        .collect::<Result<Vec<i32>, DataError>>()?;
    let per = shape.len();
    // Channels-last samples are transposed to channels first, [h, w, c] -> [c, h, w].
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
    let samples = if images.dtype == Dtype::U8 {
        Samples::U8((0..total).map(|i| images.data[order(i)]).collect())
    } else {
        Samples::F32(
            (0..total)
                .map(|i| images.dtype.value(&images.data, order(i)) as f32)
                .collect(),
        )
    };
    Ok(Dataset::new(
        format!("npy:{}", path.display()),
        split.to_string(),
        shape,
        (0..n as u64).collect(),
        labels,
        samples,
    ))
}
