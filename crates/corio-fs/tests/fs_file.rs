//! `File` and `OpenOptions`: round trips, append, seek, set_len, metadata, drop with pending
//! writes, and write errors that name the file.

use std::io::SeekFrom;
use std::time::{Duration, Instant};

use corio_fs::{File, OpenOptions};
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

/// Polls `cond` for up to 10 s (a generous bound for a loaded machine).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn write_then_read_back_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let data = pattern(3_000_000);
    block_on(async {
        let mut f = File::create(&path).await.unwrap();
        for chunk in data.chunks(64 * 1024) {
            f.write_all(chunk).await.unwrap();
        }
        f.flush().await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            data,
            "flushed bytes are on disk"
        );

        let mut f = File::open(&path).await.unwrap();
        let mut back = Vec::new();
        let mut chunk = vec![0; 10_000];
        loop {
            let n = f.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(back, data);
    });
}

#[test]
fn whole_file_helpers_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    block_on(async {
        corio_fs::write(&path, "héllo").await.unwrap();
        assert_eq!(corio_fs::read(&path).await.unwrap(), "héllo".as_bytes());
        assert_eq!(corio_fs::read_to_string(&path).await.unwrap(), "héllo");
        corio_fs::write(&path, b"short").await.unwrap();
        assert_eq!(corio_fs::read_to_string(&path).await.unwrap(), "short");
    });
}

#[test]
fn append_adds_to_the_end_even_after_seeking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    block_on(async {
        for line in ["one\n", "two\n"] {
            let mut f = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .await
                .unwrap();
            f.write_all(line.as_bytes()).await.unwrap();
            f.flush().await.unwrap();
        }
        let mut f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .await
            .unwrap();
        f.seek(SeekFrom::Start(0)).await.unwrap();
        f.write_all(b"three\n").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
    });
}

#[test]
fn seek_read_and_write_share_one_logical_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rw.bin");
    std::fs::write(&path, b"0123456789").unwrap();
    block_on(async {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut two = [0u8; 2];
        f.read_exact(&mut two).await.unwrap(); // the pool read ahead past this
        assert_eq!(&two, b"01");
        f.write_all(b"ab").await.unwrap(); // lands at 2, not at the read-ahead's end
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 4);
        f.read_exact(&mut two).await.unwrap(); // reads after writes see them in order
        assert_eq!(&two, b"45");
        assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
        f.write_all(b"Z!").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(-4)).await.unwrap(), 7);
        let mut rest = String::new();
        f.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "78Z!");
        f.flush().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"01ab45678Z!");
}

#[test]
fn set_len_truncates_and_extends_without_moving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("len.bin");
    block_on(async {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        f.write_all(&[1; 1000]).await.unwrap();
        f.set_len(10).await.unwrap(); // buffered bytes are written first, then cut
        assert_eq!(f.metadata().await.unwrap().len(), 10);
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 1000);
        f.set_len(20).await.unwrap();
        f.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).await.unwrap();
        let mut want = vec![1; 10];
        want.extend([0; 10]);
        assert_eq!(all, want);
    });
}

#[test]
fn metadata_after_flush_and_sync_see_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bin");
    block_on(async {
        let mut f = File::create(&path).await.unwrap();
        f.write_all(&pattern(12_345)).await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 12_345);
        f.write_all(b"more").await.unwrap();
        f.sync_all().await.unwrap();
        f.write_all(b"!").await.unwrap();
        f.sync_data().await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12_350);
        let std_file = f.into_std().await;
        assert_eq!(std_file.metadata().unwrap().len(), 12_350);
    });
}

#[test]
fn a_dropped_file_still_writes_what_was_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("dropped-big.bin");
    let small = dir.path().join("dropped-small.txt");
    let data = pattern(2_500_000);
    block_on(async {
        let mut f = File::create(&big).await.unwrap();
        for chunk in data.chunks(50_000) {
            f.write_all(chunk).await.unwrap();
        }
        drop(f); // no flush: a write may be in flight and more bytes buffered

        let mut f = File::create(&small).await.unwrap();
        f.write_all(b"last words").await.unwrap();
        drop(f);
    });
    assert!(
        eventually(|| std::fs::read(&big).is_ok_and(|got| got == data)),
        "bytes buffered in a dropped File were lost"
    );
    assert!(eventually(
        || std::fs::read(&small).is_ok_and(|got| got == b"last words")
    ));
}

#[test]
fn a_failed_background_write_is_reported_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read-only-handle.txt");
    std::fs::write(&path, "").unwrap();
    block_on(async {
        let mut f = File::open(&path).await.unwrap(); // opened for reading only
        f.write_all(b"nope").await.unwrap(); // only buffered
        let err = f.flush().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("failed to write to `"), "{msg}");
        assert!(msg.contains("read-only-handle.txt`"), "{msg}");
        assert!(err.raw_os_error().is_none());
        // The file is still usable afterwards.
        assert_eq!(f.metadata().await.unwrap().len(), 0);
    });
}

/// A write that fails after the `File` is gone can only be reported on stderr. Run this test in a
/// child process to capture that stderr; the child checks that nothing was written.
#[test]
fn a_failed_write_after_drop_goes_to_stderr() {
    const CHILD: &str = "CORIO_FS_TEST_CHILD";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped-read-only.txt");
    std::fs::write(&path, "").unwrap();
    block_on(async {
        let mut f = File::open(&path).await.unwrap();
        f.write_all(b"cannot land").await.unwrap();
        drop(f);
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    if std::env::var_os(CHILD).is_some() {
        // Give the pool's report time to reach stderr before this process exits.
        std::thread::sleep(Duration::from_millis(400));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_failed_write_after_drop_goes_to_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed to write to `") && stderr.contains("dropped-read-only.txt`"),
        "stderr: {stderr}"
    );
}

#[test]
fn create_new_try_clone_and_from_std() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.txt");
    block_on(async {
        let mut f = File::create_new(&path).await.unwrap();
        let err = File::create_new(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        f.write_all(b"shared").await.unwrap();
        let g = f.try_clone().await.unwrap();
        assert_eq!(g.metadata().await.unwrap().len(), 6);

        let mut h = File::from(std::fs::File::open(&path).unwrap());
        let mut s = String::new();
        h.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "shared");
        assert!(format!("{h:?}").starts_with("File"));
    });
}

#[cfg(unix)]
#[test]
fn mode_sets_permissions_of_a_new_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private");
    block_on(async {
        OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .await
            .unwrap();
    });
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
