//! A child spawned when no descriptor is left gets no pidfd; its `wait` then needs a SIGCHLD
//! listener, which needs descriptors too. With none free, `wait` fails with an error that says
//! what it could not do, and a later `wait` (descriptors free again) works.
//!
//! One test in this binary: it exhausts the process's descriptors.
#![cfg(target_os = "linux")]

use futures_lite::future::block_on;

use corio_process::Command;

/// Opens `/dev/null` until the process has no descriptor left.
fn exhaust(held: &mut Vec<std::fs::File>) {
    while let Ok(file) = std::fs::File::open("/dev/null") {
        held.push(file);
    }
}

#[test]
fn a_wait_with_no_descriptor_left_says_why_and_a_later_wait_works() {
    // A small limit, so that exhausting it is quick.
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: `setrlimit` reads the live local `limit`; it only lowers this process's limit.
    #[allow(unsafe_code)]
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
    // The reactor runs before the descriptors are gone (it needs a few of its own).
    assert!(block_on(Command::new("true").status()).unwrap().success());

    let mut held = Vec::new();
    exhaust(&mut held);
    // The spawn itself may need a descriptor or two: free them one at a time.
    let mut child = loop {
        match Command::new("sleep").arg("0.05").spawn() {
            Ok(child) => break child,
            Err(_) => {
                assert!(
                    held.pop().is_some(),
                    "no spawn even with every descriptor free"
                );
            }
        }
    };
    exhaust(&mut held);
    let err = block_on(child.wait()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("its exit cannot be watched") && message.contains("SIGCHLD"),
        "{message}"
    );
    assert_eq!(
        err.raw_os_error(),
        None,
        "wrapped with what failed: {err:?}"
    );

    drop(held);
    let status = block_on(child.wait()).expect("a later wait, with descriptors free");
    assert!(status.success());
}
