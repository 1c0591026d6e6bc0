//! The scenarios, and the helpers they share.

pub(crate) mod echo;
mod emfile;
mod handoff;
mod leaks;
mod panic_storm;
mod park;
mod queue_storm;
mod reentrancy;
mod semaphore_storm;
mod shutdown;
mod timer_storm;

use std::future::Future;
use std::time::{Duration, Instant};

use crate::outcome::{Outcome, Size};

/// One scenario: what it is, how to run it, how long it may take.
#[derive(Debug)]
pub(crate) struct Scenario {
    /// The name on the command line.
    pub(crate) name: &'static str,
    /// One line: what it does.
    pub(crate) what: &'static str,
    /// Runs it in this process, reporting through the outcome.
    pub(crate) run: fn(Size, &mut Outcome),
    /// The watchdog's limit in seconds, for the full, quick and valgrind sizes.
    pub(crate) limit_secs: [u64; 3],
    /// Whether `--valgrind` runs it: the scenarios about memory and teardown (the storms check
    /// logic, and `emfile` cannot lower its limit under valgrind, which keeps fds of its own at
    /// the top of the table).
    pub(crate) valgrind: bool,
}

/// Every scenario, in the order the suite runs them.
pub(crate) const ALL: &[Scenario] = &[
    Scenario {
        name: "park",
        what: "1,000,000 tasks parked on one Event, then released (time, peak RSS, bytes/task)",
        run: park::run,
        limit_secs: [90, 30, 300],
        valgrind: true,
    },
    Scenario {
        name: "echo",
        what: "10,000 concurrent loopback connections, echoing",
        run: echo::run,
        limit_secs: [120, 40, 300],
        valgrind: true,
    },
    Scenario {
        name: "leaks",
        what: "no fd or thread left after many runtimes that used sockets, timers, to_thread",
        run: leaks::run,
        limit_secs: [90, 40, 300],
        valgrind: true,
    },
    Scenario {
        name: "queue-storm",
        what: "8 producers, 8 consumers, randomly cancelled puts and gets: every item exactly once",
        run: queue_storm::run,
        limit_secs: [90, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "rendezvous-storm",
        what: "the same storm on a rendezvous queue, bounded(0)",
        run: queue_storm::run_rendezvous,
        limit_secs: [90, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "semaphore-storm",
        what: "randomly cancelled acquires: the limit holds, every permit comes back",
        run: semaphore_storm::run,
        limit_secs: [90, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "panic-storm",
        what: "10% of 10,000 detached tasks panic: every panic reported, the runtime serves on",
        run: panic_storm::run,
        limit_secs: [60, 30, 300],
        valgrind: true,
    },
    Scenario {
        name: "emfile",
        what: "accept under EMFILE: the accept loop survives and serves once fds free up",
        run: emfile::run,
        limit_secs: [60, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "driver-handoff",
        what: "tasks parked on I/O and timers still wake after Runtime::block_on returns",
        run: handoff::run,
        limit_secs: [60, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "shutdown",
        what: "dropping a runtime runs the destructor of every pending task",
        run: shutdown::run,
        limit_secs: [60, 30, 300],
        valgrind: true,
    },
    Scenario {
        name: "timer-storm",
        what: "200k mostly cancelled timeouts and 20k sleeps: none early, lateness bounded",
        run: timer_storm::run,
        limit_secs: [90, 30, 300],
        valgrind: false,
    },
    Scenario {
        name: "reentrancy",
        what: "a runtime dropped from its own task; block_on nested in block_on",
        run: reentrancy::run,
        limit_secs: [60, 30, 300],
        valgrind: true,
    },
];

/// Not part of the suite: it hangs on purpose, with a helper process, so that a test
/// (`tests/watchdog.rs`, through `--self-test`) can check that the watchdog kills both.
pub(crate) const SELF_TEST: Scenario = Scenario {
    name: "watchdog-self-test",
    what: "hangs on purpose, with a helper process: the watchdog must kill both",
    run: hang,
    limit_secs: [2, 2, 2],
    valgrind: false,
};

/// The scenario called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter()
        .chain(std::iter::once(&SELF_TEST))
        .find(|s| s.name == name)
}

fn hang(_: Size, out: &mut Outcome) {
    let helper = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg("echo-server")
            .stdin(std::process::Stdio::piped()) // kept open: the helper waits for its EOF
            .stdout(std::process::Stdio::null())
            .spawn()
    });
    match &helper {
        Ok(child) => out.note(format!("helper pid {}", child.id())),
        Err(e) => out.fail(format!("cannot start the helper: {e}")),
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The environment variable that fixes the seed of the randomised scenarios (their random
/// cancellation points and durations; thread interleavings stay the OS's).
pub(crate) const SEED_ENV: &str = "CORIO_STRESS_SEED";

/// The seed of a randomised scenario: `CORIO_STRESS_SEED`, or a fresh one.
fn seed(out: &mut Outcome) -> u64 {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    out.note(format!(
        "seed {seed} (replay the random choices with {SEED_ENV}={seed})"
    ));
    seed
}

/// A multi-threaded runtime with `workers` threads; a scenario cannot go on without one.
fn runtime(workers: usize) -> corio::Runtime {
    corio::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"))
}

/// Checks `done` every millisecond (on corio's timer) until it holds or `limit` has passed;
/// returns whether it held.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        corio::sleep(Duration::from_millis(1)).await;
    }
}

/// How a random cancellation ended.
#[derive(Debug)]
enum Cancel {
    /// The future was dropped before it completed.
    Cancelled,
}

/// Runs `future` to completion, or drops it at a random point: a quarter of the calls run it
/// plainly, a quarter under `corio::timeout` of 0-1.5 ms (the timer's granularity is 1 ms), and
/// half `race` it against 0-3 `yield_now`s, so that it is dropped right after its first poll,
/// after a wake-up it has not yet seen, or while it is queued to run.
async fn maybe_cancel<F: Future>(rng: &mut fastrand::Rng, future: F) -> Result<F::Output, Cancel> {
    match rng.u8(0..4) {
        0 => Ok(future.await),
        1 => {
            let limit = Duration::from_micros(rng.u64(0..1500));
            corio::timeout(limit, future)
                .await
                .map_err(|_| Cancel::Cancelled)
        }
        _ => {
            let yields = rng.u32(0..4);
            corio::race(async { Ok(future.await) }, async move {
                for _ in 0..yields {
                    corio::yield_now().await;
                }
                Err(Cancel::Cancelled)
            })
            .await
        }
    }
}
