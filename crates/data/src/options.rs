use serde::{Deserialize, Serialize};

/// Source-specific settings of `--dataset`: which columns or arrays hold the samples and
/// labels, and what to do with unreadable images. Unset names fall back to each source's
/// conventions (see the README). With the `clap` feature these are the command-line flags too (`--image-column`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct SourceOptions {
    /// Parquet: column holding the images (struct of bytes/path, or binary) [default: image,
    /// else the only image column].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub image_column: Option<String>,
    /// Parquet, CSV: column holding the integer class ids [default: label; Parquet: else the
    /// only integer column].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub label_column: Option<String>,
    /// NumPy: array of samples [default: the first of x_SPLIT, SPLIT_x, SPLIT_images,
    /// images_SPLIT, x, X, images, data].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub images_key: Option<String>,
    /// NumPy: array of labels [default: the first of y_SPLIT, SPLIT_y, SPLIT_labels,
    /// labels_SPLIT, y, Y, labels, targets].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub labels_key: Option<String>,
    /// Leave out images that cannot be decoded (printed, and listed in the cache manifest)
    /// instead of failing on the first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub skip_bad: bool,
}
