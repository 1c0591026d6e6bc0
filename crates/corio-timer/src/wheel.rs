//! A hierarchical timing wheel: six levels of 64 slots, one tick per slot at level 0.
//!
//! Invariants:
//! - Time is counted in ticks. `elapsed` is the tick up to which the wheel has been advanced:
//!   every entry due at a tick `<= elapsed` has fired.
//! - An entry due at `when` lives at the level of the highest bit in which `when` and `elapsed`
//!   differ (six bits per level), in the slot given by `when`'s bits at that level. An entry at a
//!   lower level is therefore always due before any entry at a higher level.
//! - Entries due more than [`OVERFLOW_SPAN`] ticks ahead wait in an overflow list until they come
//!   within range, so that each level's slots never wrap around more than once.
//! - Insert and remove are O(1): each slot, and the overflow list, is a doubly linked list
//!   threaded through a slab, and each level keeps a bitmap of occupied slots.
//! - Entries due at the same tick fire in the order they were inserted (as asyncio's and tokio's
//!   timers do): a slot's list is in insertion order (entries join at its tail), and cascading
//!   walks a slot front to back into the tails of the lower slots, so it keeps that order. An
//!   entry inserted straight into a lower slot after a cascade was inserted after every entry
//!   cascaded there (inserts go to the coarse slot until the clock reaches it).
//! - An entry never fires before its tick: advancing moves entries that are not yet due down to a
//!   lower level ("cascading") instead of firing them.

use std::task::Waker;

use slab::Slab;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// The span of the whole wheel, in ticks (64^6, about 2.2 years at 1 ms per tick).
const WHEEL_SPAN: u64 = 1 << (SLOT_BITS * LEVELS as u32);
/// Entries due further ahead than this wait in the overflow list.
pub(crate) const OVERFLOW_SPAN: u64 = WHEEL_SPAN / 2;
const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Slot { level: u8, slot: u8 },
    Overflow,
    Fired,
}

#[derive(Debug)]
struct Entry {
    when: u64,
    waker: Option<Waker>,
    place: Place,
    prev: usize,
    next: usize,
}

#[derive(Debug)]
struct Level {
    occupied: u64,
    heads: [usize; SLOTS],
    tails: [usize; SLOTS],
}

/// The wheel. Not thread-safe by itself; the timer keeps it behind a mutex.
#[derive(Debug)]
pub(crate) struct Wheel {
    elapsed: u64,
    entries: Slab<Entry>,
    levels: [Level; LEVELS],
    /// The overflow list, in insertion order: a linked list like a slot's.
    overflow: Ends,
    /// The earliest `when` in the overflow list, or a tick at most that early (a removal does not
    /// raise it; admission recomputes it), or `u64::MAX` when the list is empty.
    overflow_min: u64,
    pending: usize,
}

/// What [`Wheel::poll`] found for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryPoll {
    /// Still waiting; the waker has been updated.
    Pending,
    /// Fired; the entry has been freed.
    Fired,
}

