//! A proptest over random trees of task groups: children succeed, fail or panic after a random
//! number of yields, spawned on the runtime or polled locally, nested to depth 3; checked against
//! the group invariants under deterministic schedules.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use corio_scope::{GroupError, supervisor, task_group};
use proptest::prelude::*;
use support::DropCounter;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    Err,
    Panic,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        yields: u8,
        outcome: Outcome,
    },
    Group {
        supervise: bool,
        body_yields: u8,
        body_fails: bool,
        children: Vec<(bool, Node)>, // (local?, child)
    },
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![6 => Just(Outcome::Ok), 3 => Just(Outcome::Err), 1 => Just(Outcome::Panic)]
}

fn tree() -> impl Strategy<Value = Node> {
    let leaf = (0u8..6, outcome()).prop_map(|(yields, outcome)| Node::Leaf { yields, outcome });
    leaf.prop_recursive(3, 24, 5, |inner| {
        (
            any::<bool>(),
            0u8..4,
            prop::bool::weighted(0.15),
            prop::collection::vec((any::<bool>(), inner), 0..5),
        )
            .prop_map(
                |(supervise, body_yields, body_fails, children)| Node::Group {
                    supervise,
                    body_yields,
                    body_fails,
                    children,
                },
            )
    })
}

/// What happened, in order.
#[derive(Default)]
struct Log {
    seq: u64,
    /// (seq, group id, failed child id) for every direct failure reported to a group.
    failures: Vec<(u64, usize, usize)>,
    /// Every group's outcome: (group id, errors it returned, cancelled flag, finished children).
    groups: Vec<(usize, Option<Vec<usize>>, usize)>,
    panicked: bool,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<Log>>;

fn run_node(
    node: Node,
    id: usize,
    parent: usize,
    log: Shared,
    alive: DropCounter,
) -> Pin<Box<dyn Future<Output = Result<(), usize>> + Send>> {
    Box::pin(async move {
        let _guard = alive.guard();
        match node {
            Node::Leaf { yields, outcome } => {
                for _ in 0..yields {
                    corio::yield_now().await;
                }
                match outcome {
                    Outcome::Ok => Ok(()),
                    Outcome::Err => {
                        let mut l = log.lock().unwrap();
                        l.seq += 1;
                        let seq = l.seq;
                        l.failures.push((seq, parent, id));
                        Err(id)
                    }
                    Outcome::Panic => {
                        log.lock().unwrap().panicked = true;
                        panic!("leaf {id} panics");
                    }
                }
            }
            Node::Group {
                supervise: sup,
                body_yields,
                body_fails,
                children,
            } => {
                let subtree = DropCounter::new();
                let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let body = {
                    let log = log.clone();
                    let subtree = subtree.clone();
                    let finished = finished.clone();
                    async move |g: &corio_scope::Group<usize>| {
                        for (i, (local, child)) in children.into_iter().enumerate() {
                            let child_id = id * 10 + i + 1;
                            let fut = run_node(child, child_id, id, log.clone(), subtree.clone());
                            let finished = finished.clone();
                            let counted = async move {
                                let r = fut.await;
                                if r.is_ok() {
                                    finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                }
                                r
                            };
                            if local {
                                g.spawn_local(counted);
                            } else {
                                g.spawn(counted);
                            }
                        }
                        for _ in 0..body_yields {
                            corio::yield_now().await;
                        }
                        if body_fails {
                            let mut l = log.lock().unwrap();
                            l.seq += 1;
                            let seq = l.seq;
                            l.failures.push((seq, id, id));
                            return Err(id);
                        }
                        Ok(())
                    }
                };
                let result: Result<(), GroupError<usize>> = if sup {
                    supervisor(body).await
                } else {
                    task_group(body).await
                };
                let mut l = log.lock().unwrap();
                if subtree.alive() != 0 {
                    l.violations.push(format!(
                        "group {id} returned with {} live descendants",
                        subtree.alive()
                    ));
                }
                let errors = result.as_ref().err().map(|e| e.errors().to_vec());
                if let Some(e) = &result.as_ref().err() {
                    if e.is_cancelled() {
                        l.violations.push(format!(
                            "group {id} reported a cancellation nobody asked for"
                        ));
                    }
                }
                l.groups.push((
                    id,
                    errors,
                    finished.load(std::sync::atomic::Ordering::SeqCst),
                ));
                drop(l);
                result.map_err(|_| id)
            }
        }
    })
}

fn count_leaves(node: &Node) -> usize {
    match node {
        Node::Leaf { .. } => 1,
        Node::Group { children, .. } => children.iter().map(|(_, c)| count_leaves(c)).sum(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn groups_keep_their_invariants(children in prop::collection::vec((any::<bool>(), tree()), 1..6), supervise in any::<bool>(), seed in any::<u64>()) {
        let root = Node::Group { supervise, body_yields: 1, body_fails: false, children };
        let _ = count_leaves(&root);
        let log: Shared = Arc::default();
        let alive = DropCounter::new();
        let reported = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = reported.clone();
        let rt = corio::Builder::new()
            .deterministic(seed)
            .report_hook(move |_| {
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .build_local()
            .unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(run_node(root.clone(), 1, 0, log.clone(), alive.clone()))
        }));
        drop(rt);
        let log = log.lock().unwrap();
        // Every child's destructor ran, whatever happened.
        prop_assert_eq!(alive.alive(), 0);
        // A panic reaches the caller only if one happened; and one that happened either reached
        // the caller or (if the group that caught it was cancelled first) was reported.
        let reports = reported.load(std::sync::atomic::Ordering::SeqCst);
        prop_assert!(outcome.is_ok() || log.panicked);
        prop_assert!(!log.panicked || outcome.is_err() || reports > 0, "a panic vanished");
        prop_assert!(log.violations.is_empty(), "{:?}", log.violations);
        if log.panicked {
            return Ok(());
        }
        for (group, errors, _finished) in &log.groups {
            // The errors a group returns are exactly its direct failures, in the order they
            // happened: cancellation is never an error, and nothing is lost.
            let direct: Vec<usize> = log
                .failures
                .iter()
                .filter(|(_, parent, _)| parent == group)
                .map(|(_, _, child)| *child)
                .collect();
            let nested_failures: Vec<usize> = log
                .groups
                .iter()
                .filter(|(g, e, _)| *g / 10 == *group && *g != *group && e.is_some())
                .map(|(g, _, _)| *g)
                .collect();
            let returned = errors.clone().unwrap_or_default();
            for e in &direct {
                prop_assert!(returned.contains(e), "group {} lost error {}: {:?}", group, e, returned);
            }
            for e in &returned {
                prop_assert!(direct.contains(e) || nested_failures.contains(e), "group {} invented error {}", group, e);
            }
            prop_assert_eq!(returned.len(), direct.len() + nested_failures.iter().filter(|g| returned.contains(g)).count());
            let leaf_order: Vec<usize> = returned.iter().copied().filter(|e| direct.contains(e)).collect();
            prop_assert_eq!(leaf_order, direct, "group {} errors out of order", group);
        }
        let root_errors = &log.groups.iter().find(|(g, _, _)| *g == 1).unwrap().1;
        prop_assert_eq!(outcome.unwrap().is_err(), root_errors.is_some());
    }
}
