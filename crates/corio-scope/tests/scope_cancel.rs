//! Cancel scopes, nested deadlines, shields, CancelToken.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use corio_scope::{
    CancelScope, CancelToken, current_deadline, fail_after, fail_at, move_on_after, move_on_at,
    shield,
};
use support::{DropCounter, run};

#[test]
fn nested_deadlines_end_at_the_outer_one_and_say_which_fired() {
    corio_executor::run_local(async {
        let counter = DropCounter::new();
        let guard = counter.guard();
        let start = corio_timer::now();
        // An inner fail_after(10 s) inside an outer move_on_after(50 ms).
        let r = move_on_after(Duration::from_millis(50), async {
            let _guard = guard;
            fail_after(
                Duration::from_secs(10),
                corio_timer::sleep(Duration::from_secs(60)),
            )
            .await
        })
        .await;
        let elapsed = corio_timer::now() - start;
        assert_eq!(r, None, "the outer scope fired");
        assert!(elapsed >= Duration::from_millis(50));
        assert!(
            elapsed < Duration::from_secs(10),
            "{elapsed:?}: the inner 10 s never mattered"
        );
        assert_eq!(counter.alive(), 0, "the inner work was dropped");

        // With fail_after on the outside, the error names the outer deadline.
        let outer = corio_timer::now() + Duration::from_millis(20);
        let inner_deadline = std::sync::Mutex::new(None);
        let err = fail_at(outer, async {
            fail_after(Duration::from_secs(10), async {
                *inner_deadline.lock().unwrap() = current_deadline();
                corio_timer::sleep(Duration::from_secs(60)).await
            })
            .await
        })
        .await
        .unwrap_err();
        assert_eq!(
            err.deadline(),
            Some(outer),
            "the error says the outer scope fired"
        );
        assert_eq!(
            *inner_deadline.lock().unwrap(),
            Some(outer),
            "inside, the effective deadline is the outer one: an inner scope cannot extend it"
        );
    });
}

#[test]
fn an_inner_scope_can_fire_first() {
    corio_executor::run_local(async {
        let inner = corio_timer::now() + Duration::from_millis(5);
        let r = fail_after(Duration::from_secs(10), async {
            fail_at(inner, corio_timer::sleep(Duration::from_secs(60))).await
        })
        .await;
        assert_eq!(r.unwrap().unwrap_err().deadline(), Some(inner));
    });
}

#[test]
fn expired_scopes_are_level_triggered() {
    corio_executor::run_local(async {
        // A scope whose deadline has already passed never polls its future at all.
        let polled = AtomicBool::new(false);
        let past = corio_timer::now();
        let scope = CancelScope::with_deadline(Some(past));
        let r = scope
            .run(async {
                polled.store(true, Ordering::SeqCst);
            })
            .await;
        assert!(r.is_err());
        assert!(!polled.load(Ordering::SeqCst));
        // The deadline helpers poll their future once first, as `timeout` does: a ready one wins,
        // a pending one is dropped after that poll.
        assert_eq!(move_on_at(past, async { 1 }).await, Some(1));
        let polls = AtomicUsize::new(0);
        let r = move_on_at(
            past,
            std::future::poll_fn(|_| {
                polls.fetch_add(1, Ordering::SeqCst);
                std::task::Poll::<()>::Pending
            }),
        )
        .await;
        assert_eq!((r, polls.load(Ordering::SeqCst)), (None, 1));
    });
}

#[test]
fn reschedule_moves_the_deadline_both_ways() {
    corio_executor::run_local(async {
        // Extend.
        let scope = CancelScope::after(Duration::from_millis(10));
        let s = scope.clone();
        let r = scope
            .run(async move {
                s.reschedule(Some(corio_timer::now() + Duration::from_secs(60)));
                corio_timer::sleep(Duration::from_millis(30)).await;
                "survived"
            })
            .await;
        assert_eq!(r.unwrap(), "survived");
        // Shorten, from another task.
        let scope = CancelScope::after(Duration::from_secs(60));
        let s = scope.clone();
        let shortener = corio_executor::spawn(async move {
            corio_timer::sleep(Duration::from_millis(5)).await;
            s.reschedule(Some(corio_timer::now()));
        });
        let r = scope.run(corio_timer::sleep(Duration::from_secs(60))).await;
        assert!(r.is_err());
        shortener.await;
        // Cancel explicitly.
        let scope = CancelScope::new();
        let s = scope.clone();
        let canceller = corio_executor::spawn(async move {
            corio_executor::yield_now().await;
            s.cancel();
        });
        assert!(scope.run(std::future::pending::<()>()).await.is_err());
        assert!(scope.is_cancelled());
        canceller.await;
    });
}

