//! `corio::select!`, as a new user writes it: arms of different types, losers dropped before the
//! body, fairness and `biased;`, refutable patterns, preconditions, `else`, and the panic when
//! every arm is disabled.

mod support;

use std::future::{Future, pending, ready};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::DropCounter;

/// A future that is ready at its first poll, holding a guard until it is dropped.
fn ready_with_guard<T>(value: T, counter: &DropCounter) -> impl Future<Output = T> {
    let guard = counter.guard();
    async move {
        let _guard = guard;
        value
    }
}

/// A future that never completes, holding a guard until it is dropped.
fn pending_with_guard<T>(counter: &DropCounter) -> impl Future<Output = T> {
    let guard = counter.guard();
    async move {
        let _guard = guard;
        pending::<T>().await
    }
}

#[test]
fn arms_of_different_types_give_the_value_of_the_chosen_body() {
    let out = corio::block_on(async {
        corio::select! {
            n = async { 5u32 } => format!("number {n}"),
            s = pending::<&str>() => s.to_string(),
        }
    });
    assert_eq!(out, "number 5");

    let out = corio::run(async {
        let q = corio::Queue::unbounded();
        let qq = q.clone();
        corio::spawn(async move {
            corio::sleep(Duration::from_millis(5)).await;
            qq.put("job").await.unwrap();
        })
        .detach();
        corio::select! {
            item = q.get() => item.unwrap().len(),
            () = corio::sleep(Duration::from_secs(60)) => 0,
        }
    });
    assert_eq!(out, 3);
}

#[test]
fn losers_and_winner_are_dropped_before_the_body_runs() {
    let counter = DropCounter::new();
    let seen = corio::block_on(async {
        corio::select! {
            v = ready_with_guard(1, &counter) => {
                // Inside the body: every arm's future is already gone.
                (v, counter.alive())
            },
            v = pending_with_guard::<i32>(&counter) => (v, usize::MAX),
            v = pending_with_guard::<i32>(&counter) => (v, usize::MAX),
        }
    });
    assert_eq!(seen, (1, 0));
}

