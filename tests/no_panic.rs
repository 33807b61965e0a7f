//! Malformed flags and files, fed to every subcommand: whatever is wrong, distill answers
//! with an error (exit 1, or clap's 2 for bad usage), never a panic (exit 101).

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{distill, mini, repo};

/// Values that are wrong for most flags in some way.
const BAD_VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1e999",
    "nan",
    "inf",
    "abc",
    "18446744073709551616",
    "0x0",
    "3/2",
    "1,2,,3",
    "idx:",
    ":::",
    "/nonexistent/path",
    "💥",
    "mlp:0",
    "cnn:1,1,1,1,1,1,1,1",
    "0.0000001",
    "crop:1-0.5",
    "mixup:-1,shift:99999999999",
    "topk:0",
    "topk:99999999999999999999",
];

/// A deterministic stream of choices (SplitMix64).
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// A valid, quick command line of each subcommand, as (flag, value) pairs after the name.
fn valid(dir: &Path, files: &Files) -> Vec<(&'static str, Vec<(String, String)>)> {
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    let out = |name: &str| dir.join(name).display().to_string();
    let data = mini();
    vec![
        (
            "cache-logits",
            vec![
                s("--teacher", &files.teacher),
                s("--dataset", &data),
                s("--limit", "30"),
                s("--batch-size", "16"),
                s("--rows-per-part", "10"),
                s("--views", "3"),
                s("--augment", "crop:0.2-1,flip,shift:1,mixup:0.3,plain-first"),
                s("--view-seed", "4"),
                s("--storage", "topk:3"),
                s("--dtype", "f16"),
                s("--out", &out("cache")),
            ],
        ),
        (
            "train-student",
            vec![
                s("--arch", "mlp:4"),
                s("--dataset", &data),
                s("--limit", "40"),
                s("--test-limit", "20"),
                s("--epochs", "1"),
                s("--batch-size", "16"),
                s("--cache", &files.cache),
                s("--out", &out("run")),
            ],
        ),
        (
            "eval",
            vec![
                s("--model", &files.teacher),
                s("--dataset", &data),
                s("--limit", "20"),
                s("--latency-runs", "1"),
            ],
        ),
        ("inspect", vec![s("", &files.cache), s("--dataset", &data)]),
        (
            "sweep",
            vec![
                s("--grid", &files.grid),
                s("--dataset", &data),
                s("--limit", "40"),
                s("--test-limit", "20"),
                s("--cache", &files.cache),
                s("--out", &out("sweep")),
            ],
        ),
    ]
}

/// Files that are real, and files that only look like what they should be.
struct Files {
    teacher: String,
    cache: String,
    grid: String,
    broken: Vec<String>,
}

fn files(dir: &Path) -> Files {
    let cache = dir.join("valid-cache");
    common::cache(
        &repo("datasets/teacher/test/mlp.onnx"),
        &cache,
        "train",
        &["--limit", "40"],
    );
    let grid = dir.join("grid.toml");
    std::fs::write(
        &grid,
        "epochs = 1\nbatch_size = 16\narch = [\"mlp:4\"]\nalpha = [0]\n",
    )
    .unwrap();
    let mut broken = Vec::new();
    for (name, bytes) in [
        ("empty.onnx", &b""[..]),
        ("text.onnx", b"not a model"),
        ("grid-garbage.toml", b"[[[ nope"),
        ("manifest-only/manifest.json", b"{\"format_version\": 1}"),
        (
            "truncated-cache/manifest.json",
            b"{\"format_version\": 1, \"parts\": [",
        ),
    ] {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let shown = if name.contains('/') {
            path.parent().unwrap()
        } else {
            &path
        };
        broken.push(shown.display().to_string());
    }
    // A cache whose part is cut in half.
    let cut = dir.join("cut-cache");
    std::fs::create_dir(&cut).unwrap();
    for entry in std::fs::read_dir(&cache).unwrap() {
        let p = entry.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        if p.extension().is_some_and(|e| e == "parquet") {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(cut.join(p.file_name().unwrap()), bytes).unwrap();
    }
    broken.push(cut.display().to_string());
    broken.push(dir.join("a-folder-that-is-not-there").display().to_string());
    Files {
        teacher: repo("datasets/teacher/test/mlp.onnx").display().to_string(),
        cache: cache.display().to_string(),
        grid: grid.display().to_string(),
        broken,
    }
}

#[test]
fn no_malformed_flag_or_file_makes_any_subcommand_panic() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    let mut choose = Choices(2026);
    let commands = valid(dir.path(), &files);
    let mut tried = 0;
    for round in 0..120 {
        let (name, flags) = &commands[round % commands.len()];
        let mut flags = flags.clone();
        // One to three corruptions: a bad value, a broken file, or a flag dropped.
        for _ in 0..1 + choose.next(3) {
            let i = choose.next(flags.len());
            match choose.next(3) {
                0 => flags[i].1 = BAD_VALUES[choose.next(BAD_VALUES.len())].to_string(),
                1 => flags[i].1 = files.broken[choose.next(files.broken.len())].clone(),
                _ => {
                    flags.remove(i);
                    if flags.is_empty() {
                        break;
                    }
                }
            }
        }
        let mut cmd = distill();
        // A bad value may be a relative path (`--out idx:`): it lands in the temporary
        // folder, never in the source tree.
        cmd.current_dir(dir.path()).arg(name);
        for (flag, value) in &flags {
            if !flag.is_empty() {
                cmd.arg(flag);
            }
            cmd.arg(value);
        }
        let out = cmd.stdout(Stdio::null()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() != Some(101) && !stderr.contains("panicked"),
            "{name} {flags:?} panicked:\n{stderr}"
        );
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "{name} {flags:?}: exit {:?}\n{stderr}",
            out.status.code()
        );
        tried += 1;
    }
    assert_eq!(tried, 120);
}
