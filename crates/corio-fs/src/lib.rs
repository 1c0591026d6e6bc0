//! Async filesystem access: the aiofiles of corio.
//!
//! Calling `std::fs` from an async task blocks its event loop for as long as the disk takes
//! (pitfall 2 of the asyncio guide this project follows). This crate offers the same operations
//! as `std::fs`, as futures: each runs `std::fs` on the [`corio_blocking`] pool, so the loop
//! keeps serving other tasks meanwhile.
//!
//! - whole-file helpers: [`read()`], [`read_to_string`], [`write()`], [`copy`];
//! - [`File`] with [`OpenOptions`]: futures-io `AsyncRead`, `AsyncWrite` and `AsyncSeek`, plus
//!   [`sync_all`](File::sync_all), [`set_len`](File::set_len), [`metadata`](File::metadata);
//! - directories: [`read_dir`] (a [`Stream`](futures_core::Stream) of [`DirEntry`]),
//!   [`create_dir`], [`create_dir_all`], [`remove_dir`], [`remove_dir_all`];
//! - paths and metadata: [`metadata`], [`symlink_metadata`], [`rename`], [`remove_file`],
//!   [`canonicalize`], [`read_link`], [`hard_link`], [`set_permissions`], [`try_exists`].
//!
//! The jobs run on the [current](corio_blocking::Pool::current) pool: the one a runtime entered
//! on this thread, or the global one. Nothing here needs a corio runtime; any executor works.
//!
//! One exception, on Linux: a [`File`] reads data that is already in the page cache on the
//! calling thread, with a read that cannot wait for the disk (`preadv2` with `RWF_NOWAIT`), and
//! goes to the pool only when the data is not there. That saves a thread hop and a copy per read;
//! [`File::set_direct_reads`] turns it off.
//!
//! # Examples
//!
//! ```
//! use futures_lite::{AsyncWriteExt, StreamExt};
//!
//! # futures_lite::future::block_on(async {
//! # let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("reports");
//! corio_fs::create_dir_all(&dir).await?;
//! corio_fs::write(dir.join("a.txt"), "first").await?;
//!
//! let mut log = corio_fs::OpenOptions::new()
//!     .append(true)
//!     .create(true)
//!     .open(dir.join("a.txt"))
//!     .await?;
//! log.write_all(b", second").await?;
//! log.flush().await?;
//!
//! assert_eq!(corio_fs::read_to_string(dir.join("a.txt")).await?, "first, second");
//!
//! let mut names = Vec::new();
//! let mut entries = corio_fs::read_dir(&dir).await?;
//! while let Some(entry) = entries.next().await {
//!     names.push(entry?.file_name());
//! }
//! assert_eq!(names, ["a.txt"]);
//! # std::io::Result::Ok(()) }).unwrap();
//! ```
//!
//! # Invariants
//!
//! **Errors name their paths.** Every error is a [`std::io::Error`] with the OS error's
//! [`kind`](std::io::Error::kind) and a message such as
//! "failed to open `/etc/app.toml`: No such file or directory (os error 2)"; operations on two
//! paths name both ("failed to rename `a` to `b`: ..."). The OS error number is not kept
//! ([`raw_os_error`](std::io::Error::raw_os_error) is `None`); match on `kind()`.
//!
//! **Written data is not lost silently.** A [`File`] batches writes in the background. If it is
//! dropped with bytes still buffered, a pool job writes them after the drop, and prints an error
//! (with the path) to stderr if that fails. `flush().await` is the way to know the bytes reached
//! the OS, and [`File::sync_all`] the way to know they reached the disk. Bytes still buffered when
//! the process exits are lost, as with any buffered writer.
//!
//! **The position is the logical one.** Reads fetch ahead, but a seek, write, `set_len` or
//! `into_std` after a read first gives the read-ahead back; a read or seek after a write first
//! writes.
//!
//! **A dropped future does not undo its operation.** Each operation is a blocking job that
//! cannot be interrupted: dropping, say, a `rename` future after it started does not stop the
//! rename. (A future that was never polled does nothing: these are lazy `async fn`s.)
//!
//! # Cancel safety
//!
//! What is lost when a future is dropped before it completes (by a `select!`, a `timeout`, a
//! `race` or a cancelled task). "Yes" means nothing is lost: start the operation again and it
//! takes up exactly where the dropped one would have. This table is a contract that any other
//! backend (io_uring included) must keep; `tests/fs_cancel.rs` checks the rows about reading and
//! writing at the data level.
//!
//! | Operation on a [`File`] | Cancel-safe | If dropped before it completes |
//! |---|---|---|
//! | `read` (`AsyncReadExt::read`, `poll_read`) | yes | nothing: bytes a pool job read ahead stay in the `File` for the next read, and the position counts only the bytes handed out; no byte is lost or read twice |
//! | `read_exact` (`AsyncReadExt`) | **no** | the bytes already read are in the caller's buffer and past the position, but how many is lost |
//! | `read_to_end` (`AsyncReadExt`) | yes | nothing: the bytes already read stay in the `Vec` |
//! | `read_to_string` (`AsyncReadExt`) | **no** | the bytes already read (kept in the future, to be checked as UTF-8 at the end) are lost; use `read_to_end` and convert |
//! | `read_line` (`AsyncBufReadExt`, through a `BufReader`) | **no** | the part of the line already read (kept in the future) is lost |
//! | `read_until` (`AsyncBufReadExt`) | yes | nothing: the bytes already read stay in the `Vec` |
//! | `lines()`, `split()` streams (`AsyncBufReadExt`): a dropped `next()` | yes | nothing: the partial line stays in the stream |
//! | `write` (`AsyncWriteExt::write`, `poll_write`) | yes | nothing: a write that waited for room in the buffer took no byte; the file gets exactly the bytes of the writes that completed, in order |
//! | `write_all` (`AsyncWriteExt`) | **no** | a prefix of the data is written (no gap, no duplicate); its length is lost |
//! | `flush`, [`sync_all`](File::sync_all), [`sync_data`](File::sync_data), [`set_len`](File::set_len) | no, not undone | the job already started runs to its end on the pool; buffered bytes are still written |
//! | [`File::open`], [`File::create`], [`OpenOptions::open`] | no, not undone | if the job started, the file may have been created; the handle it opened is closed |
//! | Dropping the [`File`] itself with a read or write in flight | — | a read in flight is discarded; buffered bytes are still written (see above) |
//!
//! The whole-file and path functions ([`read()`], [`write()`], [`copy`], [`rename`],
//! [`remove_file`], ...) are not undone either: a started job runs to its end, and only its result
//! is lost.
#![deny(unsafe_code)]