#[test]
fn shielded_cleanup_completes_before_the_scope_cancels() {
    corio_executor::run_local(async {
        let cleaned = AtomicBool::new(false);
        let after_shield = AtomicBool::new(false);
        let r = move_on_after(Duration::from_millis(5), async {
            shield(async {
                assert_eq!(
                    current_deadline(),
                    None,
                    "no enclosing deadline inside a shield"
                );
                corio_timer::sleep(Duration::from_millis(30)).await;
                cleaned.store(true, Ordering::SeqCst);
            })
            .await;
            // Back outside the shield, the expired scope cancels at the next await.
            corio_executor::yield_now().await;
            after_shield.store(true, Ordering::SeqCst);
        })
        .await;
        assert_eq!(r, None);
        assert!(cleaned.load(Ordering::SeqCst));
        assert!(!after_shield.load(Ordering::SeqCst));
    });
}

#[test]
fn cancel_token_children_and_waiters() {
    run(async {
        let root = CancelToken::new();
        let child = root.child();
        let grandchild = child.child();
        let lone = root.child();
        lone.cancel();
        assert!(
            lone.is_cancelled() && !root.is_cancelled(),
            "a child cancels alone"
        );

        let waiters: Vec<_> = [child.clone(), grandchild.clone()]
            .into_iter()
            .map(|t| corio_executor::spawn(async move { t.cancelled().await }))
            .collect();
        corio_timer::sleep(Duration::from_millis(2)).await;
        root.cancel();
        for w in waiters {
            w.await;
        }
        assert!(grandchild.is_cancelled());
        // Late children and late waiters see it at once.
        let late = root.child();
        assert!(late.is_cancelled());
        late.cancelled().await;
        assert_eq!(root.run_until_cancelled(async { 1 }).await, None);
        let fresh = CancelToken::new();
        assert_eq!(fresh.run_until_cancelled(async { 1 }).await, Some(1));
    });
}

