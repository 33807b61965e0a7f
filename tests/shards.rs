//! A cache written by N processes at once, as a Slurm array, a Kubernetes Indexed Job or
//! an AWS Batch array starts them (`cache-logits --shard I/N`, or the scheduler's
//! environment): the same parts as one process, one cache to every reader, and a shard
//! killed at any write completes the cache when rerun alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{
    SCHEDULER_VARS, distill, fails, json, mini, part_bytes, repo, run, run_together,
    train_cache_cmd,
};

/// A shard's extra flags and environment.
type Started<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

/// [`train_cache_cmd`] with `env` variables.
fn cache_cmd(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = train_cache_cmd(out, extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The parts listed by a manifest: file, rows, sha256.
fn listed(manifest: &serde_json::Value) -> Vec<(String, u64, String)> {
    manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["rows"].as_u64().unwrap(),
                p["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn four_shards_started_at_once_write_the_parts_of_one_process_and_merge_into_one_cache() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    run(&mut cache_cmd(&whole, &[], &[]));

    // Started together, each as its scheduler would start it.
    let sharded = dir.path().join("sharded");
    let envs: [Started; 4] = [
        (
            vec![],
            vec![
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
        ),
        (
            vec![],
            vec![
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
        ),
        (
            vec!["--num-shards", "4"],
            vec![("JOB_COMPLETION_INDEX", "2")],
        ),
        (
            vec![],
            vec![
                ("AWS_BATCH_JOB_ARRAY_INDEX", "3"),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "4"),
            ],
        ),
    ];
    let commands = envs
        .iter()
        .map(|(flags, env)| cache_cmd(&sharded, flags, env))
        .collect();
    for said in run_together(commands) {
        assert!(
            said.contains("shard ") && said.contains("/4 (from "),
            "{said}"
        );
    }

    // The same part files, byte for byte, and a merged manifest listing them as one
    // process's does.
    assert_eq!(part_bytes(&sharded), part_bytes(&whole));
    let merged = json(&sharded.join("manifest.json"));
    let single = json(&whole.join("manifest.json"));
    assert_eq!(merged["complete"], true);
    assert_eq!(merged["shards"], 4);
    assert_eq!(listed(&merged), listed(&single));
    assert_eq!(listed(&merged).len(), 7);
    for index in 1..=4 {
        let shard = json(&sharded.join(format!("manifest.shard-{index:05}-of-00004.json")));
        assert_eq!(shard["complete"], true);
        assert_eq!(shard["shard"]["index"], index);
    }
    // One cache to readers: inspect, and a student that trains from it exactly as from
    // the single process's.
    let report =
        String::from_utf8_lossy(&run(distill().arg("inspect").arg(&sharded)).stdout).to_string();
    assert!(
        report.contains("complete     yes") && report.contains("shard        3/4: complete"),
        "{report}"
    );
    let student = |cache: &Path, out: &Path| {
        let mut cmd = distill();
        cmd.args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
            .args(["--limit", "600", "--test-limit", "100", "--epochs", "1"])
            .arg("--cache")
            .arg(cache)
            .arg("--out")
            .arg(out);
        run(&mut cmd);
        let mut epochs = common::metrics(out);
        for e in &mut epochs {
            for timing in ["seconds", "samples_per_second"] {
                e.as_object_mut().unwrap().remove(timing);
            }
        }
        epochs
    };
    assert_eq!(
        student(&sharded, &dir.path().join("from-shards")),
        student(&whole, &dir.path().join("from-whole"))
    );

    // Shards of another count, and a whole cache into a folder of shards, are refused.
    let err = fails(&mut cache_cmd(&sharded, &["--shard", "1/3"], &[]));
    assert!(err.contains("of 4 shards"), "{err}");
    let err = fails(&mut cache_cmd(&sharded, &[], &[]));
    assert!(err.contains("written in 4 shards"), "{err}");
}

#[test]
fn a_shard_killed_at_any_write_completes_the_cache_when_rerun_alone() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    run(&mut cache_cmd(&whole, &[], &[]));
    let sharded = dir.path().join("sharded");
    for index in [1, 2, 4] {
        run(&mut cache_cmd(
            &sharded,
            &["--shard", &format!("{index}/4")],
            &[],
        ));
    }
    // Three of four shards: readers see an incomplete cache and name the missing shard.
    assert!(!sharded.join("manifest.json").exists());
    let err = fails(
        distill()
            .args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
            .arg("--cache")
            .arg(&sharded)
            .arg("--out")
            .arg(dir.path().join("too-early")),
    );
    assert!(err.contains("shard(s) 3 (3/4: not started) of 4"), "{err}");

    let third = ["--shard", "3/4"];
    let mut points = 0;
    for at in 1.. {
        // Shard 3 killed at its `at`-th durable write, then rerun alone.
        let status = cache_cmd(&sharded, &third, &[("DISTILL_FAULT_AT", &at.to_string())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if status.success() {
            break;
        }
        points += 1;
        let report = String::from_utf8_lossy(&run(distill().arg("inspect").arg(&sharded)).stdout)
            .to_string();
        // Killed before its manifest said complete, the cache is not; after, readers
        // merge the shards' manifests even where the merged one was not written.
        let own = sharded.join("manifest.shard-00003-of-00004.json");
        let done = own.exists() && json(&own)["complete"] == true;
        let complete = if done { "yes" } else { "NO" };
        assert!(
            report.contains(&format!("complete     {complete}")),
            "{report}"
        );
        run(&mut cache_cmd(&sharded, &third, &[]));
        assert_eq!(
            part_bytes(&sharded),
            part_bytes(&whole),
            "killed at write {at}"
        );
        assert_eq!(
            listed(&json(&sharded.join("manifest.json"))),
            listed(&json(&whole.join("manifest.json")))
        );
        // Undo shard 3 for the next point: its manifest and parts, and the merged
        // manifest.
        std::fs::remove_file(sharded.join("manifest.shard-00003-of-00004.json")).unwrap();
        let _ = std::fs::remove_file(sharded.join("manifest.json"));
        for part in ["part-00003.parquet", "part-00004.parquet"] {
            std::fs::remove_file(sharded.join(part)).unwrap();
        }
    }
    assert!(points >= 5, "{points} fault points");
}

/// `examples/slurm/cache-logits.sbatch` run as Slurm runs an array (`--array=1-3`: ids 1 to
/// 3, with the variables Slurm sets) gives the cache of one process.
#[test]
fn the_slurm_example_run_as_an_array_writes_the_cache_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    run(&mut cache_cmd(&whole, &[], &[]));
    let sharded = dir.path().join("sharded");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_distill"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tasks = (1..=3).map(|id| {
        let mut cmd = Command::new("bash");
        cmd.arg(repo("examples/slurm/cache-logits.sbatch"));
        for var in SCHEDULER_VARS {
            cmd.env_remove(var);
        }
        cmd.env("PATH", &path)
            .env("TEACHER", repo("datasets/teacher/test/mlp.onnx"))
            .env("DATA", mini())
            .env("CACHE", &sharded)
            .env("CACHE_FLAGS", "--rows-per-part 300")
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_CPUS_PER_TASK", "1");
        cmd
    });
    for said in run_together(tasks.collect()) {
        assert!(said.contains("/3 (from SLURM_ARRAY_TASK_ID="), "{said}");
    }
    assert_eq!(part_bytes(&sharded), part_bytes(&whole));
    assert_eq!(json(&sharded.join("manifest.json"))["shards"], 3);
}
