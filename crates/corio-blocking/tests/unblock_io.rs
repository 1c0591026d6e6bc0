//! `Unblock<T>`: reads, writes, seeks and streams through the pool.

mod support;

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use corio_blocking::Unblock;
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, StreamExt};
use proptest::prelude::*;
use support::eventually;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn reads_a_cursor_in_small_and_large_pieces() {
    let data = pattern(3 << 20); // bigger than the default buffer
    block_on(async {
        let mut r = Unblock::new(Cursor::new(data.clone()));
        let mut head = [0u8; 7];
        r.read_exact(&mut head).await.unwrap();
        assert_eq!(head, data[..7]);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, data[7..]);
        // EOF is sticky for a cursor.
        assert_eq!(r.read(&mut head).await.unwrap(), 0);
    });
}

#[test]
fn reads_a_file() {
    let mut file = tempfile::tempfile().unwrap();
    let data = pattern(100_000);
    file.write_all(&data).unwrap();
    file.rewind().unwrap();
    block_on(async {
        let mut r = Unblock::new(file);
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, data);
    });
}

#[test]
fn writes_reach_the_handle_after_flush() {
    let data = pattern(2_500_000);
    block_on(async {
        let mut w = Unblock::with_capacity(64 * 1024, Vec::new());
        for chunk in data.chunks(10_000) {
            w.write_all(chunk).await.unwrap();
        }
        w.flush().await.unwrap();
        assert_eq!(w.get_mut().await.len(), data.len());
        assert_eq!(w.into_inner().await, data);
    });
}

#[test]
fn seeks_account_for_read_ahead() {
    let data = pattern(50_000);
    block_on(async {
        let mut c = Unblock::new(Cursor::new(data.clone()));
        let mut buf = [0u8; 10];
        c.read_exact(&mut buf).await.unwrap(); // the cursor itself is far ahead now
        assert_eq!(c.seek(SeekFrom::Current(0)).await.unwrap(), 10);
        assert_eq!(c.seek(SeekFrom::Current(-4)).await.unwrap(), 6);
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, data[6..16]);
        assert_eq!(c.seek(SeekFrom::End(-3)).await.unwrap(), 49_997);
        let mut tail = Vec::new();
        c.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, data[49_997..]);
        assert_eq!(c.seek(SeekFrom::Start(1)).await.unwrap(), 1);
        c.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(buf[0], data[1]);
        let err = c.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn a_seekable_handle_writes_at_the_logical_position() {
    block_on(async {
        let mut c = Unblock::new_seekable(Cursor::new(b"0123456789".to_vec()));
        let mut two = [0u8; 2];
        c.read_exact(&mut two).await.unwrap();
        c.write_all(b"ab").await.unwrap();
        c.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"45");
        let pos = c.with_mut(|c| c.position()).await;
        assert_eq!(pos, 6, "with_mut sees the logical position");
        assert_eq!(c.into_inner().await.into_inner(), b"01ab456789");
    });
}

#[test]
fn an_iterator_becomes_a_stream() {
    block_on(async {
        let all: Vec<u32> = Unblock::new(0..20_000u32).collect().await;
        assert_eq!(all, (0..20_000).collect::<Vec<_>>());

        // A tiny buffer makes the job stop and restart many times.
        let mut s = Unblock::with_capacity(3, (0..100u32).map(|x| x * 2));
        let mut got = Vec::new();
        while let Some(x) = s.next().await {
            got.push(x);
        }
        assert_eq!(got, (0..100).map(|x| x * 2).collect::<Vec<_>>());
        // The iterator comes back, exhausted.
        assert_eq!(s.into_inner().await.next(), None);
    });
}

#[test]
fn a_stream_of_lines_from_a_blocking_reader() {
    let text = "alpha\nbeta\ngamma\n";
    block_on(async {
        let lines: Vec<String> = Unblock::new(io::BufRead::lines(Cursor::new(text)))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(lines, ["alpha", "beta", "gamma"]);
    });
}

