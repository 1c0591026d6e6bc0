//! A process that ignores SIGCHLD (`SIG_IGN`) has its children reaped by the kernel, and
//! corio keeps it that way: dropping an unreaped `Child` installs no SIGCHLD action, so a later
//! child (corio's or std's) dropped unreaped still leaves no zombie.
//!
//! One test in this binary: the disposition is process-wide.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use corio_process::Command;

/// The zombies among this process's children.
fn zombies() -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let path = task.expect("task entry").path().join("children");
        let Ok(list) = std::fs::read_to_string(path) else {
            continue;
        };
        for pid in list
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if state == Some("Z") {
                out.push(pid);
            }
        }
    }
    out
}

fn sigchld_is_ignored() -> bool {
    // SAFETY: `sigaction` is a plain C struct, for which all zeroes is a valid value.
    #[allow(unsafe_code)]
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, `sigaction` only reads the current one into `old`, a live
    // local of the right type.
    #[allow(unsafe_code)]
    let read = unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) };
    read == 0 && old.sa_sigaction == libc::SIG_IGN
}

#[test]
fn dropping_a_child_keeps_the_kernels_reaping_of_an_ignored_sigchld() {
    // SAFETY: sets SIGCHLD's disposition to ignore; no handler of ours runs.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    }
    // A corio child dropped unreaped while it runs.
    let child = Command::new("sleep")
        .arg("0.05")
        .spawn()
        .expect("spawn sleep");
    drop(child);
    assert!(
        sigchld_is_ignored(),
        "dropping a child changed SIGCHLD's disposition"
    );
    // A std child dropped unreaped: the kernel still reaps it (and the corio one).
    let std_child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = std_child.id();
    drop(std_child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = zombies();
        if left.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        assert!(Instant::now() < deadline, "zombies left: {left:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
