//! The facade on either I/O backend (issue 17): a runtime reports the backend its reactor waits
//! in (`RuntimeMetrics::io_backend`), sockets, pipes and files work on it, a ring the kernel
//! refuses falls back to epoll for the whole runtime, and `CORIO_IO=epoll` forces epoll.
//!
//! CI runs this file (with the rest of the facade's, corio-net's and corio-fs's suites) three
//! ways: without the `io-uring` feature, with it, and with it under `CORIO_IO=epoll`.
#![cfg(target_os = "linux")]
mod support;

use std::process::Command;
use std::sync::Mutex;

use corio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// The fallback hook is process-wide: tests that build runtimes take turns with the one that
/// sets it (under `cargo test` they share a process).
static HOOK: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    HOOK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The backend a runtime built now should report.
fn expected_backend() -> &'static str {
    let forced_epoll = std::env::var_os("CORIO_IO").is_some_and(|v| v == "epoll");
    if cfg!(feature = "io-uring") && !forced_epoll {
        "io_uring"
    } else {
        "epoll"
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// TCP (several connections at once, 64 KiB each way), UDP, a Unix stream pair and a file, on
/// whatever runtime runs it; every byte is checked.
async fn exercise_io() -> std::io::Result<()> {
    // TCP: 8 echo connections served concurrently.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = corio::spawn(support::echo_server(listener, 8));
    let clients: Vec<_> = (0..8u8)
        .map(|seed| {
            corio::spawn(async move {
                let data = pattern(64 * 1024, seed);
                let stream = TcpStream::connect(addr).await?;
                let (mut reader, mut writer) = (stream.clone(), stream);
                let sent = data.clone();
                let writing = corio::spawn(async move {
                    writer.write_all(&sent).await?;
                    writer.shutdown(std::net::Shutdown::Write)?;
                    std::io::Result::Ok(())
                });
                let mut back = Vec::new();
                reader.read_to_end(&mut back).await?;
                writing.await?;
                assert!(back == data, "connection {seed}: the echo differs");
                std::io::Result::Ok(())
            })
        })
        .collect();
    for c in clients {
        c.await?;
    }
    server.await?;

    // UDP: boundaries and payloads.
    let a = UdpSocket::bind("127.0.0.1:0").await?;
    let b = UdpSocket::bind("127.0.0.1:0").await?;
    for i in 0..16u8 {
        a.send_to(&pattern(100 + usize::from(i), i), b.local_addr()?)
            .await?;
    }
    let mut buf = [0; 512];
    for i in 0..16u8 {
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!(
            (&buf[..n], from),
            (&pattern(100 + usize::from(i), i)[..], a.local_addr()?)
        );
    }

    // A Unix stream pair, half-closed.
    let (mut left, mut right) = UnixStream::pair()?;
    let data = pattern(200 * 1024, 7);
    let sent = data.clone();
    let writing = corio::spawn(async move {
        left.write_all(&sent).await?;
        left.close().await?;
        std::io::Result::Ok(())
    });
    let mut got = Vec::new();
    right.read_to_end(&mut got).await?;
    writing.await?;
    assert!(got == data, "the Unix stream lost or reordered bytes");

    // A file, written and read back in odd-sized pieces.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data");
    let data = pattern(3 * 1024 * 1024 + 17, 3);
    let mut file = corio::fs::File::create(&path).await?;
    for piece in data.chunks(70_001) {
        file.write_all(piece).await?;
    }
    file.sync_all().await?;
    drop(file);
    let mut file = corio::fs::File::open(&path).await?;
    let mut got = Vec::new();
    let mut buf = vec![0; 33_333];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == data, "the file lost or reordered bytes");
    Ok(())
}

#[test]
fn every_runtime_reports_its_backend_and_does_io_on_it() {
    let _turn = turn();
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    assert_eq!(rt.metrics().io_backend, expected_backend());
    rt.block_on(exercise_io()).unwrap();
    drop(rt);

    let local = corio::LocalRuntime::new().unwrap();
    assert_eq!(local.metrics().io_backend, expected_backend());
    local.block_on(exercise_io()).unwrap();
}

