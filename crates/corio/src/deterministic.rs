//! Deterministic test mode: virtual time and seeded scheduling.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::runtime::Builder;

/// The environment variable that fixes the seed of deterministic tests.
///
/// A deterministic test that fails prints its seed; `CORIO_SEED=<seed> cargo test <name>` runs
/// it again with that seed, so it fails the same way. `#[corio::test(deterministic)]` and
/// [`explore`]'s callers read it; a value that is not a whole number is ignored (with a warning).
///
/// # Examples
///
/// ```
/// assert_eq!(corio::SEED_ENV, "CORIO_SEED");
/// // The message of a failing seed names the variable and the value to set it to.
/// let failure = corio::explore(1, || async { panic!("always") }).unwrap_err();
/// assert!(failure.to_string().contains(&format!("{}=0", corio::SEED_ENV)));
/// ```
pub const SEED_ENV: &str = "CORIO_SEED";

/// The seed in `CORIO_SEED`, or a random one.
pub(crate) fn seed_from_env_or_random() -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(v) => match v.trim().parse() {
            Ok(seed) => seed,
            Err(_) => {
                eprintln!("corio: ignoring {SEED_ENV}={v:?}: not a whole number");
                random_seed()
            }
        },
        Err(_) => random_seed(),
    }
}

fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// Runs `future` on a deterministic single-threaded runtime seeded with `seed`: virtual time that
/// jumps to the next timer whenever the loop is idle, and a seeded choice among ready tasks.
///
/// A loop that stays busy for about 62,000 polls without going idle lets time jump to the next
/// timer too, so a timeout around a task that never waits (an always-ready loop) still fires.
///
/// Real work holds the clock: a blocking or CPU job in flight (`to_thread`, `unblock`,
/// `corio::fs`, `spawn_cpu`) until the pools have finished no job for a second of real time, a
/// child process a task awaits for up to a second, socket I/O for 10 ms per jump (see the guide,
/// "Sockets in deterministic mode"). So a job that takes longer than a second of real time can
/// lose to a virtual timeout around it, which it would beat on a real clock (the clock moves on
/// rather than hang when the job waits for the loop), and corio says so once on stderr.
///
/// If the future panics, the seed is printed with the command that replays it, and the panic
/// continues. If its tasks deadlock (nothing ready, no timer for virtual time to jump to,
/// nothing in flight), the run never returns, but after a second of real time corio says so on
/// stderr, with the seed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let waited = corio::run_seeded(7, async {
///     let start = corio::time::now();
///     corio::sleep(Duration::from_secs(3600)).await; // an hour, in microseconds of real time
///     corio::time::now() - start
/// });
/// assert_eq!(waited, Duration::from_secs(3600));
/// ```
pub fn run_seeded<F: Future>(seed: u64, future: F) -> F::Output {
    run_seeded_on(Builder::new(), seed, future)
}

/// [`run_seeded`] with other builder settings (debug mode, for `#[corio::test(seed, debug)]`).
pub(crate) fn run_seeded_on<F: Future>(builder: Builder, seed: u64, future: F) -> F::Output {
    let rt = builder
        .deterministic(seed)
        .build_local()
        .unwrap_or_else(|e| panic!("corio: cannot start a deterministic runtime: {e}"));
    match catch_unwind(AssertUnwindSafe(|| rt.block_on(future))) {
        Ok(output) => output,
        Err(panic) => {
            eprintln!(
                "corio: deterministic run failed with seed {seed}; replay it with {SEED_ENV}={seed}"
            );
            drop(rt);
            resume_unwind(panic)
        }
    }
}

/// The first seed under which a test failed; see [`explore`].
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let test = || async {
///     let order = Arc::new(Mutex::new(Vec::new()));
///     let tasks: Vec<_> = (1..=2)
///         .map(|i| {
///             let order = order.clone();
///             corio::spawn(async move { order.lock().unwrap().push(i) })
///         })
///         .collect();
///     for task in tasks {
///         task.await;
///     }
///     // Wrong on purpose: the seeded scheduler picks which ready task runs first.
///     assert_eq!(*order.lock().unwrap(), [1, 2], "the second task ran first");
/// };
/// let failure: corio::FailingSeed = corio::explore(100, test).unwrap_err();
/// assert!(failure.message.contains("the second task ran first"));
/// // The seed replays the failure.
/// let replay = std::panic::catch_unwind(|| corio::run_seeded(failure.seed, test()));
/// assert!(replay.is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingSeed {
    /// The seed that makes the test fail.
    pub seed: u64,
    /// The panic message.
    pub message: String,
}

impl FailingSeed {
    /// The seed that makes the test fail: the field, as a method too, like
    /// [`SimError::seed`](crate::sim::SimError::seed) and [`Sim::seed`](crate::sim::Sim::seed).
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = corio::explore(10, || async { panic!("always") }).unwrap_err();
    /// assert_eq!(failure.seed(), failure.seed);
    /// assert_eq!(failure.seed(), 0);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl std::fmt::Display for FailingSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed with seed {} ({SEED_ENV}={}): {}",
            self.seed, self.seed, self.message
        )
    }
}

impl std::error::Error for FailingSeed {}

/// Runs a test body under seeds `0..seeds`, each on a fresh deterministic runtime, and returns the
/// first seed that makes it panic: a poor man's model checker for interleavings. A seed under
/// which the tasks deadlock does not return; it is named on stderr after a second (see
/// [`run_seeded`]).
///
/// # Errors
///
/// Returns the first [`FailingSeed`].
///
/// # Examples
///
/// A lost update across an await is found, and the seed reproduces it:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let racy = || async {
///     let counter = Arc::new(AtomicU32::new(0));
///     let tasks: Vec<_> = (0..2).map(|_| {
///         let counter = counter.clone();
///         corio::spawn(async move {
///             let read = counter.load(Ordering::SeqCst);
///             corio::yield_now().await; // another task may run here
///             counter.store(read + 1, Ordering::SeqCst);
///         })
///     }).collect();
///     for t in tasks { t.await; }
///     assert_eq!(counter.load(Ordering::SeqCst), 2, "lost update");
/// };
/// let failure = corio::explore(1000, racy).unwrap_err();
/// assert!(std::panic::catch_unwind(|| corio::run_seeded(failure.seed, racy())).is_err());
/// ```
pub fn explore<F, Fut>(seeds: u64, test: F) -> Result<(), FailingSeed>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    for seed in 0..seeds {
        let rt = Builder::new()
            .deterministic(seed)
            .build_local()
            .unwrap_or_else(|e| panic!("corio: cannot start a deterministic runtime: {e}"));
        let result = catch_unwind(AssertUnwindSafe(|| rt.block_on(test())));
        drop(rt);
        if let Err(panic) = result {
            let message = corio_executor::panic_message(&*panic);
            return Err(FailingSeed { seed, message });
        }
    }
    Ok(())
}
