//! Seeking: `AsyncSeek`, and the seekable constructors.
//!
//! On a handle whose reads and writes share one position (a file), bytes read ahead and not
//! consumed put the handle ahead of the caller. Before anything that depends on the position (a
//! seek, a write, `with_mut`, `get_mut`, `into_inner`), the job seeks the handle back by that
//! much ([`seek_back`], captured as `Ops::realign`), so the handle's position is the logical
//! one.

use std::io::{self, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncSeek;

use super::read::FIRST_READ;
use super::{Done, Outcome, Unblock};

fn seek_back<T: Seek>(io: &mut T, back: u64) -> io::Result<()> {
    let back = i64::try_from(back).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    io.seek(SeekFrom::Current(-back)).map(drop)
}

impl<T: Seek + Send + 'static> Unblock<T> {
    /// Wraps a handle whose reads and writes share one position, such as a file.
    ///
    /// It behaves like [`new`](Unblock::new), and keeps the handle's position equal to the
    /// logical one: before a write, [`with_mut`](Unblock::with_mut),
    /// [`get_mut`](Unblock::get_mut) or [`into_inner`](Unblock::into_inner), bytes that were read
    /// ahead but not consumed are given back by seeking the handle backwards. So a write after a
    /// read lands right after the bytes you actually read.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut c = Unblock::new_seekable(std::io::Cursor::new(b"abcdef".to_vec()));
    /// let mut two = [0; 2];
    /// c.read_exact(&mut two).await?; // reads ahead past "ab"
    /// c.write_all(b"XY").await?;      // but writes right after "ab"
    /// assert_eq!(c.into_inner().await.into_inner(), b"abXYef");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn new_seekable(io: T) -> Unblock<T> {
        let mut unblock = Unblock::new(io);
        unblock.ops.realign = Some(seek_back::<T>);
        unblock
    }

    /// [`new_seekable`](Unblock::new_seekable) with a buffer of `cap` bytes, as in
    /// [`with_capacity`](Unblock::with_capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_blocking::Unblock;
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # futures_lite::future::block_on(async {
    /// let mut c = Unblock::with_capacity_seekable(4, std::io::Cursor::new(b"abcdef".to_vec()));
    /// let mut one = [0; 1];
    /// c.read_exact(&mut one).await?;
    /// c.write_all(b"B").await?;
    /// assert_eq!(c.into_inner().await.into_inner(), b"aBcdef");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn with_capacity_seekable(cap: usize, io: T) -> Unblock<T> {
        let mut unblock = Unblock::with_capacity(cap, io);
        unblock.ops.realign = Some(seek_back::<T>);
        unblock
    }
}

impl<T: Seek + Send + 'static> AsyncSeek for Unblock<T> {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        this.check_open()?;
        loop {
            if let Some((asked, result)) = this.seek_done.take() {
                if asked == pos {
                    return Poll::Ready(result);
                }
            }
            if this.job.is_some() {
                std::task::ready!(this.poll_idle(cx));
                continue;
            }
            if let Some(err) = this.write_err.take() {
                return Poll::Ready(Err(err));
            }
            // The handle is ahead of the caller by the unread buffered bytes: seek back
            // first, then write what is buffered, then seek, so that a relative seek and a
            // failed seek both start from the logical position.
            let io = this.take_io()?;
            let back = std::mem::take(&mut this.realign_back) + this.read.discard() as u64;
            this.read.next_size = FIRST_READ;
            let data = std::mem::take(&mut this.wbuf);
            if !data.is_empty() {
                this.needs_flush = true;
            }
            let write = this.ops.write;
            this.job = Some(this.sched.spawn_job(move || {
                let mut io = io;
                let mut buf = data;
                let mut prep = Ok(());
                if back > 0 {
                    prep = seek_back(&mut *io, back);
                }
                if let (Ok(()), false, Some(write)) = (&prep, buf.is_empty(), write) {
                    prep = write(&mut io, &buf, false);
                }
                let result = prep.and_then(|()| io.seek(pos));
                buf.clear();
                Done {
                    io,
                    outcome: Outcome::Seek { buf, pos, result },
                }
            }));
        }
    }
}
