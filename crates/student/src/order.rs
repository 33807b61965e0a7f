//! The order in which an epoch visits the training samples, in windows whose samples are
//! brought to the student's input size together before they are trained on.
//!
//! Every epoch is one full shuffle, except the first over data read a row group at a time
//! (Hugging Face Parquet brought to a new size): its samples are not kept yet, and a full
//! shuffle would need every row group read before the first batch (time to first batch
//! growing with the data). That epoch goes through the row groups in a shuffled order
//! instead, a window of about [`FIRST_EPOCH_WINDOW`] samples at a time, each window
//! shuffled: the first batch waits for one window, whatever the data's size. Its batches
//! mix the samples of a few row groups, not of the whole split (files sorted by class give
//! less mixed batches in that epoch only).

use crate::rng::SplitMix64;

/// Samples in a window of the first epoch over data read a row group at a time: about a
/// second of decoding 64×64 images on two cores.
pub const FIRST_EPOCH_WINDOW: usize = 8192;

/// What decides the order of an epoch.
#[derive(Debug, Clone, Copy)]
pub struct OrderSettings<'a> {
    /// The run's seed.
    pub seed: u64,
    /// `held_out[p]`: position `p` is a validation sample, never trained on.
    pub held_out: Option<&'a [bool]>,
    /// The data's row groups, when it is read a row group at a time.
    pub row_groups: Option<&'a RowGroups>,
    /// Samples per step: windows are whole batches, so no batch straddles two and every
    /// epoch has as many steps.
    pub batch_size: usize,
}

/// The positions of a split by the row group each is read with (`Dataset::read_groups`).
#[derive(Debug, Clone)]
pub struct RowGroups {
    groups: Vec<Vec<usize>>,
    /// The group of each position.
    group_of: Vec<usize>,
    /// Whether the groups hold the classes about as mixed as the split does, so that a
    /// window of a few of them makes batches of many classes.
    mixed: bool,
}

impl RowGroups {
    /// The row groups `groups` of a split whose samples have `labels` (each position in
    /// one group).
    pub fn new(groups: Vec<Vec<usize>>, labels: &[i32]) -> Self {
        let mut group_of = vec![0; labels.len()];
        for (g, positions) in groups.iter().enumerate() {
            for &p in positions {
                if let Some(slot) = group_of.get_mut(p) {
                    *slot = g;
                }
            }
        }
        let mixed = classes_mixed(&groups, labels);
        RowGroups {
            groups,
            group_of,
            mixed,
        }
    }

    /// Every position of the row groups that `positions` are in: what to bring to the
    /// student's size before training on them, so that the validation samples of those
    /// groups (which no window trains on) do not need them read again.
    pub fn whole(&self, positions: &[usize]) -> Vec<usize> {
        let mut touched: Vec<usize> = positions
            .iter()
            .filter_map(|&p| self.group_of.get(p).copied())
            .collect();
        touched.sort_unstable();
        touched.dedup();
        touched
            .into_iter()
            .flat_map(|g| self.groups[g].iter().copied())
            .collect()
    }
}

/// The positions of `samples` that `epoch` (1-based) trains on, in visiting order, as the
/// windows to bring to the student's size before training on each: one full shuffle, or
/// for the first epoch over row groups, windows of shuffled row groups (module docs).
pub fn epoch_windows(samples: usize, epoch: usize, settings: &OrderSettings) -> Vec<Vec<usize>> {
    let kept = |p: &usize| settings.held_out.is_none_or(|h| !h[*p]);
    let groups = settings
        .row_groups
        .filter(|g| g.mixed)
        .map(|g| g.groups.as_slice())
        .filter(|g| epoch == 1 && g.iter().map(Vec::len).sum::<usize>() == samples);
    let Some(groups) = groups else {
        let mut order = epoch_order(samples, settings.seed, epoch);
        order.retain(kept);
        return vec![order];
    };
    let mut visit: Vec<usize> = (0..groups.len()).collect();
    SplitMix64::derive(settings.seed, epoch as u64, u64::MAX - 2).shuffle(&mut visit);
    let sequence: Vec<usize> = visit
        .into_iter()
        .flat_map(|g| groups[g].iter().copied())
        .filter(kept)
        .collect();
    let batch = settings.batch_size.max(1);
    let window = FIRST_EPOCH_WINDOW.div_ceil(batch) * batch;
    sequence
        .chunks(window)
        .enumerate()
        .map(|(i, chunk)| {
            let mut chunk = chunk.to_vec();
            SplitMix64::derive(settings.seed ^ 0x0057_1d0e, epoch as u64, i as u64)
                .shuffle(&mut chunk);
            chunk
        })
        .collect()
}

/// Whether row groups hold the classes about as mixed as the whole split: the share of a
/// group's most common class, averaged over the groups, is less than halfway from the
/// split's own to 1. Rows sorted by class (a group of one or two classes) are not: windows
/// of a few groups would train the first epoch on a few classes at a time, so that epoch
/// is fully shuffled instead, its first batch waiting for every image.
fn classes_mixed(groups: &[Vec<usize>], labels: &[i32]) -> bool {
    let top_share = |positions: &mut dyn Iterator<Item = usize>| {
        let mut counts = std::collections::HashMap::new();
        let mut total = 0usize;
        for p in positions {
            if let Some(&label) = labels.get(p) {
                *counts.entry(label).or_insert(0usize) += 1;
                total += 1;
            }
        }
        counts
            .values()
            .max()
            .map_or(0.0, |&m| m as f64 / total as f64)
    };
    let split = top_share(&mut (0..labels.len()));
    if split >= 1.0 {
        return true; // one class (or none known): nothing to mix
    }
    let groups_share: f64 = groups
        .iter()
        .map(|g| top_share(&mut g.iter().copied()))
        .sum::<f64>()
        / groups.len().max(1) as f64;
    groups_share < split + (1.0 - split) / 2.0
}

