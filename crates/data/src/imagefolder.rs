//! Image folders in the torchvision `ImageFolder` convention: `root/<class>/<file>`,
//! optionally one such tree per split (`root/train/<class>/<file>`).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dataset::ImageBytes;
use crate::image::{ImageFile, checked_image_dataset, listed_image_files};
use crate::{DataError, Dataset, SourceOptions};

/// File extensions read as images (lower case); other files are ignored, as torchvision
/// ignores them.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

/// Folder names that mark a root holding one tree per split.
const SPLIT_FOLDERS: [&str; 5] = ["train", "test", "val", "valid", "validation"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The entries of `dir`, sorted by path.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        entries.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    entries.sort();
    Ok(entries)
}

/// Image files under `dir`, recursively, with their sizes (links followed, as torchvision
/// follows them, but a folder already on the way down is not entered again: a link loop
/// would repeat the same images under other names); other files go to `ignored`.
/// `visiting` holds the canonical paths of the folders on the way down. One `stat` per
/// entry at most: the kind comes with the folder listing where the file system gives it.
fn images_under(
    dir: &Path,
    visiting: &mut Vec<PathBuf>,
    out: &mut Vec<(PathBuf, u64)>,
    ignored: &mut Vec<PathBuf>,
) -> Result<(), DataError> {
    let canonical = dir.canonicalize().map_err(|e| DataError::io(dir, e))?;
    if visiting.contains(&canonical) {
        return Err(DataError::invalid(
            dir,
            format!(
                "a link loop: this folder is {}, which contains it",
                canonical.display()
            ),
        ));
    }
    visiting.push(canonical);
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| DataError::io(&path, e))?;
        // A link's target decides what it is.
        let meta = if kind.is_symlink() {
            std::fs::metadata(&path)
        } else {
            entry.metadata()
        };
        entries.push((path, meta));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, meta) in entries {
        let meta = meta.map_err(|e| DataError::io(&path, e))?;
        if meta.is_dir() {
            images_under(&path, visiting, out, ignored)?;
        } else if is_image(&path) {
            out.push((path, meta.len()));
        } else {
            ignored.push(path);
        }
    }
    visiting.pop();
    Ok(())
}

/// The folder of class folders for `split`: `root/<split>` where it exists, else `root`
/// itself when it holds no split folders (one split, read for any `--split`).
fn split_root(root: &Path, split: &str) -> Result<PathBuf, DataError> {
    if !root.is_dir() {
        return Err(DataError::invalid(root, "no such folder"));
    }
    let candidate = root.join(split);
    if candidate.is_dir() {
        return Ok(candidate);
    }
    let present: Vec<&str> = SPLIT_FOLDERS
        .iter()
        .copied()
        .filter(|s| root.join(s).is_dir())
        .collect();
    if !present.is_empty() {
        return Err(DataError::invalid(
            root,
            format!(
                "no '{split}' folder (split folders here: {})",
                present.join(", ")
            ),
        ));
    }
    Ok(root.to_path_buf())
}

/// Reads split `split` of an image folder. Class ids are the ranks of the sorted class
/// folder names; sample ids the ranks of the sorted relative paths (`class/file`), which
/// are the samples' keys. The files are listed (path, label, size), not read: their headers
/// are read by [`Dataset::read_headers`], their pixels by the batches that need them. With
/// `skip_bad` every image is decoded now, and those that fail are left out.
pub fn read_image_folder(
    root: &Path,
    split: &str,
    options: &SourceOptions,
) -> Result<Dataset, DataError> {
    let dir = split_root(root, split)?;
    let mut classes = Vec::new();
    let mut loose = Vec::new();
    for path in read_dir_sorted(&dir)? {
        if path.is_dir() {
            classes.push(path);
        } else if is_image(&path) {
            loose.push(path);
        }
    }
    if let Some(f) = loose.first() {
        return Err(DataError::invalid(
            &dir,
            format!(
                "images must sit in one folder per class (root/<class>/<file>), but {} is directly in it",
                f.display()
            ),
        ));
    }
    if classes.is_empty() {
        return Err(DataError::invalid(
            &dir,
            "empty folder: expected one folder per class holding images",
        ));
    }
    let mut files: Vec<(String, i32, PathBuf, u64)> = Vec::new();
    let mut class_names = Vec::new();
    let mut ignored = Vec::new();
    // The class folders are listed in parallel (a `stat` a file: the listing is all the
    // work before the first batch), then taken in order, so errors and ids do not depend on
    // the threads.
    let listed: Vec<_> = classes
        .par_iter()
        .map(|class_dir| {
            let (mut images, mut ignored) = (Vec::new(), Vec::new());
            images_under(class_dir, &mut Vec::new(), &mut images, &mut ignored)
                .map(|()| (images, ignored))
        })
        .collect();
    for ((class_id, class_dir), listing) in classes.iter().enumerate().zip(listed) {
        let (images, class_ignored) = listing?;
        ignored.extend(class_ignored);
        if images.is_empty() {
            return Err(DataError::invalid(
                class_dir,
                format!(
                    "class folder has no images (looked for .{} files)",
                    IMAGE_EXTENSIONS.join(", .")
                ),
            ));
        }
        class_names.push(file_name(class_dir));
        for (path, size) in images {
            files.push((relative_key(&dir, &path), class_id as i32, path, size));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    // Paths only: memory does not hold the files, and none is read now unless bad ones are
    // to be left out (which needs each decoded before the samples are numbered).
    let (files, sizes): (Vec<ImageFile>, Vec<u64>) = files
        .into_iter()
        .map(|(key, label, path, size)| {
            let file = ImageFile {
                key,
                label,
                bytes: ImageBytes::File(path),
            };
            (file, size)
        })
        .unzip();
    let source = format!("imagefolder:{}", root.display());
    let mut data = if options.skip_bad {
        checked_image_dataset(source, split, files, sizes)?
    } else {
        listed_image_files(source, split, files, sizes)
    };
    data.class_names = class_names;
    data.ignored = ignored.iter().map(|p| relative_key(&dir, p)).collect();
    Ok(data)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `path` relative to `base`, with `/` separators on every platform.
pub(crate) fn relative_key(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
