//! Directories: creation, listing as a stream, entries, removal.

use std::collections::BTreeSet;
use std::ffi::OsString;

use futures_lite::StreamExt;
use futures_lite::future::block_on;

#[test]
fn lists_every_entry_through_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("many");
    block_on(async {
        corio_fs::create_dir_all(root.join("sub/deeper"))
            .await
            .unwrap();
        let mut want = BTreeSet::from([OsString::from("sub")]);
        for i in 0..300 {
            let name = format!("file-{i:03}.txt");
            corio_fs::write(root.join(&name), i.to_string())
                .await
                .unwrap();
            want.insert(name.into());
        }

        let mut got = BTreeSet::new();
        let mut files = 0;
        let mut entries = corio_fs::read_dir(&root).await.unwrap();
        while let Some(entry) = entries.next().await {
            let entry = entry.unwrap();
            assert_eq!(entry.path(), root.join(entry.file_name()));
            let ty = entry.file_type().await.unwrap();
            if ty.is_file() {
                files += 1;
                let meta = entry.metadata().await.unwrap();
                let len = corio_fs::read(entry.path()).await.unwrap().len() as u64;
                assert_eq!(meta.len(), len);
            } else {
                assert!(ty.is_dir());
            }
            assert!(got.insert(entry.file_name()), "an entry came twice");
        }
        assert_eq!(got, want);
        assert_eq!(files, 300);
        // The stream stays finished.
        assert!(entries.next().await.is_none());
    });
}

#[test]
fn next_entry_and_try_collect() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let mut empty = corio_fs::read_dir(dir.path()).await.unwrap();
        assert!(empty.next_entry().await.unwrap().is_none());

        corio_fs::write(dir.path().join("only"), "").await.unwrap();
        let all: Vec<_> = corio_fs::read_dir(dir.path())
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].file_name(), "only");
    });
}

#[test]
fn remove_dir_and_remove_dir_all() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    block_on(async {
        corio_fs::create_dir_all(tree.join("a/b")).await.unwrap();
        corio_fs::write(tree.join("a/b/f"), "x").await.unwrap();
        corio_fs::create_dir(tree.join("empty")).await.unwrap();
        corio_fs::remove_dir(tree.join("empty")).await.unwrap();
        let err = corio_fs::remove_dir(tree.join("a")).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::DirectoryNotEmpty);
        corio_fs::remove_dir_all(&tree).await.unwrap();
        assert!(!corio_fs::try_exists(&tree).await.unwrap());
    });
}