#[test]
fn a_dropped_select_drops_every_future_and_loses_no_queue_item() {
    // The select is cancelled by a timeout while its `get` waits; the item put later is not lost.
    corio::run_seeded(11, async {
        let q = corio::Queue::bounded(0); // rendezvous: an item is handed to a waiting get
        let counter = DropCounter::new();
        for _ in 0..20 {
            let waited = corio::timeout(Duration::from_millis(3), async {
                corio::select! {
                    item = q.get() => item.ok(),
                    v = pending_with_guard::<Option<u32>>(&counter) => v,
                }
            })
            .await;
            assert!(waited.is_err());
            assert_eq!(
                counter.alive(),
                0,
                "the pending arm was dropped with the select"
            );
        }
        // A producer and a consumer that keeps abandoning its select: every item arrives once.
        let producer = {
            let q = q.clone();
            corio::spawn(async move {
                for i in 0..50u32 {
                    q.put(i).await.unwrap();
                    corio::sleep(Duration::from_micros(700 * u64::from(i % 4))).await;
                }
                q.close();
            })
        };
        let mut got = Vec::new();
        loop {
            let step = corio::select! {
                item = q.get() => Some(item),
                () = corio::sleep(Duration::from_millis(1)) => None,
            };
            match step {
                Some(Ok(item)) => got.push(item),
                Some(Err(_closed)) => break,
                None => continue, // the get was dropped: nothing may be lost
            }
        }
        producer.await;
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn random_start_is_fair_when_both_arms_are_ready() {
    let (mut first, mut second) = (0, 0);
    corio::block_on(async {
        for _ in 0..2000 {
            corio::select! {
                () = ready(()) => first += 1,
                () = ready(()) => second += 1,
            }
        }
    });
    assert_eq!(first + second, 2000);
    assert!(first > 700 && second > 700, "unfair: {first} vs {second}");

    // Three always-ready arms: each gets its share.
    let mut counts = [0u32; 3];
    corio::block_on(async {
        for _ in 0..3000 {
            let i = corio::select! {
                a = ready(0) => a,
                b = ready(1) => b,
                c = ready(2) => c,
            };
            counts[i] += 1;
        }
    });
    assert!(counts.iter().all(|&c| c > 700), "unfair: {counts:?}");
}

#[test]
fn biased_keeps_declared_order() {
    corio::block_on(async {
        for _ in 0..500 {
            let picked = corio::select! {
                biased;
                () = ready(()) => "first",
                () = ready(()) => "second",
            };
            assert_eq!(picked, "first");
        }
        // With the first arm pending, the second wins.
        let picked = corio::select! {
            biased;
            () = pending::<()>() => "first",
            () = ready(()) => "second",
        };
        assert_eq!(picked, "second");
    });
}

#[test]
fn a_refutable_pattern_that_fails_disables_its_arm_and_the_others_go_on() {
    // The first arm completes at once with a value its pattern rejects; the select goes on
    // waiting for the third.
    let out = corio::block_on(async {
        corio::select! {
            Some(x) = async { None::<u32> } => x,
            v = pending::<u32>() => v,
            Err(e) = async {
                corio::sleep(Duration::from_millis(5)).await;
                Err::<(), u32>(7)
            } => e,
        }
    });
    assert_eq!(out, 7);

    let out = corio::block_on(async {
        corio::select! {
            biased;
            Some(x) = async { None::<u32> } => x,
            Ok(y) = async { Ok::<u32, ()>(3) } => y + 100,
        }
    });
    assert_eq!(out, 103);
}

/// Reference patterns work in arms as in `let`: `&mut y` on a future that yields `&mut u32`,
/// `&(a, b)` on one that yields a reference to a tuple, and a refutable one inside a reference.
#[test]
fn reference_patterns_bind_as_in_let() {
    let mut slot = 5u32;
    let pair = (1u8, 2u8);
    let maybe = Some(9u32);
    let out = corio::block_on(async {
        let got = corio::select! {
            &mut y = async { &mut slot } => y,
            v = pending::<u32>() => v,
        };
        let (a, b) = corio::select! {
            &(a, b) = async { &pair } => (a, b),
            v = pending::<(u8, u8)>() => v,
        };
        let inner = corio::select! {
            biased;
            &Some(x) = async { &None::<u32> } => x,
            &Some(y) = async { &maybe } => y + 100,
        };
        (got, a, b, inner)
    });
    assert_eq!(out, (5, 1, 2, 109));
}

#[test]
fn else_runs_when_every_arm_is_disabled() {
    corio::block_on(async {
        let out = corio::select! {
            Some(x) = async { None::<u8> } => x,
            Ok(x) = async { Err::<u8, ()>(()) } => x,
            else => 42,
        };
        assert_eq!(out, 42);

        // Disabled by preconditions: the futures are evaluated, never polled.
        let polled = AtomicUsize::new(0);
        let count = || async {
            polled.fetch_add(1, Ordering::SeqCst);
        };
        let out = corio::select! {
            () = count(), if false => "a",
            () = count(), if 1 + 1 == 3 => "b",
            else => "else",
        };
        assert_eq!(out, "else");
        assert_eq!(polled.load(Ordering::SeqCst), 0);

        // `else` may come first, too.
        let out = corio::select! {
            else => 0,
            v = ready(9), if true => v,
        };
        assert_eq!(out, 9);
    });
}

#[test]
fn every_arm_disabled_without_else_panics_with_a_clear_message() {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        corio::block_on(async {
            corio::select! {
                Some(x) = async { None::<u8> } => x,
                v = ready(1u8), if false => v,
            }
        })
    }));
    let payload = caught.expect_err("select! with every arm disabled must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains("every arm is disabled") && message.contains("else"),
        "{message}"
    );
}

#[test]
fn futures_are_evaluated_once_and_preconditions_first() {
    let order = std::sync::Mutex::new(Vec::new());
    let log = |what: &'static str| order.lock().unwrap().push(what);
    corio::block_on(async {
        let picked = corio::select! {
            v = { log("fut a"); corio::sleep(Duration::from_millis(2)).await; ready(1) },
                if { log("cond a"); true } => v,
            v = { log("fut b"); pending::<i32>() }, if { log("cond b"); true } => v,
        };
        assert_eq!(picked, 1);
    });
    assert_eq!(
        *order.lock().unwrap(),
        ["cond a", "cond b", "fut a", "fut b"]
    );
}

