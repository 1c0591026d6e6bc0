//! `try_read` and `try_write` on TCP and Unix streams, as tokio has them: they never wait
//! (`WouldBlock` when not ready), register no waker (a task that waits on the same socket, or on
//! a clone, is never disturbed), and clear readiness only on a real `WouldBlock`, so the loop
//! tokio documents (`readable().await`, then `try_read`) moves every byte.
//!
//! The sockets register with the global reactor (no runtime here); `block_on` drives them.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::pin;
use std::task::{Context, Poll};

use corio_net::{TcpStream, UnixStream};
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::*;

/// What both stream types offer, so that each test runs on both.
trait Stream: Clone + Send + 'static
where
    for<'a> &'a Self: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
    fn writable(&self) -> impl Future<Output = io::Result<()>>;
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::try_read(self, buf)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::try_write(self, buf)
    }
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        TcpStream::readable(self)
    }
    fn writable(&self) -> impl Future<Output = io::Result<()>> {
        TcpStream::writable(self)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl Stream for UnixStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        UnixStream::try_read(self, buf)
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        UnixStream::try_write(self, buf)
    }
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        UnixStream::readable(self)
    }
    fn writable(&self) -> impl Future<Output = io::Result<()>> {
        UnixStream::writable(self)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

fn unix_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().unwrap()
}

/// tokio's documented loop: wait for readiness, try, and go back on a false alarm.
async fn read_when_ready<S: Stream>(s: &S, buf: &mut [u8]) -> usize
where
    for<'a> &'a S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    loop {
        s.readable().await.unwrap();
        match s.try_read(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            other => return other.unwrap(),
        }
    }
}

/// Nothing to read is `WouldBlock` at once; what was written comes back; the peer's shutdown is
/// `Ok(0)`; an empty buffer is `Ok(0)`.
async fn reads_without_waiting<S: Stream>(a: S, b: S)
where
    for<'a> &'a S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut buf = [0; 16];
    for _ in 0..3 {
        assert_eq!(
            b.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    }
    assert_eq!(b.try_read(&mut []).unwrap(), 0, "an empty buffer");
    assert_eq!(a.try_write(b"hello").unwrap(), 5);
    let n = within("the data", read_when_ready(&b, &mut buf)).await;
    assert_eq!(&buf[..n], b"hello");
    a.shutdown_write().unwrap();
    let n = within("the end of stream", read_when_ready(&b, &mut buf)).await;
    assert_eq!(n, 0, "end of stream");
}

#[test]
fn try_read_does_not_wait_and_sees_data_and_the_end_of_stream() {
    block_on(async {
        let (a, b) = pair().await;
        reads_without_waiting(a, b).await;
        let (a, b) = unix_pair();
        reads_without_waiting(a, b).await;
    });
}

/// `try_write` until `WouldBlock` fills the send buffer; a reader drains it all, byte for byte,
/// and `writable` then resolves; more writes get through.
async fn writes_until_full<S: Stream>(a: S, b: S)
where
    for<'a> &'a S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut sent = 0usize;
    let mut chunk = [0u8; 4096];
    loop {
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = ((sent + i) % 251) as u8;
        }
        match a.try_write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 256 << 20, "the send buffer never filled");
    }
    assert!(sent > 0);
    let mut got = vec![0u8; sent];
    within("draining", (&b).read_exact(&mut got)).await.unwrap();
    assert!(
        got.iter().enumerate().all(|(i, &x)| x == (i % 251) as u8),
        "every byte, in order"
    );
    within("room again", a.writable()).await.unwrap();
    loop {
        match a.try_write(b"more") {
            Ok(n) => {
                assert_eq!(n, 4);
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => a.writable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    let mut more = [0; 4];
    within("the last write", (&b).read_exact(&mut more))
        .await
        .unwrap();
    assert_eq!(&more, b"more");
}

#[test]
fn try_write_fills_the_buffer_and_writable_waits_for_room() {
    block_on(async {
        let (a, b) = pair().await;
        writes_until_full(a, b).await;
        let (a, b) = unix_pair();
        writes_until_full(a, b).await;
    });
}

/// A read waits on a clone with a counting waker; `try_read` on the original, over and over, must
/// not take its place: the data then wakes the waiting read. The same for a write waiting for
/// room while `try_write` keeps finding none. (The reactor also keeps a waker that another takes
/// the place of, so this holds even for a try that registered one; the simulated socket keeps
/// one, and `corio`'s `sim_net.rs` checks the same there, where it fails for such a try.)
fn waiting_tasks_are_not_disturbed<S: Stream>(a: S, b: S)
where
    for<'a> &'a S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let (count, waker) = counting();
    let waiting = b.clone();
    let mut waiting_ref = &waiting;
    let mut got = [0u8; 5];
    {
        let mut read = pin!(waiting_ref.read(&mut got));
        assert!(
            read.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        for _ in 0..100 {
            let mut buf = [0; 8];
            assert_eq!(
                b.try_read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        }
        block_on((&a).write_all(b"hello")).unwrap();
        count.wait_past(0, "the waiting read, after try_read on the same socket");
        match read.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(Ok(5)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&got, b"hello");

    // Fill `a`'s send buffer, then wait to write more on a clone.
    let chunk = [1u8; 4096];
    let mut sent = 0usize;
    while let Ok(n) = a.try_write(&chunk) {
        sent += n;
    }
    let (count, waker) = counting();
    let writer = a.clone();
    let mut writer_ref = &writer;
    let mut write = pin!(writer_ref.write(&chunk));
    let wrote;
    match write.as_mut().poll(&mut Context::from_waker(&waker)) {
        // Room appeared in between (an acknowledgement freed some): nothing to test this round.
        Poll::Ready(Ok(n)) => wrote = n,
        Poll::Ready(Err(e)) => panic!("{e}"),
        Poll::Pending => {
            for _ in 0..100 {
                match a.try_write(b"x") {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Ok(n) => sent += n,
                    Err(e) => panic!("{e}"),
                }
            }
            let mut drained = vec![0u8; sent];
            block_on((&b).read_exact(&mut drained)).unwrap();
            count.wait_past(0, "the waiting write, after try_write on the same socket");
            match write.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Ready(Ok(n)) => wrote = n,
                other => panic!("{other:?}"),
            }
            sent = 0;
        }
    }
    assert!(wrote > 0);
    let mut rest = vec![0u8; sent + wrote];
    block_on((&b).read_exact(&mut rest)).unwrap();
}

#[test]
fn try_read_and_try_write_never_disturb_a_waiting_task() {
    let (a, b) = block_on(pair());
    waiting_tasks_are_not_disturbed(a, b);
    let (a, b) = unix_pair();
    waiting_tasks_are_not_disturbed(a, b);
}
