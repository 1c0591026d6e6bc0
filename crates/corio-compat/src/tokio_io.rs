//! tokio's I/O traits over futures-io streams, for libraries written against them.

use tokio_util::compat::FuturesAsyncWriteCompatExt;

pub use tokio_util::compat::Compat;

/// Gives a futures-io stream (such as [`corio::net::TcpStream`]) tokio's `AsyncRead` and
/// `AsyncWrite`, so that libraries written against tokio's I/O traits (tokio-postgres, for
/// one) run on corio sockets.
///
/// This is tokio-util's `compat` layer. It needs the `tokio` crate's traits only: no tokio
/// runtime is started or required, and none is looked for. Reads, writes and readiness stay
/// corio's.
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// corio::run(async {
///     let listener = corio::net::TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let echo = corio::spawn(async move {
///         let (stream, _) = listener.accept().await?;
///         let (reader, writer) = futures_lite::io::split(stream);
///         futures_lite::io::copy(reader, writer).await
///     });
///
///     let mut stream = corio_compat::tokio_io(corio::net::TcpStream::connect(addr).await?);
///     stream.write_all(b"ping").await?; // tokio's traits, corio's socket
///     stream.shutdown().await?;
///     let mut echoed = String::new();
///     stream.read_to_string(&mut echoed).await?;
///     assert_eq!(echoed, "ping");
///     assert_eq!(echo.await?, 4);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub fn tokio_io<T>(stream: T) -> Compat<T>
where
    T: futures_io::AsyncRead + futures_io::AsyncWrite,
{
    stream.compat_write()
}
