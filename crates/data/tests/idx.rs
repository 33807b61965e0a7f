//! IDX reading on the committed Fashion-MNIST subset, and every way an IDX file can be bad.

use std::io::Write;
use std::path::{Path, PathBuf};

use distill_data::{DataError, DatasetSpec, read_idx, read_idx_split};

fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/fashion-mnist-mini")
}

fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Copies the mini test split into a temp dir, uncompressed, so a test can damage it.
fn raw_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        let bytes = gunzip(&mini().join(format!("{name}.gz")));
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

#[test]
fn reads_committed_subset_with_stable_ids() {
    let train = read_idx_split(&mini(), "train").unwrap();
    assert_eq!(train.len(), 2000);
    assert_eq!((train.shape.height, train.shape.width), (28, 28));
    assert_eq!(train.ids[0], 0);
    assert_eq!(train.ids[1999], 1999);
    assert_eq!(train.num_classes(), 10);
    // The first Fashion-MNIST training image is an ankle boot (class 9), the second a T-shirt.
    assert_eq!(&train.labels[..2], &[9, 0]);
    assert_eq!(train.pixels().map(<[u8]>::len), Some(2000 * 784));

    let spec: DatasetSpec = format!("idx:{}", mini().display()).parse().unwrap();
    let test = spec.load("test", &Default::default()).unwrap();
    assert_eq!(test.len(), 1000);
    assert_eq!(test.split, "test");
}

#[test]
fn gzipped_and_raw_files_read_the_same() {
    let dir = raw_copy();
    let raw = read_idx_split(dir.path(), "test").unwrap();
    let gz = read_idx_split(&mini(), "test").unwrap();
    assert_eq!(raw.pixels(), gz.pixels());
    assert_eq!(raw.labels, gz.labels);
    assert_eq!(raw.fingerprint(), gz.fingerprint());
}

#[test]
fn truncated_file_names_the_file() {
    let dir = raw_copy();
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = read_idx_split(dir.path(), "test").unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn truncated_gzip_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(mini().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_idx(&path).unwrap_err();
    // The message names the file; its cause says what is wrong.
    let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        msg.contains("t10k-images-idx3-ubyte.gz") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn bad_magic_number_names_the_file() {
    let dir = raw_copy();
    let path = dir.path().join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[2] = 0x0D; // float type: not what these datasets hold
    std::fs::write(&path, &bytes).unwrap();
    let err = read_idx_split(dir.path(), "test").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x0000_0D01,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte"));

    let text = dir.path().join("notes.txt");
    std::fs::File::create(&text)
        .unwrap()
        .write_all(b"hello world")
        .unwrap();
    assert!(matches!(read_idx(&text), Err(DataError::BadMagic { .. })));
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = raw_copy();
    let path = dir.path().join("t10k-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    // Claim 999 labels and drop the last one: a well-formed file of the wrong length.
    bytes[4..8].copy_from_slice(&999u32.to_be_bytes());
    bytes.pop();
    std::fs::write(&path, &bytes).unwrap();
    let err = read_idx_split(dir.path(), "test").unwrap_err();
    match &err {
        DataError::CountMismatch {
            n_images, n_labels, ..
        } => assert_eq!((*n_images, *n_labels), (1000, 999)),
        other => panic!("expected CountMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("1000 images") && msg.contains("999 labels"),
        "{msg}"
    );
}

#[test]
fn missing_file_and_unknown_split_are_errors() {
    let dir = raw_copy();
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let err = read_idx_split(dir.path(), "test").unwrap_err();
    assert!(
        matches!(err, DataError::MissingSplitFile { what: "labels", .. }),
        "{err:?}"
    );
    let err = read_idx_split(&mini(), "validation").unwrap_err();
    assert!(matches!(err, DataError::UnknownSplit { .. }), "{err:?}");
    let err = "idx".parse::<DatasetSpec>().unwrap_err();
    assert!(err.to_string().contains("KIND:PATH"));
}

#[test]
fn fingerprint_changes_with_content() {
    let a = read_idx_split(&mini(), "test").unwrap();
    let mut b = a.clone();
    assert_eq!(a.fingerprint(), b.fingerprint());
    if let distill_data::Samples::U8(pixels) = &mut b.samples {
        pixels[500] ^= 1;
    }
    assert_ne!(a.fingerprint(), b.fingerprint());
    let mut c = a.clone();
    c.labels[3] = (c.labels[3] + 1) % 10;
    assert_ne!(a.fingerprint(), c.fingerprint());
}
