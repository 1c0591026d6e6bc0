//! The try operations and readiness waits of the datagram sockets (`UdpSocket`, `UnixDatagram`),
//! as tokio has them: a try never waits (`WouldBlock` when not ready), registers no waker (a task
//! that waits on the same socket, or a clone, is never disturbed), and a `WouldBlock` clears the
//! readiness, so that `readable()` then waits for the next datagram instead of spinning.
//!
//! The sockets register with the global reactor (no runtime here); `block_on` drives them.

use std::io::ErrorKind;
use std::net::SocketAddr;

use corio_net::{UdpSocket, UnixDatagram};
use futures_lite::future::block_on;

mod support;
use support::*;

fn would_block<T: std::fmt::Debug>(r: std::io::Result<T>) -> bool {
    matches!(r, Err(ref e) if e.kind() == ErrorKind::WouldBlock)
}

async fn udp_pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (a, b)
}

/// tokio's documented loop: wait for readiness, try, and go back on a false alarm.
async fn udp_recv_when_ready(s: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    loop {
        s.readable().await.unwrap();
        match s.try_recv_from(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            other => return other.unwrap(),
        }
    }
}

#[test]
fn udp_try_recv_from_does_not_wait_and_gets_each_datagram_once_in_order() {
    block_on(async {
        let (a, b) = udp_pair().await;
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            assert!(would_block(b.try_recv_from(&mut buf)));
            assert!(would_block(b.try_peek_from(&mut buf)));
        }
        // A WouldBlock cleared the readiness: `readable` now waits (it does not spin on a
        // stale event).
        assert!(poll_with(b.readable(), &counting().1).is_pending());
        a.writable().await.unwrap();
        for i in 0..10u8 {
            assert_eq!(a.try_send_to(&[i; 3], b.local_addr().unwrap()).unwrap(), 3);
        }
        for i in 0..10u8 {
            let (n, from) = within("a datagram", udp_recv_when_ready(&b, &mut buf)).await;
            assert_eq!((&buf[..n], from), (&[i; 3][..], a.local_addr().unwrap()));
        }
        assert!(would_block(b.try_recv_from(&mut buf)), "each datagram once");

        // Peek leaves the datagram queued; a short buffer cuts it (as `recv_from` does).
        a.send_to(b"a long datagram", b.local_addr().unwrap())
            .await
            .unwrap();
        within("readable", b.readable()).await.unwrap();
        let mut short = [0u8; 6];
        let (n, _) = b.try_peek_from(&mut short).unwrap();
        assert_eq!(&short[..n], b"a long");
        let (n, _) = b.try_recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"a long datagram");
        assert!(would_block(b.try_recv_from(&mut buf)));
    });
}

#[test]
fn udp_try_send_and_try_recv_on_a_connected_socket() {
    block_on(async {
        let (a, b) = udp_pair().await;
        let mut buf = [0u8; 8];
        assert!(a.try_send(b"x").is_err(), "not connected yet");
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert!(would_block(b.try_recv(&mut buf)));
        assert_eq!(a.try_send(b"ping").unwrap(), 4);
        within("readable", b.readable()).await.unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        assert!(would_block(b.try_recv(&mut buf)));
    });
}

/// A receive waits on a clone with a counting waker; `try_recv_from` on the original, over and
/// over, must not take its place: the datagram then wakes the waiting receive.
#[test]
fn udp_try_recv_from_never_disturbs_a_waiting_task() {
    let (a, b) = block_on(udp_pair());
    let (count, waker) = counting();
    let waiting = b.clone();
    let mut got = [0u8; 8];
    let mut recv = std::pin::pin!(waiting.recv_from(&mut got));
    assert!(
        recv.as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    );
    for _ in 0..100 {
        assert!(would_block(b.try_recv_from(&mut [0u8; 8])));
    }
    block_on(a.send_to(b"hello", b.local_addr().unwrap())).unwrap();
    count.wait_past(
        0,
        "the waiting receive, after try_recv_from on the same socket",
    );
    match recv
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker))
    {
        std::task::Poll::Ready(Ok((5, from))) => assert_eq!(from, a.local_addr().unwrap()),
        other => panic!("{other:?}"),
    }
}

/// A Unix datagram pair's queue fills: `try_send` says `WouldBlock` (nothing is dropped, unlike
/// UDP), `writable` waits until the reader drains, and every datagram arrives once, in order.
#[test]
fn unix_datagram_try_send_fills_the_queue_and_writable_waits_for_room() {
    block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let mut buf = [0u8; 64];
        assert!(would_block(b.try_recv(&mut buf)));
        assert!(poll_with(b.readable(), &counting().1).is_pending());
        let mut sent = 0u32;
        loop {
            match a.try_send(&sent.to_le_bytes()) {
                Ok(4) => sent += 1,
                Ok(n) => panic!("a datagram cut to {n} bytes"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
            assert!(sent < 10_000_000, "the queue never filled");
        }
        assert!(sent > 0);
        // Full: `writable` waits (a WouldBlock cleared the write readiness)…
        assert!(poll_with(a.writable(), &counting().1).is_pending());
        // …until the reader takes datagrams, each once, in order.
        for i in 0..sent {
            let n = loop {
                match b.try_recv(&mut buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        within("readable", b.readable()).await.unwrap();
                    }
                    other => break other.unwrap(),
                }
            };
            assert_eq!(&buf[..n], &i.to_le_bytes());
        }
        within("room again", a.writable()).await.unwrap();
        assert_eq!(a.try_send(b"more").unwrap(), 4);
        assert_eq!(b.try_recv(&mut buf).unwrap(), 4);
        assert!(would_block(b.try_recv(&mut buf)), "each datagram once");
    });
}

#[test]
fn unix_datagram_try_send_to_and_try_recv_from_name_the_peer() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = UnixDatagram::bind(dir.path().join("server")).unwrap();
        let client = UnixDatagram::bind(dir.path().join("client")).unwrap();
        let mut buf = [0u8; 8];
        assert!(would_block(server.try_recv_from(&mut buf)));
        assert_eq!(
            client
                .try_send_to(b"hi", dir.path().join("server"))
                .unwrap(),
            2
        );
        within("readable", server.readable()).await.unwrap();
        let (n, from) = server.try_recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(
            from.as_pathname(),
            Some(dir.path().join("client").as_path())
        );
        let missing = client.try_send_to(b"x", dir.path().join("nobody"));
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
    });
}
