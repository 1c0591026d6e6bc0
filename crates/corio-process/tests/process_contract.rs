//! The contract of `Command` and `Child`: output, status, pipes, many children, kill, wait's
//! cancel safety, NotFound. Runs outside any runtime (the reactor's and timer's global
//! fallbacks), with `futures_lite::future::block_on`.
#![cfg(unix)]

use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use corio_process::{Command, Stdio};
use futures_lite::future::{block_on, poll_once, try_zip};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Polls every future until all are done; results in input order.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

/// Whether `pid` is no longer a child of this process (reaped; `/proc` says so).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
            let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
            ppid != Some(std::process::id())
        }
    }
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} is still our child (a zombie?)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn output_captures_stdout_stderr_and_status() -> io::Result<()> {
    let out = block_on(
        Command::new("sh")
            .args(["-c", "printf out; printf err >&2; exit 5"])
            .output(),
    )?;
    assert_eq!(out.stdout, b"out");
    assert_eq!(out.stderr, b"err");
    assert_eq!(out.status.code(), Some(5));
    Ok(())
}

#[test]
fn output_gives_an_empty_stdin_unless_set() -> io::Result<()> {
    // `cat` reads stdin to its end: with the default null stdin it ends at once.
    let out = block_on(Command::new("cat").output())?;
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    // A command reused after `output` spawns with inherited streams again, and an explicit
    // setting is kept by `output`.
    let mut cmd = Command::new("echo");
    cmd.arg("x");
    assert_eq!(block_on(cmd.output())?.stdout, b"x\n");
    cmd.stdout(Stdio::null());
    assert!(block_on(cmd.output())?.stdout.is_empty());
    assert!(block_on(cmd.status())?.success());
    Ok(())
}

#[test]
fn status_closes_piped_streams() -> io::Result<()> {
    // With stdin piped but never written, `status` must close it, or `cat` waits forever.
    let status = block_on(Command::new("cat").stdin(Stdio::piped()).status())?;
    assert!(status.success());
    let status = block_on(Command::new("false").status())?;
    assert_eq!(status.code(), Some(1));
    Ok(())
}

#[test]
fn sixteen_mib_through_cat_with_a_concurrent_writer_and_reader() -> io::Result<()> {
    const LEN: usize = 16 << 20;
    // A pattern that does not repeat at pipe-buffer boundaries, so a lost or repeated chunk
    // shows.
    let pattern: Vec<u8> = (0..=250u8).collect();
    let mut data = Vec::with_capacity(LEN);
    while data.len() < LEN {
        let n = pattern.len().min(LEN - data.len());
        data.extend_from_slice(&pattern[..n]);
    }
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let write = async {
        // Many writes, so both sides block on full pipes many times.
        for chunk in data.chunks(256 << 10) {
            stdin.write_all(chunk).await?;
        }
        stdin.close().await
    };
    let read = async {
        let mut got = Vec::with_capacity(LEN);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stdout.read(&mut buf).await? {
                0 => return Ok(got),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let ((), got) = block_on(try_zip(write, read))?;
    assert_eq!(got.len(), LEN);
    assert!(got == data, "the bytes came back changed");
    assert!(block_on(child.wait())?.success());
    Ok(())
}

#[test]
fn large_output_on_both_streams_does_not_deadlock() -> io::Result<()> {
    // 4 MiB on stdout and 4 MiB on stderr, interleaved: reading one stream to its end before
    // the other would deadlock once the other pipe fills.
    let script = "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; i=$((i+1)); done";
    let out = block_on(Command::new("sh").args(["-c", script]).output())?;
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 4 << 20);
    assert_eq!(out.stderr.len(), 4 << 20);
    Ok(())
}

#[test]
fn a_hundred_children_at_once() -> io::Result<()> {
    let mut children: Vec<_> = (0..100)
        .map(|i| {
            Command::new("sh")
                .args(["-c", &format!("exit {}", i % 7)])
                .spawn()
        })
        .collect::<io::Result<_>>()?;
    let pids: Vec<u32> = children.iter().map(|c| c.id().unwrap()).collect();
    let statuses = block_on(join_all(children.iter_mut().map(|c| c.wait()).collect()));
    for (i, status) in statuses.into_iter().enumerate() {
        assert_eq!(status?.code(), Some(i as i32 % 7));
    }
    for (c, pid) in children.iter().zip(pids) {
        assert_eq!(c.id(), None);
        assert!(gone(pid), "{pid} not reaped by wait");
    }
    // And a hundred `output`s at once.
    let outs = block_on(join_all(
        (0..100)
            .map(|i| Command::new("echo").arg(i.to_string()).output())
            .collect(),
    ));
    for (i, out) in outs.into_iter().enumerate() {
        assert_eq!(out?.stdout, format!("{i}\n").into_bytes());
    }
    Ok(())
}

#[test]
fn a_timeout_around_wait_leaves_the_child_usable() -> io::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", "read line; exit 3"])
        .stdin(Stdio::piped())
        .spawn()?;
    // Taken out first: `wait` closes a stdin still held in the field.
    let mut stdin = child.stdin.take().unwrap();
    for _ in 0..3 {
        let waited = block_on(corio_timer::timeout(
            Duration::from_millis(20),
            child.wait(),
        ));
        assert!(waited.is_err(), "the child waits for its input");
    }
    assert_eq!(child.try_wait()?, None);
    block_on(stdin.write_all(b"go\n"))?;
    let status = block_on(corio_timer::timeout(Duration::from_secs(10), child.wait()))
        .expect("exits once it has its line")?;
    assert_eq!(status.code(), Some(3));
    // Waiting again returns the same status.
    assert_eq!(block_on(child.wait())?.code(), Some(3));
    assert_eq!(child.try_wait()?.and_then(|s| s.code()), Some(3));
    Ok(())
}

