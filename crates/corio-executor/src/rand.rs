//! Randomness for code that runs on the runtime: retry jitter, fair choices among ready futures.
//!
//! In deterministic mode (a seeded local runtime) values come from a stream derived from the
//! seed, separate from the scheduler's own stream, so a seed replays the same values and drawing
//! one never changes which task runs next. Everywhere else a per-thread generator serves them,
//! seeded once per thread from the clock and the thread's identity: cheap (no lock, no syscall
//! after the first call), not cryptographic.

use std::cell::Cell;

use crate::context::{self, Current};

/// Returns a pseudo-random `u64`.
///
/// Inside a deterministic runtime (`corio::run_seeded`, `#[corio::test(seed = N)]`) the values
/// replay exactly under the same seed; elsewhere they differ from run to run. Not suitable for
/// cryptography.
///
/// # Examples
///
/// ```
/// let a = corio_executor::random_u64();
/// let b = corio_executor::random_u64();
/// assert_ne!(a, b);
/// ```
pub fn random_u64() -> u64 {
    let seeded = context::with(|cur| match cur {
        Some(Current::Local(core)) => core.next_user_random(),
        _ => None,
    });
    seeded.unwrap_or_else(thread_random)
}

/// SplitMix64: advances `state` and returns `(next_state, value)`.
#[inline]
pub(crate) fn splitmix64(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (next, z ^ (z >> 31))
}

fn thread_random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(thread_seed());
    }
    let step = |s: &Cell<u64>| {
        let (next, value) = splitmix64(s.get());
        s.set(next);
        value
    };
    // During thread-local teardown, fall back to a fresh seed each time.
    STATE
        .try_with(step)
        .unwrap_or_else(|_| splitmix64(thread_seed()).1)
}

fn thread_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded by the OS once per process and varies per instance; mixing in the
    // clock and thread id keeps threads apart.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    std::hash::Hash::hash(&std::thread::current().id(), &mut h);
    h.finish()
}
