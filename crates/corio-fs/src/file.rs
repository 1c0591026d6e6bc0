//! `File` and `OpenOptions`.

use std::fmt;
use std::fs::{Metadata, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use corio_blocking::{Unblock, unblock};
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use futures_lite::AsyncWriteExt;

use crate::error;

/// An open file, read and written asynchronously on the blocking pool.
///
/// On Linux, a read of data already in the page cache is served on the calling thread instead,
/// with a read that cannot wait for the disk (`preadv2` with `RWF_NOWAIT`, at most 128 KiB per
/// call), whenever nothing is buffered or in flight; data that is not cached goes to the pool as
/// before. See [`set_direct_reads`](File::set_direct_reads).
///
/// `File` implements futures-io [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`] (use them
/// through `futures_lite::{AsyncReadExt, AsyncWriteExt, AsyncSeekExt}` or the `futures` crate's
/// equivalents). Operations happen in the order you issue them; reads, writes and seeks share
/// one position, as with [`std::fs::File`].
///
/// # Buffering, and being sure data is written
///
/// Reads fetch ahead (up to 1 MiB per trip to the pool, the next buffer being read while you
/// consume this one) and writes are batched (the pool writes one buffer while you fill the
/// next, up to 1 MiB in flight), so most calls return without waiting for the disk. The position you observe is always the logical one:
/// a seek, a write or [`set_len`](File::set_len) after a read first gives back what was read
/// ahead, and a read or seek after a write first writes.
///
/// [`metadata`](File::metadata) and [`set_permissions`](File::set_permissions) take `&self`, as
/// in std, and ask the OS directly, so they do not see bytes still buffered; the methods that
/// must see them ([`sync_all`](File::sync_all), [`set_len`](File::set_len),
/// [`try_clone`](File::try_clone)) take `&mut self` and write the buffer first.
///
/// A write returns once its bytes are buffered. **Only
/// [`flush().await`](futures_lite::AsyncWriteExt::flush) tells you they reached the OS, and
/// only [`sync_all().await`](File::sync_all) tells you they reached the disk.** A write that
/// fails in the background is reported by the next `write`, `flush` or `sync_*` call.
///
/// Dropping a `File` with bytes still buffered does not lose them: a job on the pool writes them
/// after the drop. If that write fails, the error (which names the file) can only be printed to
/// stderr, and if the process exits first, the bytes are lost; flush before dropping to be sure.
///
/// [`close`](futures_lite::AsyncWriteExt::close) flushes; the OS file is closed when the `File`
/// is dropped.
///
/// # Errors
///
/// Every error keeps the OS error's [`kind`](io::Error::kind) and names the file:
/// "failed to write to `/data/out.bin`: No space left on device (os error 28)".
///
/// # Examples
///
/// ```
/// use corio_fs::File;
/// use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("notes.txt");
/// let mut file = File::create(&path).await?;
/// file.write_all(b"hello, file").await?;
/// file.flush().await?;
///
/// let mut file = File::open(&path).await?;
/// file.seek(SeekFrom::Start(7)).await?;
/// let mut word = String::new();
/// file.read_to_string(&mut word).await?;
/// assert_eq!(word, "file");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct File {
    inner: Unblock<FileIo>,
    /// The same OS file, for the `&self` methods that do not go through the buffers.
    shared: Arc<std::fs::File>,
    path: Option<Arc<Path>>,
    /// Whether reads of cached data may skip the pool (`direct.rs`): unknown until the first
    /// read, then `false` for good on a file where they do not work, or after
    /// `set_direct_reads(false)`.
    #[cfg(target_os = "linux")]
    direct: Option<bool>,
    /// The last direct read found the cooperative budget spent and yielded (see
    /// `poll_read_direct`).
    #[cfg(target_os = "linux")]
    starved: bool,
}

/// The std file plus its path, so that errors raised on the pool name it.
#[derive(Debug)]
struct FileIo {
    file: Arc<std::fs::File>,
    path: Option<Arc<Path>>,
}

impl FileIo {
    fn err(&self, err: io::Error, what: &str) -> io::Error {
        error::at_opt(err, what, self.path.as_deref())
    }
}

impl Read for FileIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.file)
            .read(buf)
            .map_err(|e| self.err(e, "read from"))
    }
}

impl Write for FileIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.file)
            .write(buf)
            .map_err(|e| self.err(e, "write to"))
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.file).flush().map_err(|e| self.err(e, "flush"))
    }
}

impl Seek for FileIo {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.file).seek(pos).map_err(|e| self.err(e, "seek in"))
    }
}

