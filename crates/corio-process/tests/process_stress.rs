//! Real-thread stress of reaping: threads spawn children at the same time, some waiting for
//! them (pidfd and SIGCHLD wake-ups), some dropping them unreaped (the orphan table, reaped from
//! the SIGCHLD handler on whichever thread it runs), some killing them. At the end this process
//! has no child left.
//!
//! One test in this binary, so no other test's children show up in the scan.
#![cfg(target_os = "linux")]

use std::io;
use std::time::{Duration, Instant};

use corio_process::Command;
use futures_lite::future::block_on;

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

#[test]
fn concurrent_spawn_wait_drop_and_kill() {
    let threads: Vec<_> = (0..6i32)
        .map(|t| {
            std::thread::spawn(move || -> io::Result<u32> {
                let mut waited = 0;
                for i in 0..40 {
                    match (t + i) % 4 {
                        0 => {
                            let code = i % 5;
                            let status = block_on(
                                Command::new("sh")
                                    .args(["-c", &format!("exit {code}")])
                                    .status(),
                            )?;
                            assert_eq!(status.code(), Some(code));
                            waited += 1;
                        }
                        1 => drop(Command::new("true").spawn()?),
                        2 => drop(Command::new("sleep").arg("30").kill_on_drop(true).spawn()?),
                        _ => {
                            let mut child = Command::new("sleep").arg("30").spawn()?;
                            block_on(child.kill())?;
                            assert_eq!(child.id(), None);
                            waited += 1;
                        }
                    }
                }
                Ok(waited)
            })
        })
        .collect();
    let waited: u32 = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .sum();
    assert_eq!(waited, 6 * 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = children();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "children left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
