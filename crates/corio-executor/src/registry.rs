//! The registry of idle tasks, so that shutdown can reach every task.
//!
//! Invariants:
//! - A task enters the registry the first time one of its polls returns `Pending` (a task that
//!   finishes in its first poll never touches it), and leaves it when its future is dropped.
//!   Between those two moments it may be referenced by nothing but wakers held in places the
//!   runtime cannot see (a user's mutex, a `pending()` future), so the registry's copy of the
//!   waker is the only way for shutdown to reach it.
//! - Shutdown [`drain`](Registry::drain)s the registry: it closes it (later inserts are refused)
//!   and wakes every waker it held. The wake schedules the task on a runtime that is shutting
//!   down, which drops the task's future instead of polling it.
//! - There is no global lock: the registry is split in shards, one per worker, each behind its own
//!   mutex. A task registers in the shard of the worker that polled it, and removes itself from
//!   that shard when its future is dropped, often on another worker.
//! - A task's end and the removal of its slot are two steps. [`end`](Registry::end) counts it
//!   out of `live` at once (so [`len`](Registry::len) is exact); the slot, which holds a waker
//!   and so keeps the task's allocation, may be freed later, in a batch
//!   ([`remove_slots`](Registry::remove_slots)): a worker collects the keys of the tasks that end
//!   on it and frees them one shard lock per batch, instead of one contended lock per task (two
//!   workers ending each other's tasks spent 22% of `million_tasks` in this lock). A slot still
//!   there at `drain` wakes a task that has ended, which does nothing.
//! - `drain` zeroes `live`; an `end` racing with it saturates at zero rather than wrapping.

use crate::loom_shim::{Mutex, lock};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Waker;

/// A key into the registry. The low 32 bits index the slot; the high 32 bits hold the runtime id,
/// so a key can never remove an entry of another runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl Key {
    pub(crate) fn runtime(self) -> u32 {
        (self.0 >> 32) as u32
    }

    fn slot(self) -> u32 {
        self.0 as u32
    }

    pub(crate) fn to_raw(self) -> u64 {
        self.0
    }

    pub(crate) fn from_raw(raw: u64) -> Option<Key> {
        (raw != 0).then_some(Key(raw))
    }
}

#[repr(align(128))]
struct Shard {
    slots: Mutex<Slots>,
    /// Registered tasks that have not ended (see the module docs).
    live: AtomicUsize,
}

/// Slots are allocated in fixed chunks rather than one growing vector, so that a registry of
/// many idle tasks costs 16 bytes per task, without a vector's doubling slack.
const CHUNK: usize = 1024;

#[derive(Default)]
struct Slots {
    chunks: Vec<Box<[Option<Waker>]>>,
    /// Slots handed out so far (the next fresh slot).
    used: usize,
    free: Vec<u32>,
}

impl Slots {
    fn slot(&mut self, local: usize) -> Option<&mut Option<Waker>> {
        self.chunks.get_mut(local / CHUNK)?.get_mut(local % CHUNK)
    }

    fn fresh(&mut self) -> usize {
        if self.used == self.chunks.len() * CHUNK {
            self.chunks.push((0..CHUNK).map(|_| None).collect());
        }
        self.used += 1;
        self.used - 1
    }
}

pub(crate) struct Registry {
    runtime: u32,
    shards: Box<[Shard]>,
    closed: AtomicBool,
}

impl Registry {
    /// `runtime` must be non-zero so that every key is non-zero.
    pub(crate) fn new(runtime: u32, shards: usize) -> Registry {
        assert!(runtime != 0);
        let shards = shards.clamp(1, 1 << 16);
        Registry {
            runtime,
            shards: (0..shards)
                .map(|_| Shard {
                    slots: Mutex::new(Slots::default()),
                    live: AtomicUsize::new(0),
                })
                .collect(),
            closed: AtomicBool::new(false),
        }
    }

    /// Registers `waker` in shard `shard % shards`. Returns `None` once the registry is closed.
    pub(crate) fn insert(&self, shard: usize, waker: &Waker) -> Option<Key> {
        let n = self.shards.len();
        let shard = shard % n;
        let mut slots = lock(&self.shards[shard].slots);
        // Checked under the shard lock: `drain` sets `closed` before it takes the shard locks, so
        // an insert either lands before the drain empties this shard, or sees `closed`.
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let local = match slots.free.pop() {
            Some(local) => local as usize,
            None => slots.fresh(),
        };
        *slots.slot(local).expect("slot allocated above") = Some(waker.clone());
        self.shards[shard].live.fetch_add(1, Ordering::Relaxed);
        let index = local * n + shard;
        // A registry holding more than 4 billion idle tasks would need > 100 GiB; refuse rather
        // than wrap (the task then simply is not reachable at shutdown).
        let index = u32::try_from(index).ok()?;
        Some(Key((u64::from(self.runtime) << 32) | u64::from(index)))
    }

    /// Ends the task of `key` and removes its entry, if it is still there (a second call, or a
    /// call after the drain, changes nothing): [`end`](Registry::end) and
    /// [`remove_slots`](Registry::remove_slots) in one.
    pub(crate) fn remove(&self, key: Key) {
        debug_assert_eq!(key.runtime(), self.runtime);
        let n = self.shards.len();
        let index = key.slot() as usize;
        let (shard, local) = (index % n, index / n);
        let waker = {
            let mut slots = lock(&self.shards[shard].slots);
            let waker = slots.slot(local).and_then(Option::take);
            if waker.is_some() {
                // Counted out with its slot (a drained slot is gone, and was counted out then).
                slots.free.push(local as u32);
                self.shards[shard].live.fetch_sub(1, Ordering::Relaxed);
            }
            waker
        };
        // Dropped outside the lock: dropping a waker may run arbitrary code.
        drop(waker);
    }

