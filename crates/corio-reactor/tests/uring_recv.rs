//! `Async::poll_recv`, completion-based on the ring (feature `io-uring`) and a plain `read`
//! elsewhere, against the cancel-safety contract: every byte arrives once and in order whatever
//! the read sizes, a read dropped while its receive is in flight loses nothing (the bytes wait in
//! the source's buffer), the end of stream stays, an error is delivered, a dropped source
//! cancels its receive and releases its socket, a receive cancelled by the kernel because its
//! submitting thread exited is restarted, and a shutdown with receives in flight neither hangs
//! nor frees a buffer the kernel may still write to (the operations are counted).

mod support;

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_reactor::Async;
use support::{Count, Parked, expected_backend, tcp_pair, wait_for, within};

fn on_ring() -> bool {
    expected_backend() == "io_uring"
}

async fn recv(s: &Async<TcpStream>, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| s.poll_recv(cx, buf)).await
}

#[test]
fn every_byte_arrives_once_in_order_whatever_the_read_sizes() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let (client, server) = tcp_pair();
    let server = Async::new(server).unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        let mut client = client;
        for chunk in sent.chunks(7_001) {
            client.write_all(chunk).unwrap();
        }
    });
    let got = within(20, async {
        let mut got = Vec::new();
        let sizes = [1, 7, 64, 4096, 65536, 3];
        let mut i = 0;
        loop {
            let mut buf = vec![0; sizes[i % sizes.len()]];
            i += 1;
            let n = recv(&server, &mut buf).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.len() == data.len() {
                break;
            }
        }
        io::Result::Ok(got)
    })
    .unwrap();
    writer.join().unwrap();
    assert!(got == data, "bytes lost, repeated or reordered");
}

/// A read that is dropped while its receive is in flight loses nothing: the receive completes
/// into the source's buffer and the next read gets the bytes.
#[test]
fn a_dropped_read_loses_no_bytes() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let (mut client, server) = tcp_pair();
    let server = Async::new(server).unwrap();
    let waker = Waker::from(Arc::new(Count::default()));
    for round in 0..200u32 {
        let mut buf = [0; 8];
        // Start a read and drop it (on the ring its receive stays in flight).
        assert!(
            server
                .poll_recv(&mut Context::from_waker(&waker), &mut buf)
                .is_pending()
        );
        if on_ring() {
            assert_eq!(parked.reactor.ops_in_flight(), 1);
        }
        let msg = round.to_le_bytes();
        client.write_all(&msg).unwrap();
        if round % 2 == 0 {
            // Let the receive complete with nobody reading.
            wait_for("the receive completes", || {
                parked.reactor.ops_in_flight() == 0
            });
        }
        let mut got = [0; 4];
        let mut filled = 0;
        within(10, async {
            while filled < 4 {
                let n = recv(&server, &mut got[filled..]).await.unwrap();
                assert!(n > 0);
                filled += n;
            }
        });
        assert_eq!(got, msg, "round {round}");
    }
    assert_eq!(parked.reactor.ops_in_flight(), 0, "no receive left behind");
}

#[test]
fn end_of_stream_stays_and_a_reset_is_an_error() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let (client, server) = tcp_pair();
    let server = Async::new(server).unwrap();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    let mut buf = [0; 4];
    assert!(
        server
            .poll_recv(&mut Context::from_waker(&waker), &mut buf)
            .is_pending()
    );
    client.shutdown(Shutdown::Write).unwrap();
    wait_for("woken by the end of stream", || {
        count.0.load(Ordering::SeqCst) > 0
    });
    for _ in 0..3 {
        match server.poll_recv(&mut Context::from_waker(&waker), &mut buf) {
            Poll::Ready(Ok(0)) => {}
            other => panic!("expected the end of stream, got {other:?}"),
        }
    }

    // A reset: the peer closes with bytes it never read.
    let (client, server) = tcp_pair();
    let server = Async::new(server).unwrap();
    server.get_ref().set_nodelay(true).unwrap();
    let mut writer = server.get_ref();
    writer.write_all(b"unread").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(client);
    let result = within(10, recv(&server, &mut buf));
    match result {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        // The reset may also show as the end of stream, depending on timing; never a hang.
        Ok(n) => assert_eq!(n, 0),
    }
}

