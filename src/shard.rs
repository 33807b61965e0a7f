//! `--shard I/N` and `--num-shards N`, shared by the commands a cluster runs as an array
//! job (`cache-logits`, `sweep`): the shard is the flag's, else the one the scheduler's
//! environment names (Slurm, Kubernetes Indexed Jobs, AWS Batch), printed so a log says
//! which.

use anyhow::{Context, Result};
use distill_data::Shard;

#[derive(clap::Args, Debug, Clone)]
pub struct ShardArgs {
    /// This process is shard I of N (1-based). Without it, a process of a Slurm array
    /// (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX, with --num-shards) or an AWS Batch array
    /// (AWS_BATCH_JOB_ARRAY_INDEX, AWS_BATCH_JOB_ARRAY_SIZE) is the shard its environment
    /// names.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// How many shards, where the scheduler's environment does not say (a Kubernetes
    /// Job: its completions).
    #[arg(long, value_name = "N")]
    pub num_shards: Option<usize>,
}

impl ShardArgs {
    /// The shard this process is, if any.
    pub fn resolve(&self) -> Result<Option<Shard>> {
        if self.shard.is_some() {
            return Ok(self.shard);
        }
        let from_env = Shard::from_env(|name| std::env::var(name).ok(), self.num_shards)
            .context("reading the shard from the scheduler's environment (or give --shard I/N)")?;
        Ok(from_env.map(|(shard, from)| {
            eprintln!("shard {shard} (from {from})");
            shard
        }))
    }
}