impl File {
    /// Opens a file for reading.
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::open`], with the path in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("in.txt");
    /// # std::fs::write(&path, "data")?;
    /// let mut file = corio_fs::File::open(&path).await?;
    /// let mut text = String::new();
    /// file.read_to_string(&mut text).await?;
    /// assert_eq!(text, "data");
    ///
    /// let err = corio_fs::File::open(dir.path().join("missing")).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().contains("missing`"));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it or truncating it.
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::create`], with the path in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("out.txt");
    /// let mut file = corio_fs::File::create(&path).await?;
    /// file.write_all(b"written").await?;
    /// file.flush().await?;
    /// assert_eq!(std::fs::read(&path)?, b"written");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let p = path.clone();
        let file =
            unblock(move || std::fs::File::create(&p).map_err(|e| error::at(e, "create", &p)))
                .await?;
        Ok(File::wrap(file, Some(path)))
    }

    /// Creates a new file for reading and writing; fails if it already exists.
    ///
    /// # Errors
    ///
    /// [`AlreadyExists`](io::ErrorKind::AlreadyExists) if the file exists, or as
    /// [`std::fs::File::create_new`], with the path in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("once.txt");
    /// corio_fs::File::create_new(&path).await?;
    /// let again = corio_fs::File::create_new(&path).await.unwrap_err();
    /// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// Returns a new [`OpenOptions`], the same as [`OpenOptions::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("log.txt");
    /// let file = corio_fs::File::options().append(true).create(true).open(&path).await?;
    /// # drop(file);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a [`std::fs::File`]. Its errors cannot name a path, since none is known.
    ///
    /// Jobs run on the [current](corio_blocking::Pool::current) pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// let std_file = tempfile::tempfile()?;
    /// let file = corio_fs::File::from_std(std_file);
    /// assert_eq!(file.metadata().await?.len(), 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File::wrap(file, None)
    }

    fn wrap(file: std::fs::File, path: Option<Arc<Path>>) -> File {
        let shared = Arc::new(file);
        File {
            inner: Unblock::new_seekable(FileIo {
                file: shared.clone(),
                path: path.clone(),
            }),
            shared,
            path,
            #[cfg(target_os = "linux")]
            direct: None,
            #[cfg(target_os = "linux")]
            starved: false,
        }
    }

    /// Chooses whether reads of cached data may skip the blocking pool (the default: yes).
    ///
    /// On Linux, while nothing is buffered or in flight, a read first asks the OS for cached data
    /// without waiting (`preadv2` with `RWF_NOWAIT`) on the calling thread; only if the data is
    /// not cached does it go to the pool (see the type's docs). Pass `false` to send every read
    /// to the pool: to keep even page-cache copies off the async worker, say, or to test what
    /// happens while a read waits. Elsewhere this does nothing: reads always use the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncReadExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("in.txt");
    /// # std::fs::write(&path, "data")?;
    /// let mut file = corio_fs::File::open(&path).await?;
    /// file.set_direct_reads(false);
    /// let mut text = String::new();
    /// file.read_to_string(&mut text).await?; // read on the pool
    /// assert_eq!(text, "data");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn set_direct_reads(&mut self, enabled: bool) {
        #[cfg(target_os = "linux")]
        {
            // `None` re-checks the file's flags at the next read (O_DIRECT files never qualify).
            self.direct = if enabled { None } else { Some(false) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = enabled;
    }

    /// Writes buffered bytes, then flushes and syncs data and metadata to the disk
    /// ([`std::fs::File::sync_all`]).
    ///
    /// When this returns `Ok`, everything written so far is on the disk, as far as the OS can
    /// promise.
    ///
    /// # Errors
    ///
    /// A write that failed in the background, or the sync's own error, naming the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut file = corio_fs::File::create(dir.path().join("durable.txt")).await?;
    /// file.write_all(b"important").await?;
    /// file.sync_all().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.inner.flush().await?;
        self.with_file("sync", |f| f.sync_all()).await
    }

    /// Like [`sync_all`](File::sync_all), but may skip metadata such as the modification time
    /// ([`std::fs::File::sync_data`]).
    ///
    /// # Errors
    ///
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut file = corio_fs::File::create(dir.path().join("data.bin")).await?;
    /// file.write_all(&[1, 2, 3]).await?;
    /// file.sync_data().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.inner.flush().await?;
        self.with_file("sync", |f| f.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes, after writing buffered bytes
    /// ([`std::fs::File::set_len`]). The position does not change.
    ///
    /// # Errors
    ///
    /// A write that failed in the background, or `set_len`'s own error, naming the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut file = corio_fs::File::create(dir.path().join("sized.bin")).await?;
    /// file.write_all(&[9; 100]).await?;
    /// file.set_len(10).await?;
    /// assert_eq!(file.metadata().await?.len(), 10);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.inner.flush().await?;
        self.with_file("set the length of", move |f| f.set_len(size))
            .await
    }

    /// Returns the file's metadata ([`std::fs::File::metadata`]).
    ///
    /// It asks the OS directly, without waiting for writes still buffered in this `File`: after
    /// [`flush().await`](futures_lite::AsyncWriteExt::flush), the length counts every byte
    /// written.
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::metadata`], naming the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut file = corio_fs::File::create(dir.path().join("m.txt")).await?;
    /// file.write_all(b"12345").await?;
    /// file.flush().await?;
    /// let meta = file.metadata().await?;
    /// assert!(meta.is_file());
    /// assert_eq!(meta.len(), 5);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.on_shared("read metadata of", |f| f.metadata()).await
    }

    /// Changes the file's permissions ([`std::fs::File::set_permissions`]).
    ///
    /// # Errors
    ///
    /// As the std function, naming the file.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let file = corio_fs::File::create(dir.path().join("ro.txt")).await?;
    /// let mut perms = file.metadata().await?.permissions();
    /// perms.set_readonly(true);
    /// file.set_permissions(perms).await?;
    /// assert!(file.metadata().await?.permissions().readonly());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.on_shared("set permissions of", move |f| f.set_permissions(perm))
            .await
    }

    /// Opens a second handle to the same file ([`std::fs::File::try_clone`]).
    ///
    /// Buffered bytes are written first. The two handles share the OS file position but not
    /// their buffers: interleaving reads on both gives unspecified (but safe) results.
    ///
    /// # Errors
    ///
    /// As the std function, naming the file.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let mut file = corio_fs::File::create(dir.path().join("c.txt")).await?;
    /// let other = file.try_clone().await?;
    /// assert_eq!(other.metadata().await?.len(), 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn try_clone(&mut self) -> io::Result<File> {
        let file = self
            .with_file("clone the handle of", |f| f.try_clone())
            .await?;
        Ok(File::wrap(file, self.path.clone()))
    }

    /// Writes and flushes buffered bytes and returns the [`std::fs::File`], positioned where
    /// this `File` logically was.
    ///
    /// A write error at this point is printed to stderr; flush first to handle it yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    /// use std::io::Read;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("s.txt");
    /// let mut file = corio_fs::File::create(&path).await?;
    /// file.write_all(b"abc").await?;
    /// let std_file: std::fs::File = file.into_std().await;
    /// assert_eq!(std_file.metadata()?.len(), 3);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn into_std(self) -> std::fs::File {
        let File { inner, shared, .. } = self;
        drop(shared);
        let mut file = inner.into_inner().await.file;
        loop {
            // Only a `metadata` or `set_permissions` job whose future was dropped can still
            // hold a clone; it is a single system call, so it lets go soon.
            file = match Arc::try_unwrap(file) {
                Ok(file) => return file,
                Err(file) => file,
            };
            if let Ok(dup) = file.try_clone() {
                return dup;
            }
            futures_lite::future::yield_now().await;
        }
    }

    async fn on_shared<R, F>(&self, what: &'static str, op: F) -> io::Result<R>
    where
        F: FnOnce(&std::fs::File) -> io::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (file, path) = (self.shared.clone(), self.path.clone());
        unblock(move || op(&file).map_err(|e| error::at_opt(e, what, path.as_deref()))).await
    }

    async fn with_file<R, F>(&mut self, what: &'static str, op: F) -> io::Result<R>
    where
        F: FnOnce(&std::fs::File) -> io::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.inner
            .with_mut(move |io| op(&io.file).map_err(|e| io.err(e, what)))
            .await
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl AsyncRead for File {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        if let Some(result) = self.poll_read_direct(cx, buf) {
            return result;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(target_os = "linux")]
impl File {
    /// Reads cached data on this thread if the buffers are quiet (see `direct.rs`); `None`
    /// means "use the pool".
    fn poll_read_direct(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Option<Poll<io::Result<usize>>> {
        use crate::direct::{self, Direct};

        if buf.is_empty() || self.direct == Some(false) {
            return None;
        }
        let io = self.inner.try_get_mut()?;
        let allowed = *self.direct.get_or_insert_with(|| direct::allowed(&io.file));
        if !allowed {
            return None;
        }
        // Invariant 3 of `direct.rs`: the budget pays for the bytes copied.
        let max = match corio_coop::remaining() {
            None => buf.len(),
            Some(0) => {
                if std::mem::take(&mut self.starved) {
                    // A second spent budget in a row with no read in between: whoever polls
                    // does not renew it (a foreign `block_on` inside a task). The pool needs no
                    // budget, so go there instead of yielding for ever.
                    return None;
                }
                self.starved = true;
                // Yield: `poll_proceed` wakes the task and says `Pending`.
                if corio_coop::poll_proceed(cx).is_pending() {
                    return Some(Poll::Pending);
                }
                buf.len()
            }
            Some(units) => usize::from(units) * direct::BYTES_PER_UNIT,
        };
        self.starved = false;
        let len = buf.len().min(max);
        match direct::read(&io.file, &mut buf[..len]) {
            Direct::Read(n) => {
                for _ in 0..n.div_ceil(direct::BYTES_PER_UNIT).max(1) {
                    // Ready every time: `len` was capped by what is left.
                    let _ = corio_coop::poll_proceed(cx);
                }
                Some(Poll::Ready(Ok(n)))
            }
            Direct::Unsupported => {
                self.direct = Some(false);
                None
            }
            Direct::WouldBlock | Direct::Failed => None,
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Flushes. The file stays open until the `File` is dropped.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.inner).poll_seek(cx, pos)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("inner", &self.inner)
            .finish()
    }
}

/// Options for opening a file, as in [`std::fs::OpenOptions`], with an async
/// [`open`](OpenOptions::open).
///
/// # Examples
///
/// ```
/// use corio_fs::OpenOptions;
/// use futures_lite::AsyncWriteExt;
///
/// # futures_lite::future::block_on(async {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.log");
/// let mut log = OpenOptions::new().append(true).create(true).open(&path).await?;
/// log.write_all(b"started\n").await?;
/// log.flush().await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// All options off, as [`std::fs::OpenOptions::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let opts = corio_fs::OpenOptions::new();
    /// # let _ = opts;
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Opens for reading.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let path = tempfile::NamedTempFile::new()?;
    /// let file = corio_fs::OpenOptions::new().read(true).open(path.path()).await?;
    /// # drop(file);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Opens for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let path = tempfile::NamedTempFile::new()?;
    /// let file = corio_fs::OpenOptions::new().write(true).open(path.path()).await?;
    /// # drop(file);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Opens for appending: every write goes to the end of the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    ///
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.txt");
    /// # std::fs::write(&path, "one ")?;
    /// let mut f = corio_fs::OpenOptions::new().append(true).open(&path).await?;
    /// f.write_all(b"two").await?;
    /// f.flush().await?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "one two");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Truncates the file to length 0 when opening it (needs `write`).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("t.txt");
    /// # std::fs::write(&path, "old contents")?;
    /// corio_fs::OpenOptions::new().write(true).truncate(true).open(&path).await?;
    /// assert_eq!(std::fs::metadata(&path)?.len(), 0);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist (needs `write` or `append`).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("new.txt");
    /// corio_fs::OpenOptions::new().write(true).create(true).open(&path).await?;
    /// assert!(path.exists());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Creates the file, failing if it already exists (needs `write` or `append`).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("excl.txt");
    /// let mut opts = corio_fs::OpenOptions::new();
    /// opts.write(true).create_new(true);
    /// opts.open(&path).await?;
    /// assert!(opts.open(&path).await.is_err());
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// Sets the Unix permission bits used when the file is created (default `0o666`, minus the
    /// umask).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("secret");
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// corio_fs::OpenOptions::new().write(true).create(true).mode(0o600).open(&path).await?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Adds flags to the `open(2)` call, such as `libc::O_NOFOLLOW`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let path = tempfile::NamedTempFile::new()?;
    /// corio_fs::OpenOptions::new().read(true).custom_flags(0).open(path.path()).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens the file at `path` with these options.
    ///
    /// # Errors
    ///
    /// As [`std::fs::OpenOptions::open`], with the path in the message.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// # let dir = tempfile::tempdir()?;
    /// let err = corio_fs::OpenOptions::new()
    ///     .read(true)
    ///     .open(dir.path().join("nope.txt"))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().starts_with("failed to open `"));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let (opts, p) = (self.0.clone(), path.clone());
        let file = unblock(move || opts.open(&p).map_err(|e| error::at(e, "open", &p))).await?;
        Ok(File::wrap(file, Some(path)))
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}