/// A kernel that refuses the ring (forced here as `ENOSYS`, `EPERM` and `EINVAL`: an old
/// kernel, `kernel.io_uring_disabled` or seccomp, unknown flags) gives a runtime on epoll that
/// works; once the kernel allows it again, the next runtime gets the ring.
#[cfg(feature = "io-uring")]
#[test]
fn a_refused_ring_falls_back_to_epoll_for_the_whole_runtime() {
    let _turn = turn();
    for errno in [libc_errno::ENOSYS, libc_errno::EPERM, libc_errno::EINVAL] {
        corio_reactor::fail_io_uring_setup(Some(errno));
        let built = corio::Runtime::builder().worker_threads(2).build();
        corio_reactor::fail_io_uring_setup(None);
        let rt = built.unwrap();
        assert_eq!(rt.metrics().io_backend, "epoll", "errno {errno}");
        rt.block_on(exercise_io()).unwrap();
    }
    let rt = corio::LocalRuntime::new().unwrap();
    assert_eq!(rt.metrics().io_backend, expected_backend());
    rt.block_on(exercise_io()).unwrap();
}

/// The errno values a refused `io_uring_setup` returns (Linux numbers; the facade's tests do not
/// depend on libc).
#[cfg(feature = "io-uring")]
mod libc_errno {
    pub(crate) const EPERM: i32 = 1;
    pub(crate) const ENOSYS: i32 = 38;
    pub(crate) const EINVAL: i32 = 22;
}

/// Set in the child processes of the test below, which only report what they see.
const CHILD: &str = "CORIO_IO_BACKEND_TEST_CHILD";

#[test]
fn corio_io_epoll_forces_epoll_for_every_runtime() {
    if std::env::var_os(CHILD).is_some() {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(exercise_io()).unwrap();
        let local = corio::LocalRuntime::new().unwrap();
        local.block_on(exercise_io()).unwrap();
        println!(
            "backends={},{}",
            rt.metrics().io_backend,
            local.metrics().io_backend
        );
        return;
    }
    let run = |corio_io: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "corio_io_epoll_forces_epoll_for_every_runtime",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1");
        match corio_io {
            Some(v) => cmd.env("CORIO_IO", v),
            None => cmd.env_remove("CORIO_IO"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    assert!(run(Some("epoll")).0.contains("backends=epoll,epoll"));
    let default = if cfg!(feature = "io-uring") {
        "backends=io_uring,io_uring"
    } else {
        "backends=epoll,epoll"
    };
    assert!(run(None).0.contains(default));
    // A value it does not know is ignored, with a warning where the feature reads it.
    let (stdout, stderr) = run(Some("bogus"));
    assert!(stdout.contains(default), "{stdout}");
    if cfg!(feature = "io-uring") {
        assert!(stderr.contains("ignoring CORIO_IO=\"bogus\""), "{stderr}");
    }
}

/// The thread that builds a runtime, and a thread that registers and drops sockets outside the
/// runtime's workers, submit nothing to the ring: the kernel runs a request's wake-up work on
/// the thread that submitted it, interrupting that thread's blocking calls (`EINTR`). A
/// conformance probe found both threads owning requests. Here the building thread's own
/// blocking read (with a timeout) must time out, while other threads wake the runtime and
/// sockets come and go; on epoll it always did.
#[test]
fn threads_that_do_not_wait_on_the_ring_are_never_interrupted_by_it() {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let _turn = turn();
    let rt = Arc::new(corio::Runtime::builder().worker_threads(2).build().unwrap());
    // Sockets registered and dropped from this thread (not a worker: it never drives the I/O).
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop((client, server));
    });
    // Meanwhile, another thread keeps waking the runtime's parked workers, and its tasks make
    // and drop sockets.
    let stop = Arc::new(AtomicBool::new(false));
    let waker = {
        let (rt, stop) = (rt.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rt.spawn(async {
                    let (a, b) = UnixStream::pair().unwrap();
                    drop((a, b));
                })
                .detach();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let (mut mine, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    mine.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..3 {
        let err = mine.read(&mut [0u8; 1]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "a blocking read on the thread that built the runtime ended with {err:?} \
             (backend {})",
            rt.metrics().io_backend
        );
    }
    stop.store(true, Ordering::Relaxed);
    waker.join().unwrap();
}

/// After a runtime is gone, the threads that built, ran (`block_on`, `corio::run`) and dropped
/// it are not interrupted either. The kernel enrols the thread that creates a ring, and any
/// thread that submits to it, and the ring's teardown notifies each of them: a conformance
/// probe saw a plain `recv_from` with a timeout fail with `EINTR` up to 50 ms after the drop,
/// on the building thread and on the one that dropped the runtime (which submitted the
/// queued entries once the driver was gone), also after a socket outliving its runtime was
/// dropped there. Each case runs on a fresh thread, which nothing else enrols.
#[test]
fn no_thread_is_interrupted_after_its_runtime_is_gone() {
    use std::time::Duration;

    /// Three blocking reads with a timeout, about 300 ms in all (the teardown's notification
    /// came 20 us to 50 ms after the drop): each must time out.
    fn reads_time_out(case: &str) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        for _ in 0..3 {
            let err = socket.recv_from(&mut [0u8; 1]).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{case}: a blocking read after the runtime was dropped ended with {err:?}"
            );
        }
    }

    async fn udp_echo() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(b"x", socket.local_addr().unwrap())
            .await
            .unwrap();
        socket.recv_from(&mut [0u8; 1]).await.unwrap();
    }

    let _turn = turn();
    let cases: [(&str, fn()); 5] = [
        ("built and dropped, no I/O", || {
            drop(corio::Runtime::builder().worker_threads(1).build().unwrap());
        }),
        ("block_on with I/O", || {
            let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
            rt.block_on(udp_echo());
        }),
        ("corio::run with I/O", || corio::run(udp_echo())),
        ("a socket dropped after its runtime", || {
            let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
            let socket = rt.block_on(async {
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                socket
                    .send_to(b"x", socket.local_addr().unwrap())
                    .await
                    .unwrap();
                socket
            });
            drop(rt);
            drop(socket);
        }),
        ("a runtime built on one thread, dropped on another", || {
            let rt =
                std::thread::spawn(|| corio::Runtime::builder().worker_threads(1).build().unwrap())
                    .join()
                    .unwrap();
            rt.block_on(udp_echo());
        }),
    ];
    for (case, run) in cases {
        std::thread::spawn(move || {
            run();
            reads_time_out(case);
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    }
}

/// More registrations at once than the ring's submission queue holds (256): the rest wait in
/// its backlog, in order, and every socket still gets its readiness.
#[test]
fn a_burst_of_registrations_larger_than_the_submission_queue_all_get_their_events() {
    let _turn = turn();
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        corio::spawn(async {
            // Created in one poll, with no await in between: nobody submits meanwhile.
            let pairs: Vec<(UnixStream, UnixStream)> =
                (0..700).map(|_| UnixStream::pair().unwrap()).collect();
            let readers: Vec<_> = pairs
                .into_iter()
                .enumerate()
                .map(|(i, (mut a, mut b))| {
                    corio::spawn(async move {
                        let mut byte = [0u8; 1];
                        let reading = corio::spawn(async move {
                            b.read_exact(&mut byte).await.unwrap();
                            byte[0]
                        });
                        a.write_all(&[i as u8]).await.unwrap();
                        let got = reading.await;
                        drop(a);
                        got
                    })
                })
                .collect();
            for (i, reader) in readers.into_iter().enumerate() {
                assert_eq!(reader.await, i as u8);
            }
        })
        .await;
    });
}

