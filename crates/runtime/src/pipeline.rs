//! The stage-one pipeline: a teacher over a dataset into a logit cache writer.
//!
//! Three stages overlap through bounded channels, so memory stays at a few batches however
//! large the dataset: a producer thread preprocesses batches (in parallel with rayon), the
//! calling thread runs the session (ONNX Runtime uses its intra-op threads), and a writer
//! thread encodes and writes Parquet parts. Batches never straddle a part boundary, so a
//! resumed run feeds the model exactly the batches an uninterrupted run would.

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use std::collections::HashMap;

use distill_cache::{CacheWriter, CachedView, Manifest, OutputKind, ViewsInfo};
use distill_data::{Dataset, Preprocess};

use crate::{InferencePlan, OnnxModel, RuntimeError};

/// Batches in flight between two stages.
const CHANNEL_DEPTH: usize = 2;

/// What to run and how.
pub(crate) struct Job<'a> {
    pub data: &'a Dataset,
    pub preprocess: &'a Preprocess,
    /// Views per sample, or one plain row per sample.
    pub views: Option<&'a ViewsInfo>,
    pub plan: &'a InferencePlan,
    pub kind: OutputKind,
    /// Rows per session run (a model with a fixed batch size overrides it).
    pub batch_size: usize,
    /// Store NaN/Inf outputs instead of refusing them.
    pub allow_nonfinite: bool,
}

impl Job<'_> {
    /// Rows per sample.
    fn per_sample(&self) -> usize {
        self.views.map_or(1, |v| v.count)
    }

    /// The sample id of cache row `row`.
    fn sample_id(&self, row: usize) -> u64 {
        self.data.ids[row / self.per_sample()]
    }
}

/// A batch on its way through the pipeline: its cache rows, its values (inputs, then
/// logits), and the view of each row in a cache of views.
type Batch = (Range<usize>, Vec<f32>, Vec<CachedView>);

/// The cache rows still to do (up to `total`, the end of this cache's or shard's rows), as
/// batches that never cross a part boundary.
fn batches(writer: &CacheWriter, total: usize, batch: usize) -> Vec<Range<usize>> {
    let per_part = writer.manifest().rows_per_part;
    let mut out = Vec::new();
    let mut start = writer.rows_done();
    while start < total {
        let part_end = ((start / per_part + 1) * per_part).min(total);
        let end = (start + batch).min(part_end);
        out.push(start..end);
        start = end;
    }
    out
}

/// How far from exact a row of probabilities (or of their logarithms, in log space) may be
/// and still be one: float32 softmax and scikit-learn outputs are well within it.
const DISTRIBUTION_TOLERANCE: f32 = 1e-2;

/// The first row of `values` (`[rows, classes]`) that is not what `kind` says it is, with
/// why: probabilities lie in [0, 1] and sum to 1; log-probabilities are at most 0 and their
/// exponentials sum to 1. NaN rows are left to the non-finite check.
fn not_a_distribution(values: &[f32], classes: usize, kind: OutputKind) -> Option<(usize, String)> {
    let tol = DISTRIBUTION_TOLERANCE;
    values.chunks(classes).enumerate().find_map(|(row, v)| {
        if v.iter().any(|x| x.is_nan()) {
            return None;
        }
        let (low, high, total) = match kind {
            OutputKind::Logits => return None,
            OutputKind::Probs => {
                let total: f32 = v.iter().sum();
                (
                    v.iter().cloned().fold(f32::INFINITY, f32::min),
                    v.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
                    total,
                )
            }
            OutputKind::LogProbs => {
                let total: f32 = v.iter().map(|x| x.exp()).sum();
                (
                    f32::NEG_INFINITY,
                    v.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
                    total,
                )
            }
        };
        let in_range = match kind {
            OutputKind::Probs => low >= -tol && high <= 1.0 + tol,
            _ => high <= tol,
        };
        (!in_range || (total - 1.0).abs() > tol).then(|| {
            let why = format!(
                "its values run from {low} to {high} and sum (as probabilities) to {total}"
            );
            (row, why)
        })
    })
}

/// The first non-finite value of `logits` (`[rows, classes]`) as (row, value).
fn first_nonfinite(logits: &[f32], classes: usize) -> Option<(usize, f32)> {
    logits
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| (i / classes, logits[i]))
}

/// Runs `job`, appending to `writer` from where it stands, and returns the finished
/// manifest. `on_rows` is called with the number of rows each written batch added.
pub(crate) fn cache_logits(
    model: &mut OnnxModel,
    job: &Job<'_>,
    writer: CacheWriter,
    on_rows: &(dyn Fn(usize) + Sync),
) -> Result<Manifest, RuntimeError> {
    let classes = writer.manifest().num_classes;
    let total = writer.manifest().end_row();
    let todo = batches(&writer, total, job.plan.batch_rows(job.batch_size));
    let (to_model, from_producer) = sync_channel::<Batch>(CHANNEL_DEPTH);
    let (to_writer, from_model) = sync_channel::<Batch>(CHANNEL_DEPTH);

    std::thread::scope(|scope| {
        let producing = scope.spawn(move || produce(job, todo, to_model));
        let writing = scope.spawn(move || consume(job, writer, from_model, on_rows));
        // Runs until the producer is done or the writer has stopped; dropping both channel
        // ends on return lets the other threads finish.
        let inferred = infer(model, job, classes, from_producer, to_writer);
        let written = writing
            .join()
            .map_err(|_| RuntimeError::Pipeline("the cache writer thread panicked".into()))?;
        let produced = producing
            .join()
            .map_err(|_| RuntimeError::Pipeline("the batch producer thread panicked".into()))?;
        // A data error stopped the producer and so the rest (the parts written before the
        // bad sample's stay: a rerun resumes there); a writer error explains an inference
        // stop caused by it. Each comes before what it caused.
        produced?;
        let manifest = written?;
        inferred?;
        manifest.ok_or_else(|| RuntimeError::Pipeline("inference stopped early".into()))
    })
}

