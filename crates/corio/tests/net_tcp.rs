//! TCP on the runtimes: a 1,000-connection echo, cancellation, connect errors.

mod support;

use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use support::{echo_server, poll_once};

const CONNECTIONS: usize = 1000;
const ROUNDS: usize = 3;

async fn echo_clients(addr: std::net::SocketAddr, connections: usize) -> std::io::Result<usize> {
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            corio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let msg = format!("hello {i:05}");
                let mut back = vec![0u8; msg.len()];
                for _ in 0..ROUNDS {
                    stream.write_all(msg.as_bytes()).await?;
                    stream.read_exact(&mut back).await?;
                    assert_eq!(back, msg.as_bytes());
                }
                stream.close().await?;
                std::io::Result::Ok(ROUNDS)
            })
        })
        .collect();
    let mut rounds = 0;
    for c in clients {
        rounds += c.await?;
    }
    Ok(rounds)
}

async fn echo_1000() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn(echo_server(listener, CONNECTIONS));
    let rounds = echo_clients(addr, CONNECTIONS).await.unwrap();
    server.await.unwrap();
    assert_eq!(rounds, CONNECTIONS * ROUNDS);
}

#[test]
fn echo_1000_concurrent_connections_on_run() {
    corio::run(echo_1000());
}

#[test]
fn echo_1000_concurrent_connections_on_run_local() {
    corio::run_local(echo_1000());
}

#[test]
fn dropped_socket_futures_leave_no_registration() {
    corio::run_local(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let reactor = corio::io::Reactor::current().unwrap();
        let before = reactor.waiting();
        {
            let mut accept = Box::pin(listener.accept());
            assert!(poll_once(&mut accept).is_pending());
            assert_eq!(reactor.waiting(), before + 1);
        }
        assert_eq!(
            reactor.waiting(),
            before,
            "a dropped accept leaves no waker behind"
        );
        // A socket pair to poll without a peer that writes (Unix sockets: Unix only).
        #[cfg(unix)]
        {
            let (a, b) = corio::net::UnixStream::pair().unwrap();
            let mut buf = [0u8; 8];
            let mut read = Box::pin(read_some(&a, &mut buf));
            assert!(poll_once(&mut read).is_pending());
            assert_eq!(reactor.waiting(), before + 1);
            drop(read);
            // The poll API (AsyncRead/AsyncWrite) has no future of its own to clean up after: its
            // one waker slot per direction stays until the next event, the next poll, or the
            // socket's end. It is bounded (one per direction), never a growing leak.
            assert_eq!(reactor.waiting(), before + 1);
            drop(a);
            assert_eq!(
                reactor.waiting(),
                before,
                "closing the socket clears its slots"
            );
            drop(b);
        }
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop((client, server));
        let sources = reactor.sources();
        drop(listener);
        assert_eq!(
            reactor.sources(),
            sources - 1,
            "dropping a socket deregisters it"
        );
    });
}

#[cfg(unix)]
async fn read_some(mut stream: &corio::net::UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    futures_lite::AsyncReadExt::read(&mut stream, buf).await
}

#[test]
fn connect_errors_are_errors() {
    corio::run_local(async {
        // A port nobody listens on (bind then drop to find a free one).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        let err = TcpStream::connect("not an address").await.unwrap_err();
        assert!(!err.to_string().is_empty());
        let ok = corio::timeout(Duration::from_secs(10), TcpStream::connect("localhost:1")).await;
        assert!(
            matches!(ok, Ok(Err(_))),
            "connect to a closed port fails promptly"
        );
    });
}

/// Found by `cargo xtask stress` (driver-handoff): the thread of `Runtime::block_on` used to park
/// in the shared driver, and when `block_on` returned while the workers slept on their condition
/// variables, nobody polled I/O or timers any more. Tasks parked on a socket and a timer must still
/// wake after `block_on` returns, with nothing else happening on the runtime.
#[test]
fn io_and_timers_keep_waking_after_block_on_returns() {
    for _ in 0..5 {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let accepted = tx.clone();
        rt.spawn(async move {
            let accepted_ok = listener.accept().await.is_ok();
            accepted.send(("accept", accepted_ok)).unwrap();
        })
        .detach();
        rt.spawn(async move {
            corio::sleep(Duration::from_millis(30)).await;
            tx.send(("sleep", true)).unwrap();
        })
        .detach();
        // This thread parks while the workers are idle: it must not carry the driver away.
        rt.block_on(corio::sleep(Duration::from_millis(10)));
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let mut woke = Vec::new();
        for _ in 0..2 {
            // A generous sanity bound: the failure this guards against is a hang.
            let (what, ok) = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("lost wake-up: only {woke:?} woke after block_on"));
            assert!(ok, "{what} failed");
            woke.push(what);
        }
        woke.sort_unstable();
        assert_eq!(woke, ["accept", "sleep"]);
    }
}

/// Drops a listener whose accept waited (so it is registered and armed), then, without
/// letting the thread park, connects to its address: that must be refused. Drops an accepted
/// stream whose read waited, then, still without parking, reads from its peer: the FIN must
/// already be there. On the io_uring reactor both waited for the thread to park again (the
/// removal was handed to the ring's waiter, here the same, busy thread): the connect succeeded
/// and the read waited.
async fn a_dropped_socket_closes_before_the_thread_parks() {
    use std::io::Read;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Armed, and the thread parked since (so the ring's poll reached the kernel).
    assert!(
        corio::timeout(Duration::from_millis(10), listener.accept())
            .await
            .is_err()
    );
    drop(listener);
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buf = [0; 8];
    assert!(
        corio::timeout(Duration::from_millis(10), stream.read(&mut buf))
            .await
            .is_err()
    );
    drop(stream);
    // A blocking read on this very thread: it cannot park until the read returns. The bound is
    // only there to turn the old hang into a failure.
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let read = loop {
        match peer.read(&mut buf) {
            // A thread of the runtime may see its blocking calls interrupted on the ring (see
            // PLATFORMS.md); that is not the answer.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => break read,
        }
    };
    assert_eq!(read.unwrap(), 0, "the FIN is out");
}

#[test]
fn a_dropped_socket_closes_at_once_on_run_local() {
    corio::run_local(a_dropped_socket_closes_before_the_thread_parks());
}

/// One worker: on the ring, the socket's poll was submitted by that worker (it holds the
/// driver), so the kernel releases the file before the removal's submission returns. On several
/// workers the poll may have been submitted by another one, which releases the file a moment
/// later: there the guarantee is "soon", not "before the next line" (PLATFORMS.md).
#[test]
fn a_dropped_socket_closes_at_once_on_a_worker() {
    let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
    rt.block_on(rt.spawn(a_dropped_socket_closes_before_the_thread_parks()));
}
