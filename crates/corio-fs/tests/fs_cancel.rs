//! Cancel-safety of `File` at the data level: reads and writes dropped mid-way, as a `select!`
//! or a timeout drops them. The promises checked here are the crate docs' table:
//!
//! - a dropped `read` loses no byte and duplicates none: the bytes a pool job read ahead stay in
//!   the `File`'s buffer for the next read, and the logical position counts only bytes handed out;
//! - a dropped `write` (one that returned `Pending`) wrote nothing: the file holds exactly the bytes
//!   of the writes that completed, in order;
//! - `read_exact` and `write_all` are not cancel-safe: dropped part-way, a prefix was done and its
//!   length is lost.
//!
//! Each operation is polled once with a no-op waker and dropped if it is pending; progress comes
//! from the pool's threads meanwhile, so the next poll, of a new future, finds it. Writes that
//! must wait go to a FIFO whose reader holds back (Unix), since a fast disk may never make them.

use std::future::Future;
use std::io::SeekFrom;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_fs::File;
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Polls once and drops: the cancellation under test.
fn poll_once_then_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// A generous bound for the pool's progress, so that a lost wakeup or lost job fails instead of
/// hanging.
struct Deadline(Instant);

impl Deadline {
    fn new() -> Deadline {
        Deadline(Instant::now() + Duration::from_secs(20))
    }

    fn check(&self, what: &str) {
        assert!(Instant::now() < self.0, "{what}: no progress in 20 s");
    }
}

/// Runs `attempt` until it reports that a read had to wait for the pool (so that dropping it
/// was exercised), at most 10 times. Each attempt checks its own results. On a loaded machine
/// the pool can finish a job before the poll that started it looks again, so the first poll of
/// a read may already be ready (measured: 7 of 30 runs under two CPU hogs); a test that
/// required the wait on one attempt failed then.
fn until_a_read_waits(what: &str, mut attempt: impl FnMut() -> bool) {
    for _ in 0..10 {
        if attempt() {
            return;
        }
    }
    panic!(
        "{what}: the pool answered at once in 10 attempts, so no read was dropped while waiting"
    );
}

