//! Every dataset source on its committed fixture (made by
//! scripts/make-real-world-fixtures.sh from the Fashion-MNIST subset): the ids, labels, keys
//! and pixels it yields, and a clear error for each kind of bad input.

use std::path::{Path, PathBuf};

use distill_data::{Dataset, DatasetSpec, SampleRef, SampleShape, SourceOptions, read_idx_split};

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

fn load(spec: &str, split: &str) -> Dataset {
    load_with(spec, split, &SourceOptions::default())
}

/// `split` of `spec` listed without reading its images (image folders, Parquet).
fn load_listed(spec: &str, split: &str) -> Dataset {
    let spec: DatasetSpec = spec.parse().unwrap();
    spec.load_listed(split, &SourceOptions::default())
        .unwrap_or_else(|e| panic!("{spec} {split}: {e}"))
}

fn load_with(spec: &str, split: &str, options: &SourceOptions) -> Dataset {
    let spec: DatasetSpec = spec.parse().unwrap();
    spec.load(split, options)
        .unwrap_or_else(|e| panic!("{spec} {split}: {e}"))
}

/// The error of loading `split` of `spec`, with its causes (`message: cause: cause`).
fn load_err(spec: &str, split: &str, options: &SourceOptions) -> String {
    let spec: DatasetSpec = spec.parse().unwrap();
    match spec.load(split, options) {
        Ok(d) => panic!("{spec} loaded {} samples; expected an error", d.len()),
        Err(e) => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text += &format!(": {c}");
                cause = c.source();
            }
            text
        }
    }
}

fn fixture(rel: &str) -> String {
    datasets().join(rel).display().to_string()
}

/// The decoded values of sample `i` and its shape.
fn pixels(data: &Dataset, i: usize) -> (SampleShape, Vec<f32>) {
    data.with_sample(i, |shape, src| {
        let values = match src {
            SampleRef::U8(v) => v.iter().map(|&b| b as f32).collect(),
            SampleRef::F32(v) => v.to_vec(),
        };
        (shape, values)
    })
    .unwrap()
}

fn idx(split: &str) -> Dataset {
    read_idx_split(&datasets().join("fashion-mnist-mini"), split).unwrap()
}

/// The Fashion-MNIST index a fixture file was made from: `train-0042.png` -> 42.
fn source_index(key: &str) -> usize {
    let name = key.rsplit('/').next().unwrap();
    name.split(['-', '.']).nth(1).unwrap().parse().unwrap()
}

