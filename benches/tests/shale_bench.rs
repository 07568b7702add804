//! Runs the built `shale-bench` against its in-process baseline server: the
//! JSON line must parse, count every operation and report no errors.

use std::process::Command;

fn run(args: &[&str]) -> (std::process::ExitStatus, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shale-bench"))
        .args(args)
        .output()
        .expect("shale-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout: {stdout:?}, stderr: {stderr}"
    );
    let json = serde_json::from_str(lines[0]).expect("the stdout line is JSON");
    (out.status, json, stderr)
}

fn check(json: &serde_json::Value, mode: &str, size: u64, count: u64) {
    assert_eq!(json["mode"], mode);
    assert_eq!(json["target"], "baseline");
    assert_eq!(json["size"], size);
    assert_eq!(json["ops"], count, "{json}");
    assert_eq!(json["errors"], 0, "{json}");
    for field in [
        "seconds",
        "ops_per_s",
        "mb_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
    ] {
        let v = json[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} is a number: {json}"));
        assert!(v > 0.0, "{field} > 0: {json}");
    }
    let (p50, p99, max) = (
        json["p50_ms"].as_f64().expect("checked"),
        json["p99_ms"].as_f64().expect("checked"),
        json["max_ms"].as_f64().expect("checked"),
    );
    assert!(p50 <= p99 && p99 <= max, "percentiles are ordered: {json}");
}

#[test]
fn put_get_and_mixed_against_the_baseline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let parent = dir.path().to_str().expect("utf-8 temp path");
    for (mode, size, count) in [
        ("put", "4KiB", 200),
        ("get", "64KiB", 300),
        ("mixed", "1MiB", 40),
    ] {
        let count_s = count.to_string();
        let (status, json, stderr) = run(&[
            "--target",
            "baseline",
            "--baseline-dir",
            parent,
            "--mode",
            mode,
            "--size",
            size,
            "--concurrency",
            "4",
            "--count",
            &count_s,
            "--keys",
            "10",
        ]);
        assert!(status.success(), "{mode}: exit {status}, stderr: {stderr}");
        let bytes = shale_bench_size(size);
        check(&json, mode, bytes, count);
        assert!(
            stderr.contains("against baseline"),
            "a human line on stderr: {stderr}"
        );
    }
}

fn shale_bench_size(s: &str) -> u64 {
    match s {
        "4KiB" => 4096,
        "64KiB" => 65536,
        "1MiB" => 1 << 20,
        other => panic!("size {other} not in this test's table"),
    }
}

#[test]
fn modes_the_baseline_cannot_serve_fail_without_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_shale-bench"))
        .args(["--target", "baseline", "--mode", "list", "--count", "1"])
        .output()
        .expect("shale-bench runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