    /// Counts the task of `key` out of the live tasks. Call once per key; its slot must then
    /// be freed with [`remove_slots`](Registry::remove_slots), now or later.
    pub(crate) fn end(&self, key: Key) {
        debug_assert_eq!(key.runtime(), self.runtime);
        if self.closed.load(Ordering::Acquire) {
            // `drain` zeroed the count.
            return;
        }
        let n = self.shards.len();
        let shard = key.slot() as usize % n;
        let _ =
            self.shards[shard]
                .live
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
                    live.checked_sub(1)
                });
    }

    /// Frees the slots of `keys` (of ended tasks), taking each shard's lock once. Sorts `keys`.
    pub(crate) fn remove_slots(&self, keys: &mut [Key]) {
        let n = self.shards.len();
        keys.sort_unstable_by_key(|key| key.slot() as usize % n);
        let mut wakers = Vec::with_capacity(keys.len());
        for group in keys.chunk_by(|a, b| a.slot() as usize % n == b.slot() as usize % n) {
            let shard = group[0].slot() as usize % n;
            let mut slots = lock(&self.shards[shard].slots);
            for key in group {
                debug_assert_eq!(key.runtime(), self.runtime);
                let local = key.slot() as usize / n;
                if let Some(waker) = slots.slot(local).and_then(Option::take) {
                    slots.free.push(local as u32);
                    wakers.push(waker);
                }
            }
        }
        // Dropped outside the locks: dropping a waker may run arbitrary code.
        drop(wakers);
    }

    /// Closes the registry and returns every waker it held.
    pub(crate) fn drain(&self) -> Vec<Waker> {
        self.closed.store(true, Ordering::Release);
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let slots = std::mem::take(&mut *lock(&shard.slots));
            shard.live.store(0, Ordering::Relaxed);
            for chunk in slots.chunks {
                out.extend(chunk.into_vec().into_iter().flatten());
            }
        }
        out
    }

    /// The number of registered (idle at least once, not yet dropped) tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.live.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn insert_remove_drain() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let reg = Registry::new(7, 3);
        let keys: Vec<Key> = (0..10).map(|i| reg.insert(i, &waker).unwrap()).collect();
        assert!(keys.iter().all(|k| k.runtime() == 7 && k.to_raw() != 0));
        assert_eq!(reg.len(), 10);
        for k in &keys[..4] {
            reg.remove(*k);
        }
        reg.remove(keys[0]); // removing twice is harmless
        assert_eq!(reg.len(), 6);
        let drained = reg.drain();
        assert_eq!(drained.len(), 6);
        assert!(
            reg.insert(0, &waker).is_none(),
            "closed registry refuses inserts"
        );
        drained.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn slots_are_reused() {
        let reg = Registry::new(1, 1);
        let waker = Waker::noop();
        let a = reg.insert(0, waker).unwrap();
        reg.remove(a);
        let b = reg.insert(0, waker).unwrap();
        assert_eq!(a, b);
    }

    /// `end` counts a task out at once; its slot (and the waker that keeps the task's memory)
    /// goes with the batch, across shards, one lock per shard.
    #[test]
    fn end_counts_at_once_and_a_batch_frees_the_slots() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let reg = Registry::new(3, 2);
        let mut keys: Vec<Key> = (0..10).map(|i| reg.insert(i, &waker).unwrap()).collect();
        assert_eq!(Arc::strong_count(&count), 12);
        let mut ended: Vec<Key> = keys.drain(..6).rev().collect();
        for key in &ended {
            reg.end(*key);
        }
        assert_eq!(reg.len(), 4, "counted out at once");
        assert_eq!(
            Arc::strong_count(&count),
            12,
            "slots still hold their wakers"
        );
        reg.remove_slots(&mut ended);
        assert_eq!(Arc::strong_count(&count), 6, "the batch dropped six wakers");
        assert_eq!(reg.len(), 4);
        // Their slots are reused, in both shards.
        let again: Vec<Key> = (0..6).map(|i| reg.insert(i, &waker).unwrap()).collect();
        let mut reused = again.clone();
        reused.sort_by_key(|k| k.to_raw());
        ended.sort_by_key(|k| k.to_raw());
        assert_eq!(reused, ended);
        // What the drain returns is what was live, and it is never woken twice.
        assert_eq!(reg.drain().len(), 10);
        assert_eq!(reg.len(), 0);
    }

    /// A task that ends after the drain (which zeroed the count) does not wrap the count, and
    /// freeing its slot afterwards finds nothing.
    #[test]
    fn ending_after_a_drain_keeps_the_count_at_zero() {
        let reg = Registry::new(1, 2);
        let waker = Waker::noop();
        let keys: Vec<Key> = (0..3).map(|i| reg.insert(i, waker).unwrap()).collect();
        assert_eq!(reg.drain().len(), 3);
        for key in &keys {
            reg.end(*key);
        }
        reg.remove_slots(&mut keys.clone());
        reg.remove(keys[0]);
        assert_eq!(reg.len(), 0);
    }
}
