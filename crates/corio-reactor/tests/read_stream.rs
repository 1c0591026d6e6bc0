//! `Async::poll_read_stream`: a short read counts as draining the stream, so the next read waits
//! for an event instead of making a `read` that fails with `EAGAIN`; and no byte is ever left
//! unannounced.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use corio_reactor::Async;

mod support;

/// A TCP stream that counts the `read` calls made on it.
struct Counted {
    stream: TcpStream,
    reads: Arc<AtomicUsize>,
}

impl AsFd for Counted {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl Read for &Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        (&self.stream).read(buf)
    }
}

fn pair() -> (TcpStream, Async<Counted>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let server = Async::new(Counted {
        stream: server,
        reads: reads.clone(),
    })
    .unwrap();
    (client, server, reads)
}

fn poll_once(server: &Async<Counted>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    server.poll_read_stream(&mut cx, buf)
}

/// Sends `hello` to `server` and waits until the reactor has announced it. A fresh source starts
/// out marked ready, so one read that fails first makes the announcement the only way back to
/// ready: no event for these bytes is still on its way when the counting starts (a late one
/// would mark the stream ready again, and the read it costs is not what is measured here).
fn send_hello_and_wait_for_its_event(client: &mut TcpStream, server: &Async<Counted>) {
    let mut buf = [0u8; 64];
    assert!(poll_once(server, &mut buf).is_pending());
    client.write_all(b"hello").unwrap();
    futures_lite::future::block_on(server.readable()).unwrap();
}

#[test]
fn after_a_short_read_the_next_read_waits_without_a_syscall() {
    let (mut client, server, reads) = pair();
    send_hello_and_wait_for_its_event(&mut client, &server);
    let mut buf = [0u8; 64];
    let n = futures_lite::future::block_on(poll_fn(|cx| server.poll_read_stream(cx, &mut buf)))
        .unwrap();
    assert_eq!(&buf[..n], b"hello");
    let after_data = reads.load(Ordering::SeqCst);
    // Nothing new arrived: the stream is known to be drained, so no read is attempted.
    assert!(poll_once(&server, &mut buf).is_pending());
    assert_eq!(reads.load(Ordering::SeqCst), after_data);
    // poll_read_with has no such knowledge: the same situation costs a read that fails.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let (mut client2, server2, reads2) = pair();
    send_hello_and_wait_for_its_event(&mut client2, &server2);
    let n = futures_lite::future::block_on(poll_fn(|cx| {
        server2.poll_read_with(cx, |mut s| s.read(&mut buf))
    }))
    .unwrap();
    assert_eq!(n, 5);
    let before = reads2.load(Ordering::SeqCst);
    assert!(
        server2
            .poll_read_with(&mut cx, |mut s| s.read(&mut buf))
            .is_pending()
    );
    assert_eq!(reads2.load(Ordering::SeqCst), before + 1);
    drop(client);
}

#[test]
fn a_full_read_keeps_the_stream_ready() {
    let (mut client, server, reads) = pair();
    client.write_all(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    let mut got = Vec::new();
    // A read that fills its buffer may have left bytes behind: the next one reads at once.
    while got.len() < 10 {
        let n =
            futures_lite::future::block_on(poll_fn(|cx| server.poll_read_stream(cx, &mut small)))
                .unwrap();
        got.extend_from_slice(&small[..n]);
    }
    assert_eq!(got, b"0123456789");
    assert!(reads.load(Ordering::SeqCst) >= 3);
}

#[test]
fn bytes_that_arrive_after_a_short_read_wake_the_reader() {
    // A writer thread sends in small pieces at random moments while the reader reads with a
    // buffer larger than any piece (every read is short). A lost readiness would hang the
    // reader; `within` turns that into a failure.
    let (mut client, server, _) = pair();
    const TOTAL: usize = 200_000;
    let writer = std::thread::spawn(move || {
        let mut sent = 0usize;
        let mut i = 0u64;
        while sent < TOTAL {
            let len = (1 + (i * 7919 % 97) as usize).min(TOTAL - sent);
            let chunk: Vec<u8> = (sent..sent + len).map(|b| b as u8).collect();
            client.write_all(&chunk).unwrap();
            sent += len;
            i += 1;
            if i % 13 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    });
    let received = support::within(20, async {
        let mut buf = [0u8; 256];
        let mut all = Vec::with_capacity(TOTAL);
        while all.len() < TOTAL {
            let n = poll_fn(|cx| server.poll_read_stream(cx, &mut buf))
                .await
                .unwrap();
            assert!(n > 0, "early end of stream");
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    writer.join().unwrap();
    assert!(received.iter().enumerate().all(|(i, &b)| b == i as u8));
}

#[test]
fn the_end_of_stream_that_came_with_the_last_bytes_is_still_read() {
    // Data and FIN arrive together (one event for both): the short read that returns the data
    // must not make the next read wait for an event that will never come.
    for _ in 0..50 {
        let (mut client, server, _) = pair();
        client.write_all(b"last words").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let got = support::within(10, async {
            let mut buf = [0u8; 64];
            let mut all = Vec::new();
            loop {
                let n = poll_fn(|cx| server.poll_read_stream(cx, &mut buf))
                    .await
                    .unwrap();
                if n == 0 {
                    break all;
                }
                all.extend_from_slice(&buf[..n]);
            }
        });
        assert_eq!(got, b"last words");
    }
}
