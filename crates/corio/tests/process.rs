//! `corio::process` as a new user would use it: only `corio::` names, inside `corio::run`,
//! `corio::run_local`, spawned tasks and outside any runtime.
#![cfg(unix)]

use std::io;
use std::time::{Duration, Instant};

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::process::{Command, Stdio};

/// Whether `pid` is no longer a child of this process (reaped).
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

async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} is still our child (a zombie?)"
        );
        corio::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn output_and_status_inside_run() -> io::Result<()> {
    corio::run(async {
        let out = Command::new("sh")
            .args(["-c", "echo hello; echo oops >&2; exit 3"])
            .output()
            .await?;
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(Command::new("true").status().await?.success());
        io::Result::Ok(())
    })
}

#[test]
fn communicate_inside_run_local() -> io::Result<()> {
    corio::run_local(async {
        let mut child = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        // The writer is a local task; the reader is this one.
        let writer = corio::spawn_local(async move {
            stdin.write_all(b"hello corio").await?;
            stdin.close().await
        });
        let mut upper = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut upper)
            .await?;
        writer.await?;
        assert_eq!(upper, "HELLO CORIO");
        assert!(child.wait().await?.success());
        io::Result::Ok(())
    })
}

#[test]
fn many_children_from_many_tasks_with_a_semaphore() -> io::Result<()> {
    corio::run(async {
        let limit = std::sync::Arc::new(corio::Semaphore::new(16));
        let tasks = (0..100).map(|i| {
            let limit = limit.clone();
            corio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let out = Command::new("echo").arg(i.to_string()).output().await?;
                io::Result::Ok(String::from_utf8(out.stdout).unwrap())
            })
        });
        let outs = corio::try_join_all(tasks).await?;
        for (i, out) in outs.iter().enumerate() {
            assert_eq!(out, &format!("{i}\n"));
        }
        io::Result::Ok(())
    })
}

#[test]
fn a_timeout_around_wait_then_kill() -> io::Result<()> {
    corio::run(async {
        let mut child = Command::new("sleep").arg("30").spawn()?;
        let pid = child.id().unwrap();
        let waited = corio::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(waited.is_err(), "sleep 30 is still running");
        assert_eq!(child.try_wait()?, None);
        child.kill().await?;
        assert_eq!(child.id(), None);
        assert!(gone(pid));
        io::Result::Ok(())
    })
}

#[test]
fn kill_on_drop_and_a_cancelled_task_leave_no_zombie() -> io::Result<()> {
    corio::run(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        wait_gone(pid).await;

        // A task running a child, cancelled: its Child is dropped, killed and reaped.
        let (pid_tx, pid_rx) = corio::sync::oneshot::channel();
        let task = corio::spawn(async move {
            let mut child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
            let _ = pid_tx.send(child.id().unwrap());
            child.wait().await
        });
        let pid = pid_rx.await.unwrap();
        assert!(task.cancel().await.is_none());
        wait_gone(pid).await;
        io::Result::Ok(())
    })
}

#[test]
fn children_outlive_the_runtime_that_spawned_them_and_are_still_reaped() -> io::Result<()> {
    // Spawned inside one runtime, dropped unreaped there; the runtime ends first.
    let pid = corio::run(async {
        let child = Command::new("sleep").arg("0.05").spawn()?;
        io::Result::Ok(child.id().unwrap())
    })?;
    corio::block_on(wait_gone(pid));
    // Spawned inside one runtime, waited for in another. The child waits for its input, so the
    // first wait cannot finish however late its timeout fires on a loaded machine.
    let (mut child, stdin) = corio::run(async {
        let mut child = Command::new("sh")
            .args(["-c", "read line; exit 4"])
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        assert!(
            corio::timeout(Duration::from_millis(1), child.wait())
                .await
                .is_err()
        );
        io::Result::Ok((child, stdin))
    })?;
    drop(stdin); // end of input: the child exits
    let status = corio::run_local(async {
        corio::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the exit is seen from the second runtime")
    })?;
    assert_eq!(status.code(), Some(4));
    Ok(())
}

#[test]
fn a_child_first_waited_in_an_idle_local_runtime_is_seen_to_exit_where_it_is_waited_next()
-> io::Result<()> {
    // The local runtime stays alive, but nobody runs its loop once `block_on` returns: the
    // child's exit must be watched from the runtime that waits next (a review found that wait
    // hanging for ever). The child exits by itself, normally while the second wait waits.
    // (Not by closing its stdin from the second runtime: on the io_uring backend a pipe
    // registered with the idle runtime's ring closes only once that loop runs again.)
    let local = corio::LocalRuntime::new()?;
    let mut child = local.block_on(async {
        let mut child = Command::new("sleep").arg("0.3").spawn()?;
        let early = corio::timeout(Duration::from_millis(1), child.wait()).await;
        assert!(early.is_err(), "the child sleeps: {early:?}");
        io::Result::Ok(child)
    })?;
    let status = corio::run(async {
        corio::select! {
            biased;
            () = corio::sleep(Duration::from_secs(10)) => None,
            status = child.wait() => Some(status),
        }
    })
    .expect("the exit is seen from the second runtime")?;
    assert!(status.success());
    drop(local);
    Ok(())
}