#[test]
fn kill_sends_sigkill_and_reaps() -> io::Result<()> {
    let mut child = Command::new("sleep").arg("30").spawn()?;
    let pid = child.id().unwrap();
    block_on(child.kill())?;
    assert_eq!(child.id(), None);
    assert!(gone(pid));
    assert_eq!(block_on(child.wait())?.signal(), Some(libc::SIGKILL));
    // Killing a reaped child is a no-op.
    child.start_kill()?;
    block_on(child.kill())?;

    let mut child = Command::new("sleep").arg("30").spawn()?;
    child.start_kill()?;
    assert_eq!(block_on(child.wait())?.signal(), Some(libc::SIGKILL));
    Ok(())
}

#[test]
fn kill_on_drop_kills_and_reaps_in_the_background() -> io::Result<()> {
    let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap();
    drop(child);
    wait_gone(pid);
    // Dropping an `output` future drops (and so kills) its child.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo $$; exec sleep 30"])
        .kill_on_drop(true);
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    let mut byte = [0u8; 1];
    let stdout = child.stdout.as_mut().unwrap();
    while byte != *b"\n" {
        block_on(stdout.read_exact(&mut byte))?;
        line.push(byte[0] as char);
    }
    let pid: u32 = line.trim().parse().unwrap();
    assert_eq!(Some(pid), child.id());
    let output = child.wait_with_output();
    let mut output = Box::pin(output);
    assert!(block_on(poll_once(&mut output)).is_none());
    drop(output);
    wait_gone(pid);
    Ok(())
}

#[test]
fn a_dropped_child_that_exits_later_is_reaped() -> io::Result<()> {
    let pids: Vec<u32> = (0..20)
        .map(|_| Ok(Command::new("sleep").arg("0.05").spawn()?.id().unwrap()))
        .collect::<io::Result<_>>()?;
    for pid in pids {
        wait_gone(pid);
    }
    Ok(())
}

#[test]
fn wait_survives_the_reactor_it_first_registered_with() -> io::Result<()> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take();
    let driver = corio_reactor::ReactorDriver::new()?;
    {
        let _enter = driver.reactor().enter();
        assert!(block_on(poll_once(child.wait())).is_none());
    }
    drop(driver); // that runtime is gone
    drop(stdin); // EOF: the child exits
    let status = block_on(corio_timer::timeout(Duration::from_secs(10), child.wait()))
        .expect("the exit is seen through the global reactor")?;
    assert!(status.success());
    Ok(())
}

