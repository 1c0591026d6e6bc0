//! Reads of cached data skip the blocking pool (Linux, `preadv2` with `RWF_NOWAIT`), stay in
//! order with buffered writes and seeks, and fall back to the pool when the data is not there.
#![cfg(target_os = "linux")]

use std::io::{SeekFrom, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use corio_blocking::Pool;
use corio_fs::File;
use futures_lite::future::{block_on, poll_once};
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

fn jobs_run(pool: &Pool) -> u64 {
    pool.metrics().jobs_run
}

/// Whether a pool job ran after `before` jobs, within 10 s (a generous bound; the counter moves
/// just after a job returns, so it may trail the job's result by a moment).
fn a_job_ran_after(pool: &Pool, before: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while jobs_run(pool) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    jobs_run(pool) > before
}

#[test]
fn reading_a_cached_file_needs_no_pool_thread() {
    // One thread, and a job holds it while the file is read: a read that needed the pool would
    // wait for the job, which lets go only when told to, or after 10 s.
    let pool = Pool::builder().max_threads(1).build();
    let _guard = pool.enter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cached.bin");
    // Just written, so it is in the page cache.
    let data = pattern(1_000_000);
    std::fs::write(&path, &data).unwrap();
    let mut file = block_on(File::open(&path)).unwrap();

    let (started, has_started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let holder = pool.unblock(move || {
        started.send(()).unwrap();
        released.recv_timeout(Duration::from_secs(10)).is_ok()
    });
    has_started.recv().unwrap();
    block_on(async {
        let mut back = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = file.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(back, data);
    });
    release.send(()).unwrap();
    assert!(
        block_on(holder),
        "the reads waited for the pool's only thread: they were not served on this one"
    );
    // A buffer larger than one direct read gets short reads, never wrong ones.
    block_on(async {
        let mut file = File::open(&path).await.unwrap();
        let mut all = vec![0; data.len()];
        file.read_exact(&mut all).await.unwrap();
        assert_eq!(all, data);
    });
}

#[test]
fn direct_reads_stay_in_order_with_buffered_writes_and_seeks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.bin");
    block_on(async {
        let mut file = corio_fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        // Buffered, not yet written: the read after the seek must still see it.
        file.write_all(b"0123456789").await.unwrap();
        file.seek(SeekFrom::Start(2)).await.unwrap();
        let mut two = [0; 2];
        file.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"23");
        // A direct read moved the position: the next write lands after it.
        file.write_all(b"ab").await.unwrap();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "0123ab6789");
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 10);
    });
}

/// An empty pipe makes the direct read fail with `EAGAIN`: the read goes to the pool and waits
/// there for the writer, and later reads of data already in the pipe are direct again.
#[test]
fn an_empty_pipe_falls_back_to_the_pool() {
    let pool = Pool::builder().build();
    let _guard = pool.enter();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");

    let (go, wait) = mpsc::channel::<&'static [u8]>();
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        // Opening the write end waits for the reader to open its end.
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        while let Ok(bytes) = wait.recv() {
            pipe.write_all(bytes).unwrap();
        }
    });
    block_on(async {
        let mut file = File::open(&fifo).await.unwrap();
        let mut buf = [0; 5];
        let before = jobs_run(&pool);
        {
            let mut read = file.read(&mut buf);
            // Nothing written yet: the direct read gives up and a pool job waits instead.
            assert!(poll_once(&mut read).await.is_none());
            go.send(b"hello").unwrap();
            assert_eq!(read.await.unwrap(), 5);
        }
        assert_eq!(&buf, b"hello");
        assert!(
            a_job_ran_after(&pool, before),
            "the empty pipe was read on the pool"
        );

        // Bytes already in the pipe are read directly.
        go.send(b"world").unwrap();
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = file.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"world");
        drop(go);
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "end of file once the writer is gone");
    });
    writer.join().unwrap();
}

#[test]
fn reading_a_write_only_file_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("write-only.txt");
    block_on(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"data").await.unwrap();
        file.flush().await.unwrap();
        file.seek(SeekFrom::Start(0)).await.unwrap();
        let mut buf = [0; 4];
        let err = file.read(&mut buf).await.unwrap_err();
        assert!(
            err.to_string().contains("write-only.txt"),
            "the error names the file: {err}"
        );
    });
}

