//! The harness end to end at a tiny size: every workload on every runtime runs in its child
//! process, returns the checked result, and the suite prints the table. The numbers of a tiny
//! debug-build run mean nothing; this only proves that nothing is broken or hangs.

use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_corio-bench");

#[test]
fn the_tiny_suite_runs_every_case_and_checks_it() {
    let out = Command::new(BENCH)
        .args(["suite", "--scale", "tiny"])
        .output()
        .expect("run corio-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "suite failed:\n{stdout}\n{stderr}");
    for workload in [
        "spawn_many",
        "yield_many",
        "chained_spawn",
        "ping_pong",
        "timeout_churn",
        "sleep_many",
        "semaphore_contended",
        "queue_mpmc",
        "blocking_many",
        "tcp_echo",
        "tcp_connections",
        "mem_per_task",
        "million_tasks",
        "file_io",
        "select_loop",
        "broadcast_fanout",
        "process_spawn",
        "tls_echo",
        "cpu_fanout",
        "retry_storm",
    ] {
        assert!(
            stdout.contains(workload),
            "{workload} missing from:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("FAILED") && !stdout.contains("TIMEOUT"),
        "{stdout}"
    );
}

#[test]
fn one_case_prints_its_samples() {
    let out = Command::new(BENCH)
        .args([
            "spawn_many",
            "floor",
            "1",
            "--scale",
            "tiny",
            "--iters",
            "2",
        ])
        .output()
        .expect("run corio-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("@sample ")).count(),
        2
    );
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        &["no_such_workload", "corio", "1"][..],
        &["spawn_many", "no_such_runtime", "1"],
        &["tcp_echo", "floor", "1"],
        &["spawn_many", "corio", "0"],
    ] {
        let out = Command::new(BENCH)
            .args(args)
            .output()
            .expect("run corio-bench");
        assert!(!out.status.success(), "{args:?} was accepted");
    }
}

#[test]
fn corio_uring_runs_on_a_binary_with_the_feature_and_is_refused_without() {
    let out = Command::new(BENCH)
        .args([
            "tcp_echo",
            "corio-uring",
            "1",
            "--scale",
            "tiny",
            "--iters",
            "1",
        ])
        .env_remove("CORIO_IO")
        .output()
        .expect("run corio-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "io-uring") {
        assert!(out.status.success(), "{stderr}");
        // The ring, or epoll with the reason: either way the child says which.
        let backend = stdout
            .lines()
            .find_map(|l| l.strip_prefix("@io_backend "))
            .unwrap_or_else(|| panic!("no backend in:\n{stdout}"));
        assert!(["io_uring", "epoll"].contains(&backend), "{backend}");
        if backend == "epoll" {
            assert!(stdout.contains("@io_fallback "), "{stdout}");
        }
    } else {
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stderr.contains("without the `io-uring` feature"),
            "{stderr}"
        );
    }
}

#[test]
fn the_file_floor_runs_and_corio_reports_its_backend() {
    let out = Command::new(BENCH)
        .args([
            "suite",
            "--scale",
            "tiny",
            "--filter",
            "file_io",
            "--workers",
            "1",
        ])
        .output()
        .expect("run corio-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("file_io"))
        .unwrap_or_else(|| panic!("no file_io row in:\n{stdout}"));
    // Every runtime column has a number (no empty floor cell, no failure) and corio / floor
    // is a ratio.
    let cells: Vec<&str> = row.split(" | ").map(str::trim).collect();
    let floor_ratio = cells.last().expect("a last column");
    assert!(floor_ratio.parse::<f64>().is_ok(), "{row}");
    assert!(!row.contains("FAILED") && !row.contains("[ran on"), "{row}");
    assert!(stderr.contains("floor"), "{stderr}");
    // corio's column is its default reactor even in a binary built with the ring (the suite
    // gives those children CORIO_IO=epoll); the corio-uring column runs only with the feature.
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("file_io "))
        .collect();
    let corio: Vec<&&str> = progress.iter().filter(|l| l.contains(" corio ")).collect();
    assert!(!corio.is_empty(), "{stderr}");
    for line in corio {
        assert!(line.contains("I/O on epoll"), "{line}");
    }
    let uring = progress
        .iter()
        .filter(|l| l.contains(" corio-uring "))
        .count();
    assert_eq!(uring > 0, cfg!(feature = "io-uring"), "{stderr}");
    assert_eq!(
        stdout.contains("| corio-uring "),
        cfg!(feature = "io-uring"),
        "{stdout}"
    );
}