#[test]
fn image_folder_yields_sorted_paths_class_ids_from_sorted_names_and_exact_pixels() {
    let spec = format!("imagefolder:{}", fixture("images-mini"));
    let data = load(&spec, "train");
    assert_eq!(
        data.len(),
        48,
        "12 images in each of 4 classes; notes.txt is ignored"
    );
    assert_eq!(data.ids, (0..48).collect::<Vec<u64>>());
    let mut sorted = data.keys.clone();
    sorted.sort();
    assert_eq!(data.keys, sorted, "ids follow the sorted relative paths");
    assert_eq!(
        data.class_names,
        ["ankle_boot", "sneaker", "trouser", "tshirt"]
    );
    let fashion = idx("train");
    for (i, key) in data.keys.iter().enumerate() {
        let class = key.split('/').next().unwrap();
        let expected = data.class_names.iter().position(|c| c == class).unwrap();
        assert_eq!(data.labels[i], expected as i32, "{key}");
        // Fashion-MNIST labels 9, 7, 1, 0 are the folders in sorted order.
        let original = fashion.labels[source_index(key)];
        assert_eq!(original, [9, 7, 1, 0][expected], "{key}");
    }
    // Some images are colour: the split is RGB, and sizes differ.
    assert_eq!(data.shape.channels, 3);
    assert!(data.has_varying_size());
    let sizes: std::collections::BTreeSet<(usize, usize)> = (0..data.len())
        .map(|i| pixels(&data, i).0)
        .map(|s| (s.height, s.width))
        .collect();
    assert_eq!(
        sizes,
        [(28, 28), (36, 44), (40, 32)].into_iter().collect(),
        "PNG/BMP 28x28, JPEG 36x44, WebP 40x32"
    );
    // Grayscale PNGs hold the IDX pixels, replicated to the three channels.
    let fashion_pixels = fashion.pixels().unwrap();
    let mut checked = 0;
    for (i, key) in data.keys.iter().enumerate() {
        if !key.ends_with(".png") {
            continue;
        }
        let (shape, values) = pixels(&data, i);
        let at = source_index(key) * 784;
        let original: Vec<f32> = fashion_pixels[at..at + 784]
            .iter()
            .map(|&b| b as f32)
            .collect();
        assert_eq!(shape.channels, 3);
        for c in 0..3 {
            assert_eq!(&values[c * 784..(c + 1) * 784], &original[..], "{key}");
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
    // Another split is its own folder.
    assert_eq!(load(&spec, "test").len(), 24);
}

#[test]
fn hf_parquet_over_several_files_yields_the_folders_images_in_the_same_order() {
    let folder = load(&format!("imagefolder:{}", fixture("images-mini")), "train");
    let parquet = load(
        &format!("parquet:{}", fixture("images-mini-parquet")),
        "train",
    );
    assert_eq!(parquet.ids, folder.ids);
    assert_eq!(parquet.labels, folder.labels);
    assert_eq!(parquet.keys[0], "data/train-00000-of-00002.parquet:0");
    assert_eq!(parquet.keys[47], "data/train-00001-of-00002.parquet:23");
    for i in 0..folder.len() {
        assert_eq!(pixels(&parquet, i), pixels(&folder, i), "sample {i}");
    }
    // Both are streamed, fingerprinted by their listing; the encoded files are the same
    // bytes, so their content is the same.
    for data in [&folder, &parquet] {
        assert!(data.is_streamed());
        assert!(data.fingerprint().starts_with(distill_data::LISTING_PREFIX));
    }
    assert_eq!(content(&parquet), content(&folder));
    // One file alone is one split; column names can be chosen.
    let one = fixture("images-mini-parquet/data/test-00000-of-00001.parquet");
    let options = SourceOptions {
        image_column: Some("image".into()),
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    assert_eq!(
        load_with(&format!("parquet:{one}"), "test", &options).len(),
        24
    );
    let err = load_err(
        &format!("parquet:{one}"),
        "test",
        &SourceOptions {
            image_column: Some("img".into()),
            ..SourceOptions::default()
        },
    );
    assert!(
        err.contains("no image column 'img'") && err.contains("columns: image, label"),
        "{err}"
    );
    let err = load_err(
        &format!("parquet:{}", fixture("images-mini-parquet")),
        "validation",
        &SourceOptions::default(),
    );
    assert!(
        err.contains("no Parquet file of split 'validation'"),
        "{err}"
    );
}

/// Writes `images` and `labels` into a Parquet file with these `columns` names, in row
/// groups of `group_rows` rows.
fn write_image_parquet(
    path: &Path,
    columns: [&str; 2],
    (images, labels): (&[Vec<u8>], &[i64]),
    group_rows: usize,
) {
    distill_data::write_hf_parquet(path, (columns[0], columns[1]), images, labels, group_rows)
        .unwrap();
}

/// Hugging Face Parquet is streamed like an image folder: listed from its labels, its
/// images read a row group at a time when a batch needs them (in any order, across row
/// groups), a bad image met when its batch is read (or skipped and listed), and a student's
/// resized store filled a window of row groups at a time with the folder's pixels.
#[test]
fn hf_parquet_is_listed_from_its_labels_and_read_a_row_group_at_a_time() {
    use distill_data::Preprocess;
    use sha2::{Digest, Sha256};

    let folder = load(&format!("imagefolder:{}", fixture("images-mini")), "train");
    let root = datasets().join("images-mini/train");
    let mut images: Vec<Vec<u8>> = folder
        .keys
        .iter()
        .map(|k| std::fs::read(root.join(k)).unwrap())
        .collect();
    let labels: Vec<i64> = folder.labels.iter().map(|&l| l as i64).collect();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("train.parquet");
    write_image_parquet(&good, ["image", "label"], (&images, &labels), 5);
    let spec = format!("parquet:{}", good.display());

    // Listed: no image read, no shape yet; the images then read in reverse order, each row
    // group several times, give the folder's pixels.
    let listed = load_listed(&spec, "train");
    assert!(listed.is_streamed() && !listed.headers_read());
    assert_eq!((&listed.ids, &listed.labels), (&folder.ids, &folder.labels));
    let listed_folder = load_listed(&format!("imagefolder:{}", fixture("images-mini")), "train");
    for i in (0..folder.len()).rev() {
        assert!(
            pixels(&listed, i) == pixels(&listed_folder, i),
            "sample {i}"
        );
    }
    assert_eq!(content(&listed), content(&folder));
    // A cache made before Parquet was streamed recorded the content fingerprint of
    // DESIGN.md (id, bytes, label per row, in id order): it still matches.
    let mut old = Sha256::new();
    for (i, image) in images.iter().enumerate() {
        old.update((i as u64).to_le_bytes());
        old.update(image);
        old.update((labels[i] as i32).to_le_bytes());
    }
    let old: String = old.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert!(listed.fingerprint_matches(&old).unwrap());
    assert!(!listed.fingerprint_matches(&"0".repeat(64)).unwrap());

    // A student's store: nothing read before training; its row groups in row order; a
    // window of them brought to size reads each of its groups once, whatever the order
    // asked for, and what it keeps is read again without reading a group.
    let p = Preprocess {
        channels: Some(1),
        resize: Some([14, 14]),
        ..Preprocess::default()
    };
    let all: Vec<usize> = (0..folder.len()).collect();
    let resized = load_listed(&spec, "train").into_geometry(&p).unwrap();
    assert_eq!(resized.row_groups_read(), 0);
    let groups = resized.read_groups().unwrap();
    assert_eq!(groups.len(), folder.len().div_ceil(5));
    assert!(groups.iter().all(|g| g.len() <= 5));
    assert_eq!(groups.concat(), all);
    let mut window = groups[1..3].concat();
    window.reverse();
    resized.prefill(&window).unwrap();
    assert_eq!(resized.row_groups_read(), 2);
    resized.prefill(&window).unwrap();
    resized.batch(&Preprocess::default(), &window).unwrap();
    assert_eq!(resized.row_groups_read(), 2);
    resized.prefill(&all).unwrap();
    assert_eq!(resized.row_groups_read(), groups.len());
    assert_eq!(
        resized.batch(&Preprocess::default(), &all).unwrap(),
        folder.batch(&p, &all).unwrap()
    );
    // Data read in any order has no row groups.
    assert!(
        folder
            .clone()
            .into_geometry(&p)
            .unwrap()
            .read_groups()
            .is_none()
    );

    // A row that is not an image: listing does not read it; its batch names it.
    images[7] = b"this is text".to_vec();
    let bad = dir.path().join("bad.parquet");
    write_image_parquet(&bad, ["image", "label"], (&images, &labels), 5);
    let listed = load_listed(&format!("parquet:{}", bad.display()), "train");
    let err = listed.batch(&p, &all).unwrap_err().to_string();
    assert!(err.contains("bad.parquet:7"), "{err}");
    assert!(pixels(&listed, 6) == pixels(&listed_folder, 6));
    let skip = SourceOptions {
        skip_bad: true,
        ..SourceOptions::default()
    };
    let data = load_with(&format!("parquet:{}", bad.display()), "train", &skip);
    assert_eq!(data.len(), folder.len() - 1);
    assert_eq!(data.skipped.len(), 1);
    assert_eq!(data.skipped[0].key, "bad.parquet:7");
    assert!(!data.ids.contains(&7));
    // Skipping or not, the listing of the rows kept is the same kind of fingerprint.
    assert!(data.fingerprint().starts_with(distill_data::LISTING_PREFIX));
}

#[test]
fn a_parquet_image_column_of_plain_binary_under_another_name_is_found() {
    // CIFAR-10 on the hub: columns `img` and `label`; here `img` is plain binary and the
    // labels are called `labels` (as in the hub's beans dataset): both are found.
    let folder = load(&format!("imagefolder:{}", fixture("images-mini")), "test");
    let files: Vec<Vec<u8>> = folder.keys[..3]
        .iter()
        .map(|k| std::fs::read(datasets().join("images-mini/test").join(k)).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cifar-style.parquet");
    write_image_parquet(&path, ["img", "labels"], (&files, &[2, 0, 1]), 1024);
    let data = load(&format!("parquet:{}", path.display()), "test");
    assert_eq!(data.labels, [2, 0, 1]);
    assert_eq!(
        data.keys,
        [
            "cifar-style.parquet:0",
            "cifar-style.parquet:1",
            "cifar-style.parquet:2"
        ]
    );
    for i in 0..3 {
        assert_eq!(pixels(&data, i), pixels(&folder, i));
    }
}

#[test]
fn numpy_archives_and_folders_yield_the_idx_samples() {
    let npz = load(
        &format!("npy:{}", fixture("arrays/fashion-mini.npz")),
        "test",
    );
    let fashion = idx("test");
    assert_eq!(npz.len(), 100);
    assert_eq!(npz.ids, (0..100).collect::<Vec<u64>>());
    assert_eq!(npz.labels, fashion.labels[..100]);
    assert_eq!(
        npz.shape,
        SampleShape {
            channels: 1,
            height: 28,
            width: 28
        }
    );
    assert_eq!(
        npz.pixels().unwrap(),
        &fashion.pixels().unwrap()[..100 * 784]
    );

    // f32 [N, 28, 28, 1] (channels last) with int64 labels: floats, transposed to [1, 28, 28].
    let f32s = load(
        &format!("npy:{}", fixture("arrays/fashion-mini-f32")),
        "train",
    );
    let train = idx("train");
    assert!(f32s.is_float());
    assert_eq!(f32s.len(), 40);
    assert_eq!(f32s.shape, npz.shape);
    assert_eq!(f32s.labels, train.labels[..40]);
    let (_, values) = pixels(&f32s, 3);
    let expected: Vec<f32> = train.pixels().unwrap()[3 * 784..4 * 784]
        .iter()
        .map(|&b| b as f32 / 255.0)
        .collect();
    assert_eq!(values, expected);

    // Keys can be named.
    let named = SourceOptions {
        images_key: Some("x_train".into()),
        labels_key: Some("y_train".into()),
        ..SourceOptions::default()
    };
    let spec = format!("npy:{}", fixture("arrays/fashion-mini.npz"));
    assert_eq!(load_with(&spec, "anything", &named).len(), 200);
    let err = load_err(
        &spec,
        "train",
        &SourceOptions {
            images_key: Some("pixels".into()),
            ..SourceOptions::default()
        },
    );
    assert!(
        err.contains("no samples array (looked for pixels") && err.contains("x_test"),
        "{err}"
    );
}

#[test]
fn csv_yields_float_rows_and_integer_labels() {
    let spec = format!("csv:{}", fixture("tabular/wine"));
    let data = load(&spec, "train");
    let text = std::fs::read_to_string(datasets().join("tabular/wine/train.csv")).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(data.len(), rows.len());
    assert_eq!(
        data.shape,
        SampleShape {
            channels: 13,
            height: 1,
            width: 1
        },
        "features are channels, so --mean/--std can be given per feature"
    );
    assert!(data.is_float());
    for i in [0, rows.len() - 1] {
        let fields: Vec<f32> = rows[i].split(',').map(|f| f.parse().unwrap()).collect();
        assert_eq!(pixels(&data, i).1, fields[..13], "row {i}");
        assert_eq!(data.labels[i], fields[13] as i32);
    }
    assert_eq!(data.num_classes(), 3);
    assert_eq!(load(&spec, "test").len(), 54);
}

/// A temporary image folder holding a copy of the test split's `tshirt` class.
fn folder_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = datasets().join("images-mini/test/tshirt");
    let to = dir.path().join("tshirt");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// The content hash of `data` (a streamed split).
fn content(data: &Dataset) -> String {
    data.content()
        .unwrap()
        .expect("a streamed split has a content hash")
}

#[test]
fn an_image_folder_is_fingerprinted_by_its_listing_and_its_files_by_their_content_as_read() {
    let dir = folder_copy();
    let spec = format!("imagefolder:{}", dir.path().display());
    let data = load(&spec, "train");
    assert!(data.is_streamed());
    let listing = data.fingerprint();
    assert!(
        listing.starts_with(distill_data::LISTING_PREFIX),
        "{listing}"
    );
    let whole = content(&data);

    // The content does not depend on the order the files are read in: read in reverse, the
    // digests kept as each file is read give the same hash, without reading a file again
    // (one removed after the reads does not matter).
    let reread = load(&spec, "train");
    for i in (0..reread.len()).rev() {
        pixels(&reread, i);
    }
    let first = dir
        .path()
        .join("tshirt")
        .join(&data.keys[0].replace("tshirt/", ""));
    let saved = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    assert_eq!(content(&reread), whole);
    std::fs::write(&first, &saved).unwrap();

    // A file rewritten at the same size: the listing is the same, the content is not.
    let mut changed = saved.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0xff;
    std::fs::write(&first, &changed).unwrap();
    let rewritten = load(&spec, "train");
    assert_eq!(rewritten.fingerprint(), listing);
    assert_ne!(content(&rewritten), whole);
    // A part of the split alone: only its own files count.
    let rest: Vec<usize> = (1..data.len()).collect();
    assert_eq!(
        rewritten.content_of(&rest).unwrap(),
        data.content_of(&rest).unwrap()
    );

    // A file of another size, or renamed: another listing.
    changed.push(0);
    std::fs::write(&first, &changed).unwrap();
    assert_ne!(load(&spec, "train").fingerprint(), listing);
    std::fs::write(&first, &saved).unwrap();
    assert_eq!(load(&spec, "train").fingerprint(), listing);
    std::fs::rename(&first, first.with_file_name("renamed.png")).unwrap();
    assert_ne!(load(&spec, "train").fingerprint(), listing);
}

/// An image folder listed without reading its files has no shape until its headers are
/// read; a preprocessing that fixes the channels and size gives the same batches either way
/// (each image brought from its own colour and size, grayscale and RGB mixed here).
#[test]
fn a_listed_image_folder_batches_exactly_like_one_whose_headers_were_read() {
    use distill_data::Preprocess;
    let spec: DatasetSpec = format!("imagefolder:{}", fixture("images-mini"))
        .parse()
        .unwrap();
    let mut listed = spec
        .load_listed("train", &SourceOptions::default())
        .unwrap();
    let read = spec.load("train", &SourceOptions::default()).unwrap();
    assert!(!listed.headers_read() && read.headers_read());
    assert_eq!(listed.shape.len(), 0);
    assert_eq!(read.shape.channels, 3, "some images have colour");
    assert_eq!(
        (listed.ids.clone(), listed.keys.clone()),
        (read.ids.clone(), read.keys.clone())
    );
    assert_eq!(
        listed.fingerprint(),
        read.fingerprint(),
        "the listing either way"
    );
    let all: Vec<usize> = (0..read.len()).collect();
    for channels in [1, 3] {
        for (resize, crop) in [(Some([20, 24]), None), (None, Some([16, 16]))] {
            let p = Preprocess {
                channels: Some(channels),
                resize,
                resize_shorter: crop.map(|_| 18),
                crop,
                ..Preprocess::default()
            };
            listed.check(&p).unwrap();
            assert_eq!(
                listed.batch(&p, &all).unwrap(),
                read.batch(&p, &all).unwrap(),
                "{p:?}"
            );
        }
    }
    // Without a fixed size (or channels), the headers are needed first.
    let shorter = Preprocess {
        channels: Some(3),
        resize_shorter: Some(18),
        ..Preprocess::default()
    };
    let err = listed.check(&shorter).unwrap_err();
    assert!(
        err.reason.contains("listed without reading"),
        "{}",
        err.reason
    );
    listed.read_headers().unwrap();
    assert_eq!(listed.shape, read.shape);
    // Now the sizes are known: these differ, so a shorter-side resize alone cannot do.
    let err = listed.check(&shorter).unwrap_err();
    assert!(err.reason.contains("different sizes"), "{}", err.reason);
}

#[test]
fn an_image_that_is_not_an_image_fails_naming_it_or_is_skipped_and_listed() {
    let dir = folder_copy();
    std::fs::write(dir.path().join("tshirt/broken.png"), b"this is text").unwrap();
    let spec = format!("imagefolder:{}", dir.path().display());
    let err = load_err(&spec, "train", &SourceOptions::default());
    assert!(
        err.contains("tshirt/broken.png") && err.contains("not a readable image"),
        "{err}"
    );
    let skip = SourceOptions {
        skip_bad: true,
        ..SourceOptions::default()
    };
    let data = load_with(&spec, "train", &skip);
    assert_eq!(data.len(), 6);
    assert_eq!(data.skipped.len(), 1);
    assert_eq!(data.skipped[0].key, "tshirt/broken.png");
    // The skipped file keeps its id slot: the others' ids do not depend on it.
    assert_eq!(data.ids, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn each_bad_input_has_its_own_clear_error() {
    let none = SourceOptions::default();
    let bad = |rel: &str| fixture(&format!("bad/{rel}"));

    // A label column of strings (Parquet and CSV).
    let err = load_err(
        &format!("parquet:{}", bad("string-labels.parquet")),
        "train",
        &none,
    );
    assert!(
        err.contains("string-labels.parquet")
            && err.contains("label column 'label' holds Utf8, expected integer class ids"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("names.csv");
    std::fs::write(&csv, "a,b,label\n1,2,0\n3,4,cat\n").unwrap();
    let err = load_err(&format!("csv:{}", csv.display()), "train", &none);
    assert!(
        err.contains("names.csv: line 3, column 'label': label 'cat' is not an integer class id"),
        "{err}"
    );

    // A CSV with a missing value.
    std::fs::write(&csv, "a,b,label\n1,2,0\n3,,1\n").unwrap();
    let err = load_err(&format!("csv:{}", csv.display()), "train", &none);
    assert!(err.contains("line 3, column 'b': missing value"), "{err}");

    // An NPY array of the wrong rank.
    let err = load_err(&format!("npy:{}", bad("rank1.npz")), "train", &none);
    assert!(
        err.contains("rank1.npz/x")
            && err.contains("shape [5] (rank 1), expected [N, F], [N, H, W]"),
        "{err}"
    );

    // An empty folder, and a class folder without images.
    let empty = tempfile::tempdir().unwrap();
    let spec = format!("imagefolder:{}", empty.path().display());
    let err = load_err(&spec, "train", &none);
    assert!(err.contains("empty folder"), "{err}");
    std::fs::create_dir(empty.path().join("cat")).unwrap();
    std::fs::write(empty.path().join("cat/readme.txt"), "no images here").unwrap();
    let err = load_err(&spec, "train", &none);
    assert!(
        err.contains("cat: class folder has no images (looked for .png, .jpg"),
        "{err}"
    );

    // A split folder that is not there.
    let err = load_err(
        &format!("imagefolder:{}", fixture("images-mini")),
        "val",
        &none,
    );
    assert!(
        err.contains("no 'val' folder (split folders here: train, test)"),
        "{err}"
    );
}

/// `preprocess`'s geometry on every image of the folder's train split, against what
/// torchvision computes on PIL images (made by the fixture script): the largest byte
/// difference per file extension.
fn against_pil(preprocess: &distill_data::Preprocess, key: &str) -> Vec<(String, u8)> {
    let folder = load(&format!("imagefolder:{}", fixture("images-mini")), "train");
    let named = SourceOptions {
        images_key: Some(format!("x_{key}")),
        labels_key: Some(format!("y_{key}")),
        ..SourceOptions::default()
    };
    let reference = load_with(
        &format!("npy:{}", fixture("arrays/pil-reference")),
        "train",
        &named,
    );
    assert_eq!(reference.labels, folder.labels);
    let mut worst: std::collections::BTreeMap<String, u8> = Default::default();
    for (i, k) in folder.keys.iter().enumerate() {
        let ours = folder
            .with_sample(i, |shape, src| match src {
                SampleRef::U8(bytes) => preprocess.geometry(shape, bytes),
                SampleRef::F32(_) => unreachable!("images are bytes"),
            })
            .unwrap();
        assert_eq!(ours.0, reference.shape, "{k}");
        // The reference arrays (u8, channels last) stay on disk: read like a batch reads them.
        let expected = reference
            .with_sample(i, |_, src| match src {
                SampleRef::U8(bytes) => bytes.to_vec(),
                SampleRef::F32(_) => unreachable!("u8 arrays"),
            })
            .unwrap();
        let diff = ours
            .1
            .iter()
            .zip(&expected)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let ext = k.rsplit('.').next().unwrap().to_string();
        let w = worst.entry(ext).or_default();
        *w = (*w).max(diff);
    }
    worst.into_iter().collect()
}

#[test]
fn antialiased_resizing_matches_torchvision_on_pil_images() {
    let crop = distill_data::Preprocess {
        resize_shorter: Some(36),
        crop: Some([32, 32]),
        channels: Some(3),
        antialias: true,
        ..distill_data::Preprocess::default()
    };
    let small = distill_data::Preprocess {
        resize: Some([10, 14]),
        channels: Some(3),
        antialias: true,
        ..distill_data::Preprocess::default()
    };
    for (name, p) in [("crop32", &crop), ("small", &small)] {
        for (ext, diff) in against_pil(p, name) {
            // Lossless files decode to the same pixels in any decoder: bit for bit. JPEG
            // decoders (zune-jpeg here, libjpeg-turbo in PIL) differ by a few levels.
            let limit = if ext == "jpg" { 6 } else { 0 };
            assert!(diff <= limit, "{name} .{ext}: off by {diff}");
        }
    }
    // Plain bilinear is not what PIL computes when shrinking.
    let plain = distill_data::Preprocess {
        antialias: false,
        ..small
    };
    let png = against_pil(&plain, "small")
        .into_iter()
        .find(|(ext, _)| ext == "png")
        .unwrap();
    assert!(png.1 > 10, "plain bilinear is off by {}", png.1);
}

#[test]
fn an_image_beside_the_class_folders_and_a_link_loop_are_errors() {
    let dir = folder_copy();
    std::fs::copy(
        dir.path()
            .join("tshirt")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
        dir.path().join("stray.png"),
    )
    .unwrap();
    let spec = format!("imagefolder:{}", dir.path().display());
    let err = load_err(&spec, "train", &SourceOptions::default());
    assert!(
        err.contains("stray.png") && err.contains("directly in it"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("stray.png")).unwrap();

    // A link inside a class folder back to the root: followed, it would repeat every image
    // under ever longer paths, labelled with this class.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("tshirt/again")).unwrap();
    let err = load_err(&spec, "train", &SourceOptions::default());
    assert!(err.contains("link loop") && err.contains("again"), "{err}");
}

#[test]
fn csv_errors_name_the_line_as_an_editor_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    // Line 1 the header, line 2 blank, line 5 the bad value.
    std::fs::write(&csv, "a,b,label\n\n1,2,0\n3,4,1\n5,x,0\n").unwrap();
    let err = load_err(
        &format!("csv:{}", csv.display()),
        "train",
        &SourceOptions::default(),
    );
    assert!(err.contains("line 5, column 'b'"), "{err}");
}

/// `values` as a `.npy` file of element type `descr` and `shape` (format 1.0).
fn write_npy(path: &std::path::Path, descr: &str, shape: &[usize], values: &[u8]) {
    std::fs::write(path, npy_bytes(descr, shape, values)).unwrap();
}

/// A `.npy` file's bytes (version 1, as NumPy writes them).
fn npy_bytes(descr: &str, shape: &[usize], values: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(values);
    bytes
}

/// `np.savez` stores its members uncompressed: u8 samples in such an archive stay on disk
/// too, channels-last ones transposed as they are read, with the labels, batches and
/// fingerprint of the same arrays deflated (`np.savez_compressed`, read into memory).
#[test]
fn u8_samples_of_a_stored_npz_stay_on_disk_channels_last_too() {
    use std::io::Write;
    let fashion = idx("test");
    let n = fashion.len();
    // RGB, channels last: three different planes from each grayscale image.
    let hwc: Vec<u8> = fashion
        .pixels()
        .unwrap()
        .iter()
        .flat_map(|&v| [v, v.wrapping_add(85), 255 - v])
        .collect();
    let labels: Vec<u8> = fashion
        .labels
        .iter()
        .flat_map(|&l| i64::from(l).to_le_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (name, method) in [
        ("stored.npz", zip::CompressionMethod::Stored),
        ("deflated.npz", zip::CompressionMethod::Deflated),
    ] {
        let file = std::fs::File::create(dir.path().join(name)).unwrap();
        let mut archive = zip::ZipWriter::new(file);
        let options = zip::write::FileOptions::default().compression_method(method);
        for (member, bytes) in [
            ("y_test.npy", npy_bytes("<i8", &[n], &labels)),
            ("x_test.npy", npy_bytes("|u1", &[n, 28, 28, 3], &hwc)),
        ] {
            archive.start_file(member, options).unwrap();
            archive.write_all(&bytes).unwrap();
        }
        archive.finish().unwrap();
    }
    let at = |name: &str| format!("npy:{}", dir.path().join(name).display());
    let (stored, deflated) = (
        load(&at("stored.npz"), "test"),
        load(&at("deflated.npz"), "test"),
    );
    assert!(matches!(stored.samples, distill_data::Samples::Stored(_)));
    assert!(!matches!(
        deflated.samples,
        distill_data::Samples::Stored(_)
    ));
    assert_eq!(stored.shape.channels, 3);
    assert_eq!(stored.shape, deflated.shape);
    assert_eq!(stored.labels, fashion.labels);
    assert_eq!(stored.fingerprint(), deflated.fingerprint());
    let pre = distill_data::Preprocess::default();
    let positions = [0, 7, n - 1, 3];
    assert_eq!(
        stored.batch(&pre, &positions).unwrap(),
        deflated.batch(&pre, &positions).unwrap()
    );
    let (a, b) = (stored.select(&[5, 2]), deflated.select(&[5, 2]));
    assert_eq!(
        a.batch(&pre, &[0, 1]).unwrap(),
        b.batch(&pre, &[0, 1]).unwrap()
    );
}

/// A folder of `.npy` files holding channels-first u8 samples is read from disk batch by
/// batch, not into memory: the same samples, batches and fingerprint as the IDX files they
/// were written from (so a cache of one joins the other).
#[test]
fn u8_npy_samples_stay_on_disk_with_the_same_batches_and_fingerprint() {
    let fashion = idx("test");
    let n = fashion.len();
    let dir = tempfile::tempdir().unwrap();
    write_npy(
        &dir.path().join("x_test.npy"),
        "|u1",
        &[n, 1, 28, 28],
        fashion.pixels().unwrap(),
    );
    let labels: Vec<u8> = fashion
        .labels
        .iter()
        .flat_map(|&l| i64::from(l).to_le_bytes())
        .collect();
    write_npy(&dir.path().join("y_test.npy"), "<i8", &[n], &labels);
    let npy = load(&format!("npy:{}", dir.path().display()), "test");
    assert!(matches!(npy.samples, distill_data::Samples::Stored(_)));
    assert_eq!(npy.shape, fashion.shape);
    assert_eq!(npy.labels, fashion.labels);
    assert_eq!(npy.fingerprint(), fashion.fingerprint());
    let pre = distill_data::Preprocess::default();
    let positions = [0, 7, n - 1, 3];
    assert_eq!(
        npy.batch(&pre, &positions).unwrap(),
        fashion.batch(&pre, &positions).unwrap()
    );
    // A selection reads the same file through its rows.
    let picked = npy.select(&[5, 2]);
    assert_eq!(
        picked.batch(&pre, &[0, 1]).unwrap(),
        fashion.batch(&pre, &[5, 2]).unwrap()
    );
}
