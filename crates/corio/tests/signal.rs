//! `corio::signal` as a new user would use it: only `corio::` names, signals sent to this
//! process by `kill` in a shell, inside `corio::run`, `corio::run_local` and outside any
//! runtime.
//!
//! Signal handlers are process-wide and tests run on parallel threads: each test owns one
//! signal.
#![cfg(unix)]

use std::io;
use std::time::Duration;

use corio::signal::unix::{SignalKind, signal};

/// Sends `name` (as `kill -s` spells it) to this process from a shell.
fn send(name: &str) {
    // The shell's `kill` builtin, so no `kill` binary is needed.
    let script = format!("kill -s {name} {}", std::process::id());
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .expect("run sh");
    assert!(status.success(), "{script} failed: {status}");
}

#[test]
fn sigterm_inside_run_stops_a_server_loop() -> io::Result<()> {
    corio::run(async {
        let mut term = signal(SignalKind::terminate())?;
        let server = corio::spawn(async move {
            loop {
                corio::sleep(Duration::from_millis(1)).await;
            }
        });
        // The signal comes from another process (run with corio::process), while the server
        // runs.
        let script = format!("kill -s TERM {}", std::process::id());
        let sender = corio::spawn(async move {
            corio::process::Command::new("sh")
                .args(["-c", &script])
                .status()
                .await
        });
        assert_eq!(term.recv().await, Some(()));
        server.cancel().await;
        assert!(sender.await?.success());
        io::Result::Ok(())
    })
}

#[test]
fn ctrl_c_inside_run_local_registers_on_the_call() -> io::Result<()> {
    corio::run_local(async {
        let ctrl_c = corio::signal::ctrl_c();
        // Sent before the future is polled, while the loop is blocked: not lost.
        send("INT");
        corio::timeout(Duration::from_secs(10), ctrl_c)
            .await
            .expect("SIGINT arrives")?;
        io::Result::Ok(())
    })
}

#[test]
fn many_listeners_in_spawned_tasks_each_see_the_signal() -> io::Result<()> {
    corio::run(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            // Registered here, before the task runs: the signal below cannot be missed.
            let mut l = signal(SignalKind::user_defined1())?;
            tasks.push(corio::spawn(async move { l.recv().await }));
        }
        send("USR1");
        for got in corio::join_all(tasks).await {
            assert_eq!(got, Some(()));
        }
        io::Result::Ok(())
    })
}

#[test]
fn a_listener_works_outside_any_runtime_and_under_a_timeout() -> io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    // A timeout around recv leaves the listener usable and loses nothing.
    let early = corio::block_on(corio::timeout(Duration::from_millis(10), hup.recv()));
    assert!(early.is_err());
    send("HUP");
    let got = corio::block_on(corio::timeout(Duration::from_secs(10), hup.recv()));
    assert_eq!(got.expect("SIGHUP arrives"), Some(()));
    Ok(())
}

#[test]
fn dropping_every_listener_leaves_the_signal_ignored() -> io::Result<()> {
    // SIGUSR2's default action ends the process: surviving is the test.
    drop(signal(SignalKind::user_defined2())?);
    send("USR2");
    // A fresh listener still works afterwards.
    let mut again = signal(SignalKind::user_defined2())?;
    send("USR2");
    let got = corio::block_on(corio::timeout(Duration::from_secs(10), again.recv()));
    assert_eq!(got.expect("SIGUSR2 arrives"), Some(()));
    Ok(())
}

#[test]
fn bad_signals_are_errors_not_panics() {
    let err = signal(SignalKind::from_raw(9)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    let err = signal(SignalKind::from_raw(-3)).unwrap_err();
    assert!(err.to_string().contains("-3"), "{err}");
}

#[test]
fn a_listener_created_in_one_runtime_works_in_the_next() -> io::Result<()> {
    // The first runtime is dropped when `run` returns; the listener moves to the next one. The
    // signal is sent while no runtime exists and nothing polls: it waits in the listener.
    // SIGQUIT (whose default action dumps core) is owned by this test, and only sent while the
    // listener exists; corio never restores the default.
    let mut quit = corio::run(async { signal(SignalKind::quit()) })?;
    send("QUIT");
    let got =
        corio::run_local(async { corio::timeout(Duration::from_secs(10), quit.recv()).await });
    assert_eq!(got.expect("SIGQUIT arrives"), Some(()));
    // And the next one, waiting this time: the first `recv` finds nothing and must wait (it
    // used to end at once with `None`, its first reactor being gone).
    let got = corio::run(async {
        let early = corio::timeout(Duration::from_millis(10), quit.recv()).await;
        assert!(early.is_err(), "nothing was sent yet: {early:?}");
        let sender = corio::spawn(async { send("QUIT") });
        let got = corio::timeout(Duration::from_secs(10), quit.recv()).await;
        sender.await;
        got
    });
    assert_eq!(got.expect("SIGQUIT arrives"), Some(()));
    Ok(())
}

#[test]
fn a_listener_first_polled_in_an_idle_local_runtime_wakes_where_it_is_polled_next() -> io::Result<()>
{
    // The local runtime stays alive, but nobody runs its loop once `block_on` returns: a
    // listener registered there must move to the reactor of the runtime that polls it next (a
    // review found it waiting on the idle one for ever). SIGWINCH is this test's.
    let local = corio::LocalRuntime::new()?;
    let mut winch = local.block_on(async {
        let mut winch = signal(SignalKind::window_change())?;
        let early = corio::timeout(Duration::from_millis(1), winch.recv()).await;
        assert!(early.is_err(), "nothing was sent yet: {early:?}");
        io::Result::Ok(winch)
    })?;
    let got = corio::run(async {
        // Sent once the `recv` below waits (a shell's start-up, and a pause, later).
        let sender = corio::spawn(async {
            corio::sleep(Duration::from_millis(20)).await;
            corio::to_thread(|| send("WINCH")).await;
        });
        // The sleep first: when it ends, it wins even if the listener then finds the signal
        // (a `timeout` polls its future first, and its last poll would find the byte).
        let got = corio::select! {
            biased;
            () = corio::sleep(Duration::from_secs(10)) => None,
            got = winch.recv() => Some(got),
        };
        sender.await;
        got
    });
    assert_eq!(got.expect("SIGWINCH wakes the listener"), Some(()));
    drop(local);
    Ok(())
}

/// Every name of API.md's "Signals" shape, used as a new user would: this test fails to compile
/// if one is missing or has another shape.
#[test]
fn the_api_md_shapes_compile() -> io::Result<()> {
    use corio::signal::unix::Signal;

    let kinds: [SignalKind; 6] = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
        SignalKind::child(),
    ];
    for (i, kind) in kinds.iter().enumerate() {
        let raw: i32 = kind.as_raw_value();
        assert_eq!(SignalKind::from_raw(raw), *kind);
        assert!(kinds[..i].iter().all(|k| k != kind), "{kind:?} twice");
    }
    // SIGALRM, by number, is owned by this test. Its default action ends the process, but it
    // is only sent while the listener exists, and corio never restores the default.
    let alarm = SignalKind::from_raw(SignalKind::alarm().as_raw_value());
    let listener: io::Result<Signal> = signal(alarm);
    let mut alrm = listener?;
    let ctrl_c = corio::signal::ctrl_c();
    let _: &dyn std::future::Future<Output = io::Result<()>> = &ctrl_c;
    drop(ctrl_c);
    send("ALRM");
    let got: Option<()> = corio::block_on(corio::timeout(Duration::from_secs(10), alrm.recv()))
        .expect("SIGALRM arrives");
    assert_eq!(got, Some(()));
    Ok(())
}
