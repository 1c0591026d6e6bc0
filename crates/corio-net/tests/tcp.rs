//! TCP on the corio reactor, at the data level: payloads checked byte for byte, readiness after
//! `EAGAIN` (the reactor is edge-triggered), EOF, reset, half-close, a clone dropped while a
//! reader waits, and what each operation promises when its future is dropped (the cancel-safety
//! table of the crate docs).
//!
//! The sockets register with the global reactor (no runtime here), as they would under any
//! executor; `futures_lite::future::block_on` drives them. Loopback only.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_net::{TcpListener, TcpStream};
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod support;
use support::*;

/// Polls `fut` once with a no-op waker and drops it: the cancellation under test. Returns what
/// the poll gave.
fn poll_once_then_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// `len` bytes that differ from their neighbours, so that a lost, duplicated or reordered byte
/// shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 8) as u8) ^ seed)
        .collect()
}

#[test]
fn a_megabyte_each_way_arrives_intact() {
    block_on(async {
        let (client, server) = pair().await;
        let up = pattern(1 << 20, 1);
        let down = pattern(1 << 20, 2);
        // Both sides write more than the socket buffers hold before reading: every write and read
        // hits EAGAIN many times and must be woken by the reactor to go on.
        let send = |mut s: TcpStream, data: Vec<u8>| async move { s.write_all(&data).await };
        let recv = |mut s: TcpStream, len: usize| async move {
            let mut buf = vec![0; len];
            s.read_exact(&mut buf).await.map(|()| buf)
        };
        let ((a, b), (c, d)) = within(
            "the exchange",
            futures_lite::future::zip(
                futures_lite::future::zip(
                    send(client.clone(), up.clone()),
                    send(server.clone(), down.clone()),
                ),
                futures_lite::future::zip(
                    recv(server.clone(), up.len()),
                    recv(client.clone(), down.len()),
                ),
            ),
        )
        .await;
        a.unwrap();
        b.unwrap();
        assert!(
            c.unwrap() == up,
            "the server received the client's bytes in order"
        );
        assert!(
            d.unwrap() == down,
            "the client received the server's bytes in order"
        );
    });
}

/// Edge-triggered readiness: a reader that got `EAGAIN` is woken by the next data, every time.
/// A lost edge (the readiness bit cleared after the event arrived) would leave it asleep.
#[test]
fn a_reader_that_hit_eagain_is_woken_by_each_new_arrival() {
    let (mut client, mut server) = block_on(pair());
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 64];
    for round in 0..200u32 {
        assert!(
            Pin::new(&mut server)
                .poll_read(&mut cx, &mut buf)
                .is_pending(),
            "round {round}: nothing to read yet"
        );
        let seen = count.get();
        block_on(client.write_all(&round.to_le_bytes())).unwrap();
        count.wait_past(seen, "new data after EAGAIN");
        match Pin::new(&mut server).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(4)) => assert_eq!(buf[..4], round.to_le_bytes()),
            other => panic!("round {round}: {other:?}"),
        }
    }
}

/// The write side of the same: a writer that filled the socket buffer is woken when the peer
/// drains it, and goes on.
#[test]
fn a_writer_that_hit_eagain_is_woken_when_the_peer_reads() {
    let (mut client, mut server) = block_on(pair());
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let chunk = [7u8; 64 * 1024];
    for round in 0..3 {
        let mut written = 0usize;
        while let Poll::Ready(r) = Pin::new(&mut client).poll_write(&mut cx, &chunk) {
            written += r.unwrap();
            assert!(written < 1 << 30, "the socket buffer never filled");
        }
        let seen = count.get();
        let mut drained = vec![0; written];
        block_on(within("draining", server.read_exact(&mut drained))).unwrap();
        assert!(drained.iter().all(|&b| b == 7));
        count.wait_past(seen, "room in the send buffer after EAGAIN");
        assert!(
            matches!(
                Pin::new(&mut client).poll_write(&mut cx, &chunk),
                Poll::Ready(Ok(n)) if n > 0
            ),
            "round {round}: writable again"
        );
    }
}

