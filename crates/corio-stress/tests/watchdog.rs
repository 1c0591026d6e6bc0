//! The watchdog: a scenario that hangs is killed, with its helper process, and reported as a
//! FAIL within its time limit. Linux only, as the suite (`/proc/<pid>/stat`, process groups).
#![cfg(target_os = "linux")]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_hung_scenario_is_killed_with_its_helper_and_fails() {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_corio-stress"))
        .arg("--self-test")
        .output()
        .expect("the stress binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a hang must fail the suite:\n{stdout}"
    );
    assert!(stdout.contains("hung: killed by the watchdog"), "{stdout}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the watchdog waited too long"
    );

    let pid: u32 = stdout
        .split("helper pid ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no helper pid in:\n{stdout}"));
    // Killed with its group; reaped by whoever adopted it.
    let gone = |pid: u32| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    };
    let t = Instant::now();
    while !gone(pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone(pid), "the helper process {pid} outlived its scenario");
}
