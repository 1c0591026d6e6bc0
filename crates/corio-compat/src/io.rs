//! [`HyperIo`]: hyper's I/O traits over any futures-io stream.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use pin_project_lite::pin_project;

/// The largest read handed to the inner stream at once (see [`HyperIo`]'s notes on reads).
const MAX_READ: usize = 64 * 1024;

pin_project! {
    /// Lets hyper use a futures-io stream, such as [`corio::net::TcpStream`], by implementing
    /// [`hyper::rt::Read`] and [`hyper::rt::Write`] over its [`AsyncRead`] and [`AsyncWrite`].
    ///
    /// Reads go through a buffer of the calling thread's, shared by every `HyperIo` on that
    /// thread: hyper offers uninitialised memory, and filling it without `unsafe` code takes one
    /// copy of the bytes read. The buffer grows to what hyper asks for (8 KiB at first), never
    /// past 64 KiB, and a connection keeps none of its own: with one per connection, a hyper
    /// server under `wrk` at 1,000 connections held about 23 KB per connection against hyper on
    /// tokio's 15 KB (now 15 KB too).
    ///
    /// Writes go straight to the stream. [`HyperIo::new`] tells hyper that the stream has no
    /// real vectored writes, so hyper joins headers and body into one buffer first;
    /// [`HyperIo::vectored`] lets hyper pass them as separate buffers, for streams whose
    /// `poll_write_vectored` writes several at once (corio's TCP and Unix sockets do). For small
    /// messages, joining is as fast or faster (one plain write instead of a `writev`); for large
    /// bodies, vectored writes save copying them.
    /// hyper's `poll_shutdown` is the stream's `poll_close` (for a socket, shutting down the
    /// write half).
    ///
    /// # Examples
    ///
    /// An HTTP/1 server and client on loopback, both on corio:
    ///
    /// ```
    /// use bytes::Bytes;
    /// use corio::net::{TcpListener, TcpStream};
    /// use corio_compat::HyperIo;
    /// use http_body_util::{BodyExt, Full};
    /// use hyper::{Request, Response, service::service_fn};
    ///
    /// corio::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let addr = listener.local_addr()?;
    ///     let server = corio::spawn(async move {
    ///         let (stream, _) = listener.accept().await?;
    ///         let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
    ///             Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from("hello from corio"))))
    ///         });
    ///         hyper::server::conn::http1::Builder::new()
    ///             .serve_connection(HyperIo::vectored(stream), service)
    ///             .await?;
    ///         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    ///     });
    ///
    ///     let stream = TcpStream::connect(addr).await?;
    ///     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
    ///     let conn = corio::spawn(conn);
    ///     let request = Request::get("/").header("host", "localhost").body(Full::new(Bytes::new()))?;
    ///     let response = sender.send_request(request).await?;
    ///     let body = response.into_body().collect().await?.to_bytes();
    ///     assert_eq!(body, "hello from corio");
    ///
    ///     drop(sender); // the client closes the connection, so the server's task ends
    ///     conn.await?;
    ///     server.await?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    /// })
    /// .unwrap();
    /// ```
    pub struct HyperIo<T> {
        #[pin]
        inner: T,
        vectored: bool,
    }
}

