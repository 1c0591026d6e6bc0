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
