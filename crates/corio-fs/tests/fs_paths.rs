//! Path operations: rename, copy, links, metadata, permissions, removal, existence.

use futures_lite::future::block_on;

#[test]
fn rename_moves_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    block_on(async {
        corio_fs::write(&a, "A").await.unwrap();
        corio_fs::write(&b, "B").await.unwrap();
        corio_fs::rename(&a, &b).await.unwrap();
        assert!(!corio_fs::try_exists(&a).await.unwrap());
        assert_eq!(corio_fs::read_to_string(&b).await.unwrap(), "A");
    });
}

#[test]
fn copy_returns_the_byte_count_and_keeps_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (dir.path().join("from"), dir.path().join("to"));
    block_on(async {
        corio_fs::write(&from, vec![5u8; 70_000]).await.unwrap();
        assert_eq!(corio_fs::copy(&from, &to).await.unwrap(), 70_000);
        assert_eq!(corio_fs::read(&to).await.unwrap(), vec![5u8; 70_000]);
        assert!(corio_fs::try_exists(&from).await.unwrap());
    });
}

#[cfg(unix)]
#[test]
fn links_canonical_paths_and_symlink_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.txt");
    let soft = dir.path().join("soft");
    let hard = dir.path().join("hard");
    block_on(async {
        corio_fs::write(&target, "t").await.unwrap();
        std::os::unix::fs::symlink(&target, &soft).unwrap();
        corio_fs::hard_link(&target, &hard).await.unwrap();

        assert_eq!(corio_fs::read_link(&soft).await.unwrap(), target);
        assert!(
            corio_fs::symlink_metadata(&soft)
                .await
                .unwrap()
                .is_symlink()
        );
        assert!(corio_fs::metadata(&soft).await.unwrap().is_file());
        assert_eq!(
            corio_fs::canonicalize(&soft).await.unwrap(),
            std::fs::canonicalize(&target).unwrap()
        );
        corio_fs::write(&hard, "changed").await.unwrap();
        assert_eq!(corio_fs::read_to_string(&target).await.unwrap(), "changed");
    });
}

#[test]
fn permissions_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p");
    block_on(async {
        corio_fs::write(&path, "").await.unwrap();
        let original = corio_fs::metadata(&path).await.unwrap().permissions();
        let mut perms = original.clone();
        perms.set_readonly(true);
        corio_fs::set_permissions(&path, perms).await.unwrap();
        let now = corio_fs::metadata(&path).await.unwrap().permissions();
        assert!(now.readonly());
        corio_fs::set_permissions(&path, original).await.unwrap();
        let now = corio_fs::metadata(&path).await.unwrap().permissions();
        assert!(!now.readonly());
        corio_fs::remove_file(&path).await.unwrap();
        assert!(!corio_fs::try_exists(&path).await.unwrap());
    });
}

/// The operations run on the entered pool, not on the caller's thread.
#[test]
fn operations_run_on_the_current_pool() {
    let pool = corio_blocking::Pool::builder()
        .thread_name("fs-pool")
        .build();
    let dir = tempfile::tempdir().unwrap();
    let _guard = pool.enter();
    block_on(corio_fs::write(dir.path().join("x"), "x")).unwrap();
    assert!(pool.metrics().threads_spawned >= 1);
}

/// Compile-time: files, listings and every operation's future are `Send`, so they can be
/// spawned on a multi-threaded runtime.
#[test]
fn types_and_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<corio_fs::File>();
    send_sync::<corio_fs::OpenOptions>();
    send_sync::<corio_fs::ReadDir>();
    send_sync::<corio_fs::DirEntry>();
    let p = std::path::Path::new("x");
    send(&corio_fs::read(p));
    send(&corio_fs::write(p, b"x"));
    send(&corio_fs::read_dir(p));
    send(&corio_fs::File::open(p));
    send(&corio_fs::OpenOptions::new().open(p));
    send(&corio_fs::copy(p, p));
}