#[test]
fn eof_when_the_peer_closes_wakes_a_waiting_reader_and_stays() {
    let (client, mut server) = block_on(pair());
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    assert!(
        Pin::new(&mut server)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    drop(client);
    count.wait_past(0, "EOF");
    for _ in 0..3 {
        assert!(matches!(
            Pin::new(&mut server).poll_read(&mut cx, &mut buf),
            Poll::Ready(Ok(0))
        ));
    }
}

/// An empty `peek` returns `Ok(0)` at once on an idle connection, as an empty read does (probe W:
/// it waited for data).
#[test]
fn an_empty_peek_returns_at_once() {
    let (_client, server) = block_on(pair());
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let peek = server.peek(&mut []);
    let mut peek = std::pin::pin!(peek);
    assert!(matches!(peek.as_mut().poll(&mut cx), Poll::Ready(Ok(0))));
}

/// `close()` shuts down the write half only: the peer reads EOF after the data, and can still
/// answer on the other half. Writing after `close()` fails; it does not panic or hang.
#[test]
fn half_close_each_way() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"request").await.unwrap();
        client.close().await.unwrap();
        let mut got = Vec::new();
        within("read to EOF", server.read_to_end(&mut got))
            .await
            .unwrap();
        assert_eq!(got, b"request");
        server.write_all(b"response").await.unwrap();
        server.close().await.unwrap();
        let mut back = Vec::new();
        within("read the answer", client.read_to_end(&mut back))
            .await
            .unwrap();
        assert_eq!(back, b"response");
        let err = client.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        // Closing twice is fine.
        client.close().await.unwrap();
    });
}

/// A peer that aborts (SO_LINGER 0: the kernel sends RST) fails a reader already waiting, with
/// the reset as its error, and a writer soon after.
#[test]
fn a_reset_wakes_the_waiting_reader_with_an_error() {
    let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    let (mut server, _) = block_on(listener.accept()).unwrap();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    assert!(
        Pin::new(&mut server)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    drop(peer); // RST
    count.wait_past(0, "RST");
    match Pin::new(&mut server).poll_read(&mut cx, &mut buf) {
        Poll::Ready(Err(e)) => assert!(is_reset(&e), "{e:?}"),
        other => panic!("a reset must fail the read, got {other:?}"),
    }
    // Writing to a reset connection fails too (at once or after the next RST), never hangs.
    let err = block_on(within("writes to a reset connection", async {
        loop {
            if let Err(e) = server.write_all(&[0; 1024]).await {
                return e;
            }
        }
    }));
    assert!(is_reset(&err), "{err:?}");
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A reset on a connection the corio side reads after the fact: the data sent before the reset
/// may be discarded by the kernel, but the read ends with the error, not with a hang.
#[test]
fn a_reset_before_the_read_is_an_error() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = block_on(TcpStream::connect(std_listener.local_addr().unwrap())).unwrap();
    let (peer, _) = std_listener.accept().unwrap();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    let mut buf = [0; 16];
    match block_on(within("the read after RST", client.read(&mut buf))) {
        Err(e) => assert!(is_reset(&e), "{e:?}"),
        Ok(n) => panic!("read {n} bytes from a reset connection"),
    }
}

/// Dropping one handle of a connection while another handle's reader waits does not close it:
/// the reader stays pending, harmlessly, and gets the data when it comes.
#[test]
fn a_clone_dropped_while_a_reader_waits_leaves_the_connection_open() {
    let (mut client, server) = block_on(pair());
    let mut reader = server.clone();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    assert!(
        Pin::new(&mut reader)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    drop(server);
    assert!(
        Pin::new(&mut reader)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    let seen = count.get();
    block_on(client.write_all(b"still here")).unwrap();
    count.wait_past(seen, "data after the clone was dropped");
    match Pin::new(&mut reader).poll_read(&mut cx, &mut buf) {
        Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"still here"),
        other => panic!("{other:?}"),
    }
}

/// Two tasks reading one connection through two clones: the second reader to wait does not
/// make the first miss the data. Each arrival wakes both; the one that finds nothing waits again
/// and is woken by the next arrival.
#[test]
fn two_readers_on_clones_are_both_woken() {
    let (mut client, server) = block_on(pair());
    let (mut a, mut b) = (server.clone(), server);
    let (count_a, waker_a) = counting();
    let (count_b, waker_b) = counting();
    let mut buf = [0; 16];
    let read = |stream: &mut TcpStream, waker: &Waker, buf: &mut [u8]| {
        Pin::new(stream).poll_read(&mut Context::from_waker(waker), buf)
    };
    assert!(read(&mut a, &waker_a, &mut buf).is_pending());
    assert!(read(&mut b, &waker_b, &mut buf).is_pending());
    block_on(client.write_all(b"first")).unwrap();
    count_a.wait_past(0, "reader A, the first to wait");
    count_b.wait_past(0, "reader B");
    // B takes the bytes; A finds none and waits for the next arrival.
    assert!(matches!(
        read(&mut b, &waker_b, &mut buf),
        Poll::Ready(Ok(5))
    ));
    assert!(read(&mut a, &waker_a, &mut buf).is_pending());
    block_on(client.write_all(b"second")).unwrap();
    count_a.wait_past(1, "reader A, waiting alone");
    match read(&mut a, &waker_a, &mut buf) {
        Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"second"),
        other => panic!("{other:?}"),
    }
}

/// To stop a reader that waits in another task, shut the read half down from any handle: the
/// reader wakes and reads EOF.
#[cfg(target_os = "linux")]
#[test]
fn shutting_down_the_read_half_releases_a_waiting_reader() {
    let (_client, server) = block_on(pair());
    let mut reader = server.clone();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0; 16];
    assert!(
        Pin::new(&mut reader)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    );
    server.shutdown(std::net::Shutdown::Read).unwrap();
    count.wait_past(0, "shutdown(Read)");
    assert!(matches!(
        Pin::new(&mut reader).poll_read(&mut cx, &mut buf),
        Poll::Ready(Ok(0))
    ));
}

