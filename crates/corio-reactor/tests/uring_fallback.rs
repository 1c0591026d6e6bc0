//! The choice of backend: a ring whose setup fails (forced here, as `ENOSYS`, `EPERM` or
//! `EINVAL` would on an old kernel, with `kernel.io_uring_disabled`, or under a seccomp filter)
//! falls back to epoll, which then serves every source; `CORIO_IO=epoll` forces epoll. The
//! forcing hook is process-wide, so the tests that use it live in this file (its own process)
//! and each sets it before making a reactor.

mod support;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Mutex;

use corio_reactor::{Async, ReactorDriver};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use support::{Parked, expected_backend, within};

/// The forcing hook is process-wide: tests that set it take turns.
static HOOK: Mutex<()> = Mutex::new(());

#[cfg(feature = "io-uring")]
fn force(errno: Option<i32>) {
    corio_reactor::fail_io_uring_setup(errno);
}

#[cfg(not(feature = "io-uring"))]
fn force(_: Option<i32>) {}

fn echo_once(parked: &Parked) {
    let _entered = parked.reactor.enter();
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    within(10, async {
        let mut client = Async::new(TcpStream::connect(addr)?)?;
        let (server, _) = listener.read_with(|l| l.accept()).await?;
        let mut server = Async::new(server)?;
        let mut buf = [0; 5];
        let read = server.read_exact(&mut buf);
        let write = client.write_all(b"hello");
        futures_lite::future::try_zip(read, write).await?;
        assert_eq!(&buf, b"hello");
        io::Result::Ok(())
    })
    .unwrap();
}

/// A kernel before 5.19 refuses `IORING_SETUP_COOP_TASKRUN` (`EINVAL`): the ring is then set
/// up without it, not given up for epoll, and serves sockets as before.
#[test]
fn a_kernel_without_coop_taskrun_still_gets_a_ring() {
    let _turn = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    #[cfg(feature = "io-uring")]
    corio_reactor::refuse_io_uring_coop_taskrun(true);
    let parked = Parked::new();
    #[cfg(feature = "io-uring")]
    corio_reactor::refuse_io_uring_coop_taskrun(false);
    assert_eq!(parked.reactor.backend(), expected_backend());
    echo_once(&parked);
    // The busy loop's call finds nothing flagged on such a ring, and does nothing.
    parked.reactor.run_deferred_work();
    echo_once(&parked);
}

#[test]
fn a_refused_ring_falls_back_to_epoll_and_says_why() {
    let _turn = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    for (errno, text) in [
        (38, "Function not implemented"), // ENOSYS: a kernel without io_uring
        (1, "Operation not permitted"),   // EPERM: kernel.io_uring_disabled, seccomp
        (22, "Invalid argument"),         // EINVAL: flags an old kernel does not know
    ] {
        force(Some(errno));
        let parked = Parked::new();
        force(None);
        assert_eq!(parked.reactor.backend(), "epoll");
        let debug = format!("{:?}", parked.reactor);
        if cfg!(feature = "io-uring") {
            let forced = std::env::var_os("CORIO_IO").is_some_and(|v| v == "epoll");
            let why = if forced { "CORIO_IO=epoll" } else { text };
            assert!(debug.contains("fallback") && debug.contains(why), "{debug}");
        } else {
            assert!(!debug.contains("fallback"), "{debug}");
        }
        // The fallback is a working reactor.
        echo_once(&parked);
    }
    // With the hook cleared, a new reactor gets the ring again (where this build has it).
    let parked = Parked::new();
    assert_eq!(parked.reactor.backend(), expected_backend());
    echo_once(&parked);
}

/// Set in the child processes of the test below, which only report what they see.
const CHILD: &str = "CORIO_URING_TEST_CHILD";

#[test]
fn corio_io_epoll_forces_the_readiness_reactor() {
    if std::env::var_os(CHILD).is_some() {
        let driver = ReactorDriver::new().unwrap();
        println!("backend={}", driver.reactor().backend());
        return;
    }
    let run = |corio_io: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "corio_io_epoll_forces_the_readiness_reactor",
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
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(Some("epoll")).contains("backend=epoll"));
    let default = if cfg!(feature = "io-uring") {
        "backend=io_uring"
    } else {
        "backend=epoll"
    };
    assert!(run(None).contains(default));
    // Any other value leaves the choice to the probe.
    assert!(run(Some("io_uring")).contains(default));
}
