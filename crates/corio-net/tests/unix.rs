//! Unix sockets on the corio reactor, with data: streams (through a listener and as a pair),
//! half-close and EOF, datagrams with their sender paths, readiness after `EAGAIN`, a clone dropped
//! while a reader waits, and the cancel-safety of `read`, `accept` and `recv_from`.
#![cfg(unix)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use corio_net::{UnixDatagram, UnixListener, UnixStream};
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWriteExt};

mod support;
use support::*;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ seed ^ (i >> 8) as u8)
        .collect()
}

#[test]
fn a_stream_through_a_listener_carries_a_megabyte_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let mut client = UnixStream::connect(&path).await.unwrap();
        let (mut server, _) = within("accept", listener.accept()).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let up = pattern(1 << 20, 1);
        let down = pattern(1 << 20, 2);
        let (mut c2, mut s2) = (client.clone(), server.clone());
        let ((a, b), (c, d)) = within(
            "the exchange",
            futures_lite::future::zip(
                futures_lite::future::zip(client.write_all(&up), server.write_all(&down)),
                futures_lite::future::zip(
                    async {
                        let mut v = vec![0; up.len()];
                        s2.read_exact(&mut v).await.map(|()| v)
                    },
                    async {
                        let mut v = vec![0; down.len()];
                        c2.read_exact(&mut v).await.map(|()| v)
                    },
                ),
            ),
        )
        .await;
        a.unwrap();
        b.unwrap();
        assert!(c.unwrap() == up);
        assert!(d.unwrap() == down);
    });
}

#[test]
fn a_pair_half_closes_and_reads_eof() {
    block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"question").await.unwrap();
        a.close().await.unwrap();
        let mut got = Vec::new();
        within("read to EOF", b.read_to_end(&mut got))
            .await
            .unwrap();
        assert_eq!(got, b"question");
        b.write_all(b"answer").await.unwrap();
        drop(b);
        let mut back = Vec::new();
        within("read to EOF", a.read_to_end(&mut back))
            .await
            .unwrap();
        assert_eq!(back, b"answer");
        let err = a.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    });
}

/// Edge-triggered readiness on a Unix stream: woken by each new arrival after `EAGAIN`, and by EOF.
#[test]
fn a_stream_reader_is_woken_after_eagain_and_by_eof() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    for round in 0..100u32 {
        assert!(Pin::new(&mut b).poll_read(&mut cx, &mut buf).is_pending());
        let seen = count.get();
        block_on(a.write_all(&round.to_le_bytes())).unwrap();
        count.wait_past(seen, "data after EAGAIN");
        assert!(matches!(
            Pin::new(&mut b).poll_read(&mut cx, &mut buf),
            Poll::Ready(Ok(4))
        ));
        assert_eq!(buf[..4], round.to_le_bytes());
    }
    assert!(Pin::new(&mut b).poll_read(&mut cx, &mut buf).is_pending());
    let seen = count.get();
    drop(a);
    count.wait_past(seen, "EOF");
    assert!(matches!(
        Pin::new(&mut b).poll_read(&mut cx, &mut buf),
        Poll::Ready(Ok(0))
    ));
}

/// Dropping one handle while another handle's reader waits leaves the connection open.
#[test]
fn a_clone_dropped_while_a_reader_waits_leaves_the_stream_open() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let mut reader = b.clone();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    assert!(
        Pin::new(&mut reader)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    drop(b);
    let seen = count.get();
    block_on(a.write_all(b"still open")).unwrap();
    count.wait_past(seen, "data after the clone was dropped");
    match Pin::new(&mut reader).poll_read(&mut cx, &mut buf) {
        Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"still open"),
        other => panic!("{other:?}"),
    }
}

/// `read` is cancel-safe on Unix streams too: dropped waiting reads lose no byte.
#[test]
fn a_cancelled_stream_read_loses_no_byte() {
    block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut buf = [0; 512];
        let mut all_sent = Vec::new();
        let mut all_got = Vec::new();
        for round in 0..100u32 {
            assert!(poll_with(b.read(&mut buf), Waker::noop()).is_pending());
            let sent = pattern(1 + (round as usize * 13) % 500, round as u8);
            a.write_all(&sent).await.unwrap();
            all_sent.extend_from_slice(&sent);
            while all_got.len() < all_sent.len() {
                let n = within("read", b.read(&mut buf)).await.unwrap();
                all_got.extend_from_slice(&buf[..n]);
            }
        }
        assert!(all_got == all_sent);
    });
}