#[test]
fn a_dropped_cancelled_future_leaves_no_listener() {
    /// Counts the wake-ups it receives.
    struct Counter(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Counter {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let token = CancelToken::new();
    let dropped = std::sync::Arc::new(Counter(Default::default()));
    let kept = std::sync::Arc::new(Counter(Default::default()));
    for _ in 0..1000 {
        let mut f = Box::pin(token.cancelled());
        let waker = std::task::Waker::from(dropped.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    // One live listener, as the control: it must be woken exactly once.
    let mut live = Box::pin(token.cancelled());
    let waker = std::task::Waker::from(kept.clone());
    assert!(
        live.as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    );
    token.cancel();
    assert!(token.is_cancelled());
    // A listener left behind by a dropped future would have been woken too.
    assert_eq!(dropped.0.load(Ordering::SeqCst), 0);
    assert_eq!(kept.0.load(Ordering::SeqCst), 1);
    // The dropped futures' wakers were released with their listeners.
    assert_eq!(std::sync::Arc::strong_count(&dropped), 1);
}

/// `cancelled_owned`: a `'static` future that owns (a clone of) its token. Spawned waiters on a
/// runtime finish when a plain thread cancels an ancestor; a dropped one leaves no listener;
/// on a cancelled token it is ready at once.
#[test]
fn cancelled_owned_waits_spawned_and_leaves_nothing_when_dropped() {
    let rt = corio_executor::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let root = CancelToken::new();
    let child = root.child();
    let waiters: Vec<_> = (0..8)
        .map(|i| {
            let token = if i % 2 == 0 {
                root.clone()
            } else {
                child.clone()
            };
            rt.spawn(token.cancelled_owned())
        })
        .collect();
    // Dropped after one pending poll: its listener must go with it.
    let dropped = std::sync::Arc::new(AtomicUsizeWaker(Default::default()));
    {
        let mut f = Box::pin(child.clone().cancelled_owned());
        let waker = std::task::Waker::from(dropped.clone());
        assert!(
            f.as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
                .is_pending()
        );
    }
    assert_eq!(std::sync::Arc::strong_count(&dropped), 1);
    let canceller = std::thread::spawn(move || root.cancel());
    for waiter in waiters {
        rt.block_on(waiter);
    }
    canceller.join().unwrap();
    assert_eq!(dropped.0.load(Ordering::SeqCst), 0);
    assert!(child.is_cancelled());
    rt.block_on(child.cancelled_owned());
}

/// Counts the wake-ups it receives.
struct AtomicUsizeWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for AtomicUsizeWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn graceful_shutdown_with_a_token() {
    use corio_net::{TcpListener, TcpStream};
    run(async {
        let shutdown = CancelToken::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = corio_executor::spawn({
            let token = shutdown.clone();
            let served = served.clone();
            async move {
                // Stop accepting on shutdown; then exit.
                while let Some(conn) = token.run_until_cancelled(listener.accept()).await {
                    drop(conn.unwrap());
                    served.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        for _ in 0..3 {
            TcpStream::connect(addr).await.unwrap();
        }
        while served.load(Ordering::SeqCst) < 3 {
            corio_timer::sleep(Duration::from_millis(1)).await;
        }
        shutdown.cancel();
        server.await;
    });
}

#[test]
fn cancel_reaches_grandchildren_through_a_dropped_middle_token() {
    let root = corio_scope::CancelToken::new();
    let grandchild = root.child().child(); // the middle token is dropped at once
    let sibling_chain = {
        let middle = root.child();
        let leaf = middle.child();
        drop(middle);
        leaf
    };
    root.cancel();
    assert!(grandchild.is_cancelled());
    assert!(sibling_chain.is_cancelled());
}

#[test]
fn a_chain_of_a_million_tokens_cancels_and_drops_without_recursion() {
    // Run on a thread with a small stack: recursion over the chain would overflow it.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let root = corio_scope::CancelToken::new();
            let mut leaf = root.child();
            for _ in 0..1_000_000 {
                leaf = leaf.child();
            }
            root.cancel();
            assert!(leaf.is_cancelled());
            drop(root);
            drop(leaf); // frees the whole chain of ancestors
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A scope shared by several tasks (cloned, `run` in each): `cancel` and `reschedule` reach
/// every one of them. A conformance probe found only the last to poll woken; the others slept
/// until their own futures woke them (an hour here).
#[test]
fn a_scope_shared_by_several_tasks_wakes_them_all() {
    for reschedule in [false, true] {
        let ended = run(async move {
            let scope = CancelScope::new();
            let (tx, rx) = std::sync::mpsc::channel();
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let (s, tx) = (scope.clone(), tx.clone());
                    corio_executor::spawn(async move {
                        let r = s.run(async {
                            tx.send(()).unwrap();
                            corio_timer::sleep(Duration::from_secs(3600)).await
                        });
                        r.await.is_err()
                    })
                })
                .collect();
            // Every worker is inside its `run` (it signalled from there), and then waits.
            for _ in 0..3 {
                rx.recv_timeout(Duration::from_secs(10)).unwrap();
            }
            corio_timer::sleep(Duration::from_millis(5)).await;
            if reschedule {
                scope.reschedule(Some(corio_timer::now()));
            } else {
                scope.cancel();
            }
            let mut ended = 0;
            for w in workers {
                if let Ok(cancelled) = fail_after(Duration::from_secs(10), w).await {
                    assert!(cancelled);
                    ended += 1;
                }
            }
            ended
        });
        assert_eq!(ended, 3, "reschedule: {reschedule}");
    }
}

/// An expired scope that waits for a shield does not report the unshielded code's value as a
/// success when the whole future completes meanwhile (a `join!` of the shield and a sibling):
/// the scope cancels, as its deadline said. (A conformance probe got `Some(..)`.)
#[test]
fn a_future_completing_while_its_expired_scope_waits_for_a_shield_is_cancelled() {
    corio_executor::run_local(async {
        let r = move_on_after(Duration::from_millis(5), async {
            let sibling = async {
                corio_timer::sleep(Duration::from_millis(10)).await;
                "sibling finished"
            };
            let cleanup = shield(corio_timer::sleep(Duration::from_millis(30)));
            futures_lite::future::zip(cleanup, sibling).await.1
        })
        .await;
        assert_eq!(r, None);
        // The same without a deadline in the way completes.
        let r = move_on_after(Duration::from_secs(60), async {
            futures_lite::future::zip(shield(async { 1 }), async { 2 }).await
        })
        .await;
        assert_eq!(r, Some((1, 2)));
    });
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (std::sync::Arc<CountingWaker>, std::task::Waker) {
    let count = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
    (count.clone(), std::task::Waker::from(count))
}

/// `cancelled()` skips its listener when polled again by the same task; polled by another task
/// (another waker), it must hand the listener the new waker, which the cancel then wakes.
#[test]
fn a_cancel_wakes_the_last_waker_that_polled_cancelled() {
    use std::future::Future;
    use std::task::{Context, Poll};

    let token = CancelToken::new();
    let mut when = std::pin::pin!(token.cancelled());
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    for _ in 0..3 {
        let pending = when.as_mut().poll(&mut Context::from_waker(&first_waker));
        assert_eq!(pending, Poll::Pending);
    }
    let pending = when.as_mut().poll(&mut Context::from_waker(&second_waker));
    assert_eq!(pending, Poll::Pending);
    // The same task again, through a clone of its waker: still registered.
    let pending = when
        .as_mut()
        .poll(&mut Context::from_waker(&second_waker.clone()));
    assert_eq!(pending, Poll::Pending);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    assert_eq!(second.0.load(Ordering::SeqCst), 0);

    token.cancel();
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the cancel did not wake the task that polled last"
    );
    let ready = when.as_mut().poll(&mut Context::from_waker(&second_waker));
    assert_eq!(ready, Poll::Ready(()));
    // And once more, by a fresh future on the cancelled token: at once, whatever the waker.
    let ready = std::pin::pin!(token.cancelled()).poll(&mut Context::from_waker(&first_waker));
    assert_eq!(ready, Poll::Ready(()));
}