#[test]
fn a_dropped_read_loses_and_duplicates_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data = pattern(3 << 20);
    std::fs::write(&path, &data).unwrap();
    until_a_read_waits("read", || {
        block_on(async {
            let mut file = File::open(&path).await.unwrap();
            // These reads are to wait for the pool; cached data would be read at once.
            file.set_direct_reads(false);
            let mut got = Vec::with_capacity(data.len());
            let mut buf = vec![0; 40_000];
            let (mut dropped, mut turn) = (0u32, 0usize);
            let deadline = Deadline::new();
            loop {
                // Odd sizes, so reads straddle the read-ahead buffers.
                let want = 1 + (turn * 7919) % buf.len();
                turn += 1;
                match poll_once_then_drop(file.read(&mut buf[..want])) {
                    Poll::Ready(Ok(0)) => break,
                    Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Poll::Ready(Err(e)) => panic!("{e}"),
                    Poll::Pending => {
                        dropped += 1;
                        deadline.check("reading");
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                // Now and then, the logical position is exactly what was handed out.
                if turn % 64 == 0 {
                    let at = file.seek(SeekFrom::Current(0)).await.unwrap();
                    assert_eq!(at, got.len() as u64, "the position counts handed-out bytes");
                }
            }
            assert!(got == data, "{} bytes read of {}", got.len(), data.len());
            dropped > 0
        })
    });
}

/// A FIFO whose reader (a plain thread) opens it at once but reads only when told: until then the
/// pool's write jobs block on the full pipe, so the `File`'s buffer fills and its writes wait,
/// deterministically, however fast the disk is.
#[cfg(unix)]
struct GatedFifo {
    path: std::path::PathBuf,
    go: std::sync::mpsc::Sender<()>,
    reader: std::thread::JoinHandle<Vec<u8>>,
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
impl GatedFifo {
    fn new() -> GatedFifo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo failed");
        let (go, gate) = std::sync::mpsc::channel();
        let reader = std::thread::spawn({
            let path = path.clone();
            move || {
                use std::io::Read;
                let mut fifo = std::fs::File::open(&path).unwrap();
                gate.recv().unwrap();
                let mut all = Vec::new();
                fifo.read_to_end(&mut all).unwrap();
                all
            }
        });
        GatedFifo {
            path,
            go,
            reader,
            _dir: dir,
        }
    }

    /// Lets the reader read, to the end (the writer's close), and returns what it read.
    fn release(
        self,
    ) -> (
        std::sync::mpsc::Sender<()>,
        std::thread::JoinHandle<Vec<u8>>,
    ) {
        self.go.send(()).unwrap();
        (self.go, self.reader)
    }
}

/// Offers `chunks` (each of its own byte) through writes polled once: a write that is pending is
/// dropped and offered again after a pause. Returns the bytes the completed writes took and the
/// number of writes dropped pending. `on_first_pending` runs once, at the first dropped write.
fn offer(
    file: &mut File,
    chunks: u8,
    chunk_len: usize,
    mut on_first_pending: impl FnMut(),
) -> (Vec<u8>, u32) {
    let mut accepted = Vec::new();
    let mut dropped = 0u32;
    let deadline = Deadline::new();
    for i in 0..chunks {
        let chunk = vec![i; chunk_len];
        loop {
            match poll_once_then_drop(file.write(&chunk)) {
                Poll::Ready(Ok(n)) => {
                    assert!(n > 0);
                    accepted.extend_from_slice(&chunk[..n]);
                    break;
                }
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => {
                    if dropped == 0 {
                        on_first_pending();
                    }
                    dropped += 1;
                    deadline.check("writing");
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
    (accepted, dropped)
}

/// A write dropped while it waited for room wrote nothing: the reader gets exactly the bytes of
/// the writes that completed, in order. Through a gated FIFO, so that writes do wait.
#[cfg(unix)]
#[test]
fn a_dropped_pending_write_writes_nothing() {
    let fifo = GatedFifo::new();
    block_on(async {
        let mut file = corio_fs::OpenOptions::new()
            .write(true)
            .open(&fifo.path)
            .await
            .unwrap();
        // 4 MiB in 100 KiB chunks: the pipe and the 1 MiB buffer fill long before the end.
        let mut released = None;
        let mut fifo = Some(fifo);
        let (accepted, dropped) = offer(&mut file, 40, 100 * 1024, || {
            released = fifo.take().map(GatedFifo::release);
        });
        assert!(dropped > 0, "the buffer filled while the reader waited");
        file.flush().await.unwrap();
        drop(file); // the reader's EOF
        let (_go, reader) = released.expect("released at the first pending write");
        let read = reader.join().unwrap();
        assert_eq!(read.len(), accepted.len());
        assert!(read == accepted, "exactly the accepted bytes, in order");
    });
}

/// The same on a regular file, where the disk may keep up (so writes may or may not wait): the
/// file holds exactly the accepted bytes, and the position agrees.
#[test]
fn dropped_writes_on_a_regular_file_write_exactly_the_accepted_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    block_on(async {
        let mut file = File::create(&path).await.unwrap();
        let (accepted, _dropped) = offer(&mut file, 40, 300 * 1024, || {});
        file.flush().await.unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), accepted.len());
        assert!(written == accepted, "exactly the accepted bytes, in order");
        assert_eq!(
            file.seek(SeekFrom::Current(0)).await.unwrap(),
            accepted.len() as u64
        );
    });
}

/// `read_exact` dropped part-way: the bytes it read are in the caller's buffer, the count is lost,
/// and the next read starts after them.
#[test]
fn a_dropped_read_exact_leaves_its_prefix_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data = pattern(4 << 20);
    std::fs::write(&path, &data).unwrap();
    until_a_read_waits("read_exact", || {
        block_on(async {
            let mut file = File::open(&path).await.unwrap();
            // These reads are to wait for the pool; cached data would be read at once.
            file.set_direct_reads(false);
            let mut big = vec![0; data.len()];
            // One byte first: the pool job that fetched it read ahead, and the rest waits in the File.
            let mut first = [0];
            file.read_exact(&mut first).await.unwrap();
            assert_eq!(first[0], data[0]);
            // The read_exact takes what was read ahead, starts a job for more, and is dropped.
            if let Poll::Ready(r) = poll_once_then_drop(file.read_exact(&mut big)) {
                // The pool read the whole file while the poll ran: nothing was dropped mid-read.
                // It asks for one byte more than is left after `first`.
                let e = r.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                assert!(
                    big[..data.len() - 1] == data[1..],
                    "it got every byte there was"
                );
                return false;
            }
            let at = file.seek(SeekFrom::Current(0)).await.unwrap() as usize;
            let consumed = at - 1;
            assert!(
                consumed > 0,
                "the read-ahead went into the dropped read_exact's buffer"
            );
            let data = &data[1..];
            assert!(
                big[..consumed] == data[..consumed],
                "the prefix is in the buffer"
            );
            let mut rest = Vec::new();
            file.read_to_end(&mut rest).await.unwrap();
            assert!(rest == data[consumed..], "the next read continues after it");
            true
        })
    });
}

/// `write_all` dropped part-way: a prefix is written (no gap, no duplicate), its length lost.
/// Through a gated FIFO, so that the write_all does stop part-way.
#[cfg(unix)]
#[test]
fn a_dropped_write_all_leaves_a_prefix() {
    let fifo = GatedFifo::new();
    let data = pattern(8 << 20);
    block_on(async {
        let mut file = corio_fs::OpenOptions::new()
            .write(true)
            .open(&fifo.path)
            .await
            .unwrap();
        assert!(poll_once_then_drop(file.write_all(&data)).is_pending());
        let (_go, reader) = fifo.release();
        file.flush().await.unwrap();
        drop(file);
        let read = reader.join().unwrap();
        assert!(
            !read.is_empty() && read.len() < data.len(),
            "{}",
            read.len()
        );
        assert!(read == data[..read.len()], "a prefix of the data");
    });
}

/// Dropping a `File` with a read in flight is harmless, and so is dropping one with a write
/// in flight: the buffered bytes still reach the file.
#[test]
fn dropping_the_file_itself_mid_operation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, pattern(1 << 20)).unwrap();
    block_on(async {
        let mut file = File::open(&path).await.unwrap();
        // These reads are to wait for the pool; cached data would be read at once.
        file.set_direct_reads(false);
        let mut buf = [0; 100];
        let _ = poll_once_then_drop(file.read(&mut buf));
        drop(file);

        let out = dir.path().join("out");
        let mut file = File::create(&out).await.unwrap();
        let data = pattern(512 * 1024);
        let n = match poll_once_then_drop(file.write(&data)) {
            Poll::Ready(Ok(n)) if n > 0 => n,
            other => panic!("an empty buffer takes the write at once: {other:?}"),
        };
        drop(file);
        // Written by a pool job after the drop: wait for it (bounded).
        let deadline = Deadline::new();
        while std::fs::read(&out).unwrap() != data[..n] {
            deadline.check("the write after the drop");
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// `read_to_end` dropped again and again: the `Vec` keeps what each one read, so the last one
/// completes it with every byte once.
#[test]
fn a_dropped_read_to_end_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data = pattern(3 << 20);
    std::fs::write(&path, &data).unwrap();
    until_a_read_waits("read_to_end", || {
        block_on(async {
            let mut file = File::open(&path).await.unwrap();
            // These reads are to wait for the pool; cached data would be read at once.
            file.set_direct_reads(false);
            let mut all = Vec::new();
            let deadline = Deadline::new();
            let mut dropped = 0u32;
            loop {
                match poll_once_then_drop(file.read_to_end(&mut all)) {
                    Poll::Ready(r) => {
                        r.unwrap();
                        break;
                    }
                    Poll::Pending => {
                        dropped += 1;
                        deadline.check("read_to_end");
                        std::thread::sleep(Duration::from_micros(300));
                    }
                }
            }
            assert!(all == data, "{} bytes of {}", all.len(), data.len());
            dropped > 0
        })
    });
}