mod dir;
#[cfg(target_os = "linux")]
mod direct;
mod error;
mod file;

use std::fs::{Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

use corio_blocking::unblock;

pub use dir::{DirEntry, ReadDir, read_dir};
pub use file::{File, OpenOptions};

/// Runs `op` on the pool with an owned copy of `path`, naming the path in its error.
async fn with_path<T, F>(path: &Path, what: &'static str, op: F) -> io::Result<T>
where
    F: FnOnce(&Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let path = path.to_owned();
    unblock(move || op(&path).map_err(|e| error::at(e, what, &path))).await
}

/// The same for two paths.
async fn with_paths<T, F>(from: &Path, to: &Path, what: &'static str, op: F) -> io::Result<T>
where
    F: FnOnce(&Path, &Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (from, to) = (from.to_owned(), to.to_owned());
    unblock(move || op(&from, &to).map_err(|e| error::between(e, what, &from, &to))).await
}

/// Reads a whole file into a byte vector ([`std::fs::read`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("bytes.bin");
/// corio_fs::write(&path, [1u8, 2, 3]).await?;
/// assert_eq!(corio_fs::read(&path).await?, [1, 2, 3]);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    with_path(path.as_ref(), "read", |p| std::fs::read(p)).await
}

/// Reads a whole file into a string ([`std::fs::read_to_string`]).
///
/// # Errors
///
/// As the std function (including [`InvalidData`](io::ErrorKind::InvalidData) for bytes that
/// are not UTF-8), with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("hello.txt");
/// corio_fs::write(&path, "hello").await?;
/// assert_eq!(corio_fs::read_to_string(&path).await?, "hello");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    with_path(path.as_ref(), "read", |p| std::fs::read_to_string(p)).await
}

/// Writes `contents` as the whole file, creating or truncating it ([`std::fs::write`]).
///
/// The bytes are copied once, to hand them to the pool thread.
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("out.txt");
/// corio_fs::write(&path, "text").await?;
/// corio_fs::write(&path, vec![b'!'; 3]).await?;
/// assert_eq!(std::fs::read(&path)?, b"!!!");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    with_path(path.as_ref(), "write", move |p| std::fs::write(p, contents)).await
}