impl<T> HyperIo<T> {
    /// Wraps a stream; hyper will join the buffers of a message before writing them.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_compat::HyperIo;
    ///
    /// // Any futures-io stream works; here, an in-memory one.
    /// let io = HyperIo::new(futures_lite::io::Cursor::new(Vec::<u8>::new()));
    /// assert!(!hyper::rt::Write::is_write_vectored(&io));
    /// ```
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            vectored: false,
        }
    }

    /// Wraps a stream whose `poll_write_vectored` writes several buffers in one call, as
    /// corio's sockets do (`writev`): hyper then writes headers and body without joining them.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_compat::HyperIo;
    ///
    /// corio::run(async {
    ///     let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let stream = corio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let io = HyperIo::vectored(stream);
    ///     assert!(hyper::rt::Write::is_write_vectored(&io));
    /// });
    /// ```
    pub fn vectored(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            vectored: true,
        }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = corio_compat::HyperIo::new(futures_lite::io::Cursor::new(vec![1u8, 2, 3]));
    /// assert_eq!(io.get_ref().get_ref(), &[1, 2, 3]);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut io = corio_compat::HyperIo::new(futures_lite::io::Cursor::new(vec![1u8, 2, 3]));
    /// io.get_mut().set_position(2);
    /// assert_eq!(io.get_ref().position(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream. Bytes already read from it are in hyper's buffers, not here: the
    /// wrapper keeps none between reads.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = corio_compat::HyperIo::new(futures_lite::io::Cursor::new(vec![1u8, 2, 3]));
    /// assert_eq!(io.into_inner().into_inner(), vec![1, 2, 3]);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for HyperIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperIo")
            .field("inner", &self.inner)
            .field("vectored", &self.vectored)
            .finish()
    }
}

impl<T: AsyncRead> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.project().inner;
        let want = buf.remaining().min(MAX_READ);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut read = |scratch: &mut Vec<u8>| {
            if scratch.len() < want {
                scratch.resize(want, 0);
            }
            let scratch = &mut scratch[..want];
            match inner.as_mut().poll_read(cx, scratch) {
                Poll::Ready(Ok(n)) => {
                    // A misbehaving stream could claim more than it was given; never trust it
                    // past the slice.
                    let n = n.min(want);
                    buf.put_slice(&scratch[..n]);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        };
        let shared = SCRATCH
            .try_with(|scratch| scratch.try_borrow_mut().ok().map(|mut s| read(&mut s)))
            .ok()
            .flatten();
        // The thread's buffer is in use (a stream whose read reads another `HyperIo` on this
        // thread) or gone (a read from a thread-local's destructor): a buffer of this read's.
        shared.unwrap_or_else(|| read(&mut Vec::new()))
    }
}

thread_local! {
    /// The buffer that [`HyperIo`]'s reads on this thread go through (at most [`MAX_READ`]).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl<T: AsyncWrite> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::mem::MaybeUninit;
    use std::pin::Pin;

    use super::*;

    /// Reads through hyper's trait into a buffer of `capacity` bytes; returns what was read.
    async fn read_once<T: AsyncRead + Unpin>(io: &mut HyperIo<T>, capacity: usize) -> Vec<u8> {
        let mut storage = vec![MaybeUninit::uninit(); capacity];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
        poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled()))
            .await
            .unwrap();
        buf.filled().to_vec()
    }

    #[test]
    fn reads_are_bounded_by_hyper_buffer_and_cap() {
        futures_lite::future::block_on(async {
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
            let mut io = HyperIo::new(futures_lite::io::Cursor::new(data.clone()));
            // A small buffer gets exactly its size.
            assert_eq!(read_once(&mut io, 10).await, data[..10]);
            // A huge one gets at most MAX_READ at a time, and the bytes stay in order.
            let big = read_once(&mut io, 1 << 20).await;
            assert_eq!(big.len(), MAX_READ);
            assert_eq!(big, data[10..10 + MAX_READ]);
            assert!(SCRATCH.with(|s| s.borrow().len()) <= MAX_READ);
            // A full buffer reads nothing and does not touch the stream.
            assert!(read_once(&mut io, 0).await.is_empty());
            assert_eq!(io.get_ref().position(), (10 + MAX_READ) as u64);
        });
    }

    /// A stream that claims to have read more than it was given.
    struct Liar;

    impl AsyncRead for Liar {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            buf.fill(7);
            Poll::Ready(Ok(buf.len() + 100))
        }
    }

    #[test]
    fn a_stream_overclaiming_its_read_cannot_overrun_hyper_buffer() {
        futures_lite::future::block_on(async {
            let mut io = HyperIo::new(Liar);
            assert_eq!(read_once(&mut io, 16).await, [7; 16]);
        });
    }
}