#[test]
fn a_missing_program_is_not_found_and_named() {
    let err = Command::new("corio-no-such-program").spawn().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("corio-no-such-program"), "{err}");
    // std's error, with its OS code, is kept as the source.
    let source = std::error::Error::source(err.get_ref().expect("a custom error"))
        .and_then(|s| s.downcast_ref::<io::Error>())
        .expect("std's error as the source");
    assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
    let err = block_on(Command::new("corio-no-such-program").output()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("corio-no-such-program"), "{err}");
    let err = block_on(Command::new("/nonexistent/dir/prog").status()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("/nonexistent/dir/prog"), "{err}");
    let err = Command::new("true")
        .current_dir("/nonexistent/dir")
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("true"), "{err}");
    // std reports a missing working directory as the program's ENOENT: the message says which.
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("working directory \"/nonexistent/dir\" does not exist"),
        "{err}"
    );
    // A missing program in an existing directory does not blame the directory.
    let err = Command::new("corio-no-such-program")
        .current_dir("/")
        .spawn()
        .unwrap_err();
    assert!(!err.to_string().contains("working directory"), "{err}");
    // A working directory that is a file: named too (std says only "Not a directory").
    let file = std::env::temp_dir().join(format!("corio-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, b"").expect("a file in the temp dir");
    let err = Command::new("true").current_dir(&file).spawn().unwrap_err();
    let _ = std::fs::remove_file(&file);
    assert!(
        err.to_string()
            .contains(&format!("working directory {file:?} is not a directory")),
        "{err}"
    );
}

#[test]
fn wait_closes_a_stdin_still_in_the_child() -> io::Result<()> {
    // `cat` reads to the end of its input: without the close, both would wait forever.
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let status = block_on(corio_timer::timeout(Duration::from_secs(10), child.wait()))
        .expect("wait closed stdin, so cat exited")?;
    assert!(status.success());
    assert!(child.stdin.is_none());
    Ok(())
}

#[test]
fn a_closed_stdin_refuses_writes() -> io::Result<()> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    block_on(stdin.close())?;
    let err = block_on(stdin.write_all(b"late")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert!(block_on(child.wait())?.success());
    Ok(())
}

#[test]
fn env_and_current_dir_reach_the_child() -> io::Result<()> {
    let dir = std::env::temp_dir();
    let out = block_on(
        Command::new("sh")
            .args(["-c", "echo \"$A $B ${C-none}\"; pwd"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([("A", "1"), ("B", "2"), ("C", "3")])
            .env_remove("C")
            .current_dir(&dir)
            .output(),
    )?;
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1 2 none"));
    assert_eq!(
        std::fs::canonicalize(lines.next().unwrap())?,
        std::fs::canonicalize(&dir)?
    );
    Ok(())
}

#[test]
fn pipes_convert_to_stdio_for_a_pipeline() -> io::Result<()> {
    // producer | upper, through a pipe this process never reads.
    let mut producer = Command::new("sh")
        .args(["-c", "echo one; echo two >&2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = Stdio::try_from(producer.stdout.take().unwrap())?;
    let err = Stdio::try_from(producer.stderr.take().unwrap())?;
    let upper = block_on(Command::new("tr").args(["a-z", "A-Z"]).stdin(out).output())?;
    assert_eq!(upper.stdout, b"ONE\n");
    let upper = block_on(Command::new("tr").args(["a-z", "A-Z"]).stdin(err).output())?;
    assert_eq!(upper.stdout, b"TWO\n");
    assert!(block_on(producer.wait())?.success());

    // A child's stdin given to another child as its stdout: `echo` writes into `cat`.
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let into_cat = Stdio::try_from(cat.stdin.take().unwrap())?;
    assert!(
        block_on(
            Command::new("echo")
                .arg("via cat")
                .stdout(into_cat)
                .status()
        )?
        .success()
    );
    let out = block_on(cat.wait_with_output())?;
    assert_eq!(out.stdout, b"via cat\n");

    // A closed stdin cannot be converted.
    let mut child = Command::new("cat").stdin(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    block_on(stdin.close())?;
    assert_eq!(
        Stdio::try_from(stdin).unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert!(block_on(child.wait())?.success());
    Ok(())
}

#[test]
fn handles_and_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Command>();
    send_sync::<corio_process::Child>();
    send_sync::<corio_process::ChildStdin>();
    send_sync::<corio_process::ChildStdout>();
    send_sync::<corio_process::ChildStderr>();
    let mut cmd = Command::new("corio-no-such-program");
    let (output, status) = (cmd.output(), cmd.status());
    send(&output);
    send(&status);
}

#[test]
fn a_child_that_stops_reading_gives_broken_pipe_not_sigpipe() -> io::Result<()> {
    // `head` reads 10 bytes, writes them and exits while we are still writing 16 MiB: the write
    // fails with `BrokenPipe` (Rust ignores SIGPIPE, and nothing here may reset that), and this
    // process lives on to check it.
    let mut child = Command::new("head")
        .args(["-c", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let data = vec![b'x'; 16 << 20];
    let write = async {
        let err = stdin.write_all(&data).await.unwrap_err();
        // Once broken, it stays broken.
        let again = stdin.write_all(b"more").await.unwrap_err();
        io::Result::Ok((err, again))
    };
    let read = async {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await?;
        io::Result::Ok(got)
    };
    let ((err, again), got) = block_on(try_zip(write, read))?;
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    assert_eq!(again.kind(), io::ErrorKind::BrokenPipe, "{again}");
    assert_eq!(got, b"xxxxxxxxxx");
    assert!(block_on(child.wait())?.success());
    Ok(())
}

/// The state letter of `/proc/<pid>/stat` (`Z` for a zombie), if the process exists.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

#[test]
fn kill_after_the_child_exited_is_ok_and_keeps_its_status() -> io::Result<()> {
    // Exited but not reaped yet (a zombie): `kill` succeeds, reaps, and the status is the
    // child's own exit, not SIGKILL.
    let mut child = Command::new("sh").args(["-c", "exit 6"]).spawn()?;
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(pid) != Some('Z') {
        assert!(Instant::now() < deadline, "pid {pid} never exited");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.start_kill()?;
    block_on(child.kill())?;
    assert_eq!(child.id(), None);
    assert!(gone(pid));
    let status = block_on(child.wait())?;
    assert_eq!((status.code(), status.signal()), (Some(6), None));
    // Reaped: killing again is a no-op, never a signal to a pid that may be reused.
    child.start_kill()?;
    block_on(child.kill())?;
    assert_eq!(child.try_wait()?.and_then(|s| s.code()), Some(6));
    Ok(())
}

#[test]
fn a_large_environment_reaches_the_child_and_a_too_large_one_is_an_error() -> io::Result<()> {
    // 64 variables of 8 KiB each: 512 KiB of environment.
    let value = "v".repeat(8 << 10);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo ${#BIG0} ${#BIG63}"]);
    for i in 0..64 {
        cmd.env(format!("BIG{i}"), &value);
    }
    let out = block_on(cmd.output())?;
    assert_eq!(out.stdout, b"8192 8192\n");
    assert!(out.status.success());

    // One string over the kernel's per-string limit (128 KiB on Linux): an error naming the
    // program, not a panic and not a child.
    if cfg!(target_os = "linux") {
        let err = Command::new("true")
            .env("HUGE", "h".repeat(256 << 10))
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ArgumentListTooLong, "{err}");
        assert!(err.to_string().contains("true"), "{err}");
    }
    Ok(())
}

#[test]
fn a_dropped_child_keeps_running_and_is_reaped_when_it_exits() -> io::Result<()> {
    // Without kill_on_drop, dropping the `Child` neither kills nor waits: the child still
    // answers through the pipes we kept, and once it exits nobody but the orphan table can
    // reap it.
    let mut child = Command::new("sh")
        .args(["-c", "read x; echo alive $x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id().unwrap();
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    drop(child);
    let answer = block_on(async {
        stdin.write_all(b"after the drop\n").await?;
        let mut answer = String::new();
        stdout.read_to_string(&mut answer).await?;
        io::Result::Ok(answer)
    })?;
    assert_eq!(answer, "alive after the drop\n");
    wait_gone(pid);
    Ok(())
}
