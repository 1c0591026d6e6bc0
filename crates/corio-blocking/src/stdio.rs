//! The process's standard streams as async handles: [`stdin`], [`stdout`] and [`stderr`].

use std::io;

use crate::Unblock;

/// An async handle to the process's standard input.
///
/// Reads run on the blocking pool. Use one such handle for the whole program: a read that is
/// blocked on the pool when a handle is dropped keeps waiting there, and the line it then gets is
/// lost to the next handle.
///
/// # Examples
///
/// ```no_run
/// use futures_lite::{AsyncBufReadExt, io::BufReader};
///
/// # futures_lite::future::block_on(async {
/// let mut lines = BufReader::new(corio_blocking::stdin()).lines();
/// # use futures_lite::StreamExt;
/// while let Some(line) = lines.next().await {
///     println!("you said {}", line?);
/// }
/// # std::io::Result::Ok(()) });
/// ```
pub fn stdin() -> Unblock<io::Stdin> {
    Unblock::new(io::stdin())
}

/// An async handle to the process's standard output.
///
/// Output appears once written by the pool; [`flush().await`](futures_lite::AsyncWriteExt::flush)
/// guarantees it. See [`Unblock`] for what dropping it does.
///
/// # Examples
///
/// ```
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// let mut out = corio_blocking::stdout();
/// out.write_all(b"hello from the pool\n").await?;
/// out.flush().await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn stdout() -> Unblock<io::Stdout> {
    Unblock::new(io::stdout())
}

/// An async handle to the process's standard error.
///
/// # Examples
///
/// ```
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// let mut err = corio_blocking::stderr();
/// err.write_all(b"a warning\n").await?;
/// err.flush().await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn stderr() -> Unblock<io::Stderr> {
    Unblock::new(io::stderr())
}