impl Default for Wheel {
    fn default() -> Wheel {
        Wheel::new()
    }
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            entries: Slab::new(),
            levels: std::array::from_fn(|_| Level {
                occupied: 0,
                heads: [NIL; SLOTS],
                tails: [NIL; SLOTS],
            }),
            overflow: Ends::EMPTY,
            overflow_min: u64::MAX,
            pending: 0,
        }
    }

    /// How many entries wait to fire.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Registers an entry due at tick `when`. If it is already due, hands the waker back instead.
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> Result<usize, Waker> {
        if when <= self.elapsed {
            return Err(waker);
        }
        let key = self.entries.insert(Entry {
            when,
            waker: Some(waker),
            place: Place::Fired,
            prev: NIL,
            next: NIL,
        });
        self.place(key);
        self.pending += 1;
        Ok(key)
    }

    /// The tick at which [`advance`](Wheel::advance) first has to look at entry `key`: the start
    /// of its slot (where a coarser level cascades it), or its overflow admission. Never later
    /// than what [`next_expiration`](Wheel::next_expiration) would give for this entry alone.
    pub(crate) fn due_of(&self, key: usize) -> u64 {
        let entry = &self.entries[key];
        match entry.place {
            Place::Slot { level, .. } => {
                let slot_span = 1u64 << (SLOT_BITS * u32::from(level));
                entry.when & !(slot_span - 1)
            }
            Place::Overflow => entry.when - OVERFLOW_SPAN + 1,
            Place::Fired => entry.when,
        }
    }

    /// Checks an entry: if it fired, frees it; otherwise refreshes its waker.
    pub(crate) fn poll(&mut self, key: usize, waker: &Waker) -> EntryPoll {
        let Some(entry) = self.entries.get_mut(key) else {
            return EntryPoll::Fired;
        };
        if entry.place == Place::Fired {
            self.entries.remove(key);
            return EntryPoll::Fired;
        }
        match &mut entry.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        EntryPoll::Pending
    }

    /// Cancels (or, if it fired, frees) an entry. Returns its waker, to be dropped outside the lock.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Waker> {
        let place = self.entries.get(key)?.place;
        match place {
            Place::Slot { level, slot } => {
                let (level, slot) = (level as usize, slot as usize);
                let mut ends = self.levels[level].ends(slot);
                unlink(&mut self.entries, &mut ends, key);
                self.levels[level].set_ends(slot, ends);
            }
            Place::Overflow => {
                unlink(&mut self.entries, &mut self.overflow, key);
                if self.overflow.head == NIL {
                    self.overflow_min = u64::MAX;
                }
            }
            Place::Fired => {}
        }
        if place != Place::Fired {
            self.pending -= 1;
        }
        self.entries.remove(key).waker
    }

    /// The earliest tick at which [`advance`](Wheel::advance) has something to do, if any.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let wheel = self.next_slot().map(|(_, _, deadline)| deadline);
        match (wheel, self.overflow_admission()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The tick at which the earliest overflow entry comes within range of the wheel.
    fn overflow_admission(&self) -> Option<u64> {
        (self.overflow_min != u64::MAX).then(|| self.overflow_min - OVERFLOW_SPAN + 1)
    }

    /// Advances to tick `now`, firing every entry due at or before it: their wakers are pushed to
    /// `fired`, to be woken once the lock is released.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) {
        if now <= self.elapsed {
            return;
        }
        loop {
            // Handle events in time order: the next occupied slot, or overflow entries coming
            // within range, whichever is first.
            let slot = self.next_slot().filter(|&(_, _, deadline)| deadline <= now);
            let admission = self.overflow_admission().filter(|&t| t <= now);
            match (slot, admission) {
                (Some((level, slot, deadline)), admission)
                    if admission.is_none_or(|t| deadline <= t) =>
                {
                    self.process_slot(level, slot, deadline, now, fired)
                }
                (_, Some(t)) => {
                    self.elapsed = self.elapsed.max(t);
                    self.admit_overflow();
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("guarded above"),
            }
        }
        self.elapsed = now;
    }

    /// Fires or cascades the entries of one slot, whose start tick `deadline` is `<= now`.
    fn process_slot(
        &mut self,
        level: usize,
        slot: usize,
        deadline: u64,
        now: u64,
        fired: &mut Vec<Waker>,
    ) {
        // Everything before this slot's start has been handled: move the clock there, then
        // fire or cascade the slot's entries relative to it.
        self.elapsed = self.elapsed.max(deadline);
        let mut key = self.levels[level].heads[slot];
        self.levels[level].heads[slot] = NIL;
        self.levels[level].tails[slot] = NIL;
        self.levels[level].occupied &= !(1 << slot);
        while key != NIL {
            let entry = &mut self.entries[key];
            let next = entry.next;
            entry.prev = NIL;
            entry.next = NIL;
            if entry.when <= now {
                entry.place = Place::Fired;
                if let Some(w) = entry.waker.take() {
                    fired.push(w);
                }
                self.pending -= 1;
            } else {
                self.place(key);
            }
            key = next;
        }
    }

    /// Drops every waker (fired or not): used when the timer shuts down, to break reference
    /// cycles between the runtime and the tasks whose wakers the wheel holds.
    pub(crate) fn clear_wakers(&mut self) -> Vec<Waker> {
        self.entries
            .iter_mut()
            .filter_map(|(_, e)| e.waker.take())
            .collect()
    }

    /// Links `key` where its `when` belongs relative to `elapsed`.
    fn place(&mut self, key: usize) {
        let when = self.entries[key].when;
        if when - self.elapsed >= OVERFLOW_SPAN {
            self.entries[key].place = Place::Overflow;
            link_tail(&mut self.entries, &mut self.overflow, key);
            self.overflow_min = self.overflow_min.min(when);
            return;
        }
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        self.entries[key].place = Place::Slot {
            level: level as u8,
            slot: slot as u8,
        };
        let mut ends = self.levels[level].ends(slot);
        link_tail(&mut self.entries, &mut ends, key);
        self.levels[level].set_ends(slot, ends);
    }

    /// Moves the overflow entries that are now within range into the wheel.
    fn admit_overflow(&mut self) {
        let mut key = std::mem::replace(&mut self.overflow, Ends::EMPTY).head;
        self.overflow_min = u64::MAX;
        while key != NIL {
            let next = self.entries[key].next;
            // `place` puts the entries still out of range back into the overflow list, in order.
            self.place(key);
            key = next;
        }
    }

    /// The earliest occupied slot across levels: `(level, slot, start tick)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            self.next_in_level(level)
                .map(|deadline| (level, slot_for(deadline, level), deadline))
        })
    }

    /// The start tick of the next occupied slot of `level`, looking forward from `elapsed`.
    fn next_in_level(&self, level: usize) -> Option<u64> {
        let occupied = self.levels[level].occupied;
        if occupied == 0 {
            return None;
        }
        let shift = SLOT_BITS * level as u32;
        let slot_span = 1u64 << shift;
        let level_span = slot_span << SLOT_BITS;
        let now_slot = ((self.elapsed >> shift) & SLOT_MASK) as u32;
        let ahead = occupied.rotate_right(now_slot).trailing_zeros();
        let slot = (u64::from(now_slot) + u64::from(ahead)) & SLOT_MASK;
        let level_start = self.elapsed & !(level_span - 1);
        let mut deadline = level_start + slot * slot_span;
        if deadline < self.elapsed & !(slot_span - 1) {
            deadline += level_span;
        }
        Some(deadline)
    }
}