/// The shuffled sample order of `epoch`: every sample once.
pub fn epoch_order(samples: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..samples).collect();
    SplitMix64::derive(seed, epoch as u64, u64::MAX).shuffle(&mut order);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every tenth sample held out.
    fn settings<'a>(groups: &'a RowGroups, held_out: &'a [bool]) -> OrderSettings<'a> {
        OrderSettings {
            seed: 7,
            held_out: Some(held_out),
            row_groups: Some(groups),
            batch_size: 256,
        }
    }

    #[test]
    fn the_first_epoch_over_row_groups_reads_a_few_groups_per_window() {
        // 100 row groups of 1,000 samples of 10 classes, mixed.
        let labels: Vec<i32> = (0..100_000).map(|p| (p * 7 % 10) as i32).collect();
        let groups = RowGroups::new(
            (0..100)
                .map(|g| (g * 1000..(g + 1) * 1000).collect())
                .collect(),
            &labels,
        );
        let held_out: Vec<bool> = (0..100_000).map(|p| p % 10 == 0).collect();
        let s = settings(&groups, &held_out);
        let first = epoch_windows(100_000, 1, &s);
        // Every training sample once, none held out.
        let mut all: Vec<usize> = first.iter().flatten().copied().collect();
        all.sort_unstable();
        let expected: Vec<usize> = (0..100_000).filter(|p| p % 10 != 0).collect();
        assert_eq!(all, expected);
        // Windows are whole batches (the last excepted), of about FIRST_EPOCH_WINDOW samples.
        let (last, full) = first.split_last().expect("windows");
        for window in full {
            assert_eq!(window.len() % 256, 0);
            assert!(window.len() >= FIRST_EPOCH_WINDOW);
        }
        assert!(last.len() <= full[0].len());
        // Each window needs the row groups of about its own size (a group may be split
        // between two neighbours), not all of them, and its order is shuffled. Read whole,
        // those groups bring their validation samples along.
        for window in &first {
            let mut whole = groups.whole(window);
            assert!(
                whole.len() <= (window.len() / 900 + 2) * 1000,
                "{}",
                whole.len()
            );
            whole.sort_unstable();
            assert!(window.iter().all(|p| whole.binary_search(p).is_ok()));
            assert_eq!(whole.len() % 1000, 0, "whole groups");
            assert!(window.windows(2).any(|w| w[0] > w[1]));
        }
        // The groups are visited in a shuffled order, the same for the same seed.
        let lowest = |w: &Vec<usize>| w.iter().map(|p| p / 1000).min();
        assert!(first.windows(2).any(|w| lowest(&w[0]) > lowest(&w[1])));
        assert_eq!(epoch_windows(100_000, 1, &s), first);
        // Later epochs (the samples kept by then) are one full shuffle.
        let second = epoch_windows(100_000, 2, &s);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].len(), expected.len());
        let spread: Vec<usize> = second[0][..256].iter().map(|p| p / 1000).collect();
        assert!(spread.iter().max() > Some(&90) && spread.iter().min() < Some(&10));
        // Data read in any order is shuffled whole in the first epoch too.
        let any = OrderSettings {
            row_groups: None,
            ..s
        };
        assert_eq!(epoch_windows(100_000, 1, &any).len(), 1);
        // So are rows sorted by class, whose windows would hold a few classes each.
        let sorted: Vec<i32> = (0..100_000).map(|p| (p / 10_000) as i32).collect();
        let by_class = RowGroups::new(
            (0..100)
                .map(|g| (g * 1000..(g + 1) * 1000).collect())
                .collect(),
            &sorted,
        );
        let sorted_settings = OrderSettings {
            row_groups: Some(&by_class),
            ..s
        };
        assert_eq!(epoch_windows(100_000, 1, &sorted_settings).len(), 1);
    }

    #[test]
    fn classes_are_mixed_unless_the_rows_are_sorted_by_class() {
        let groups: Vec<Vec<usize>> = (0..20).map(|g| (g * 50..(g + 1) * 50).collect()).collect();
        let shuffled: Vec<i32> = (0..1000).map(|p| (p * 7 % 10) as i32).collect();
        assert!(classes_mixed(&groups, &shuffled));
        let sorted: Vec<i32> = (0..1000).map(|p| (p / 100) as i32).collect();
        assert!(!classes_mixed(&groups, &sorted));
        // Two classes, 90 % and 10 %, in any order: every group is mostly the first class,
        // as the split is.
        let skewed: Vec<i32> = (0..1000).map(|p| i32::from(p % 10 == 0)).collect();
        assert!(classes_mixed(&groups, &skewed));
        // One label for every sample (unlabelled data): nothing to mix.
        assert!(classes_mixed(&groups, &[0; 1000]));
    }
}
