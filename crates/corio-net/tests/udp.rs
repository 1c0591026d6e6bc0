//! UDP on the corio reactor: payloads checked byte for byte (sizes from empty to 8 KiB, sender
//! addresses), connected sockets, truncation, peeking, readiness after `EAGAIN`, and what a dropped
//! `recv_from` or `send_to` promises. Loopback only.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_net::UdpSocket;
use futures_lite::future::block_on;

mod support;
use support::*;

async fn bound() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed ^ (i >> 8) as u8)
        .collect()
}

/// Every datagram arrives whole, from the right sender, with its own bytes (the facade's old UDP
/// test never looked at them). Sizes cover empty, one byte, odd sizes and 8 KiB (below macOS's
/// default loopback limit of 9216).
#[test]
fn payloads_and_senders_are_exact() {
    block_on(async {
        let (a, a_addr) = bound().await;
        let (b, b_addr) = bound().await;
        let mut buf = vec![0; 9000];
        for (i, len) in [0usize, 1, 2, 7, 100, 1472, 1473, 4096, 8192]
            .into_iter()
            .enumerate()
        {
            let sent = payload(len, i as u8);
            assert_eq!(a.send_to(&sent, b_addr).await.unwrap(), len);
            let (n, from) = within("recv_from", b.recv_from(&mut buf)).await.unwrap();
            assert_eq!(from, a_addr);
            assert_eq!(&buf[..n], &sent[..], "a datagram of {len} bytes");
            // And back, through the address it came from.
            b.send_to(&buf[..n], from).await.unwrap();
            let (n, from) = within("recv_from", a.recv_from(&mut buf)).await.unwrap();
            assert_eq!((from, &buf[..n]), (b_addr, &sent[..]));
        }
    });
}

/// Datagram boundaries hold: three sends are three receives, in order on loopback.
#[test]
fn boundaries_are_kept() {
    block_on(async {
        let (a, _) = bound().await;
        let (b, b_addr) = bound().await;
        for msg in [&b"one"[..], b"two!", b"three"] {
            a.send_to(msg, b_addr).await.unwrap();
        }
        let mut buf = [0; 64];
        for msg in [&b"one"[..], b"two!", b"three"] {
            let n = within("recv", b.recv(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], msg);
        }
    });
}