#[test]
fn bodies_run_in_the_caller_context_break_continue_return_and_question_mark() {
    async fn first_even(q: &corio::Queue<u32>) -> Result<u32, String> {
        loop {
            let v = corio::select! {
                item = q.get() => item.map_err(|e| e.to_string())?,
                () = corio::sleep(Duration::from_secs(3600)) => return Err("timeout".into()),
            };
            if v % 2 == 1 {
                continue;
            }
            return Ok(v);
        }
    }
    corio::run_seeded(3, async {
        let q = corio::Queue::unbounded();
        for v in [1, 3, 4, 5] {
            q.try_put(v).unwrap();
        }
        assert_eq!(first_even(&q).await, Ok(4));
        assert_eq!(first_even(&q).await, Err("timeout".to_string()));
        q.close();
        assert!(first_even(&q).await.is_err());

        let mut ticks = 0;
        let mut every = corio::interval(Duration::from_millis(10));
        loop {
            corio::select! {
                _ = every.tick() => {
                    ticks += 1;
                    if ticks == 3 {
                        break;
                    }
                }
                () = corio::sleep(Duration::from_secs(1)) => panic!("the interval stalled"),
            }
        }
        assert_eq!(ticks, 3);
    });
}

#[test]
fn binding_modifiers_and_nested_patterns() {
    #[derive(Debug, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }
    corio::block_on(async {
        let v = corio::select! {
            mut v = async { vec![1] } => { v.push(2); v }
        };
        assert_eq!(v, [1, 2]);
        let v = corio::select! {
            Some(mut v) = async { Some(vec![1]) } => { v.push(3); v },
            else => Vec::new(),
        };
        assert_eq!(v, [1, 3]);
        let x = corio::select! {
            biased;
            Point { x, y: 0 } = async { Point { x: 4, y: 1 } } => x,
            (Point { x: ref a, .. }, [_, mut b]) = async { (Point { x: 5, y: 0 }, [1, 2]) } => {
                b += *a;
                b
            }
            else => -1,
        };
        assert_eq!(x, 7);
        let n = corio::select! {
            1..=3 | 10 = async { 10 } => "small or ten",
            else => "other",
        };
        assert_eq!(n, "small or ten");
    });
}

#[test]
fn many_arms() {
    corio::block_on(async {
        let picked = corio::select! {
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
            v = ready(10u8) => v,
            v = pending::<u8>() => v,
            v = pending::<u8>() => v,
        };
        assert_eq!(picked, 10);

        // The most arms `select!` takes, each with a refutable pattern: only the last matches.
        let picked = corio::select! {
            Some(v) = async { if 0 == 31 { Some(0u8) } else { None } } => v,
            Some(v) = async { if 1 == 31 { Some(1u8) } else { None } } => v,
            Some(v) = async { if 2 == 31 { Some(2u8) } else { None } } => v,
            Some(v) = async { if 3 == 31 { Some(3u8) } else { None } } => v,
            Some(v) = async { if 4 == 31 { Some(4u8) } else { None } } => v,
            Some(v) = async { if 5 == 31 { Some(5u8) } else { None } } => v,
            Some(v) = async { if 6 == 31 { Some(6u8) } else { None } } => v,
            Some(v) = async { if 7 == 31 { Some(7u8) } else { None } } => v,
            Some(v) = async { if 8 == 31 { Some(8u8) } else { None } } => v,
            Some(v) = async { if 9 == 31 { Some(9u8) } else { None } } => v,
            Some(v) = async { if 10 == 31 { Some(10u8) } else { None } } => v,
            Some(v) = async { if 11 == 31 { Some(11u8) } else { None } } => v,
            Some(v) = async { if 12 == 31 { Some(12u8) } else { None } } => v,
            Some(v) = async { if 13 == 31 { Some(13u8) } else { None } } => v,
            Some(v) = async { if 14 == 31 { Some(14u8) } else { None } } => v,
            Some(v) = async { if 15 == 31 { Some(15u8) } else { None } } => v,
            Some(v) = async { if 16 == 31 { Some(16u8) } else { None } } => v,
            Some(v) = async { if 17 == 31 { Some(17u8) } else { None } } => v,
            Some(v) = async { if 18 == 31 { Some(18u8) } else { None } } => v,
            Some(v) = async { if 19 == 31 { Some(19u8) } else { None } } => v,
            Some(v) = async { if 20 == 31 { Some(20u8) } else { None } } => v,
            Some(v) = async { if 21 == 31 { Some(21u8) } else { None } } => v,
            Some(v) = async { if 22 == 31 { Some(22u8) } else { None } } => v,
            Some(v) = async { if 23 == 31 { Some(23u8) } else { None } } => v,
            Some(v) = async { if 24 == 31 { Some(24u8) } else { None } } => v,
            Some(v) = async { if 25 == 31 { Some(25u8) } else { None } } => v,
            Some(v) = async { if 26 == 31 { Some(26u8) } else { None } } => v,
            Some(v) = async { if 27 == 31 { Some(27u8) } else { None } } => v,
            Some(v) = async { if 28 == 31 { Some(28u8) } else { None } } => v,
            Some(v) = async { if 29 == 31 { Some(29u8) } else { None } } => v,
            Some(v) = async { if 30 == 31 { Some(30u8) } else { None } } => v,
            Some(v) = async { if 31 == 31 { Some(31u8) } else { None } } => v,
        };
        assert_eq!(picked, 31);
    });
}

