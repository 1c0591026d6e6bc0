//! Tests of the SIGCHLD fallback (forced, so it runs on every platform) and the orphan table.

use std::io;
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, poll_once};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::{Command, Stdio, reap};

/// Whether `pid` is no longer a child of this process (reaped, or never ours).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // Fields after the command name (which may contain spaces): state, ppid, ...
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
            let mut fields = rest.split(' ');
            let _state = fields.next();
            let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
            ppid != Some(std::process::id())
        }
    }
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} is still a child (zombie?)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigchld_fallback_waits_for_many_children() -> io::Result<()> {
    let mut children: Vec<_> = (0..20)
        .map(|i| {
            Command::new("sh")
                .args(["-c", &format!("sleep 0.0{}; exit {i}", i % 5)])
                .force_sigchld()
                .spawn()
        })
        .collect::<io::Result<_>>()?;
    let statuses = block_on(async {
        let mut out = Vec::new();
        for c in &mut children {
            out.push(c.wait().await?.code());
        }
        io::Result::Ok(out)
    })?;
    assert_eq!(statuses, (0..20).map(Some).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn sigchld_fallback_wait_is_cancel_safe() -> io::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", "read x; exit 4"])
        .stdin(Stdio::piped())
        .force_sigchld()
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    assert!(block_on(poll_once(child.wait())).is_none());
    assert!(child.try_wait()?.is_none());
    block_on(async {
        stdin.write_all(b"go\n").await?;
        stdin.close().await
    })?;
    assert_eq!(block_on(child.wait())?.code(), Some(4));
    Ok(())
}

#[test]
fn sigchld_fallback_pipes_and_kill() -> io::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .force_sigchld()
        .spawn()?;
    let pid = child.id().unwrap();
    let mut line = [0u8; 6];
    block_on(child.stdout.as_mut().unwrap().read_exact(&mut line))?;
    assert_eq!(&line, b"ready\n");
    block_on(child.kill())?;
    assert_eq!(child.id(), None);
    assert!(gone(pid));
    Ok(())
}

#[test]
fn orphans_are_reaped_in_the_signal_handler() -> io::Result<()> {
    // Children that exit on their own after their `Child` is dropped, with no runtime and no
    // one polling anything: only the SIGCHLD action can reap them.
    let pids: Vec<u32> = (0..10)
        .map(|_| {
            let child = Command::new("sleep").arg("0.05").force_sigchld().spawn()?;
            Ok(child.id().unwrap())
        })
        .collect::<io::Result<_>>()?;
    for &pid in &pids {
        wait_gone(pid);
    }
    // More orphans than one chunk of the table, killed on drop.
    let pids: Vec<u32> = (0..100)
        .map(|_| {
            let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
            Ok(child.id().unwrap())
        })
        .collect::<io::Result<_>>()?;
    for &pid in &pids {
        wait_gone(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while reap::orphans() != 0 {
        assert!(
            Instant::now() < deadline,
            "{} orphans left",
            reap::orphans()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn sigchld_fallback_survives_the_reactor_it_first_listened_on() -> io::Result<()> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .force_sigchld()
        .spawn()?;
    let stdin = child.stdin.take();
    let driver = corio_reactor::ReactorDriver::new()?;
    {
        let _enter = driver.reactor().enter();
        assert!(block_on(poll_once(child.wait())).is_none());
    }
    drop(driver); // that runtime is gone
    drop(stdin); // EOF: cat exits
    assert!(block_on(child.wait())?.success());
    Ok(())
}
