//! # corio-compat: ecosystem libraries on corio, with no tokio runtime underneath
//!
//! Small adapters that let libraries written for other runtimes' traits run on corio's
//! sockets, timers and executor:
//!
//! | library | what it needs | here |
//! |---|---|---|
//! | [hyper] 1.x | `hyper::rt::{Read, Write}` | [`HyperIo`] over any futures-io stream (e.g. [`corio::net::TcpStream`]) |
//! | | `hyper::rt::Executor` | [`CorioExecutor`]: detached [`corio::spawn`] |
//! | | `hyper::rt::Timer` | [`CorioTimer`] / [`CorioSleep`]: corio's timing wheel, so `header_read_timeout` works |
//! | [rustls] (TLS) | futures-io streams | [`tls`]: [futures-rustls] over corio's streams, with a [`tls::Connector`] and a [`tls::Acceptor`] that take them, and configurations on the `ring` provider |
//! | tokio-postgres (or any library on tokio's I/O traits) | `tokio::io::{AsyncRead, AsyncWrite}` | [`tokio_io`]: tokio-util's `compat`, which needs tokio's traits but no tokio runtime |
//! | the article's asyncpg pool | a pool | [`pg::Pool`] on [`corio::Semaphore`], and [`pg::connect`] |
//!
//! Nothing here starts or looks for a tokio runtime: the `tokio` crate is compiled for its I/O
//! traits only (features `io-util` and `sync`, no `rt`), and this crate's tests fail if a tokio
//! runtime context is found inside a handler or a query.
//!
//! ## Examples
//!
//! A hyper HTTP/1 server on corio, with a header read timeout on corio's timers:
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use corio_compat::{CorioTimer, HyperIo};
//! use http_body_util::Full;
//! use hyper::{Request, Response, server::conn::http1, service::service_fn};
//!
//! async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from("Hello, world!"))))
//! }
//!
//! corio::run(async {
//!     let listener = corio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     # let client = corio::spawn(async move {
//!     #     use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!     #     let mut s = corio::net::TcpStream::connect(addr).await?;
//!     #     s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
//!     #     let mut text = String::new();
//!     #     s.read_to_string(&mut text).await?;
//!     #     assert!(text.ends_with("Hello, world!"), "{text}");
//!     #     std::io::Result::Ok(())
//!     # });
//!     # let mut served = 0;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         let connection = http1::Builder::new()
//!             .timer(CorioTimer)
//!             .header_read_timeout(Duration::from_secs(5))
//!             .serve_connection(HyperIo::vectored(stream), service_fn(hello));
//!         corio::spawn(async move {
//!             if let Err(e) = connection.await {
//!                 eprintln!("connection error: {e}");
//!             }
//!         })
//!         .detach();
//!         # served += 1;
//!         # if served == 1 { break; }
//!     }
//!     # client.await?;
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! The crate's examples go further: `http_server` (the article's FastAPI dashboard handler),
//! `http_client` (the semaphore-limited batch fetch over real HTTP), `https_fetch` (the same
//! over HTTPS, against its own TLS server, with per-request timeouts), `graceful` (a server that
//! drains its requests on SIGINT/SIGTERM and exits 0) and `postgres` (the article's asyncpg
//! section: pool, COPY, query, close).
//!
//! ## Features
//!
//! - `hyper` (default): [`HyperIo`], [`CorioExecutor`], [`CorioTimer`], [`CorioSleep`].
//! - `tokio-io`: [`tokio_io`], tokio's I/O traits over futures-io streams.
//! - `postgres` (default, implies `tokio-io`): the [`pg`] module.
//! - `tls` (default): the [`tls`] module (rustls through futures-rustls, `ring` provider, no
//!   aws-lc).
//! - `pg-integration`: builds the PostgreSQL integration test, which needs a server
//!   (`DATABASE_URL`); `cargo xtask integration` starts one and enables it.
//!
//! [hyper]: https://docs.rs/hyper
//! [rustls]: https://docs.rs/rustls
//! [futures-rustls]: https://docs.rs/futures-rustls
#![forbid(unsafe_code)]

#[cfg(feature = "hyper")]
mod io;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "hyper")]
mod rt;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio-io")]
mod tokio_io;

#[cfg(feature = "hyper")]
pub use io::HyperIo;
#[cfg(feature = "hyper")]
pub use rt::{CorioExecutor, CorioSleep, CorioTimer};
#[cfg(feature = "tokio-io")]
pub use tokio_io::{Compat, tokio_io};