/// Dropping a source with a receive in flight cancels it: the operation (and its buffer) goes
/// once the completion arrives, and the socket is released for the peer.
#[test]
fn a_dropped_source_cancels_its_receive_and_releases_the_socket() {
    let parked = Parked::new();
    let _entered = parked.reactor.enter();
    let waker = Waker::from(Arc::new(Count::default()));
    for _ in 0..50 {
        let (mut client, server) = tcp_pair();
        let server = Async::new(server).unwrap();
        let mut buf = [0; 8];
        assert!(
            server
                .poll_recv(&mut Context::from_waker(&waker), &mut buf)
                .is_pending()
        );
        std::thread::sleep(Duration::from_micros(300));
        drop(server);
        wait_for("the cancelled receive is gone", || {
            parked.reactor.ops_in_flight() == 0
        });
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(client.read(&mut [0; 1]).unwrap(), 0, "EOF, not a timeout");
    }
    assert_eq!(parked.reactor.sources(), 0);
}

/// The kernel cancels a receive whose submitting thread has exited when data comes; the reader
/// is woken and starts another, without losing the data. The driver is parked once by a
/// short-lived thread (whose enter submits the receive), then by this one.
#[test]
fn a_receive_submitted_by_an_exited_thread_is_restarted() {
    let mut driver = corio_reactor::ReactorDriver::new().unwrap();
    let reactor = driver.reactor();
    let _entered = reactor.enter();
    for round in 0..20u32 {
        let (mut client, server) = tcp_pair();
        let server = Async::new(server).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut buf = [0; 4];
        assert!(
            server
                .poll_recv(&mut Context::from_waker(&waker), &mut buf)
                .is_pending()
        );
        driver = std::thread::spawn(move || {
            driver.park(Some(Duration::ZERO)).unwrap();
            driver
        })
        .join()
        .unwrap();
        client.write_all(&round.to_le_bytes()).unwrap();
        let mut got = [0; 4];
        let mut filled = 0;
        let start = Instant::now();
        while filled < 4 {
            assert!(start.elapsed() < Duration::from_secs(10), "round {round}");
            match server.poll_recv(&mut Context::from_waker(&waker), &mut got[filled..]) {
                Poll::Ready(Ok(n)) => {
                    assert!(n > 0);
                    filled += n;
                }
                Poll::Ready(Err(e)) => panic!("round {round}: {e}"),
                Poll::Pending => {
                    driver.park(Some(Duration::from_millis(50))).unwrap();
                }
            }
        }
        assert_eq!(got, round.to_le_bytes());
    }
}

/// The driver goes away with receives in flight: readers get the shutdown error (not a hang),
/// bytes already received are still delivered first, and when the last handle to the reactor
/// goes, its ring waits for the cancelled receives before freeing their buffers (none leaked).
#[test]
fn shutdown_with_receives_in_flight() {
    let parked = Parked::new();
    let reactor = parked.reactor.clone();
    let _entered = reactor.enter();
    let mut peers = Vec::new();
    let mut sources = Vec::new();
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    for _ in 0..10 {
        let (client, server) = tcp_pair();
        let server = Async::new(server).unwrap();
        let mut buf = [0; 4];
        assert!(
            server
                .poll_recv(&mut Context::from_waker(&waker), &mut buf)
                .is_pending()
        );
        peers.push(client);
        sources.push(server);
    }
    // One of them receives bytes before the shutdown.
    peers[0].write_all(b"kept").unwrap();
    // Its reader is woken (by the completion on the ring, by the readiness event on epoll).
    wait_for("the first receive completes", || {
        count.0.load(Ordering::SeqCst) >= 1 && (!on_ring() || reactor.ops_in_flight() == 9)
    });
    let woken_before = count.0.load(Ordering::SeqCst);
    drop(parked.stop());
    if on_ring() {
        assert!(
            count.0.load(Ordering::SeqCst) > woken_before,
            "readers woken by the shutdown"
        );
    }
    let mut buf = [0; 4];
    match sources[0].poll_recv(&mut Context::from_waker(&waker), &mut buf) {
        Poll::Ready(Ok(4)) => assert_eq!(&buf, b"kept"),
        other => panic!("the received bytes come first, got {other:?}"),
    }
    for s in &sources {
        match s.poll_recv(&mut Context::from_waker(&waker), &mut buf) {
            Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down"), "{e}"),
            other => panic!("expected the shutdown error, got {other:?}"),
        }
    }
    drop(sources);
    drop(_entered);
    drop(reactor); // the last handle: the ring drains the cancelled receives as it goes
    #[cfg(feature = "io-uring")]
    assert_eq!(corio_reactor::io_uring_leaked_buffers(), 0);
    for mut peer in peers {
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // This thread submitted to the ring (its drops queued cancels while no thread was
        // parked), and the ring's teardown runs wake-up work on it, which interrupts a
        // blocking read that has a timeout: `EINTR` is retried, as robust code must.
        let n = loop {
            match peer.read(&mut [0; 1]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.unwrap(),
            }
        };
        assert_eq!(n, 0);
    }
}
