//! Mutex and RwLock: FIFO hand-off, cancellation at every state, writer preference, threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_sync::{Mutex, RwLock, TryLockError};
use futures_lite::future;
use support::{Manual, stress};

#[test]
fn lock_is_handed_over_in_fifo_order() {
    let m = Mutex::new(Vec::new());
    let guard = m.try_lock().unwrap();
    let mut a = Manual::new(m.lock());
    let mut b = Manual::new(m.lock());
    a.pending();
    b.pending();
    drop(guard);
    assert!(a.woken() && !b.woken());
    assert_eq!(
        m.try_lock().unwrap_err(),
        TryLockError,
        "no barging past a woken waiter"
    );
    a.ready().push('a');
    assert!(b.woken());
    b.ready().push('b');
    assert_eq!(*m.try_lock().unwrap(), ['a', 'b']);
}

#[test]
fn lock_cancelled_at_every_state() {
    let m = Mutex::new(0);
    drop(m.lock()); // before the first poll
    let guard = m.try_lock().unwrap();
    let mut waiting = Manual::new(m.lock());
    waiting.pending();
    drop(waiting); // while waiting
    let mut woken = Manual::new(m.lock());
    let mut next = Manual::new(m.lock());
    woken.pending();
    next.pending();
    drop(guard);
    assert!(woken.woken());
    drop(woken); // granted but never re-polled: the lock goes on
    assert!(next.woken());
    *next.ready() += 1;
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[test]
fn owned_guard_and_accessors() {
    let m = Arc::new(Mutex::new(String::from("a")));
    let mut g = future::block_on(m.clone().lock_owned());
    g.push('b');
    assert!(m.try_lock().is_err());
    assert!(m.clone().try_lock_owned().is_err());
    drop(g);
    assert_eq!(format!("{m:?}"), r#"Mutex { data: "ab" }"#);
    let _g = m.try_lock().unwrap();
    assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
    let mut plain = Mutex::new(1);
    *plain.get_mut() = 2;
    assert_eq!(plain.into_inner(), 2);
}

#[test]
fn mutex_threads_count_exactly() {
    let m = Arc::new(Mutex::new(0usize));
    let rounds = stress(2_000);
    let m2 = m.clone();
    support::block_on_threads(8, move |t| {
        let m = m2.clone();
        async move {
            for i in 0..rounds {
                if (i + t) % 11 == 0 {
                    // Register and cancel, possibly after being handed the lock.
                    let mut fut = m.lock();
                    let _ = future::poll_once(&mut fut).await;
                    continue;
                }
                let mut g = if i % 2 == 0 {
                    m.lock().await
                } else {
                    m.lock_blocking()
                };
                let before = *g;
                future::yield_now().await;
                *g = before + 1;
            }
        }
    });
    let cancelled = (0..8)
        .map(|t| (0..rounds).filter(|i| (i + t) % 11 == 0).count())
        .sum::<usize>();
    assert_eq!(*m.lock_blocking(), 8 * rounds - cancelled);
}

#[test]
fn readers_share_writers_exclude() {
    let lock = RwLock::new(1);
    let r1 = lock.try_read().unwrap();
    let r2 = lock.try_read().unwrap();
    assert_eq!(*r1 + *r2, 2);
    assert!(lock.try_write().is_err());
    drop((r1, r2));
    let mut w = lock.try_write().unwrap();
    *w = 5;
    assert!(lock.try_read().is_err());
    let r = w.downgrade();
    assert_eq!(*r, 5);
    assert!(lock.try_read().is_ok());
    assert!(lock.try_write().is_err());
}

#[test]
fn waiting_writer_blocks_later_readers() {
    let lock = RwLock::new(0);
    let reader = lock.try_read().unwrap();
    let mut writer = Manual::new(lock.write());
    writer.pending();
    // A reader arriving after the writer must wait (no writer starvation).
    assert!(lock.try_read().is_err());
    let mut late_reader = Manual::new(lock.read());
    late_reader.pending();
    drop(reader);
    assert!(writer.woken() && !late_reader.woken());
    let mut w = writer.ready();
    *w = 1;
    drop(w);
    assert!(late_reader.woken());
    assert_eq!(*late_reader.ready(), 1);
}

#[test]
fn readers_at_head_are_admitted_together() {
    let lock = RwLock::new(());
    let w = lock.try_write().unwrap();
    let mut r1 = Manual::new(lock.read());
    let mut r2 = Manual::new(lock.read());
    let mut w2 = Manual::new(lock.write());
    r1.pending();
    r2.pending();
    w2.pending();
    drop(w);
    assert!(r1.woken() && r2.woken() && !w2.woken());
    let (g1, g2) = (r1.ready(), r2.ready());
    drop(g1);
    assert!(!w2.woken());
    drop(g2);
    assert!(w2.woken());
    drop(w2.ready());
}

#[test]
fn rwlock_cancelled_writer_lets_readers_through() {
    let lock = RwLock::new(());
    let r = lock.try_read().unwrap();
    let mut writer = Manual::new(lock.write());
    writer.pending(); // collects all permits but the reader's
    let mut reader = Manual::new(lock.read());
    reader.pending();
    drop(writer); // its partial permits go on to the reader
    assert!(reader.woken());
    drop(reader.ready());
    drop(r);
    assert!(lock.try_write().is_ok());
}

#[test]
fn rwlock_threads_never_see_torn_writes() {
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let violations = Arc::new(AtomicUsize::new(0));
    let rounds = stress(1_000);
    let (l, v) = (lock.clone(), violations.clone());
    support::block_on_threads(6, move |t| {
        let (lock, violations) = (l.clone(), v.clone());
        async move {
            for i in 0..rounds {
                if t % 3 == 0 {
                    let mut g = lock.write().await;
                    g.0 += 1;
                    future::yield_now().await;
                    g.1 += 1;
                } else {
                    let g = if i % 2 == 0 {
                        lock.read().await
                    } else {
                        lock.read_blocking()
                    };
                    if g.0 != g.1 {
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    assert_eq!(violations.load(Ordering::Relaxed), 0);
    let g = lock.write_blocking();
    assert_eq!(*g, (2 * rounds, 2 * rounds));
}

#[test]
fn guards_are_send_and_sync_when_data_allows() {
    fn is_send<T: Send>(_: &T) {}
    fn is_sync<T: Sync>(_: &T) {}
    let m = Mutex::new(1);
    is_send(&m.lock());
    let g = m.try_lock().unwrap();
    is_send(&g);
    is_sync(&g);
    drop(g);
    let l = RwLock::new(1);
    is_send(&l.read());
    is_send(&l.write());
    is_sync(&l.try_read().unwrap());
}
