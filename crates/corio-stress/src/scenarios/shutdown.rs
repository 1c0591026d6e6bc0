//! Shutdown runs every destructor of every pending task.
//!
//! Tasks are left parked on everything a task can wait on: sleeps and timeouts, socket reads and
//! accepts, every sync primitive (Event, Semaphore, Queue get and put, Notify, Mutex, Barrier,
//! oneshot), `std::future::pending()`, another task, a task group's children, `to_thread`; some
//! are always ready (a `yield_now` loop), some were never polled (spawned just before
//! `block_on` returns), and some have their `Task` handle kept alive past the runtime. Each
//! carries a drop guard made before it was spawned. After the runtime is dropped every guard must
//! have been dropped: the count of drops equals the count of guards. Done for a `Runtime`, then
//! for a `LocalRuntime` (with `!Send` tasks too).
//!
//! Proves the "pitfall 4" guarantee: RAII all the way down; dropping a runtime (or returning from
//! `run`) leaves no task, and so no socket, permit or buffer, behind.

use std::future::{Future, pending};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use corio::sync::{Barrier, Event, Mutex, Notify, oneshot};
use corio::{Queue, Semaphore, Task};
use futures_lite::AsyncReadExt;

use super::wait_until;
use crate::outcome::{Outcome, Size, count, dur};

#[derive(Debug, Default)]
struct Counters {
    created: AtomicUsize,
    dropped: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
}

/// Counted when made and when dropped.
struct Guard(Arc<Counters>);

