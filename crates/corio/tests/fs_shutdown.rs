//! Files when their runtime goes away with operations unfinished: the bytes a task's writes took
//! still reach the file, and a read waiting on a FIFO does not hang the runtime's drop for good.
#![cfg(target_os = "linux")]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ (i >> 10) as u8)
        .collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_dropped_runtime_still_writes_what_its_files_took() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept");
    let data = pattern(3 << 20);
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let (took, all_taken) = mpsc::channel();
    let (p, d) = (path.clone(), data.clone());
    // The task writes (no flush) and then waits forever, holding its file.
    rt.spawn(async move {
        let mut file = corio::fs::File::create(&p).await.unwrap();
        for piece in d.chunks(100_003) {
            file.write_all(piece).await.unwrap();
        }
        took.send(()).unwrap();
        std::future::pending::<()>().await;
        drop(file);
    })
    .detach();
    all_taken.recv_timeout(Duration::from_secs(20)).unwrap();
    drop(rt);
    wait_until("every byte taken reached the file", || {
        std::fs::metadata(&path).unwrap().len() == data.len() as u64
    });
    assert!(std::fs::read(&path).unwrap() == data, "the bytes, in order");
}

#[test]
fn a_dropped_runtime_with_a_read_waiting_on_a_fifo_ends_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    // A writer that opens the FIFO and holds it open, sending nothing, until told.
    let (stop, stopped) = mpsc::channel::<()>();
    let writer = std::thread::spawn({
        let path = path.clone();
        move || {
            let _fifo = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let _ = stopped.recv();
        }
    });
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    let (reading, started) = mpsc::channel();
    let p = path.clone();
    rt.spawn(async move {
        let mut file = corio::fs::File::open(&p).await.unwrap();
        reading.send(()).unwrap();
        let mut buf = [0u8; 64];
        let _ = file.read(&mut buf).await; // nothing ever comes
    })
    .detach();
    started.recv_timeout(Duration::from_secs(20)).unwrap();
    std::thread::sleep(Duration::from_millis(20)); // the read is waiting by now
    let (dropped, done) = mpsc::channel();
    let dropper = std::thread::spawn(move || {
        drop(rt);
        dropped.send(()).unwrap();
    });
    // The read's pool thread stays blocked until the writer goes; the drop waits for the pool a
    // bounded time, and ends once the writer has gone.
    stop.send(()).unwrap();
    writer.join().unwrap();
    done.recv_timeout(Duration::from_secs(30))
        .expect("the runtime's drop ended");
    dropper.join().unwrap();
}
