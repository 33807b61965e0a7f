//! Argument groups shared by several subcommands (DESIGN.md, "The command-line contract").

use anyhow::{Context, Result};
use clap::Args;
use distill_data::{Dataset, DatasetSpec, Layout, Preprocess, SourceOptions, parse_size};

/// `--dataset KIND:PATH --split NAME` and the source's own settings.
#[derive(Args, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetArgs {
    /// Dataset source as KIND:PATH, KIND one of idx, imagefolder, parquet, npy, csv (see the
    /// README for each layout).
    #[arg(long, value_name = "KIND:PATH")]
    pub dataset: DatasetSpec,
    /// Split to read where the source holds several (IDX: train or test) [default: train
    /// for training, test for evaluation].
    #[arg(long)]
    pub split: Option<String>,
    /// Use only the first N samples of the split (quick runs and tests).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Source-specific settings (they apply to `--test-dataset` too).
    #[command(flatten)]
    #[serde(default)]
    pub source: SourceOptions,
}

impl DatasetArgs {
    /// Loads `--split`, or `default_split` when none was given.
    pub fn load(&self, default_split: &str) -> Result<Dataset> {
        let split = self.split.as_deref().unwrap_or(default_split);
        load_split(&self.dataset, split, self.limit, &self.source)
    }
}

/// The data a student trains and is tested on: `--dataset`/`--split` for training, and
/// `--test-split` of the same source or `--test-dataset`.
#[derive(Args, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainDataArgs {
    #[command(flatten)]
    pub train: DatasetArgs,
    /// Split evaluated after every epoch.
    #[arg(long, default_value = "test")]
    pub test_split: String,
    /// Evaluate on another source instead of --test-split of --dataset.
    #[arg(long, value_name = "KIND:PATH")]
    pub test_dataset: Option<DatasetSpec>,
    /// Use only the first N test samples.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
}

impl TrainDataArgs {
    /// The test split alone.
    pub fn load_test(&self) -> Result<Dataset> {
        let test_spec = self.test_dataset.as_ref().unwrap_or(&self.train.dataset);
        load_split(
            test_spec,
            &self.test_split,
            self.test_limit,
            &self.train.source,
        )
    }

    /// The training split (default `train`) and the test split, checked to be alike.
    pub fn load(&self) -> Result<(Dataset, Dataset)> {
        let train = self.train.load("train")?;
        let test = self.load_test()?;
        let fixed = |d: &Dataset| !d.has_varying_size();
        if test.shape.channels != train.shape.channels
            || (fixed(&train) && fixed(&test) && test.shape != train.shape)
            || test.is_float() != train.is_float()
        {
            anyhow::bail!(
                "test samples ({}) are {:?} but training samples ({}) are {:?}",
                test.source,
                test.shape,
                train.source,
                train.shape
            );
        }
        // A source holding one split gives it for every --split: testing on the training
        // data is then an accident, not a choice (an explicit --test-dataset is one).
        if self.test_dataset.is_none() && test.fingerprint() == train.fingerprint() {
            anyhow::bail!(
                "the test split of {} is the training data itself ({} holds one split): give --test-dataset",
                test.source,
                test.source
            );
        }
        Ok((train, test))
    }
}

pub fn load_split(
    spec: &DatasetSpec,
    split: &str,
    limit: Option<usize>,
    options: &SourceOptions,
) -> Result<Dataset> {
    let started = std::time::Instant::now();
    let mut data = spec
        .load(split, options)
        .with_context(|| format!("loading split '{split}' of {spec}"))?;
    for bad in &data.skipped {
        eprintln!("skipped {}: {}", bad.key, bad.reason);
    }
    if let Some(first) = data.ignored.first() {
        eprintln!(
            "note: {} file(s) in {spec} are not read: only .{} files are images (e.g. {first})",
            data.ignored.len(),
            distill_data::IMAGE_EXTENSIONS.join(", .")
        );
    }
    if matches!(data.samples, distill_data::Samples::Encoded(_)) {
        eprintln!(
            "split '{split}' of {spec}: {} images ({} channel(s), {}) checked in {:.2} s{}",
            data.len(),
            data.shape.channels,
            if data.has_varying_size() {
                "several sizes".to_string()
            } else {
                format!("{}x{}", data.shape.height, data.shape.width)
            },
            started.elapsed().as_secs_f64(),
            if data.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", data.skipped.len())
            }
        );
    }
    if let Some(n) = limit {
        data.truncate(n);
    }
    if data.is_empty() {
        anyhow::bail!("split '{split}' of {spec} holds no samples");
    }
    Ok(data)
}