impl Guard {
    fn new(c: &Arc<Counters>) -> Guard {
        c.created.fetch_add(1, Ordering::SeqCst);
        Guard(c.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Wraps a parking future: the guard is made now (so a task never polled still has one), and the
/// task counts when it starts and, should the wait ever end, when it finishes.
fn guarded<F: Future<Output = ()>>(
    c: &Arc<Counters>,
    wait: F,
) -> impl Future<Output = ()> + use<F> {
    let guard = Guard::new(c);
    async move {
        let g = guard;
        g.0.started.fetch_add(1, Ordering::SeqCst);
        wait.await;
        g.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the parking tasks share; it must outlive them, so it lives in an `Arc` inside each.
struct Prims {
    event: Event,
    zero: Semaphore,
    empty: Queue<u64>,
    full: Queue<u64>,
    notify: Notify,
    mutex: Mutex<()>,
    barrier: Barrier,
}

/// Spawns the Send kinds, `n` tasks each (fewer for sockets and blocking jobs); returns how many
/// tasks should have started, and the handles of the tasks whose `Task` is kept.
async fn park_send_kinds(
    c: &Arc<Counters>,
    n: usize,
    sockets: usize,
) -> io::Result<(usize, Vec<Task<()>>)> {
    let p = Arc::new(Prims {
        event: Event::new(),
        zero: Semaphore::new(0),
        empty: Queue::bounded(1),
        full: Queue::bounded(1),
        notify: Notify::new(),
        mutex: Mutex::new(()),
        barrier: Barrier::new(n + 1),
    });
    p.full
        .try_put(0)
        .map_err(|_| io::Error::other("a new queue refused an item"))?;
    let mut started = 0;
    let spawn = |fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        corio::spawn(guarded(c, fut)).detach();
    };
    for _ in 0..n {
        let q = p.clone();
        spawn(Box::pin(async move {
            corio::sleep(Duration::from_secs(3600)).await
        }));
        spawn(Box::pin(async move {
            let _ = corio::timeout(Duration::from_secs(3600), pending::<()>()).await;
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move { q.event.wait().await }
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move {
                let _ = q.zero.acquire().await;
            }
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move {
                let _ = q.empty.get().await;
            }
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move {
                let _ = q.full.put(1).await;
            }
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move { q.notify.notified().await }
        }));
        spawn(Box::pin({
            let q = q.clone();
            async move {
                let _ = q.barrier.wait().await;
            }
        }));
        spawn(Box::pin(pending::<()>()));
        started += 9;
    }
    // One holder of the mutex, n waiters.
    let holder = p.clone();
    spawn(Box::pin(async move {
        let _held = holder.mutex.lock().await;
        pending::<()>().await;
    }));
    started += 1;
    wait_until(Duration::from_secs(10), || p.mutex.try_lock().is_err()).await;
    for _ in 0..n {
        let q = p.clone();
        spawn(Box::pin(async move { drop(q.mutex.lock().await) }));
        started += 1;
    }
    // oneshot receivers whose senders sit in other parked tasks.
    for _ in 0..n {
        let (tx, rx) = oneshot::channel::<()>();
        spawn(Box::pin(async move {
            let _ = rx.await;
        }));
        spawn(Box::pin(async move {
            let _tx = tx;
            pending::<()>().await;
        }));
        started += 2;
    }
    // Tasks awaiting tasks.
    for _ in 0..n {
        let inner = corio::spawn(guarded(c, pending::<()>()));
        spawn(Box::pin(inner));
        started += 2;
    }
    // Task groups: a parked body and three parked children each.
    for _ in 0..n / 10 {
        let c2 = c.clone();
        spawn(Box::pin(async move {
            let _ = corio::task_group(async |g| {
                for _ in 0..3 {
                    let child = guarded(&c2, pending::<()>());
                    g.spawn(async move {
                        child.await;
                        Ok::<(), ()>(())
                    });
                }
                pending::<()>().await;
                Ok::<(), ()>(())
            })
            .await;
        }));
        started += 4;
    }
    // Always ready: they never park.
    for _ in 0..4 {
        spawn(Box::pin(async {
            loop {
                corio::yield_now().await;
            }
        }));
        started += 1;
    }
    // Blocking jobs still running at shutdown.
    for _ in 0..2 {
        spawn(Box::pin(async {
            corio::to_thread(|| std::thread::sleep(Duration::from_millis(200))).await;
            pending::<()>().await;
        }));
        started += 1;
    }
    // Sockets: both ends of silent connections, and accepts with no client.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    for _ in 0..sockets {
        let (accepted, client) =
            futures_lite::future::zip(listener.accept(), TcpStream::connect(addr)).await;
        for stream in [accepted?.0, client?] {
            spawn(Box::pin(async move {
                let mut b = [0u8; 1];
                let _ = (&stream).read(&mut b).await;
            }));
            started += 1;
        }
    }
    for _ in 0..4 {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        spawn(Box::pin(async move {
            let _ = l.accept().await;
        }));
        started += 1;
    }
    // Tasks whose handle outlives the runtime.
    let kept = (0..n)
        .map(|_| corio::spawn(guarded(c, pending::<()>())))
        .collect::<Vec<_>>();
    started += n;
    Ok((started, kept))
}

/// Waits until every task has started, then spawns tasks that will never be polled.
async fn park_all(
    c: &Arc<Counters>,
    n: usize,
    sockets: usize,
    local: bool,
) -> Result<Vec<Task<()>>, String> {
    let (mut started, kept) = park_send_kinds(c, n, sockets)
        .await
        .map_err(|e| format!("setting up: {e}"))?;
    if local {
        for _ in 0..n {
            let not_send = Rc::new(Guard::new(c));
            corio::spawn_local(guarded(c, async move {
                let _keep = not_send;
                pending::<()>().await;
            }))
            .detach();
            started += 1;
        }
    }
    let all = wait_until(Duration::from_secs(20), || {
        c.started.load(Ordering::SeqCst) >= started
    })
    .await;
    if !all {
        return Err(format!(
            "only {} of {started} tasks started within 20 s",
            c.started.load(Ordering::SeqCst)
        ));
    }
    // In the run queue when the runtime goes: spawned, never polled.
    for _ in 0..n {
        corio::spawn(guarded(c, pending::<()>())).detach();
    }
    Ok(kept)
}

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let n = size.pick(1_000, 200, 20);
    let sockets = size.pick(200, 50, 5);
    if let Err(e) = crate::sys::raise_nofile() {
        out.note(format!("could not raise RLIMIT_NOFILE: {e}"));
    }
    for local in [false, true] {
        let kind = if local {
            "LocalRuntime"
        } else {
            "Runtime (2 workers)"
        };
        let c = Arc::new(Counters::default());
        let (kept, finished_before, shutdown) = if local {
            let rt = match corio::LocalRuntime::new() {
                Ok(rt) => rt,
                Err(e) => return out.fail(format!("LocalRuntime::new: {e}")),
            };
            let kept = rt.block_on(park_all(&c, n, sockets, true));
            let finished = c.finished.load(Ordering::SeqCst);
            let t = Instant::now();
            drop(rt);
            (kept, finished, t.elapsed())
        } else {
            let rt = super::runtime(2);
            let kept = rt.block_on(park_all(&c, n, sockets, false));
            let finished = c.finished.load(Ordering::SeqCst);
            let t = Instant::now();
            drop(rt);
            (kept, finished, t.elapsed())
        };
        let kept = match kept {
            Ok(kept) => kept,
            Err(e) => return out.fail(format!("{kind}: {e}")),
        };
        let created = c.created.load(Ordering::SeqCst);
        let dropped = c.dropped.load(Ordering::SeqCst);
        let polled_in_shutdown = c.finished.load(Ordering::SeqCst) - finished_before;
        drop(kept);
        out.figure(format!(
            "{kind}: {} drop guards in parked tasks ({sockets} socket pairs, {n} tasks never \
             polled, {n} with live handles); drop took {}; {} of {} destructors ran by then",
            count(created),
            dur(shutdown),
            count(dropped),
            count(created),
        ));
        if polled_in_shutdown > 0 {
            out.note(format!(
                "{kind}: {polled_in_shutdown} tasks ran to their end during shutdown"
            ));
        }
        out.check(dropped == created, || {
            format!(
                "{kind}: {} of {} drop guards still alive after the runtime was dropped",
                created - dropped.min(created),
                created
            )
        });
        out.check(finished_before == 0, || {
            format!("{kind}: {finished_before} waits that can never end did end")
        });
        out.check(c.dropped.load(Ordering::SeqCst) == dropped, || {
            format!("{kind}: dropping the kept handles after the runtime dropped more guards")
        });
    }
}