/// The two ends of a linked list of entries (a slot's, or the overflow list).
#[derive(Debug, Clone, Copy)]
struct Ends {
    head: usize,
    tail: usize,
}

impl Ends {
    const EMPTY: Ends = Ends {
        head: NIL,
        tail: NIL,
    };
}

impl Level {
    fn ends(&self, slot: usize) -> Ends {
        Ends {
            head: self.heads[slot],
            tail: self.tails[slot],
        }
    }

    /// Stores a slot's ends and keeps the occupied bitmap in step with them.
    fn set_ends(&mut self, slot: usize, ends: Ends) {
        self.heads[slot] = ends.head;
        self.tails[slot] = ends.tail;
        if ends.head == NIL {
            self.occupied &= !(1 << slot);
        } else {
            self.occupied |= 1 << slot;
        }
    }
}

/// Appends `key` to the list with `ends`, in O(1).
fn link_tail(entries: &mut Slab<Entry>, ends: &mut Ends, key: usize) {
    let entry = &mut entries[key];
    entry.prev = ends.tail;
    entry.next = NIL;
    match ends.tail {
        NIL => ends.head = key,
        tail => entries[tail].next = key,
    }
    ends.tail = key;
}

/// Takes `key` out of the list with `ends`, in O(1).
fn unlink(entries: &mut Slab<Entry>, ends: &mut Ends, key: usize) {
    let (prev, next) = {
        let e = &entries[key];
        (e.prev, e.next)
    };
    match prev {
        NIL => ends.head = next,
        prev => entries[prev].next = next,
    }
    match next {
        NIL => ends.tail = prev,
        next => entries[next].prev = prev,
    }
}

fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros() as usize;
    (significant / SLOT_BITS as usize).min(LEVELS - 1)
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (SLOT_BITS * level as u32)) & SLOT_MASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::Wake;

    /// A waker that records its id in a shared log when woken.
    struct Tagged(u64, Arc<std::sync::Mutex<Vec<u64>>>);
    impl Wake for Tagged {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn fires_in_order_and_never_early() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        for when in [5u64, 1, 64, 63, 4096, 70, 1_000_000] {
            let waker = Waker::from(Arc::new(Tagged(when, log.clone())));
            wheel.insert(when, waker).unwrap();
        }
        let mut fired = Vec::new();
        for now in 0..=1_000_000u64 {
            if let Some(next) = wheel.next_expiration() {
                if next > now {
                    continue;
                }
            }
            wheel.advance(now, &mut fired);
            for w in fired.drain(..) {
                w.wake();
            }
            for &t in log.lock().unwrap().iter() {
                assert!(t <= now, "entry due at {t} fired early at {now}");
            }
        }
        assert_eq!(
            *log.lock().unwrap(),
            vec![1, 5, 63, 64, 70, 4096, 1_000_000]
        );
    }

    #[test]
    fn entries_due_at_the_same_tick_fire_in_insertion_order() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        let mut tag = 0;
        let mut insert = |wheel: &mut Wheel, when: u64| {
            let waker = Waker::from(Arc::new(Tagged(tag, log.clone())));
            tag += 1;
            wheel.insert(when, waker).unwrap()
        };
        // Due at tick 5000: inserted at tick 0 (a coarse level), after a cascade, and straight
        // into level 0; one in the middle and the last one are removed again.
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(insert(&mut wheel, 5000));
        }
        wheel.advance(4100, &mut fired);
        for _ in 0..3 {
            keys.push(insert(&mut wheel, 5000));
        }
        wheel.advance(4999, &mut fired);
        for _ in 0..3 {
            keys.push(insert(&mut wheel, 5000));
        }
        wheel.remove(keys[4]);
        wheel.remove(keys[8]);
        keys.push(insert(&mut wheel, 5000));
        assert!(fired.is_empty());
        wheel.advance(5000, &mut fired);
        for w in fired.drain(..) {
            w.wake();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 5, 6, 7, 9]);
    }

    #[test]
    fn already_due_is_refused() {
        let mut wheel = Wheel::new();
        let mut fired = Vec::new();
        wheel.advance(10, &mut fired);
        assert!(wheel.insert(10, Waker::noop().clone()).is_err());
        assert!(wheel.insert(11, Waker::noop().clone()).is_ok());
    }

    #[test]
    fn overflow_entries_fire_eventually() {
        let mut wheel = Wheel::new();
        let far = OVERFLOW_SPAN * 3 + 17;
        let key = wheel.insert(far, Waker::noop().clone()).unwrap();
        let mut fired = Vec::new();
        let mut now = 0;
        let mut steps = 0;
        while let Some(next) = wheel.next_expiration() {
            assert!(next >= now, "expiration went backwards");
            now = next.max(now + 1);
            wheel.advance(now, &mut fired);
            steps += 1;
            assert!(steps < 10_000, "no progress");
            if !fired.is_empty() {
                break;
            }
        }
        assert_eq!(fired.len(), 1);
        assert_eq!(now, far);
        assert_eq!(wheel.poll(key, Waker::noop()), EntryPoll::Fired);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop_oneof![0u64..70, 0u64..5000, 0u64..300_000, 0u64..(1 << 37)].prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Remove),
            3 => prop_oneof![0u64..3, 0u64..100, 0u64..10_000, 0u64..(1 << 36)].prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The wheel against an ordered map: the same entries fire at the same advance, and
        /// `next_expiration` never lets a due entry wait.
        #[test]
        fn wheel_matches_ordered_map(ops in proptest::collection::vec(op(), 1..200)) {
            let counter = Arc::new(AtomicU64::new(0));
            let log = Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut wheel = Wheel::new();
            // model: key -> (when, tag)
            let mut model: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
            let mut live: Vec<(usize, u64)> = Vec::new(); // (key, tag)
            let mut now = 0u64;
            for op in ops {
                match op {
                    Op::Insert(delta) => {
                        let when = now + 1 + delta;
                        let tag = counter.fetch_add(1, Ordering::Relaxed);
                        let waker = Waker::from(Arc::new(Tagged(tag, log.clone())));
                        let before = wheel.next_expiration().unwrap_or(u64::MAX);
                        let key = wheel.insert(when, waker).expect("future entry");
                        // What the driver publishes on a registration, without a scan.
                        prop_assert_eq!(
                            wheel.next_expiration(),
                            Some(before.min(wheel.due_of(key))),
                            "due_of({}) for when {} at now {}", key, when, now
                        );
                        model.insert(tag, (key, when));
                        live.push((key, tag));
                    }
                    Op::Remove(i) => {
                        if !live.is_empty() {
                            let (key, tag) = live.swap_remove(i % live.len());
                            wheel.remove(key);
                            model.remove(&tag);
                        }
                    }
                    Op::Advance(delta) => {
                        let target = now + delta;
                        let mut fired = Vec::new();
                        if let Some(due) = model.values().map(|&(_, w)| w).min() {
                            let next = wheel.next_expiration();
                            prop_assert!(next.is_some(), "pending entries but no expiration");
                            prop_assert!(next.unwrap() <= due, "next_expiration {:?} after due entry {}", next, due);
                        }
                        // Sometimes step through expirations as a driver does, sometimes jump.
                        if delta % 2 == 0 {
                            while let Some(next) = wheel.next_expiration() {
                                if next > target { break; }
                                let step = next.max(now + 1).min(target);
                                wheel.advance(step, &mut fired);
                                now = step;
                                if now == target { break; }
                            }
                        }
                        wheel.advance(target, &mut fired);
                        now = target;
                        for w in fired.drain(..) { w.wake(); }
                        let mut woken = std::mem::take(&mut *log.lock().unwrap());
                        // Entries due at the same tick fire in insertion order (tags grow).
                        let mut last_at: BTreeMap<u64, u64> = BTreeMap::new();
                        for &tag in &woken {
                            if let Some(&(_, when)) = model.get(&tag) {
                                if let Some(&before) = last_at.get(&when) {
                                    prop_assert!(before < tag, "at tick {}: {} fired after {}", when, tag, before);
                                }
                                last_at.insert(when, tag);
                            }
                        }
                        woken.sort_unstable();
                        let mut expected: Vec<u64> = model
                            .iter()
                            .filter(|(_, (_, when))| *when <= now)
                            .map(|(&tag, _)| tag)
                            .collect();
                        expected.sort_unstable();
                        prop_assert_eq!(&woken, &expected);
                        for tag in expected {
                            let (key, _) = model.remove(&tag).unwrap();
                            prop_assert_eq!(wheel.poll(key, Waker::noop()), EntryPoll::Fired);
                            live.retain(|&(k, t)| !(k == key && t == tag));
                        }
                        prop_assert_eq!(wheel.pending(), model.len());
                    }
                }
            }
        }
    }
}