/// `--scale --mean --std --resize --channels --layout`: how raw bytes become model input,
/// `x = (byte * scale - mean) / std` after channel conversion and resizing. Unset values
/// come from the model (its recorded preprocessing, or its input shape) where there is one,
/// else the defaults below.
#[derive(Args, Debug, Clone, Default)]
pub struct PreprocessArgs {
    /// Multiply raw values by this first [default: 1/255 for bytes, 1 for float data].
    #[arg(long)]
    pub scale: Option<f32>,
    /// Subtracted after scaling: one value, or one per channel, comma-separated [default: 0].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub mean: Option<Vec<f32>>,
    /// Divides after the mean is subtracted: one value, or one per channel [default: 1].
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Bilinear resize to HEIGHTxWIDTH (or one number for a square) [default: the model's
    /// fixed input size, else the data's size].
    #[arg(long, value_name = "HxW", value_parser = parse_size)]
    pub resize: Option<[usize; 2]>,
    /// Channels the model expects: 1-channel data is replicated, 3-channel data becomes
    /// grayscale (luma) [default: the model's fixed channel count, else the data's].
    #[arg(long)]
    pub channels: Option<usize>,
    /// Input layout the model expects: nchw, nhwc or flat [default: read from the model's
    /// input shape, else nchw].
    #[arg(long)]
    pub layout: Option<Layout>,
    /// Resize keeping the aspect ratio so the shorter side is N (torchvision's Resize(N)),
    /// before --crop.
    #[arg(long, value_name = "N")]
    pub resize_shorter: Option<usize>,
    /// Centre crop to HEIGHTxWIDTH (or one number) after resizing (torchvision's
    /// CenterCrop).
    #[arg(long, value_name = "HxW", value_parser = parse_size)]
    pub crop: Option<[usize; 2]>,
    /// Resize as Pillow does (antialiased bilinear, bit-exact on 8-bit images): what
    /// torchvision's Resize computes on PIL images [default: plain bilinear, as OpenCV].
    #[arg(long)]
    pub antialias: bool,
}

impl PreprocessArgs {
    /// The preprocessing to use: flags given on the command line override `base`.
    /// A shorter-side resize or a crop on the command line replaces the geometry that
    /// `base` read from the model's input size, rather than stacking on it.
    ///
    /// Float data (CSV, f32 arrays) is not scaled by default: the 1/255 default is for bytes.
    pub fn resolve(&self, base: Preprocess, data: &Dataset) -> Preprocess {
        let base_scale = if data.is_float() && base.scale == Preprocess::default().scale {
            1.0
        } else {
            base.scale
        };
        let own_geometry = self.resize_shorter.is_some() || self.crop.is_some();
        Preprocess {
            scale: self.scale.unwrap_or(base_scale),
            mean: self.mean.clone().unwrap_or(base.mean),
            std: self.std.clone().unwrap_or(base.std),
            layout: self.layout.unwrap_or(base.layout),
            resize: if own_geometry {
                self.resize
            } else {
                self.resize.or(base.resize)
            },
            channels: self.channels.or(base.channels),
            resize_shorter: self.resize_shorter.or(base.resize_shorter),
            crop: self.crop.or(base.crop),
            antialias: self.antialias || base.antialias,
        }
    }
}

/// Parses a byte count: a number with an optional K, M or G suffix (powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => (&t[..i], t[i..].trim().to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let scale = match unit.trim_end_matches(['B', 'I']) {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("'{text}': expected a size such as 512M or 2G")),
    };
    let value: f64 = digits
        .parse()
        .map_err(|_| format!("'{text}': expected a size such as 512M or 2G"))?;
    Ok((value * scale as f64) as u64)
}