#[test]
fn select_on_tasks_and_references_to_futures() {
    // Virtual time: the 1 ms sleeps really fire before the 30 ms one, however loaded the machine.
    corio::run_seeded(21, async {
        let slow = corio::spawn(async {
            corio::sleep(Duration::from_secs(60)).await;
            "slow"
        });
        let fast = corio::spawn(async { "fast" });
        let winner = corio::select! {
            v = slow => v,
            v = fast => v,
        };
        assert_eq!(winner, "fast");

        // Select on `&mut fut` keeps the future (and its progress) across rounds.
        let hits = Arc::new(AtomicUsize::new(0));
        let mut long = std::pin::pin!(corio::sleep(Duration::from_millis(30)));
        let mut rounds = 0;
        loop {
            rounds += 1;
            corio::select! {
                () = &mut long => break,
                () = corio::sleep(Duration::from_millis(1)) => {
                    hits.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        assert!(rounds > 1 && hits.load(Ordering::SeqCst) + 1 == rounds);
    });
}

#[test]
fn the_select_future_is_send_when_its_futures_are() {
    fn assert_send<F: Future + Send>(f: F) -> F {
        f
    }
    let task = corio::spawn(assert_send(async {
        let q = corio::Queue::<u8>::unbounded();
        q.try_put(1).unwrap();
        corio::select! {
            v = q.get() => v.unwrap(),
            () = corio::sleep(Duration::from_secs(1)) => 0,
        }
    }));
    assert_eq!(corio::block_on(task), 1);
}

/// The stop signal a biased loop checks behind an always-ready queue, made anew each round.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Deadline,
    Token,
    Event,
}

/// Runs a biased `select!` loop whose first arm (or first two) is a queue that never empties
/// and whose last arm is `stop`, already due, cancelled or set, as a new future each round.
/// Returns the rounds it took the stop arm to win, or `None` if it did not win within 100,000.
async fn rounds_until_seen(stop: Stop, two_queues: bool) -> Option<u64> {
    let q1 = corio::Queue::unbounded();
    let q2 = corio::Queue::unbounded();
    q1.try_put(1u32).unwrap();
    q2.try_put(2u32).unwrap();
    let deadline = corio::time::now();
    let token = corio::CancelToken::new();
    token.cancel();
    let event = corio::sync::Event::new();
    event.set();
    let signal = || async {
        match stop {
            Stop::Deadline => corio::sleep_until(deadline).await,
            Stop::Token => token.cancelled().await,
            Stop::Event => event.wait().await,
        }
    };
    for round in 0..100_000u64 {
        let stopped = corio::select! {
            biased;
            v = q1.get() => { q1.try_put(v.unwrap()).unwrap(); false }
            v = q2.get(), if two_queues => { q2.try_put(v.unwrap()).unwrap(); false }
            () = signal() => true,
        };
        if stopped {
            return Some(round);
        }
    }
    None
}

/// With `biased;`, an always-ready corio queue holds back the arms behind it only until the
/// task's cooperative budget is spent: a due deadline, a cancelled token or a set event behind
/// it then wins, even made anew each round. Before, the next poll started again at the queue,
/// which won on the fresh budget, and the loop never ended (a review: 5 of 5 runs).
#[test]
fn biased_arms_behind_an_always_ready_queue_are_seen_once_the_budget_is_spent() {
    for stop in [Stop::Deadline, Stop::Token, Stop::Event] {
        for two_queues in [false, true] {
            let local = corio::run_local(rounds_until_seen(stop, two_queues));
            let multi = corio::run(rounds_until_seen(stop, two_queues));
            for (rt, rounds) in [("run_local", local), ("run", multi)] {
                let rounds = rounds.unwrap_or_else(|| {
                    panic!(
                        "{stop:?} behind {} always-ready queue(s) on {rt}: not seen in 100,000 \
                         rounds",
                        if two_queues { "two" } else { "one" }
                    )
                });
                // A budget is 128 units; the stop arm gets its turn at the first or second
                // refusal.
                assert!(
                    rounds <= 1_000,
                    "{stop:?} on {rt}: seen after {rounds} rounds"
                );
            }
        }
    }
}