// ---- cancel safety -------------------------------------------------------------------------

/// `read` is cancel-safe: a read dropped while it waited took nothing, so the next read gets every
/// byte, none twice. In lockstep: each round drops a waiting read, then the bytes arrive.
#[test]
fn a_cancelled_read_loses_no_byte_lockstep() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        let mut buf = [0; 256];
        for round in 0..200u32 {
            assert!(
                poll_once_then_drop(server.read(&mut buf)).is_pending(),
                "round {round}"
            );
            let sent = pattern(1 + (round as usize * 7) % 200, round as u8);
            client.write_all(&sent).await.unwrap();
            let mut got = Vec::new();
            while got.len() < sent.len() {
                let n = within("read", server.read(&mut buf)).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, sent, "round {round}");
        }
    });
}

/// The same with the cancellation racing the data: a writer sends 256 KiB in uneven chunks with
/// pauses while the reader's reads are cut short by a 1 ms timeout again and again. The bytes
/// read, joined, are exactly the bytes sent.
#[test]
fn a_cancelled_read_loses_and_duplicates_nothing_under_races() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        let sent = pattern(256 * 1024, 9);
        let writer = async {
            let mut at = 0;
            let mut step = 1usize;
            while at < sent.len() {
                let end = (at + step).min(sent.len());
                client.write_all(&sent[at..end]).await.unwrap();
                at = end;
                step = (step * 5 + 3) % 9000 + 1;
                if step % 3 == 0 {
                    corio_timer::sleep(Duration::from_millis(1)).await;
                }
            }
            client.close().await.unwrap();
        };
        let reader = async {
            let mut got = Vec::with_capacity(sent.len());
            let mut buf = vec![0; 5000];
            loop {
                match corio_timer::timeout(Duration::from_millis(1), server.read(&mut buf)).await {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => panic!("{e}"),
                    Err(_) => {} // cancelled
                }
            }
            got
        };
        let ((), got) = within("the transfer", futures_lite::future::zip(writer, reader)).await;
        assert!(got == sent, "{} bytes read, {} sent", got.len(), sent.len());
    });
}