/// A writer that fails after `ok` bytes.
struct Flaky {
    written: Vec<u8>,
    ok: usize,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written.len() >= self.ok {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        let n = buf.len().min(self.ok - self.written.len());
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_background_write_error_is_reported_by_flush() {
    block_on(async {
        let mut w = Unblock::new(Flaky {
            written: Vec::new(),
            ok: 5,
        });
        // The write itself only buffers; the failure happens on the pool.
        w.write_all(b"0123456789").await.unwrap();
        let err = w.flush().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(w.get_mut().await.written, b"01234");
    });
}

#[test]
fn dropping_with_unflushed_writes_still_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.bin");
    let data = pattern(300_000);
    block_on(async {
        let mut w = Unblock::new(std::fs::File::create(&path).unwrap());
        for chunk in data.chunks(4096) {
            w.write_all(chunk).await.unwrap();
        }
        drop(w); // no flush
    });
    assert!(
        eventually(|| std::fs::read(&path).is_ok_and(|got| got == data)),
        "the buffered bytes never reached the file"
    );
}

#[test]
fn close_drops_the_handle_and_later_use_fails_cleanly() {
    block_on(async {
        let mut w = Unblock::new(Vec::new());
        w.write_all(b"x").await.unwrap();
        w.close().await.unwrap();
        let err = w.write_all(b"y").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        w.flush().await.unwrap();
    });
}

/// A reader that panics on its first read.
struct Exploding;

impl Read for Exploding {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        panic!("reader exploded")
    }
}

#[test]
fn a_panicking_handle_panics_the_reader_then_errors() {
    block_on(async {
        let mut r = Unblock::new(Exploding);
        let mut buf = [0u8; 4];
        let caught = catch_unwind(AssertUnwindSafe(|| block_on(r.read(&mut buf))));
        let payload = caught.expect_err("the panic did not reach the reader");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"reader exploded"));
        let err = r.read(&mut buf).await.unwrap_err();
        assert!(err.to_string().contains("lost"), "{err}");
    });
}

/// A `with_mut` closure that panics after its future was dropped: the panic is reported (its
/// awaiter is gone), not resumed in the next, unrelated operation, which fails as on any lost
/// handle. It used to panic there with the closure's payload.
#[test]
fn an_abandoned_with_mut_panic_does_not_resurface_in_a_later_read() {
    block_on(async {
        let mut r = Unblock::new(Cursor::new(vec![1u8, 2, 3]));
        let (started, has_started) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        {
            let mut op = Box::pin(r.with_mut(move |_| {
                started.send(()).unwrap();
                let _ = wait.recv();
                panic!("with_mut closure")
            }));
            assert!(futures_lite::future::poll_once(&mut op).await.is_none());
            has_started.recv().unwrap();
            // The future is dropped while the closure runs.
        }
        go.send(()).unwrap();
        let mut buf = [0u8; 3];
        let later = catch_unwind(AssertUnwindSafe(|| block_on(r.read(&mut buf))));
        let err = later
            .expect("the closure's panic did not resurface in the read")
            .unwrap_err();
        assert!(err.to_string().contains("lost"), "{err}");
    });
}

/// The awaiter of a `with_mut` whose closure panics gets the panic, as before.
#[test]
fn an_awaited_with_mut_panic_reaches_its_awaiter() {
    let mut r = Unblock::new(Cursor::new(vec![1u8]));
    let caught = catch_unwind(AssertUnwindSafe(|| {
        block_on(r.with_mut(|_| -> u8 { panic!("mine") }))
    }));
    let payload = caught.expect_err("the awaiter got the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"mine"));
}

#[test]
fn with_mut_runs_on_the_pool_after_pending_writes() {
    block_on(async {
        let mut w = Unblock::new(Vec::new());
        w.write_all(b"abc").await.unwrap();
        let (len, on_pool) = w
            .with_mut(|v| {
                let name = std::thread::current().name().unwrap_or("").to_owned();
                (v.len(), name.starts_with("corio-blocking"))
            })
            .await;
        assert_eq!(len, 3);
        assert!(on_pool);
    });
}

#[test]
fn stdio_handles_write_and_flush() {
    block_on(async {
        let mut err = corio_blocking::stderr();
        err.write_all(b"").await.unwrap();
        err.flush().await.unwrap();
        let mut out = corio_blocking::stdout();
        out.flush().await.unwrap();
        assert!(format!("{out:?}").starts_with("Unblock"));
    });
}

#[derive(Clone)]
enum Op {
    Read(usize),
    Write(Vec<u8>),
    Seek(SeekFrom),
    Flush,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Read(n) => write!(f, "Read({n})"),
            Op::Write(b) => write!(f, "Write({} bytes)", b.len()),
            Op::Seek(p) => write!(f, "Seek({p:?})"),
            Op::Flush => write!(f, "Flush"),
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..5000).prop_map(Op::Read),
        // Non-empty: `Cursor<Vec>::write_all(&[])` pads past the end, an async `write_all(&[])` does nothing.
        proptest::collection::vec(any::<u8>(), 1..3000).prop_map(Op::Write),
        prop_oneof![
            (0u64..12_000).prop_map(SeekFrom::Start),
            (-12_000i64..100).prop_map(SeekFrom::End),
            (-6_000i64..6_000).prop_map(SeekFrom::Current),
        ]
        .prop_map(Op::Seek),
        Just(Op::Flush),
    ]
}