/// A connected socket sends to its peer with `send`, and receives only from it.
#[test]
fn a_connected_socket_talks_only_to_its_peer() {
    block_on(async {
        let (a, a_addr) = bound().await;
        let (b, b_addr) = bound().await;
        let (stranger, _) = bound().await;
        a.connect(b_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        stranger.send_to(b"not for you", a_addr).await.unwrap();
        b.send_to(b"hello a", a_addr).await.unwrap();
        let mut buf = [0; 64];
        let n = within("recv", a.recv(&mut buf)).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"hello a",
            "the stranger's datagram is filtered out"
        );
        a.send(b"hello b").await.unwrap();
        let (n, from) = within("recv_from", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!((from, &buf[..n]), (a_addr, &b"hello b"[..]));
    });
}

/// A buffer smaller than the datagram gets its first bytes; the rest is discarded (Unix).
#[cfg(unix)]
#[test]
fn a_short_buffer_truncates_the_datagram() {
    block_on(async {
        let (a, _) = bound().await;
        let (b, b_addr) = bound().await;
        a.send_to(b"0123456789", b_addr).await.unwrap();
        a.send_to(b"next", b_addr).await.unwrap();
        let mut small = [0; 4];
        let n = within("recv", b.recv(&mut small)).await.unwrap();
        assert_eq!(&small[..n], b"0123");
        let mut buf = [0; 16];
        let n = within("recv", b.recv(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"next", "the rest of the first datagram is gone");
    });
}

#[test]
fn peek_from_does_not_consume() {
    block_on(async {
        let (a, a_addr) = bound().await;
        let (b, b_addr) = bound().await;
        a.send_to(b"peek me", b_addr).await.unwrap();
        let mut buf = [0; 16];
        let (n, from) = within("peek", b.peek_from(&mut buf)).await.unwrap();
        assert_eq!((from, &buf[..n]), (a_addr, &b"peek me"[..]));
        let (n, from) = within("recv", b.recv_from(&mut buf)).await.unwrap();
        assert_eq!((from, &buf[..n]), (a_addr, &b"peek me"[..]));
    });
}

/// Edge-triggered readiness: a receiver that hit `EAGAIN` is woken by each new datagram.
#[test]
fn a_receiver_that_hit_eagain_is_woken_by_each_datagram() {
    let (a, _) = block_on(bound());
    let (b, b_addr) = block_on(bound());
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut buf = [0; 16];
    for round in 0..200u32 {
        // The same future across the wait: dropping it would (rightly) take its waker away.
        let mut cx = Context::from_waker(&waker);
        {
            let mut recv = pin!(b.recv_from(&mut buf));
            assert!(recv.as_mut().poll(&mut cx).is_pending(), "round {round}");
            let seen = count.get();
            block_on(a.send_to(&round.to_le_bytes(), b_addr)).unwrap();
            count.wait_past(seen, "a datagram after EAGAIN");
            match recv.as_mut().poll(&mut cx) {
                Poll::Ready(Ok((4, _))) => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(buf[..4], round.to_le_bytes());
    }
}

/// `recv_from` is cancel-safe: a dropped receive took no datagram. In lockstep (each round drops a
/// waiting receive, then the datagram comes), then racing timeouts against 300 datagrams: each
/// arrives exactly once.
#[test]
fn a_cancelled_recv_from_loses_no_datagram() {
    block_on(async {
        let (a, _) = bound().await;
        let (b, b_addr) = bound().await;
        let mut buf = [0; 16];
        for round in 0..100u32 {
            assert!(poll_with(b.recv_from(&mut buf), Waker::noop()).is_pending());
            a.send_to(&round.to_le_bytes(), b_addr).await.unwrap();
            let (n, _) = within("recv_from", b.recv_from(&mut buf)).await.unwrap();
            assert_eq!(buf[..n], round.to_le_bytes());
        }

        const N: u32 = 300;
        let sender = async {
            for i in 0..N {
                a.send_to(&i.to_le_bytes(), b_addr).await.unwrap();
                if i % 8 == 0 {
                    corio_timer::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let receiver = async {
            let mut got = Vec::new();
            let mut buf = [0; 16];
            while got.len() < N as usize {
                match corio_timer::timeout(Duration::from_millis(1), b.recv_from(&mut buf)).await {
                    Ok(Ok((4, _))) => got.push(u32::from_le_bytes(buf[..4].try_into().unwrap())),
                    Ok(other) => panic!("{other:?}"),
                    Err(_) => {} // cancelled
                }
            }
            got
        };
        let ((), got) = within("300 datagrams", futures_lite::future::zip(sender, receiver)).await;
        assert_eq!(
            got,
            (0..N).collect::<Vec<_>>(),
            "each once, in order (loopback)"
        );
    });
}

/// `send_to` is cancel-safe once the address is resolved: a send either happened (the datagram
/// is whole at the receiver) or did not; a datagram is never cut. (A UDP send is never pending
/// for long: a full buffer drops datagrams in the kernel instead.)
#[test]
fn a_send_to_polled_once_sends_a_whole_datagram_or_none() {
    block_on(async {
        let (a, _) = bound().await;
        let (b, b_addr) = bound().await;
        let mut sent = 0u32;
        for i in 0..50u32 {
            let msg = payload(500, i as u8);
            if let Poll::Ready(r) = poll_with(a.send_to(&msg, b_addr), Waker::noop()) {
                assert_eq!(r.unwrap(), 500);
                sent += 1;
            }
        }
        assert!(sent > 0);
        let mut buf = [0; 1024];
        for _ in 0..sent {
            let n = within("recv", b.recv(&mut buf)).await.unwrap();
            assert_eq!(n, 500, "whole datagrams only");
        }
    });
}

/// Dropping one handle of a socket while another handle's receiver waits does not close it.
#[test]
fn a_clone_dropped_while_a_receiver_waits_leaves_the_socket_open() {
    block_on(async {
        let (a, _) = bound().await;
        let (b, b_addr) = bound().await;
        let waiting = b.clone();
        let receiver = async {
            let mut buf = [0; 16];
            let (n, _) = waiting.recv_from(&mut buf).await.unwrap();
            buf[..n].to_vec()
        };
        let sender = async {
            corio_timer::sleep(Duration::from_millis(5)).await;
            drop(b);
            a.send_to(b"after", b_addr).await.unwrap();
        };
        let (got, ()) = within("the receive", futures_lite::future::zip(receiver, sender)).await;
        assert_eq!(got, b"after");
    });
}