/// Builds the batches of `todo` in order and sends them to the model, until done or the
/// model stops listening; an error names the sample that could not be read.
fn produce(
    job: &Job<'_>,
    todo: Vec<Range<usize>>,
    to_model: SyncSender<Batch>,
) -> Result<(), RuntimeError> {
    let by_id: HashMap<u64, usize> = match job.views {
        Some(_) => job.data.positions_by_id(),
        None => HashMap::new(),
    };
    for range in todo {
        let (values, views) = match job.views {
            None => {
                let positions: Vec<usize> = range.clone().collect();
                (job.data.batch(job.preprocess, &positions)?, Vec::new())
            }
            Some(info) => {
                let rows: Vec<(usize, CachedView)> = range
                    .clone()
                    .map(|row| {
                        let (pos, v) = (row / info.count, row % info.count);
                        let params = job.data.draw_view(&info.augment, info.seed, pos, v as u64);
                        let index = v as u16; // below MAX_VIEWS, checked when prepared
                        (pos, CachedView { index, params })
                    })
                    .collect();
                let pairs: Vec<_> = rows.iter().map(|(p, v)| (*p, v.params)).collect();
                // Partners are drawn among the split's own ids: always found.
                let values = job.data.view_batch(job.preprocess, &pairs, &by_id)?;
                (values, rows.into_iter().map(|(_, v)| v).collect())
            }
        };
        if to_model.send((range, values, views)).is_err() {
            return Ok(()); // inference stopped
        }
    }
    Ok(())
}

fn infer(
    model: &mut OnnxModel,
    job: &Job<'_>,
    classes: usize,
    from_producer: Receiver<Batch>,
    to_writer: SyncSender<Batch>,
) -> Result<(), RuntimeError> {
    for (range, values, views) in from_producer {
        let (got, mut logits) = job.plan.run(model, &values, range.len())?;
        if got != classes {
            return Err(RuntimeError::Shape {
                path: model.path.clone(),
                reason: format!("output has {got} classes for this batch, {classes} before"),
            });
        }
        if let Some((row, reason)) = not_a_distribution(&logits, classes, job.kind) {
            return Err(RuntimeError::NotProbabilities {
                path: model.path.clone(),
                output: job.plan.output.name.clone(),
                kind: job.kind,
                sample_id: job.sample_id(range.start + row),
                reason,
            });
        }
        job.kind.to_logits(&mut logits);
        if !job.allow_nonfinite
            && let Some((row, value)) = first_nonfinite(&logits, classes)
        {
            return Err(RuntimeError::NonFinite {
                path: model.path.clone(),
                sample_id: job.sample_id(range.start + row),
                value,
            });
        }
        if to_writer.send((range, logits, views)).is_err() {
            return Ok(()); // the writer stopped and reports why
        }
    }
    Ok(())
}

fn consume(
    job: &Job<'_>,
    mut writer: CacheWriter,
    from_model: Receiver<Batch>,
    on_rows: &(dyn Fn(usize) + Sync),
) -> Result<Option<Manifest>, RuntimeError> {
    let data = job.data;
    let per_sample = job.per_sample();
    let (per_part, total) = (
        writer.manifest().rows_per_part,
        writer.manifest().total_rows(),
    );
    for (range, logits, views) in from_model {
        // Batches never cross a part boundary: this one ends its part when it ends at one.
        if range.end % per_part == 0 || range.end == total {
            let start = (range.end - 1) / per_part * per_part;
            let positions: Vec<usize> = writer.manifest().sample_range(start..range.end).collect();
            writer.part_content(data.content_of(&positions)?);
        }
        let positions = range.clone().map(|row| row / per_sample);
        let ids: Vec<u64> = positions.clone().map(|p| data.ids[p]).collect();
        let labels: Vec<Option<i32>> = positions.clone().map(|p| Some(data.labels[p])).collect();
        let keys: Vec<String> = if data.keys.is_empty() {
            Vec::new()
        } else {
            positions.map(|p| data.keys[p].clone()).collect()
        };
        writer.push_views(&ids, &labels, &logits, &keys, &views)?;
        on_rows(range.len());
    }
    if writer.rows_done() < writer.manifest().end_row() {
        // Inference stopped early; its error is the one to report.
        return Ok(None);
    }
    if writer.manifest().shard.is_none() {
        // Every file was read (a shard read its own only: its parts carry their content).
        writer.dataset_content(data.content()?);
    }
    Ok(Some(writer.finish()?))
}