/// Copies the contents and permissions of one file to another, returning the number of bytes
/// copied ([`std::fs::copy`]).
///
/// # Errors
///
/// As the std function, naming both paths; and `InvalidInput` when both paths are the same
/// file (std would truncate it to nothing and report success).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let (from, to) = (dir.path().join("from"), dir.path().join("to"));
/// corio_fs::write(&from, "copy me").await?;
/// assert_eq!(corio_fs::copy(&from, &to).await?, 7);
/// assert_eq!(corio_fs::read_to_string(&to).await?, "copy me");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    with_paths(from.as_ref(), to.as_ref(), "copy", |f, t| {
        if same_file(f, t) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination are the same file",
            ));
        }
        std::fs::copy(f, t)
    })
    .await
}

/// Whether `to` exists and is the very file `from` is (a hard link or another path to it).
fn same_file(from: &Path, to: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(from), std::fs::metadata(to)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        matches!(
            (std::fs::canonicalize(from), std::fs::canonicalize(to)),
            (Ok(x), Ok(y)) if x == y
        )
    }
}

/// Returns the metadata of a path, following symlinks ([`std::fs::metadata`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let meta = corio_fs::metadata(dir.path()).await?;
/// assert!(meta.is_dir());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    with_path(path.as_ref(), "read metadata of", |p| std::fs::metadata(p)).await
}

/// Returns the metadata of a path without following a final symlink
/// ([`std::fs::symlink_metadata`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] // symlinks need privileges on Windows
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let (target, link) = (dir.path().join("target"), dir.path().join("link"));
/// # std::fs::write(&target, "")?;
/// std::os::unix::fs::symlink(&target, &link)?;
/// assert!(corio_fs::symlink_metadata(&link).await?.file_type().is_symlink());
/// assert!(corio_fs::metadata(&link).await?.is_file());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    with_path(path.as_ref(), "read metadata of", |p| {
        std::fs::symlink_metadata(p)
    })
    .await
}

/// Creates a directory; its parent must exist ([`std::fs::create_dir`]).
///
/// # Errors
///
/// As the std function, with the path in the message; for example
/// [`AlreadyExists`](io::ErrorKind::AlreadyExists).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// corio_fs::create_dir(dir.path().join("new")).await?;
/// let again = corio_fs::create_dir(dir.path().join("new")).await.unwrap_err();
/// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    with_path(path.as_ref(), "create directory", |p| {
        std::fs::create_dir(p)
    })
    .await
}

/// Creates a directory and all missing parents; fine if it already exists
/// ([`std::fs::create_dir_all`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let deep = dir.path().join("a/b/c");
/// corio_fs::create_dir_all(&deep).await?;
/// corio_fs::create_dir_all(&deep).await?;
/// assert!(deep.is_dir());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    with_path(path.as_ref(), "create directory", |p| {
        std::fs::create_dir_all(p)
    })
    .await
}

/// Removes a file ([`std::fs::remove_file`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("gone.txt");
/// corio_fs::write(&path, "").await?;
/// corio_fs::remove_file(&path).await?;
/// assert!(!corio_fs::try_exists(&path).await?);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    with_path(path.as_ref(), "remove file", |p| std::fs::remove_file(p)).await
}

/// Removes an empty directory ([`std::fs::remove_dir`]).
///
/// # Errors
///
/// As the std function, with the path in the message; for example
/// [`DirectoryNotEmpty`](io::ErrorKind::DirectoryNotEmpty).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let sub = dir.path().join("empty");
/// corio_fs::create_dir(&sub).await?;
/// corio_fs::remove_dir(&sub).await?;
/// assert!(!sub.exists());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    with_path(path.as_ref(), "remove directory", |p| {
        std::fs::remove_dir(p)
    })
    .await
}

