//! No child is left behind: after children are dropped unreaped, and after `output`, `status`,
//! `wait_with_output` and `kill` futures are dropped at every await point, this process has no
//! child left at all (`/proc/self/task/*/children` is empty).
//!
//! One test in this binary, so no other test's children show up in the scan.
#![cfg(target_os = "linux")]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use corio_process::{Command, Stdio};

/// Every child of every thread of this process (zombies included).
fn children() -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let path = task.expect("task entry").path().join("children");
        if let Ok(list) = std::fs::read_to_string(path) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

fn assert_no_children_soon(what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = children();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: children left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `fut` `polls` times (with a no-op waker, sleeping a little in between so that the
/// child makes progress), then drops it.
fn poll_then_drop<F: Future>(fut: F, polls: usize) -> bool {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..polls {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn nothing_is_left_behind() -> io::Result<()> {
    assert_no_children_soon("at start");

    // Dropped unreaped, running on: reaped when they exit.
    for _ in 0..30 {
        drop(Command::new("sleep").arg("0.1").spawn()?);
    }
    // Dropped unreaped, killed.
    for _ in 0..30 {
        drop(Command::new("sleep").arg("30").kill_on_drop(true).spawn()?);
    }
    // Dropped with their pipes still open in our hands: the children see EOF and exit.
    let mut pipes = Vec::new();
    for _ in 0..10 {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        pipes.push((child.stdin.take(), child.stdout.take()));
    }
    drop(pipes);
    assert_no_children_soon("dropped children");

    // Futures dropped after 0, 1, 2, ... polls: wherever they stop, the child goes.
    for polls in 0..6 {
        let script = "echo started; exec sleep 30";
        poll_then_drop(
            Command::new("sh")
                .args(["-c", script])
                .kill_on_drop(true)
                .output(),
            polls,
        );
        poll_then_drop(
            Command::new("sh")
                .args(["-c", script])
                .kill_on_drop(true)
                .status(),
            polls,
        );
        let child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        poll_then_drop(child.wait_with_output(), polls);
        // Polled at least once, so SIGKILL is sent; wherever it stops, dropping the Child (not
        // kill_on_drop) finishes the reaping.
        let mut child = Command::new("sleep").arg("30").spawn()?;
        poll_then_drop(child.kill(), polls.max(1));
        drop(child);
        // Not killed on drop: such children finish on their own and are reaped then.
        poll_then_drop(Command::new("sleep").arg("0.05").output(), polls);
    }
    assert_no_children_soon("dropped futures");
    Ok(())
}