/// `accept` is cancel-safe: dropped accepts take no connection.
#[test]
fn a_cancelled_unix_accept_loses_no_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accept");
    block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let mut clients = Vec::new();
        for i in 0..20u8 {
            assert!(poll_with(listener.accept(), Waker::noop()).is_pending());
            let mut c = UnixStream::connect(&path).await.unwrap();
            c.write_all(&[i]).await.unwrap();
            clients.push(c);
            let (mut s, _) = within("accept", listener.accept()).await.unwrap();
            let mut b = [0];
            s.read_exact(&mut b).await.unwrap();
            assert_eq!(
                b[0], i,
                "the connection of this round, not a lost earlier one"
            );
        }
    });
}

#[test]
fn datagrams_carry_their_bytes_and_their_sender_path() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
    block_on(async {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        let mut buf = vec![0; 9000];
        for (i, len) in [0usize, 1, 100, 4096, 8192].into_iter().enumerate() {
            let sent = pattern(len, i as u8);
            assert_eq!(a.send_to(&sent, &pb).await.unwrap(), len);
            let (n, from) = within("recv_from", b.recv_from(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], &sent[..]);
            assert_eq!(from.as_pathname(), Some(pa.as_path()));
        }
        // An unbound sender has no path to answer to.
        let anon = UnixDatagram::unbound().unwrap();
        anon.send_to(b"anon", &pb).await.unwrap();
        let (n, from) = within("recv_from", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"anon");
        assert!(from.is_unnamed());
        // Connected: send/recv.
        a.connect(&pb).unwrap();
        a.send(b"connected").await.unwrap();
        let n = within("recv", b.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"connected");
    });
}

#[test]
fn a_datagram_pair_keeps_boundaries_and_a_cancelled_recv_loses_nothing() {
    block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut buf = [0; 64];
        for round in 0..100u32 {
            assert!(poll_with(b.recv(&mut buf), Waker::noop()).is_pending());
            assert!(poll_with(b.recv_from(&mut buf), Waker::noop()).is_pending());
            a.send(&round.to_le_bytes()).await.unwrap();
            a.send(b"second").await.unwrap();
            let n = within("recv", b.recv(&mut buf)).await.unwrap();
            assert_eq!(buf[..n], round.to_le_bytes());
            let n = within("recv", b.recv(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"second");
        }
    });
}

/// A read into an empty buffer is `Ok(0)` at once on an idle stream, and takes nothing.
#[test]
fn an_empty_read_returns_zero_at_once_and_takes_nothing() {
    futures_lite::future::block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let read = futures_lite::future::poll_once(b.read(&mut []));
        assert!(matches!(read.await, Some(Ok(0))));
        a.write_all(b"kept").await.unwrap();
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"kept");
    });
}

/// Sending to, or connecting a datagram socket to, a path that is not there is an error that
/// names the path.
#[test]
fn datagram_errors_name_the_path() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nobody-here");
        let socket = UnixDatagram::unbound().unwrap();
        let err = socket.send_to(b"x", &missing).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nobody-here"), "{err}");
        let err = socket.connect(&missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nobody-here"), "{err}");
    });
}

/// A listener whose backlog is full (it never accepts): a connect neither blocks its thread nor
/// fails; it waits, cancellably, and completes once the server accepts (probe W: a blocking
/// `connect` slept in the kernel, no timeout could stop it, and a `run_local` server that would
/// have made room never ran again).
#[test]
fn a_connect_to_a_full_backlog_waits_without_blocking_and_completes_once_there_is_room() {
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let addr = SockAddr::unix(&path).unwrap();
    let server = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    server.bind(&addr).unwrap();
    server.listen(1).unwrap();
    // Fill the backlog with connects that do not wait.
    let mut queued = Vec::new();
    loop {
        let client = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        client.set_nonblocking(true).unwrap();
        match client.connect(&addr) {
            Ok(()) => queued.push(client),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(queued.len() < 64, "the backlog never filled");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn({
        let path = path.clone();
        move || {
            // Bounded: it gives up, and the thread is free again.
            let gave_up = block_on(corio_timer::timeout(
                Duration::from_millis(50),
                UnixStream::connect(&path),
            ));
            assert!(gave_up.is_err(), "a connect to a full backlog completed");
            tx.send("gave up").unwrap();
            // Unbounded: completes once the server below accepts.
            let stream = block_on(UnixStream::connect(&path)).unwrap();
            assert_eq!(
                stream.peer_addr().unwrap().as_pathname(),
                Some(path.as_path())
            );
            tx.send("connected").unwrap();
        }
    });
    let step = |what: &str| {
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("{what}: the connecting thread is stuck (blocked in connect)")
            });
        assert_eq!(got, what);
    };
    step("gave up");
    std::thread::sleep(Duration::from_millis(20));
    // Room in the backlog: accept the queued connections.
    for _ in 0..queued.len() {
        server.accept().unwrap();
    }
    step("connected");
    waiter.join().unwrap();
}
