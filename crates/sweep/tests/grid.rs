//! The grid file: defaults and blocks, automatic baselines, merging, run directories, shards.

use std::path::Path;

use distill_sweep::{Grid, Shard, plan};

fn parse(text: &str) -> Grid {
    Grid::parse(Path::new("grid.toml"), text).unwrap()
}

#[test]
fn blocks_expand_to_baselines_and_the_cross_product() {
    let grid = parse(
        r#"
seeds = [1, 2]
epochs = 3
[[grid]]
arch = ["mlp:64", "cnn:4,8"]
temperature = [2, 4]
alpha = [0.5, 0.9]
[[grid]]
arch = ["mlp:64"]
temperature = [2]
alpha = [0, 0.5]
seeds = [3]
"#,
    );
    let labels: Vec<String> = grid
        .configurations
        .iter()
        .map(|c| format!("{} {} {:?}", c.arch, c.kd_tag(), c.seeds))
        .collect();
    assert_eq!(
        labels,
        [
            "mlp:64 hard [1, 2, 3]",
            "mlp:64 T2-a0.5 [1, 2, 3]",
            "mlp:64 T2-a0.9 [1, 2]",
            "mlp:64 T4-a0.5 [1, 2]",
            "mlp:64 T4-a0.9 [1, 2]",
            "cnn:4,8 hard [1, 2]",
            "cnn:4,8 T2-a0.5 [1, 2]",
            "cnn:4,8 T2-a0.9 [1, 2]",
            "cnn:4,8 T4-a0.5 [1, 2]",
            "cnn:4,8 T4-a0.9 [1, 2]",
        ]
    );
    assert!(
        grid.configurations
            .iter()
            .all(|c| c.optimisation.epochs == 3)
    );
    let runs = plan(&grid);
    assert_eq!(runs.len(), 22);
    assert_eq!(
        runs[0].dir,
        Path::new("runs/mlp-64/hard_e3-b128-lr0.001-wd0.0001/seed1")
    );
    let dirs: std::collections::BTreeSet<_> = runs.iter().map(|r| r.dir.clone()).collect();
    assert_eq!(dirs.len(), runs.len(), "every run has its own directory");
}

#[test]
fn a_block_overrides_the_defaults_and_gets_its_own_baseline() {
    let grid = parse(
        r#"
epochs = 10
arch = ["mlp:64"]
temperature = [2]
alpha = [0.5]
"#,
    );
    assert_eq!(grid.configurations.len(), 2);
    let grid = parse(
        r#"
lr = 0.01
[[grid]]
arch = ["mlp:64"]
alpha = [0.0]
[[grid]]
arch = ["mlp:64"]
temperature = [3]
alpha = [1.0]
epochs = 4
hard_loss = "mse"
"#,
    );
    // Different training settings: two baselines.
    let tags: Vec<String> = grid
        .configurations
        .iter()
        .map(|c| format!("{}_{}", c.kd_tag(), c.train_tag()))
        .collect();
    assert_eq!(
        tags,
        [
            "hard_e10-b128-lr0.01-wd0.0001",
            "hard_e4-b128-lr0.01-wd0.0001-mse",
            "T3-a1_e4-b128-lr0.01-wd0.0001-mse",
        ]
    );
    assert!(grid.configurations[2].baseline_is(&grid.configurations[1]));
    assert!(!grid.configurations[2].baseline_is(&grid.configurations[0]));
}

#[test]
fn shards_split_the_runs_round_robin() {
    let two: Vec<Shard> = ["1/2", "2/2"].iter().map(|s| s.parse().unwrap()).collect();
    for run in 0..7 {
        assert_eq!(two.iter().filter(|s| s.includes(run)).count(), 1);
    }
    for bad in ["0/2", "3/2", "1", "a/b", "1/0"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}