/// The thread in a multi-threaded runtime's `block_on` is the user's: it must never be enrolled
/// in the ring, or the kernel's wake-up work for requests it submitted interrupts its own
/// blocking calls (`EINTR`). It runs pinned tasks and checks the ring between them, and a
/// socket dropped there made it submit everything queued (a review: 10/10 runs saw `EINTR`).
#[test]
fn a_socket_dropped_in_block_on_does_not_enrol_the_users_thread() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let _turn = turn();
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    let busy_on = rt.block_on(async {
        let dropped = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let idle = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let waiter = corio::spawn(async move {
            let _ = idle.recv_from(&mut [0u8; 1]).await;
        });
        corio::sleep(Duration::from_millis(20)).await;
        // The only worker is busy, so what is queued now stays queued for a while.
        let busy = corio::spawn(async { std::thread::sleep(Duration::from_millis(200)) });
        std::thread::sleep(Duration::from_millis(20));
        // Pinned to this thread: its loop checks the ring between the yields.
        corio::spawn_local(async {
            for _ in 0..10_000 {
                corio::yield_now().await;
            }
        })
        .await;
        // Registered now (its poll queued), then a drop here.
        let busy_on = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        drop(dropped);
        busy.await;
        waiter.detach();
        busy_on
    });
    // Traffic for `busy_on`, whose poll this thread would own if it had submitted it.
    let addr = busy_on.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = stop.clone();
    let sender = std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        while !sending.load(Ordering::Relaxed) {
            let _ = socket.send_to(b"x", addr);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mine = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    mine.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut interrupted = 0;
    for _ in 0..6 {
        match mine.recv_from(&mut [0u8; 1]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => interrupted += 1,
            Err(_) => {}
            Ok(_) => panic!("nothing is sent to this socket"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    drop(busy_on);
    drop(rt);
    assert_eq!(
        interrupted, 0,
        "this thread's blocking calls were interrupted"
    );
}
