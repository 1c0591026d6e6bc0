//! `select!`, `as_completed` and `TaskSet` used from a crate that depends on `corio-scope` and the
//! executor alone (no facade): the macro's paths resolve through `$crate`, and the set works on a
//! bare executor runtime.

mod support;

use std::future::{pending, ready};
use std::time::Duration;

use corio_scope::{TaskSet, as_completed, select};
use futures_lite::StreamExt;
use support::DropCounter;

#[test]
fn select_on_a_bare_executor() {
    let counter = DropCounter::new();
    let out = corio_executor::block_on(async {
        let guard = counter.guard();
        select! {
            v = async move {
                let _guard = guard;
                pending::<u8>().await
            } => v,
            () = corio_timer::sleep(Duration::from_millis(2)) => counter.alive() as u8 + 10,
        }
    });
    assert_eq!(out, 10, "the loser was dropped before the body ran");

    let n = corio_executor::block_on(async {
        select! {
            biased;
            Some(v) = ready(None::<u8>) => v,
            v = ready(2u8) => v,
        }
    });
    assert_eq!(n, 2);
}

#[test]
fn as_completed_and_task_set_on_an_executor_runtime() {
    let (order, joined) = support::run(async {
        // Completion order on virtual time is tested in the facade's `tests/as_completed.rs`; on
        // the real clock only the set of outputs is certain.
        let mut order: Vec<u64> = as_completed([20u64, 5, 10].map(|ms| async move {
            corio_timer::sleep(Duration::from_millis(ms)).await;
            ms
        }))
        .collect()
        .await;
        order.sort_unstable();
        let mut set = TaskSet::new();
        for i in 0..100u32 {
            set.spawn(async move {
                corio_executor::yield_now().await;
                i
            });
        }
        let mut joined = Vec::new();
        while let Some(i) = set.join_next().await {
            joined.push(i);
        }
        joined.sort_unstable();
        (order, joined)
    });
    assert_eq!(order, [5, 10, 20]);
    assert_eq!(joined, (0..100).collect::<Vec<_>>());

    let counter = DropCounter::new();
    support::run(async {
        let mut set = TaskSet::new();
        for _ in 0..8 {
            let guard = counter.guard();
            set.spawn(async move {
                let _guard = guard;
                pending::<()>().await
            });
        }
        corio_executor::yield_now().await;
        drop(set);
        assert_eq!(counter.alive(), 0);
    });
}
