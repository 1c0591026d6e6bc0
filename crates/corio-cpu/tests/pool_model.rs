//! Random sequences of submit (through `run` or `submit`, mixed in one line), drop and release
//! against a one-thread pool with a small queue:
//! whatever the sequence, no cancelled job runs, jobs run in submission order, nobody is left
//! waiting for room, and the counters add up.

use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use corio_cpu::{CpuPool, Run};
use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// A new job, polled once (queued, or waiting in line): through `run` (the future keeps the
    /// job while it waits for room), or through `submit` (the pool holds it in its line).
    Submit { held: bool },
    /// Drop the n-th live job (modulo the count).
    Drop(usize),
    /// Let the running job finish.
    Release,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|held| Op::Submit { held }),
        2 => (0..16usize).prop_map(Op::Drop),
        3 => Just(Op::Release),
    ]
}

/// What the jobs share with the test: which job may finish, and what ran in which order.
#[derive(Default)]
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
}

#[derive(Default)]
struct BoardState {
    started: Vec<usize>,
    /// Jobs allowed to finish; `usize::MAX` lets everyone finish.
    released: Vec<usize>,
    all_released: bool,
}

impl Board {
    fn job(self: &Arc<Self>, id: usize) -> impl FnOnce() -> usize + Send + 'static {
        let board = self.clone();
        move || {
            let mut s = board.state.lock().unwrap();
            s.started.push(id);
            board.changed.notify_all();
            while !s.all_released && !s.released.contains(&id) {
                s = board.changed.wait(s).unwrap();
            }
            id
        }
    }

    fn running(&self) -> Option<usize> {
        let s = self.state.lock().unwrap();
        s.started
            .iter()
            .copied()
            .find(|id| !s.all_released && !s.released.contains(id))
    }
}

struct Live {
    id: usize,
    run: Run<usize>,
    /// The job had started when we last looked (a started job is never cancelled).
    started: bool,
}

fn repoll(live: &mut [Live]) {
    for l in live.iter_mut() {
        if let Some(v) = block_on(poll_once(Pin::new(&mut l.run))) {
            panic!("job {} finished ({v}) though never released", l.id);
        }
    }
}

/// Waits until the pool thread is either blocked in a job or idle with nothing queued.
fn settle(pool: &CpuPool, board: &Board) {
    let start = Instant::now();
    loop {
        let m = pool.metrics();
        let running = board.running().is_some();
        if (m.running == 1 && running) || (m.running == 0 && m.queued == 0 && !running) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "stuck: {m:?}");
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn check(ops: Vec<Op>) {
    const CAPACITY: usize = 2;
    let pool = CpuPool::builder()
        .threads(1)
        .queue_capacity(CAPACITY)
        .build();
    let board = Arc::new(Board::default());
    let mut live: Vec<Live> = Vec::new();
    let mut dropped_unstarted = Vec::new();
    let mut next = 0;
    for op in ops {
        match op {
            Op::Submit { held } => {
                let run = if held {
                    pool.submit(board.job(next))
                } else {
                    pool.run(board.job(next))
                };
                live.push(Live {
                    id: next,
                    run,
                    started: false,
                });
                next += 1;
            }
            Op::Drop(i) if !live.is_empty() => {
                let l = live.remove(i % live.len());
                if !l.started {
                    dropped_unstarted.push(l.id);
                }
            }
            Op::Drop(_) => {}
            Op::Release => {
                if let Some(id) = board.running() {
                    board.state.lock().unwrap().released.push(id);
                    board.changed.notify_all();
                    // Its awaiter, if still live, must now get the value.
                    if let Some(pos) = live.iter().position(|l| l.id == id) {
                        let l = live.remove(pos);
                        assert_eq!(block_on(l.run), id);
                    }
                }
            }
        }
        // Until nothing moves: a dequeue may grant room to a waiter, which queues when polled.
        let mut last = None;
        for _ in 0..16 {
            repoll(&mut live);
            settle(&pool, &board);
            let now = pool.metrics();
            if last == Some(now) {
                break;
            }
            last = Some(now);
        }
        let started = board.state.lock().unwrap().started.clone();
        for l in &mut live {
            l.started = started.contains(&l.id);
        }
        let m = pool.metrics();
        assert!(m.queued <= CAPACITY, "{m:?}");
        assert!(m.running <= 1, "{m:?}");
        // Nobody is left waiting for room while the thread idles. `queued` does not count the
        // cancelled jobs the thread has yet to dequeue (each dequeue grants room to the head of
        // the line), so `settle` may return before it did: wait for it, with a bound.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = pool.metrics();
            if m.waiting_submitters == 0 || m.running == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a waiter while the thread idles: {m:?}"
            );
            repoll(&mut live);
            std::thread::sleep(Duration::from_micros(50));
        }
        let started = board.state.lock().unwrap().started.clone();
        for l in &mut live {
            l.started = started.contains(&l.id);
        }
    }

    // Release everyone; every live job completes, from a watchdogged thread.
    board.state.lock().unwrap().all_released = true;
    board.changed.notify_all();
    let (tx, rx) = std::sync::mpsc::channel();
    let expected: Vec<usize> = live.iter().map(|l| l.id).collect();
    std::thread::spawn(move || {
        let out: Vec<usize> = live.into_iter().map(|l| block_on(l.run)).collect();
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a live job never completed");
    assert_eq!(out, expected);

    let started = board.state.lock().unwrap().started.clone();
    for id in &dropped_unstarted {
        assert!(
            !started.contains(id),
            "job {id} ran after its future was dropped"
        );
    }
    assert!(
        started.windows(2).all(|w| w[0] < w[1]),
        "not FIFO: {started:?}"
    );
    // A job whose future was dropped after it started still runs to its end on the pool
    // thread, with nobody awaiting it: wait until the pool is quiet before counting.
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let m = pool.metrics();
        if (m.queued, m.running, m.waiting_submitters) == (0, 0, 0) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "the pool never went quiet: {m:?}"
        );
        std::thread::sleep(Duration::from_micros(50));
    };
    let started = board.state.lock().unwrap().started.clone();
    assert_eq!(m.completed as usize, started.len(), "{m:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pool_model(ops in proptest::collection::vec(op(), 1..40)) {
        check(ops);
    }
}
