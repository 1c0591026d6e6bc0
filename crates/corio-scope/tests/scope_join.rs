//! Gathering: join_all keeps order and lets everyone finish; try_join_all fails fast; race drops
//! the loser; join!/try_join! over different types.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corio_scope::{join, join_all, race, try_join, try_join_all};
use support::DropCounter;

async fn fetch(id: u32, finished: Arc<AtomicUsize>) -> Result<u32, String> {
    corio_timer::sleep(Duration::from_millis(u64::from(id) * 3)).await;
    if id == 3 {
        return Err(format!("user {id} not found"));
    }
    finished.fetch_add(1, Ordering::SeqCst);
    Ok(id)
}

#[test]
fn gather_contrast_join_all_lets_the_others_finish_try_join_all_cancels_them() {
    corio_executor::run_local(async {
        // join_all: everybody runs to the end, results in input order.
        let finished = Arc::new(AtomicUsize::new(0));
        let all = join_all((1..=5).rev().map(|id| fetch(id, finished.clone()))).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            4,
            "the others finished despite user 3"
        );
        let ids: Vec<_> = all.iter().map(|r| r.as_ref().map_or(0, |v| *v)).collect();
        assert_eq!(ids, [5, 4, 0, 2, 1], "input order, not completion order");

        // try_join_all: the first error cancels the rest.
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = DropCounter::new();
        let futs: Vec<_> = (1..=5)
            .map(|id| {
                let guard = counter.guard();
                let finished = finished.clone();
                async move {
                    let _guard = guard;
                    fetch(id, finished).await
                }
            })
            .collect();
        let r = try_join_all(futs).await;
        assert_eq!(r, Err("user 3 not found".to_string()));
        assert_eq!(
            finished.load(Ordering::SeqCst),
            2,
            "users 4 and 5 never finished"
        );
        assert_eq!(
            counter.alive(),
            0,
            "the rest were dropped before the error returned"
        );
    });
}

#[test]
fn join_all_of_nothing_is_empty() {
    let out: Vec<()> = corio_executor::run_local(join_all(Vec::<std::future::Ready<()>>::new()));
    assert!(out.is_empty());
    let out: Result<Vec<()>, ()> = corio_executor::run_local(try_join_all(Vec::<
        std::future::Ready<Result<(), ()>>,
    >::new()));
    assert_eq!(out, Ok(vec![]));
}

#[test]
fn join_all_runs_the_futures_concurrently() {
    // Causality: each future waits for the next one's flag; only concurrency lets them finish.
    let flags: Vec<_> = (0..10)
        .map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)))
        .collect();
    corio_executor::run_local(join_all((0..10).map(|i| {
        let mine = flags[i].clone();
        let next = flags[(i + 1) % 10].clone();
        async move {
            mine.store(true, Ordering::SeqCst);
            while !next.load(Ordering::SeqCst) {
                corio_executor::yield_now().await;
            }
        }
    })));
}

#[test]
fn race_drops_the_loser_before_returning() {
    let counter = DropCounter::new();
    let c = counter.clone();
    let winner = corio_executor::run_local(async move {
        let guard = c.guard();
        let w = race(
            async move {
                let _guard = guard;
                corio_timer::sleep(Duration::from_secs(60)).await;
                "slow"
            },
            async { "fast" },
        )
        .await;
        assert_eq!(c.alive(), 0, "the loser was dropped inside race");
        w
    });
    assert_eq!(winner, "fast");
    assert_eq!(counter.alive(), 0);
}

#[test]
fn join_and_try_join_macros() {
    corio_executor::run_local(async {
        let (a, b, c) = join!(
            async {
                corio_timer::sleep(Duration::from_millis(3)).await;
                1u8
            },
            async { "two" },
            async {
                corio_executor::yield_now().await;
                vec![3]
            },
        );
        assert_eq!((a, b, c), (1, "two", vec![3]));

        let counter = DropCounter::new();
        let guard = counter.guard();
        let r: Result<(u8, ()), &str> = try_join!(
            async move {
                let _guard = guard;
                corio_timer::sleep(Duration::from_secs(60)).await;
                Ok(1)
            },
            async { Err("failed") },
        );
        assert_eq!(r, Err("failed"));
        assert_eq!(counter.alive(), 0, "try_join! dropped the other future");

        let ok: Result<(u8, u16), &str> = try_join!(async { Ok(1) }, async { Ok(2) });
        assert_eq!(ok, Ok((1, 2)));
    });
}