/// `O_DIRECT` reads wait for the device whatever `RWF_NOWAIT` says, so they are left to the
/// pool.
#[test]
fn o_direct_files_are_read_on_the_pool() {
    use std::os::unix::fs::OpenOptionsExt;

    let pool = Pool::builder().build();
    let _guard = pool.enter();
    // The temporary directory may be a tmpfs, which refuses O_DIRECT; the build tree is on a
    // real file system.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("direct-io.bin");
    let mut written = std::fs::File::create(&path).unwrap();
    written.write_all(&pattern(4096 * 4)).unwrap();
    // Clean pages: a dirty cache would make the direct read fail with EAGAIN anyway.
    written.sync_all().unwrap();
    drop(written);
    let std_file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .expect("the build tree's file system supports O_DIRECT");
    block_on(async {
        let mut file = File::from_std(std_file);
        let before = jobs_run(&pool);
        // An aligned buffer, so that a direct read would be valid: it must not be tried. (The
        // pool's own buffer is not aligned, so its read may fail; that is not what is tested.)
        let mut raw = vec![0u8; 4096 * 6];
        let start = raw.as_ptr().align_offset(4096);
        let _ = file.read(&mut raw[start..start + 4096 * 4]).await;
        assert!(
            a_job_ran_after(&pool, before),
            "the O_DIRECT read went to the pool"
        );
    });
}

/// Reads served on this thread spend the task's cooperative budget, so a task reading a large
/// cached file still gives its thread back: with the budget spent, a read returns `Pending`
/// without reading anything (and wakes the task), and the next poll reads on.
#[test]
fn direct_reads_spend_the_cooperative_budget() {
    use std::task::{Context, Poll, Waker};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("budget.bin");
    std::fs::write(&path, b"abcdef").unwrap();
    let mut file = block_on(File::open(&path)).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = [0; 2];
    let polls: Vec<Poll<usize>> = corio_coop::with_budget(2, || {
        (0..3)
            .map(|_| {
                let mut read = file.read(&mut buf);
                std::pin::Pin::new(&mut read)
                    .poll(&mut cx)
                    .map(|r| r.unwrap())
            })
            .collect()
    });
    assert_eq!(polls, [Poll::Ready(2), Poll::Ready(2), Poll::Pending]);
    // Nothing was lost to the refused read: the next read carries on where the last one ended.
    let mut rest = Vec::new();
    block_on(file.read_to_end(&mut rest)).unwrap();
    assert_eq!(rest, b"ef");
}

/// The budget pays for bytes, not reads: with 1 unit left (64 KiB) one read copies at most
/// 64 KiB, however large the buffer, and then the task yields. A budget of whole reads let one
/// poll copy 16 MiB and hold the worker's timers for up to 77 ms.
#[test]
fn the_budget_caps_the_bytes_a_poll_copies() {
    use std::task::{Context, Poll, Waker};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bytes.bin");
    let data = pattern(1 << 20);
    std::fs::write(&path, &data).unwrap();
    let mut file = block_on(File::open(&path)).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = vec![0; 1 << 20];
    let (first, second) = corio_coop::with_budget(1, || {
        let mut poll = || {
            let mut read = file.read(&mut buf);
            std::pin::Pin::new(&mut read)
                .poll(&mut cx)
                .map(|r| r.unwrap())
        };
        (poll(), poll())
    });
    assert_eq!(first, Poll::Ready(64 * 1024));
    assert_eq!(
        second,
        Poll::Pending,
        "the budget is spent: the task yields"
    );
    assert_eq!(&buf[..64 * 1024], &data[..64 * 1024]);
}

/// A foreign `block_on` inside a task never renews the task's budget. Once it is spent, a direct
/// read yields once, and at the next poll (the budget still spent, no read in between) goes to
/// the pool, which needs no budget: the read finishes instead of yielding for ever.
#[test]
fn a_spent_budget_that_is_never_renewed_does_not_stall_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.bin");
    let data = pattern(4 << 20);
    std::fs::write(&path, &data).unwrap();
    let (done, finished) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut file = block_on(File::open(&path)).unwrap();
        let mut back = Vec::new();
        // As inside a task's poll: 8 units, spent after 128 KiB, and nobody renews them.
        corio_coop::with_budget(8, || block_on(file.read_to_end(&mut back))).unwrap();
        done.send(back).unwrap();
    });
    let back = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("read_to_end under a budget nobody renews finished");
    assert!(back == data, "{} bytes read of {}", back.len(), data.len());
    reader.join().unwrap();
}
