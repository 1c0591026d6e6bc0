//! Every failing operation returns the OS error's kind and names its path (or both paths).

use std::io::{self, ErrorKind};
use std::path::Path;

use futures_lite::future::block_on;

fn names(err: &io::Error, path: &Path) -> bool {
    err.to_string().contains(&format!("`{}`", path.display()))
}

#[track_caller]
fn check(result: io::Result<impl std::fmt::Debug>, kind: ErrorKind, verb: &str, paths: &[&Path]) {
    let err = result.expect_err("expected an error");
    assert_eq!(err.kind(), kind, "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("failed to {verb} `")), "{msg}");
    for p in paths {
        assert!(names(&err, p), "{msg} does not name {}", p.display());
    }
    // The OS's own description is kept too.
    assert!(msg.contains("(os error"), "{msg}");
}

#[test]
fn missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let other = dir.path().join("other");
    block_on(async {
        check(
            corio_fs::File::open(&missing).await,
            ErrorKind::NotFound,
            "open",
            &[&missing],
        );
        check(
            corio_fs::read(&missing).await,
            ErrorKind::NotFound,
            "read",
            &[&missing],
        );
        check(
            corio_fs::read_to_string(&missing).await,
            ErrorKind::NotFound,
            "read",
            &[&missing],
        );
        check(
            corio_fs::metadata(&missing).await,
            ErrorKind::NotFound,
            "read metadata of",
            &[&missing],
        );
        check(
            corio_fs::symlink_metadata(&missing).await,
            ErrorKind::NotFound,
            "read metadata of",
            &[&missing],
        );
        check(
            corio_fs::remove_file(&missing).await,
            ErrorKind::NotFound,
            "remove file",
            &[&missing],
        );
        check(
            corio_fs::remove_dir(&missing).await,
            ErrorKind::NotFound,
            "remove directory",
            &[&missing],
        );
        check(
            corio_fs::remove_dir_all(&missing).await,
            ErrorKind::NotFound,
            "remove directory",
            &[&missing],
        );
        check(
            corio_fs::canonicalize(&missing).await,
            ErrorKind::NotFound,
            "canonicalize",
            &[&missing],
        );
        check(
            corio_fs::read_link(&missing).await,
            ErrorKind::NotFound,
            "read link",
            &[&missing],
        );
        check(
            corio_fs::read_dir(&missing).await,
            ErrorKind::NotFound,
            "read directory",
            &[&missing],
        );
        check(
            corio_fs::rename(&missing, &other).await,
            ErrorKind::NotFound,
            "rename",
            &[&missing, &other],
        );
        check(
            corio_fs::copy(&missing, &other).await,
            ErrorKind::NotFound,
            "copy",
            &[&missing, &other],
        );
        check(
            corio_fs::hard_link(&missing, &other).await,
            ErrorKind::NotFound,
            "hard link",
            &[&missing, &other],
        );
        let perms = std::fs::metadata(dir.path()).unwrap().permissions();
        check(
            corio_fs::set_permissions(&missing, perms).await,
            ErrorKind::NotFound,
            "set permissions of",
            &[&missing],
        );
        let nested = missing.join("file");
        check(
            corio_fs::write(&nested, "x").await,
            ErrorKind::NotFound,
            "write",
            &[&nested],
        );
        check(
            corio_fs::File::create(&nested).await,
            ErrorKind::NotFound,
            "create",
            &[&nested],
        );
        check(
            corio_fs::create_dir(&nested).await,
            ErrorKind::NotFound,
            "create directory",
            &[&nested],
        );
    });
}

#[test]
fn wrong_kind_of_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "not a dir").unwrap();
    block_on(async {
        check(
            corio_fs::read_dir(&file).await,
            ErrorKind::NotADirectory,
            "read directory",
            &[&file],
        );
        check(
            corio_fs::read_link(&file).await,
            ErrorKind::InvalidInput,
            "read link",
            &[&file],
        );
        check(
            corio_fs::create_dir(dir.path()).await,
            ErrorKind::AlreadyExists,
            "create directory",
            &[dir.path()],
        );
        check(
            corio_fs::hard_link(&file, &file).await,
            ErrorKind::AlreadyExists,
            "hard link",
            &[&file],
        );
        check(
            corio_fs::File::create_new(&file).await,
            ErrorKind::AlreadyExists,
            "open",
            &[&file],
        );
        check(
            corio_fs::create_dir_all(file.join("sub")).await,
            ErrorKind::NotADirectory,
            "create directory",
            &[&file.join("sub")],
        );
    });
}

#[test]
fn invalid_utf8_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binary.bin");
    std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
    let err = block_on(corio_fs::read_to_string(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(names(&err, &path), "{err}");
}

#[test]
fn an_error_keeps_working_as_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err: io::Error = block_on(corio_fs::read(&missing)).unwrap_err();
    // `?` into Box<dyn Error> and friends keeps the message.
    let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
    assert!(boxed.to_string().contains("nope`"));
}

/// std::fs::copy of a file onto itself truncates it and reports success; corio refuses, and the
/// file keeps its contents (found by a conformance probe).
#[test]
fn copying_a_file_onto_itself_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    let link = dir.path().join("link");
    std::fs::write(&file, "keep me").unwrap();
    std::fs::hard_link(&file, &link).unwrap();
    let dotted = dir.path().join(".").join("data");
    block_on(async {
        for to in [&file, &link, &dotted] {
            let err = corio_fs::copy(&file, to).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("same file"), "{err}");
            assert!(names(&err, &file) && names(&err, to), "{err}");
        }
        assert_eq!(corio_fs::read_to_string(&file).await.unwrap(), "keep me");
        // A different file is still copied.
        let other = dir.path().join("other");
        assert_eq!(corio_fs::copy(&file, &other).await.unwrap(), 7);
    });
}
