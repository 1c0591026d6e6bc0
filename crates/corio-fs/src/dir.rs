//! Directory listing as a stream.

use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_blocking::{Unblock, unblock};
use futures_core::Stream;
use futures_lite::StreamExt;

use crate::error;

/// The entries of a directory, as a [`Stream`] of `io::Result<DirEntry>`; from [`read_dir`].
///
/// Entries are read on the blocking pool in batches, ahead of you. The order is the OS's, and
/// `.` and `..` are not included. An error reading an entry names the directory.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("a.txt"), "")?;
/// let mut names = Vec::new();
/// let mut entries = corio_fs::read_dir(dir.path()).await?;
/// while let Some(entry) = entries.next().await {
///     names.push(entry?.file_name());
/// }
/// assert_eq!(names, ["a.txt"]);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct ReadDir {
    inner: Unblock<Entries>,
}

#[derive(Debug)]
struct Entries {
    iter: std::fs::ReadDir,
    dir: Arc<Path>,
}

impl Iterator for Entries {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        let next = self.iter.next()?;
        Some(
            next.map(|e| DirEntry(Arc::new(e)))
                .map_err(|e| error::at(e, "read an entry of directory", &self.dir)),
        )
    }
}

/// Lists a directory: returns a [`ReadDir`] stream of its entries.
///
/// # Errors
///
/// As [`std::fs::read_dir`], with the path in the message, e.g. when it does not exist or is
/// not a directory.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # std::fs::create_dir(dir.path().join("sub"))?;
/// let entries: Vec<_> = corio_fs::read_dir(dir.path()).await?.try_collect().await?;
/// assert_eq!(entries.len(), 1);
/// assert!(entries[0].file_type().await?.is_dir());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let dir: Arc<Path> = Arc::from(path.as_ref());
    let d = dir.clone();
    let iter =
        unblock(move || std::fs::read_dir(&d).map_err(|e| error::at(e, "read directory", &d)))
            .await?;
    Ok(ReadDir {
        inner: Unblock::new(Entries { iter, dir }),
    })
}

impl ReadDir {
    /// Returns the next entry, or `None` at the end; the same as `StreamExt::next`, without
    /// importing a trait.
    ///
    /// # Errors
    ///
    /// An error reading the next entry, naming the directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut entries = corio_fs::read_dir(dir.path()).await?;
    /// assert!(entries.next_entry().await?.is_none()); // empty directory
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        self.inner.next().await.transpose()
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// An entry of a directory, yielded by [`ReadDir`].
///
/// `file_name` and `path` are answered from memory; `metadata` and `file_type` may need a system
/// call, so they are async and run on the pool.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("f.txt"), "four")?;
/// let entry = corio_fs::read_dir(dir.path()).await?.next_entry().await?.unwrap();
/// assert_eq!(entry.file_name(), "f.txt");
/// assert_eq!(entry.path(), dir.path().join("f.txt"));
/// assert_eq!(entry.metadata().await?.len(), 4);
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct DirEntry(Arc<std::fs::DirEntry>);

impl DirEntry {
    /// The entry's full path: the directory's path joined with [`file_name`](DirEntry::file_name).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("p.txt"), "")?;
    /// let entry = corio_fs::read_dir(dir.path()).await?.next_entry().await?.unwrap();
    /// assert!(entry.path().ends_with("p.txt"));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's bare file name, without the directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("n.txt"), "")?;
    /// let entry = corio_fs::read_dir(dir.path()).await?.next_entry().await?.unwrap();
    /// let name: std::ffi::OsString = entry.file_name();
    /// assert_eq!(name, "n.txt");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }

    /// The entry's metadata, not following a symlink ([`std::fs::DirEntry::metadata`]).
    ///
    /// # Errors
    ///
    /// As the std method, naming the entry's path.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("m.txt"), "12")?;
    /// let entry = corio_fs::read_dir(dir.path()).await?.next_entry().await?.unwrap();
    /// assert_eq!(entry.metadata().await?.len(), 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let entry = self.0.clone();
        unblock(move || {
            entry
                .metadata()
                .map_err(|e| error::at(e, "read metadata of", &entry.path()))
        })
        .await
    }

    /// The entry's file type, not following a symlink ([`std::fs::DirEntry::file_type`]).
    ///
    /// # Errors
    ///
    /// As the std method, naming the entry's path.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("t.txt"), "")?;
    /// let entry = corio_fs::read_dir(dir.path()).await?.next_entry().await?.unwrap();
    /// assert!(entry.file_type().await?.is_file());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn file_type(&self) -> io::Result<FileType> {
        let entry = self.0.clone();
        unblock(move || {
            entry
                .file_type()
                .map_err(|e| error::at(e, "read the file type of", &entry.path()))
        })
        .await
    }
}
