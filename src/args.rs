//! Argument groups shared by several subcommands (DESIGN.md, "The command-line contract").

use anyhow::{Context, Result};
use clap::Args;
use distill_data::{Dataset, DatasetSpec, Layout, Preprocess, parse_size};

/// `--dataset KIND:PATH --split NAME`.
#[derive(Args, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetArgs {
    /// Dataset source as KIND:PATH (KIND: idx; imagefolder, parquet, npy, csv are planned).
    #[arg(long, value_name = "KIND:PATH")]
    pub dataset: DatasetSpec,
    /// Split to read where the source holds several (IDX: train or test) [default: train
    /// for training, test for evaluation].
    #[arg(long)]
    pub split: Option<String>,
    /// Use only the first N samples of the split (quick runs and tests).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

impl DatasetArgs {
    /// Loads `--split`, or `default_split` when none was given.
    pub fn load(&self, default_split: &str) -> Result<Dataset> {
        let split = self.split.as_deref().unwrap_or(default_split);
        load_split(&self.dataset, split, self.limit)
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
        load_split(test_spec, &self.test_split, self.test_limit)
    }

    /// The training split (default `train`) and the test split, checked to be alike.
    pub fn load(&self) -> Result<(Dataset, Dataset)> {
        let train = self.train.load("train")?;
        let test = self.load_test()?;
        if test.shape != train.shape {
            anyhow::bail!(
                "test samples are {:?} but training samples are {:?}",
                test.shape,
                train.shape
            );
        }
        Ok((train, test))
    }
}

pub fn load_split(spec: &DatasetSpec, split: &str, limit: Option<usize>) -> Result<Dataset> {
    let mut data = spec
        .load(split)
        .with_context(|| format!("loading split '{split}' of {spec}"))?;
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
    /// Multiply raw byte values by this first [default: 1/255].
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
}

impl PreprocessArgs {
    /// The preprocessing to use: flags given on the command line override `base`.
    pub fn resolve(&self, base: Preprocess) -> Preprocess {
        Preprocess {
            scale: self.scale.unwrap_or(base.scale),
            mean: self.mean.clone().unwrap_or(base.mean),
            std: self.std.clone().unwrap_or(base.std),
            layout: self.layout.unwrap_or(base.layout),
            resize: self.resize.or(base.resize),
            channels: self.channels.or(base.channels),
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
