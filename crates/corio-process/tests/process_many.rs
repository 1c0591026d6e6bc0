//! A thousand children in flight at once: every one is waited for through the reactor, and
//! afterwards no descriptor is left open and no child is left behind.
//!
//! One test in this binary, so no other test's descriptors or children show up in the counts.
#![cfg(target_os = "linux")]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use corio_process::{Command, Stdio};
use futures_lite::future::block_on;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("procfs").count()
}

fn children() -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let path = task.expect("task entry").path().join("children");
        if let Ok(list) = std::fs::read_to_string(path) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Polls every future until all are done; results in input order.
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *o = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

#[test]
fn a_thousand_children_in_flight_leave_no_descriptor_and_no_child() -> io::Result<()> {
    const N: usize = 1000;
    // One child first, so that the global reactor (its poller and thread) exists before the
    // count.
    assert!(block_on(Command::new("true").status())?.success());
    let before = open_fds();
    // `status` spawns when called: all thousand run (or have exited unreaped) before the first
    // poll, each watched by its own pidfd.
    let futs: Vec<_> = (0..N)
        .map(|i| {
            Command::new(if i % 2 == 0 { "true" } else { "false" })
                .stdin(Stdio::null())
                .status()
        })
        .collect();
    for (i, status) in block_on(join_all(futs)).into_iter().enumerate() {
        assert_eq!(status?.code(), Some(i as i32 % 2));
    }
    assert!(children().is_empty(), "all reaped by their waits");
    // Every pidfd and pipe was closed when its `Child` was dropped.
    assert_eq!(open_fds(), before, "descriptors leaked");
    Ok(())
}
