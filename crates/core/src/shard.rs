//! `--shard I/N`: one of N processes of one job, as cluster schedulers start them (a Slurm
//! array, a Kubernetes Indexed Job, an AWS Batch array), each doing its own share.

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// The I-th of N processes (1-based, as `--shard I/N` reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, 1-based.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// The one shard of an unsplit job.
    pub fn all() -> Self {
        Shard { index: 1, count: 1 }
    }

    /// Whether item `item` (0-based) is this shard's when items are dealt round-robin
    /// (a sweep's runs: I, I+N, I+2N, …).
    pub fn includes(&self, item: usize) -> bool {
        item % self.count == self.index - 1
    }

    /// This shard's contiguous share of `total` items (a cache's parts): the N ranges
    /// cover `0..total` in order, their sizes differing by at most one.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let i = self.index - 1;
        i * total / self.count..(i + 1) * total / self.count
    }

    /// The shard a cluster scheduler started this process as, from its environment:
    /// Slurm arrays (`SLURM_ARRAY_TASK_ID`, offset by `SLURM_ARRAY_TASK_MIN` and divided by
    /// `SLURM_ARRAY_TASK_STEP`; count `SLURM_ARRAY_TASK_COUNT`), Kubernetes Indexed Jobs
    /// (`JOB_COMPLETION_INDEX`) and AWS Batch arrays (`AWS_BATCH_JOB_ARRAY_INDEX`, count
    /// `AWS_BATCH_JOB_ARRAY_SIZE`). `num_shards` gives the count where the environment
    /// does not (it must, for a Kubernetes Job: its `completions`). None outside an array;
    /// with it, the shard and a line saying where it came from.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        num_shards: Option<usize>,
    ) -> Result<Option<(Shard, String)>, ParseError> {
        let number = |name: &'static str| -> Result<Option<usize>, ParseError> {
            match env(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ParseError::new(name, &v, "expected a non-negative integer")),
            }
        };
        let (index0, count, from) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let count = num_shards.or(number("SLURM_ARRAY_TASK_COUNT")?);
            let index = id.saturating_sub(min) / step;
            (index, count, format!("SLURM_ARRAY_TASK_ID={id}"))
        } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            (index, num_shards, format!("JOB_COMPLETION_INDEX={index}"))
        } else if let Some(index) = number("AWS_BATCH_JOB_ARRAY_INDEX")? {
            let count = num_shards.or(number("AWS_BATCH_JOB_ARRAY_SIZE")?);
            (index, count, format!("AWS_BATCH_JOB_ARRAY_INDEX={index}"))
        } else {
            return Ok(None);
        };
        let Some(count) = count else {
            return Err(ParseError::new(
                "num_shards",
                &from,
                "the environment gives this process's index but not how many there are: give the count",
            ));
        };
        if index0 >= count {
            return Err(ParseError::new(
                "num_shards",
                &from,
                format!("index {index0} (0-based) is not below the count {count}"),
            ));
        }
        let shard = Shard {
            index: index0 + 1,
            count,
        };
        Ok(Some((shard, from)))
    }
}

impl std::str::FromStr for Shard {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseError::new("shard", s, "expected I/N with 1 <= I <= N, e.g. 1/2");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn contiguous_ranges_cover_every_item_once_in_order() {
        for total in [0, 1, 3, 7, 10, 101] {
            for count in 1..6 {
                let mut next = 0;
                for index in 1..=count {
                    let r = Shard { index, count }.range(total);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= total / count + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn schedulers_environments_give_the_shard() {
        let shard = |vars: &[(&str, &str)], n| {
            Shard::from_env(env(vars), n)
                .unwrap()
                .map(|(s, _)| s.to_string())
        };
        assert_eq!(shard(&[], None), None);
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(shard(&slurm, None).as_deref(), Some("4/4"));
        // `--array=1-4` and `--array=0-12:4` still give shards 1..4.
        let one_based = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(shard(&one_based, None).as_deref(), Some("1/4"));
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(shard(&stepped, None).as_deref(), Some("3/4"));
        let k8s = [("JOB_COMPLETION_INDEX", "0")];
        assert_eq!(shard(&k8s, Some(2)).as_deref(), Some("1/2"));
        let err = Shard::from_env(env(&k8s), None).unwrap_err().to_string();
        assert!(err.contains("JOB_COMPLETION_INDEX=0"), "{err}");
        let batch = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", "1"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "3"),
        ];
        assert_eq!(shard(&batch, None).as_deref(), Some("2/3"));
        let beyond = [("JOB_COMPLETION_INDEX", "5")];
        assert!(Shard::from_env(env(&beyond), Some(5)).is_err());
    }
}
