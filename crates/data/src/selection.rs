//! Which data a command reads: one split of a source ([`DataSelection`]), or the training
//! and test splits a student learns and is measured on ([`TrainTestData`]). Plain settings
//! (serialised into run specs and sweep definitions); with the `clap` feature they are the
//! command-line flags too.

use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, DatasetSpec, SourceOptions};

/// One split of a source: `KIND:PATH`, the split, an optional limit and the source's own
/// settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct DataSelection {
    /// Dataset source as KIND:PATH, KIND one of idx, imagefolder, parquet, npy, csv (see the
    /// README for each layout).
    #[cfg_attr(feature = "clap", arg(long, value_name = "KIND:PATH"))]
    pub dataset: DatasetSpec,
    /// Split to read where the source holds several (IDX: train or test) [default: train
    /// for training, test for evaluation].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long))]
    pub split: Option<String>,
    /// Use only the first N samples of the split (quick runs and tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub limit: Option<usize>,
    /// Source-specific settings (they apply to the test dataset too).
    #[serde(default)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub source: SourceOptions,
}

impl DataSelection {
    /// The selection of `split` of `dataset` with default source settings.
    pub fn new(dataset: DatasetSpec) -> Self {
        DataSelection {
            dataset,
            split: None,
            limit: None,
            source: SourceOptions::default(),
        }
    }

    /// The split to read: the one selected, or `default_split`.
    pub fn split_or<'a>(&'a self, default_split: &'a str) -> &'a str {
        self.split.as_deref().unwrap_or(default_split)
    }

    /// Loads the selected split (`default_split` when none is selected), cut to the limit,
    /// with the size and colour of every image known.
    pub fn load(&self, default_split: &str) -> Result<Dataset, DataError> {
        self.load_listed(default_split)?.with_headers()
    }

    /// [`DataSelection::load`] without reading an image folder's files: for a consumer
    /// that fixes the channels and size itself (see [`Dataset::headers_read`]), whose
    /// first batch then does not wait for a pass over the data.
    pub fn load_listed(&self, default_split: &str) -> Result<Dataset, DataError> {
        load_split(
            &self.dataset,
            self.split_or(default_split),
            self.limit,
            &self.source,
        )
    }
}

fn default_test_split() -> String {
    "test".into()
}

/// The data a student trains and is tested on: a training split, and the test split of the
/// same source or of another one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TrainTestData {
    /// The training split (default `train`).
    #[serde(flatten)]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub train: DataSelection,
    /// Split evaluated after every epoch.
    #[serde(default = "default_test_split")]
    #[cfg_attr(feature = "clap", arg(long, default_value = "test"))]
    pub test_split: String,
    /// Evaluate on another source instead of the test split of the training source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "KIND:PATH"))]
    pub test_dataset: Option<DatasetSpec>,
    /// Use only the first N test samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub test_limit: Option<usize>,
}

impl TrainTestData {
    /// Training on the `train` split of `dataset` and testing on its `test` split.
    pub fn new(dataset: DatasetSpec) -> Self {
        TrainTestData {
            train: DataSelection::new(dataset),
            test_split: default_test_split(),
            test_dataset: None,
            test_limit: None,
        }
    }

    /// The test split alone, with the size and colour of every image known.
    pub fn load_test(&self) -> Result<Dataset, DataError> {
        self.load_test_listed()?.with_headers()
    }

    /// [`TrainTestData::load_test`] without reading an image folder's files (see
    /// [`DataSelection::load_listed`]).
    pub fn load_test_listed(&self) -> Result<Dataset, DataError> {
        let spec = self.test_dataset.as_ref().unwrap_or(&self.train.dataset);
        load_split(spec, &self.test_split, self.test_limit, &self.train.source)
    }

    /// The training split, checked to be usable for a test on `test`: alike in channels,
    /// size and value type, and not the training data itself (a source that holds one split
    /// gives it for every split name; an explicit test dataset is a choice, not an accident).
    pub fn check_alike(&self, train: &Dataset, test: &Dataset) -> Result<(), DataError> {
        let fixed = |d: &Dataset| !d.has_varying_size();
        if test.shape.channels != train.shape.channels
            || (fixed(train) && fixed(test) && test.shape != train.shape)
            || test.is_float() != train.is_float()
        {
            return Err(DataError::TestUnlikeTrain {
                test: format!("{} ({:?})", test.source, test.shape),
                train: format!("{} ({:?})", train.source, train.shape),
            });
        }
        if self.test_dataset.is_none() && test.fingerprint() == train.fingerprint() {
            let reason = if test.split == train.split {
                format!("both are split '{}'", test.split)
            } else {
                format!("{} holds one split", test.source)
            };
            return Err(DataError::TestIsTrain {
                source_spec: test.source.clone(),
                reason,
            });
        }
        Ok(())
    }
}

/// Loads `split` of `spec`, cut to `limit` samples; an empty result is an error. An image
/// folder is listed without reading its files (see [`Dataset::headers_read`]).
pub fn load_split(
    spec: &DatasetSpec,
    split: &str,
    limit: Option<usize>,
    options: &SourceOptions,
) -> Result<Dataset, DataError> {
    let mut data = spec
        .load_listed(split, options)
        .map_err(|e| DataError::Split {
            split: split.to_string(),
            source_spec: spec.to_string(),
            source: Box::new(e),
        })?;
    if let Some(n) = limit {
        data.truncate(n);
    }
    if data.is_empty() {
        return Err(DataError::EmptySplit {
            source_spec: spec.to_string(),
            split: split.to_string(),
        });
    }
    Ok(data)
}