/// `read_exact` is not cancel-safe: the bytes it already read are in the caller's buffer, but how
/// many is lost with the future; the stream goes on after them.
#[test]
fn a_cancelled_read_exact_keeps_its_partial_bytes_in_the_buffer() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"abcd").await.unwrap();
        let mut buf = [0; 8];
        let r = corio_timer::timeout(Duration::from_millis(50), server.read_exact(&mut buf)).await;
        assert!(r.is_err(), "only 4 of 8 bytes came");
        assert_eq!(
            &buf[..4],
            b"abcd",
            "consumed from the socket, left in the buffer"
        );
        client.write_all(b"efgh").await.unwrap();
        let mut next = [0; 4];
        within("read_exact", server.read_exact(&mut next))
            .await
            .unwrap();
        assert_eq!(
            &next, b"efgh",
            "the stream continues after the consumed bytes"
        );
    });
}

/// `write` is cancel-safe: a write dropped while it waited for room wrote nothing, so the peer
/// receives exactly the bytes whose writes completed.
#[test]
fn a_cancelled_write_sends_nothing() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        let mut accepted = 0usize;
        let mut dropped_pending = 0;
        // Fill the buffers with 'a's, then offer 'b's through writes that are dropped pending.
        while let Poll::Ready(r) = poll_once_then_drop(client.write(&[b'a'; 16 * 1024])) {
            accepted += r.unwrap();
            assert!(accepted < 1 << 30, "the socket buffer never filled");
        }
        for _ in 0..10 {
            if poll_once_then_drop(client.write(&[b'b'; 4096])).is_pending() {
                dropped_pending += 1;
            }
        }
        assert!(dropped_pending > 0, "the buffer was full");
        let reading = async {
            let mut got = vec![0; accepted];
            server.read_exact(&mut got).await.unwrap();
            got
        };
        let got = within("reading what was accepted", reading).await;
        assert!(got.iter().all(|&b| b == b'a'));
        // Nothing more is in flight: a marker written now is the very next thing read.
        client.write_all(b"|end").await.unwrap();
        let mut tail = [0; 4];
        within("the marker", server.read_exact(&mut tail))
            .await
            .unwrap();
        assert_eq!(&tail, b"|end", "no byte of a dropped write was sent");
    });
}

/// `write_all` is not cancel-safe: dropped part-way, a prefix of the data has been sent and how
/// long it is, is lost. The peer sees a prefix, never a gap or a duplicate.
#[test]
fn a_cancelled_write_all_sends_a_prefix() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        let data = pattern(32 << 20, 3);
        let r = corio_timer::timeout(Duration::from_millis(20), client.write_all(&data)).await;
        assert!(r.is_err(), "32 MiB does not fit in the socket buffers");
        client.close().await.unwrap();
        let mut got = Vec::new();
        within("read to EOF", server.read_to_end(&mut got))
            .await
            .unwrap();
        assert!(!got.is_empty() && got.len() < data.len());
        assert!(got == data[..got.len()], "a prefix of the data");
    });
}

/// `accept` is cancel-safe: a dropped accept took no connection. Lockstep first, then 50 clients
/// connecting while the accepts are cut short by timeouts: every client is accepted exactly once.
#[test]
fn a_cancelled_accept_loses_no_connection() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..20 {
            assert!(poll_once_then_drop(listener.accept()).is_pending());
            let client = TcpStream::connect(addr).await.unwrap();
            let (_, peer) = within("accept", listener.accept()).await.unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
        }

        const CLIENTS: u8 = 50;
        let clients = async {
            let mut streams = Vec::new();
            for i in 0..CLIENTS {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&[i]).await.unwrap();
                streams.push(s);
                if i % 4 == 0 {
                    corio_timer::sleep(Duration::from_millis(1)).await;
                }
            }
            streams // kept open until every one was accepted
        };
        let server = async {
            let mut seen = Vec::new();
            while seen.len() < usize::from(CLIENTS) {
                match corio_timer::timeout(Duration::from_millis(1), listener.accept()).await {
                    Ok(Ok((mut s, _))) => {
                        let mut b = [0];
                        s.read_exact(&mut b).await.unwrap();
                        seen.push(b[0]);
                    }
                    Ok(Err(e)) => panic!("{e}"),
                    Err(_) => {} // cancelled
                }
            }
            seen
        };
        let (_streams, mut seen) =
            within("50 clients", futures_lite::future::zip(clients, server)).await;
        seen.sort_unstable();
        assert_eq!(seen, (0..CLIENTS).collect::<Vec<_>>());
        assert!(
            poll_once_then_drop(listener.accept()).is_pending(),
            "no extra connection"
        );
    });
}