#[test]
fn a_missing_program_is_not_found() {
    let err = corio::block_on(Command::new("corio-surely-missing").output()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("corio-surely-missing"), "{err}");
}

/// Every name of API.md's "Subprocesses" shape, used as a new user would: this test fails to
/// compile if one is missing or has another shape.
#[test]
fn the_api_md_shapes_compile_and_work() -> io::Result<()> {
    use corio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
    use std::process::{ExitStatus, Output};

    corio::run(async {
        // Builder methods take and return `&mut Command`.
        let mut cmd = Command::new("sh");
        let same: &mut Command = cmd
            .arg("-c")
            .args(["cat; echo err >&2; exit 2"])
            .env("CORIO_API", "1")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child: Child = same.spawn()?;
        let id: Option<u32> = child.id();
        assert!(id.is_some());
        let stdin: Option<ChildStdin> = child.stdin.take();
        let stdout: &Option<ChildStdout> = &child.stdout;
        let stderr: &Option<ChildStderr> = &child.stderr;
        assert!(stdout.is_some() && stderr.is_some());
        let mut stdin = stdin.unwrap();
        stdin.write_all(b"in").await?;
        stdin.close().await?;
        let polled: Option<ExitStatus> = child.try_wait()?;
        let _ = polled;
        let output: Output = child.wait_with_output().await?;
        assert_eq!(output.stdout, b"in");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(2));

        let mut child = Command::new("sleep").arg("30").spawn()?;
        let started: io::Result<()> = child.start_kill();
        started?;
        let status: io::Result<ExitStatus> = child.wait().await;
        assert!(!status?.success());
        let mut child = Command::new("sleep").arg("30").spawn()?;
        let killed: io::Result<()> = child.kill().await;
        killed?;
        assert_eq!(child.id(), None);

        let status: ExitStatus = Command::new("true").status().await?;
        assert!(status.success());
        let output: Output = Command::new("echo").arg("hi").output().await?;
        assert_eq!(output.stdout, b"hi\n");
        io::Result::Ok(())
    })
}

/// In deterministic mode a child process that a task waits for holds the virtual clock, as a
/// blocking job does: a virtual 5 s timeout around a child that takes 300 ms of real time does
/// not fire first (a probe saw `Elapsed` after a few ms of real time: the clock jumped while
/// the child ran). A wait dropped before the child exits stops holding it: a virtual sleep then
/// completes while the child still runs.
#[corio::test(deterministic)]
async fn a_child_waited_for_holds_the_virtual_clock() {
    let out = corio::timeout(
        Duration::from_secs(5),
        Command::new("sh")
            .arg("-c")
            .arg("sleep 0.3; echo done")
            .output(),
    )
    .await
    .expect("the virtual timeout fired while the child was running")
    .unwrap();
    assert_eq!(out.stdout, b"done\n");

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let polled = futures_lite::future::poll_once(child.wait()).await;
    assert!(polled.is_none(), "sleep 30 exited at once");
    let real = Instant::now();
    corio::sleep(Duration::from_secs(60)).await;
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "a dropped wait kept holding the virtual clock ({:?} of real time)",
        real.elapsed()
    );
    child.kill().await.unwrap();
}

/// The hold is bounded: a child may itself wait for the loop (here `cat`, whose stdin a task
/// writes after a virtual sleep). Holding the clock until the child exits hung for ever (a
/// review found it); after at most a second of real time the clock moves again and the writer
/// wakes. The poll form, `poll_wait`, holds nothing: abandoned after one poll, it leaves the
/// clock free.
#[corio::test(deterministic)]
async fn a_child_waiting_for_the_loop_does_not_freeze_the_virtual_clock() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    corio::spawn(async move {
        corio::sleep(Duration::from_millis(100)).await;
        stdin.write_all(b"hi\n").await.unwrap();
    })
    .detach();
    let real = Instant::now();
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.stdout, b"hi\n");
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "{:?} of real time",
        real.elapsed()
    );

    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let polled =
        futures_lite::future::poll_once(std::future::poll_fn(|cx| child.poll_wait(cx))).await;
    assert!(polled.is_none(), "sleep 30 exited at once");
    let real = Instant::now();
    corio::sleep(Duration::from_secs(60)).await;
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "an abandoned poll_wait held the virtual clock ({:?} of real time)",
        real.elapsed()
    );
    child.kill().await.unwrap();
}