/// A cursor whose reads sometimes take a little while, so that read-ahead jobs are often still
/// running when the next operation arrives.
struct Slow {
    inner: Cursor<Vec<u8>>,
    slow: bool,
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.slow {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        self.inner.read(buf)
    }
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Slow {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// A cursor the test keeps a handle to, to look at after the `Unblock` is dropped.
#[derive(Clone)]
struct SharedCursor(Arc<Mutex<Cursor<Vec<u8>>>>);

impl Read for SharedCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.lock().unwrap().read(buf)
    }
}

impl Write for SharedCursor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedCursor {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.lock().unwrap().seek(pos)
    }
}

#[derive(Clone)]
struct Initial(Vec<u8>);

impl std::fmt::Debug for Initial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any mix of reads, writes, seeks and flushes on a seekable `Unblock` (small buffer, so the
    /// read-ahead and batching paths are exercised) matches the same ops on a plain `Cursor`.
    #[test]
    fn seekable_unblock_matches_a_cursor(
        initial in proptest::collection::vec(any::<u8>(), 0..8000).prop_map(Initial),
        ops in proptest::collection::vec(op(), 1..40),
        cap in 1usize..4096,
        slow in any::<bool>(),
    ) {
        let initial = initial.0;
        let mut model = Cursor::new(initial.clone());
        let inner = Slow { inner: Cursor::new(initial), slow };
        let mut real = Unblock::with_capacity_seekable(cap, inner);
        block_on(async {
            for op in ops {
                match op {
                    Op::Read(n) => {
                        let mut want = vec![0; n];
                        let mut got = vec![0; n];
                        let w = model.read(&mut want).unwrap();
                        if w == 0 && n > 0 {
                            prop_assert_eq!(real.read(&mut got).await.unwrap(), 0, "EOF");
                        }
                        // One async read may return less; read until we have as much.
                        let mut g = 0;
                        while g < w {
                            let k = real.read(&mut got[g..w]).await.unwrap();
                            prop_assert!(k > 0, "early EOF");
                            g += k;
                        }
                        prop_assert!(got[..g] == want[..w], "read {} bytes differ", w);
                    }
                    Op::Write(bytes) => {
                        model.write_all(&bytes).unwrap();
                        real.write_all(&bytes).await.unwrap();
                    }
                    Op::Seek(pos) => {
                        let want = model.seek(pos).map_err(|e| e.kind());
                        let got = real.seek(pos).await.map_err(|e| e.kind());
                        prop_assert_eq!(got, want);
                    }
                    Op::Flush => real.flush().await.unwrap(),
                }
            }
            let final_real = real.into_inner().await.inner;
            prop_assert_eq!(final_real.position(), model.position());
            prop_assert!(final_real.into_inner() == model.into_inner(), "final contents differ");
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Dropping a seekable `Unblock` instead of flushing it loses no write and puts every byte
    /// where the same ops put it on a plain `Cursor`.
    #[test]
    fn dropping_a_seekable_unblock_keeps_every_write(
        initial in proptest::collection::vec(any::<u8>(), 0..8000).prop_map(Initial),
        ops in proptest::collection::vec(op(), 1..30),
        cap in 1usize..4096,
    ) {
        let mut model = Cursor::new(initial.0.clone());
        let shared = SharedCursor(Arc::new(Mutex::new(Cursor::new(initial.0))));
        let mut real = Unblock::with_capacity_seekable(cap, shared.clone());
        block_on(async {
            for op in ops {
                match op {
                    Op::Read(n) => {
                        let mut want = vec![0; n];
                        let w = model.read(&mut want).unwrap();
                        let mut got = vec![0; w];
                        real.read_exact(&mut got).await.unwrap();
                        prop_assert!(got == want[..w], "read {} bytes differ", w);
                    }
                    Op::Write(bytes) => {
                        model.write_all(&bytes).unwrap();
                        real.write_all(&bytes).await.unwrap();
                    }
                    Op::Seek(pos) => {
                        let want = model.seek(pos).map_err(|e| e.kind());
                        prop_assert_eq!(real.seek(pos).await.map_err(|e| e.kind()), want);
                    }
                    Op::Flush => real.flush().await.unwrap(),
                }
            }
            Ok(())
        })?;
        drop(real);
        let want = model.into_inner();
        prop_assert!(
            // In-memory writes take microseconds; 3 s is generous and keeps shrinking quick.
            support::eventually_within(std::time::Duration::from_secs(3), || {
                shared.0.lock().unwrap().get_ref() == &want
            }),
            "the bytes after the drop differ from the model"
        );
    }
}
