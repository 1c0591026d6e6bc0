//! The environment sets the defaults of the global pool and of builders; an explicit builder
//! call wins; bad values are ignored with a one-line warning. Environment variables are
//! process-wide, so each case runs this test binary again as a child process.

use std::process::Command;
use std::time::Duration;

use corio_blocking::{KEEP_ALIVE_ENV, Pool, THREADS_ENV};

const EXPECT: &str = "CORIO_BLOCKING_TEST_EXPECT";

fn run_child(threads: &str, keep_alive_ms: &str, expect: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "environment_sets_the_defaults",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(THREADS_ENV, threads)
        .env(KEEP_ALIVE_ENV, keep_alive_ms)
        .env(EXPECT, expect)
        .output()
        .unwrap()
}

#[test]
fn environment_sets_the_defaults() {
    if let Some(expect) = std::env::var_os(EXPECT) {
        // Child: check what the parent asked for.
        let expect = expect.to_str().unwrap();
        let (threads, ms) = expect.split_once(',').unwrap();
        let (threads, ms): (usize, u64) = (threads.parse().unwrap(), ms.parse().unwrap());
        for pool in [Pool::current(), Pool::builder().build()] {
            let m = pool.metrics();
            assert_eq!(m.max_threads, threads);
            assert_eq!(m.keep_alive, Duration::from_millis(ms));
        }
        let explicit = Pool::builder()
            .max_threads(7)
            .keep_alive(Duration::from_millis(5))
            .build();
        assert_eq!(explicit.metrics().max_threads, 7, "the builder wins");
        assert_eq!(explicit.metrics().keep_alive, Duration::from_millis(5));
        assert_eq!(
            futures_lite::future::block_on(Pool::current().unblock(|| 3)),
            3
        );
        return;
    }

    let good = run_child("3", "1234", "3,1234");
    assert!(good.status.success(), "{good:?}");
    assert!(!String::from_utf8_lossy(&good.stderr).contains("ignoring"));

    let bad = run_child("lots", "-1", "512,10000");
    assert!(bad.status.success(), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    let threads_warnings = stderr
        .lines()
        .filter(|l| l.contains("ignoring CORIO_BLOCKING_THREADS=\"lots\""))
        .count();
    assert_eq!(threads_warnings, 1, "one line, once: {stderr}");
    assert!(
        stderr.contains("ignoring CORIO_BLOCKING_KEEP_ALIVE_MS=\"-1\""),
        "{stderr}"
    );

    let out_of_range = run_child("0", "0", "512,0");
    assert!(out_of_range.status.success(), "{out_of_range:?}");
}