/// A dropped `connect` closes its socket: whatever the listener accepts from it reads EOF (or a
/// reset), never data and never a hang; the listener goes on serving.
#[test]
fn a_cancelled_connect_leaves_at_most_a_closed_connection() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..20 {
            let _ = poll_once_then_drop(TcpStream::connect(addr));
            // On loopback the handshake may already be done by the kernel: accept what is there.
            if let Ok(Ok((mut s, _))) =
                corio_timer::timeout(Duration::from_millis(20), listener.accept()).await
            {
                let mut buf = [0; 8];
                match within("the orphan's read", s.read(&mut buf)).await {
                    Ok(0) => {}
                    Ok(n) => panic!("{n} bytes from a cancelled connect"),
                    Err(e) => assert!(is_reset(&e), "{e:?}"),
                }
            }
        }
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"ok").await.unwrap();
        let (mut s, _) = within("accept", listener.accept()).await.unwrap();
        let mut buf = [0; 2];
        within("read", s.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"ok");
    });
}

#[test]
fn the_peer_and_local_addresses_match_across_the_connection() {
    block_on(async {
        let (client, server) = pair().await;
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        let _: SocketAddr = client.local_addr().unwrap();
        // The std side of the same operations, for comparison: a blocking peer interoperates.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut std_peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        std_peer.write_all(b"std").unwrap();
        let mut buf = [0; 3];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"std");
        s.write_all(b"ack").await.unwrap();
        let mut back = [0; 3];
        std_peer.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ack");
    });
}

/// `read_to_end` is cancel-safe: dropped part-way, the bytes it read stay in the `Vec`, and a new
/// `read_to_end` into the same `Vec` goes on after them.
#[test]
fn a_cancelled_read_to_end_keeps_its_bytes_in_the_vec() {
    block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"abc").await.unwrap();
        let mut all = Vec::new();
        let r = corio_timer::timeout(Duration::from_millis(50), server.read_to_end(&mut all)).await;
        assert!(r.is_err(), "no EOF yet");
        assert_eq!(all, b"abc");
        client.write_all(b"def").await.unwrap();
        client.close().await.unwrap();
        within("read_to_end", server.read_to_end(&mut all))
            .await
            .unwrap();
        assert_eq!(all, b"abcdef");
    });
}

/// A read into an empty buffer is `Ok(0)` at once on an idle connection (as std's blocking read
/// is), and leaves the data that comes later for the next read; the vectored form too.
#[test]
fn an_empty_read_returns_zero_at_once_and_takes_nothing() {
    block_on(async {
        let (mut a, mut b) = pair().await;
        assert!(matches!(
            poll_once_then_drop(b.read(&mut [])),
            Poll::Ready(Ok(0))
        ));
        let mut none: [io::IoSliceMut<'_>; 0] = [];
        assert!(matches!(
            poll_once_then_drop(b.read_vectored(&mut none)),
            Poll::Ready(Ok(0))
        ));
        a.write_all(b"kept").await.unwrap();
        assert_eq!(b.read(&mut []).await.unwrap(), 0);
        let mut buf = [0; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"kept");
    });
}

/// A name that cannot be resolved is an error that says which name (std's says only "failed to
/// lookup address information"), for a `host:port` string and for a `(host, port)` pair.
#[test]
fn an_unresolvable_name_is_an_error_naming_it() {
    block_on(async {
        for err in [
            TcpStream::connect("no.such.host.invalid:80")
                .await
                .unwrap_err(),
            TcpStream::connect(("no.such.host.invalid", 80))
                .await
                .unwrap_err(),
        ] {
            assert!(err.to_string().contains("no.such.host.invalid"), "{err}");
        }
    });
}