/// Removes a directory and everything in it ([`std::fs::remove_dir_all`]).
///
/// # Errors
///
/// As the std function; the message names the directory given (not the entry inside it that
/// failed, which std does not report).
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let tree = dir.path().join("tree");
/// corio_fs::create_dir_all(tree.join("x/y")).await?;
/// corio_fs::write(tree.join("x/y/f"), "data").await?;
/// corio_fs::remove_dir_all(&tree).await?;
/// assert!(!tree.exists());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    with_path(path.as_ref(), "remove directory", |p| {
        std::fs::remove_dir_all(p)
    })
    .await
}

/// Renames a file or directory, replacing `to` if it is a file ([`std::fs::rename`]).
///
/// # Errors
///
/// As the std function, naming both paths.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let (old, new) = (dir.path().join("old"), dir.path().join("new"));
/// corio_fs::write(&old, "moved").await?;
/// corio_fs::rename(&old, &new).await?;
/// assert_eq!(corio_fs::read_to_string(&new).await?, "moved");
/// let err = corio_fs::rename(&old, &new).await.unwrap_err();
/// assert!(err.to_string().contains("old` to `"));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    with_paths(from.as_ref(), to.as_ref(), "rename", |f, t| {
        std::fs::rename(f, t)
    })
    .await
}

/// Returns the absolute path with symlinks, `.` and `..` resolved ([`std::fs::canonicalize`]).
///
/// # Errors
///
/// As the std function, with the path in the message; for example when it does not exist.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let dotted = dir.path().join(".");
/// let real = corio_fs::canonicalize(&dotted).await?;
/// assert_eq!(real, std::fs::canonicalize(dir.path())?);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    with_path(path.as_ref(), "canonicalize", |p| std::fs::canonicalize(p)).await
}

/// Reads the target of a symbolic link ([`std::fs::read_link`]).
///
/// # Errors
///
/// As the std function, with the path in the message; for example when it is not a link.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] // symlinks need privileges on Windows
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let link = dir.path().join("link");
/// std::os::unix::fs::symlink("target.txt", &link)?;
/// assert_eq!(corio_fs::read_link(&link).await?, std::path::Path::new("target.txt"));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    with_path(path.as_ref(), "read link", |p| std::fs::read_link(p)).await
}

/// Creates a hard link `link` pointing to the same file as `original` ([`std::fs::hard_link`]).
///
/// # Errors
///
/// As the std function, naming both paths.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let (original, link) = (dir.path().join("orig"), dir.path().join("alias"));
/// corio_fs::write(&original, "shared").await?;
/// corio_fs::hard_link(&original, &link).await?;
/// assert_eq!(corio_fs::read_to_string(&link).await?, "shared");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    with_paths(original.as_ref(), link.as_ref(), "hard link", |o, l| {
        std::fs::hard_link(o, l)
    })
    .await
}

/// Changes the permissions of a file or directory ([`std::fs::set_permissions`]).
///
/// # Errors
///
/// As the std function, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("p.txt");
/// corio_fs::write(&path, "").await?;
/// let mut perms = corio_fs::metadata(&path).await?.permissions();
/// perms.set_readonly(true);
/// corio_fs::set_permissions(&path, perms).await?;
/// assert!(corio_fs::metadata(&path).await?.permissions().readonly());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    with_path(path.as_ref(), "set permissions of", move |p| {
        std::fs::set_permissions(p, perm)
    })
    .await
}

/// Returns whether a path exists, following symlinks; errors other than "not found" are
/// returned rather than read as `false` ([`Path::try_exists`]).
///
/// # Errors
///
/// For example a permission error on a parent directory, with the path in the message.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// assert!(corio_fs::try_exists(dir.path()).await?);
/// assert!(!corio_fs::try_exists(dir.path().join("nothing")).await?);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    with_path(path.as_ref(), "check the existence of", |p| p.try_exists()).await
}
