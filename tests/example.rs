//! The example in `examples/` runs: the library crates alone cache and read back a teacher's
//! logits.

mod common;

use common::repo;

/// `target/<profile>/examples/NAME`, which `cargo test` builds beside the test binaries.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lies in target/<profile>/deps");
    profile.join("examples").join(name)
}

#[test]
fn the_library_example_caches_and_reads_back_logits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cache");
    let exe = example("cache_and_read");
    assert!(
        exe.is_file(),
        "{} is missing: cargo test builds the examples",
        exe.display()
    );
    for round in 0..2 {
        let output = std::process::Command::new(&exe)
            .arg(repo("datasets/teacher/test/mlp.onnx"))
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("cached 300 rows of 10 classes"), "{stdout}");
        // The second run finds the finished cache and computes nothing.
        let computed = if round == 0 {
            "300 computed"
        } else {
            "0 computed"
        };
        assert!(stdout.contains(computed), "{stdout}");
        assert!(stdout.contains("joined by sample id"), "{stdout}");
    }
    assert!(out.join("part-00002.parquet").is_file());
}
