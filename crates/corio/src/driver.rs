//! The driver stack: the executor parks in the timer, which waits in the reactor.
//!
//! This is the one place where the executor, the timers, the reactor and the blocking pool meet;
//! none of those crates knows about the others.

use std::any::Any;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use corio_blocking::Pool;
use corio_cpu::CpuPool;
use corio_executor::{Driver, DriverHandle};
use corio_reactor::{Reactor, ReactorDriver};
use corio_timer::{Clock, Timer, TimerDriver};

/// How long a deterministic runtime waits for real I/O in flight before it lets virtual time
/// jump ahead anyway (the peer may itself be waiting on a timer).
const IO_GRACE: Duration = Duration::from_millis(10);

/// Under virtual time, how many busy-loop checks in a row (the executor makes one every 61
/// polls while it has work) may pass without the loop ever going idle before time jumps to the
/// next timer anyway: about 62,000 polls. Virtual time otherwise moves only when the loop is
/// idle, so a task that never stops (a spin on `yield_now`, an always-ready loop that only
/// yields to the cooperative budget) would freeze it: no timeout around that task could fire,
/// and a simulation's time limit would never be reached. Counted in polls, so the jump happens
/// at the same point of a seeded schedule in every run.
const BUSY_CHECKS_BEFORE_JUMP: u32 = 1024;

/// How long virtual time holds, at most, while a task awaits external work (a child process)
/// and nothing else is in flight: the real-time bound of [`Stack::holds_for_external`].
const EXTERNAL_HOLD: Duration = Duration::from_secs(1);

/// How long a loop on a paused clock may sit idle, with timers pending, before it says that
/// they will not fire by themselves.
const PAUSED_IDLE_REPORT: Duration = Duration::from_secs(1);

thread_local! {
    /// How many times a runtime on this thread parked idle under virtual time.
    static IDLE_PARKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times a runtime on this thread parked idle under virtual time: a simulation tells
/// a loop that keeps going idle (time moves because nothing else can happen) from one that never
/// does (time moves only through busy jumps, see [`BUSY_CHECKS_BEFORE_JUMP`]).
pub(crate) fn idle_parks() -> u64 {
    IDLE_PARKS.with(std::cell::Cell::get)
}

thread_local! {
    /// Futures waiting for a virtual-time loop on this thread to go idle ([`until_idle`]), each
    /// with the timer of the runtime it waits for: a runtime nested on the same thread (a
    /// `run_seeded` or another simulation inside a simulation's task) must not take the outer
    /// one's (a review: it woke the outer simulation's watchdog while its loop was busy, a false
    /// deadlock).
    static IDLE_WAITERS: std::cell::RefCell<Vec<(Timer, std::task::Waker)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Completes once the loop of the current runtime (a virtual-time one, on this thread) has
/// nothing left to run, before virtual time moves: every task woken before it has been polled,
/// and no timer has fired since. A simulation's deadlock check looks there: a one-nanosecond
/// sleep moved time by a tick, which fired the timers due in that tick too, and a task they
/// woke but the loop had not yet polled left no timer pending and looked deadlocked (a probe:
/// traffic every 1 ms was reported as a deadlock at 10 s, 50 of 50 runs).
pub(crate) fn until_idle() -> UntilIdle {
    UntilIdle {
        timer: Timer::current(),
        registered: false,
    }
}

/// The future of [`until_idle`]; dropped early, it takes its entry back.
pub(crate) struct UntilIdle {
    timer: Timer,
    registered: bool,
}

impl UntilIdle {
    /// Whether this future's entry is in [`IDLE_WAITERS`].
    fn listed(&self) -> bool {
        IDLE_WAITERS.with(|w| w.borrow().iter().any(|(t, _)| t.ptr_eq(&self.timer)))
    }
}

impl std::future::Future for UntilIdle {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.registered && !self.listed() {
            // Taken by its runtime's idle park.
            self.registered = false;
            return std::task::Poll::Ready(());
        }
        IDLE_WAITERS.with(|w| {
            let mut waiters = w.borrow_mut();
            waiters.retain(|(t, _)| !t.ptr_eq(&self.timer));
            waiters.push((self.timer.clone(), cx.waker().clone()));
        });
        self.registered = true;
        std::task::Poll::Pending
    }
}

impl Drop for UntilIdle {
    fn drop(&mut self) {
        if self.registered {
            let _ = IDLE_WAITERS.try_with(|w| {
                w.borrow_mut().retain(|(t, _)| !t.ptr_eq(&self.timer));
            });
        }
    }
}

pub(crate) struct Stack {
    timer: TimerDriver,
    reactor: ReactorDriver,
    handle: Arc<StackHandle>,
    /// Busy-loop checks since the loop was last idle (virtual time only).
    busy_checks: u32,
    /// Whether the paused-clock report was printed (once per runtime), and the paused instant
    /// the loop has waited at since when (real time).
    warned_paused: bool,
    paused_idle: Option<(std::time::Instant, std::time::Instant)>,
    /// External work awaited (virtual time only): how many, and since when (real time) that
    /// count has held (see [`Stack::holds_for_external`]).
    external: Option<(usize, std::time::Instant)>,
    /// Blocking or CPU jobs in flight (virtual time only): the pools' completion counts, and
    /// since when (real time) they have stood still (see [`Stack::holds_for_jobs`]); whether
    /// the release was reported (once per runtime).
    jobs: Option<((u64, u64), std::time::Instant)>,
    warned_jobs: bool,
    /// The driver of a local runtime: its one thread checks the ring between tasks whenever
    /// requests are queued (see [`Stack::park`]).
    local: bool,
    /// The seed of a deterministic runtime, for its reports.
    seed: Option<u64>,
    /// Virtual time only: since when (real time) the loop has waited with nothing to run,
    /// nothing in flight and no timer to jump to (see [`Stack::park_virtual`]); whether that was
    /// reported (once per runtime).
    stuck_since: Option<std::time::Instant>,
    warned_stuck: bool,
}

#[derive(Debug)]
pub(crate) struct StackHandle {
    pub(crate) timer: Timer,
    pub(crate) reactor: Reactor,
    pub(crate) pool: Pool,
    pub(crate) cpu: CpuPool,
}

impl Stack {
    pub(crate) fn new(
        clock: Clock,
        pool: Pool,
        cpu: CpuPool,
        timer_shards: usize,
        local: bool,
        seed: Option<u64>,
    ) -> io::Result<Stack> {
        let reactor = ReactorDriver::new()?;
        let timer = TimerDriver::with_shards(clock, timer_shards);
        let waker = reactor.reactor();
        // A timer due before the current wait ends interrupts the wait.
        timer.set_unpark(move || waker.notify());
        let handle = Arc::new(StackHandle {
            timer: timer.timer(),
            reactor: reactor.reactor(),
            pool,
            cpu,
        });
        Ok(Stack {
            timer,
            reactor,
            handle,
            busy_checks: 0,
            warned_paused: false,
            paused_idle: None,
            external: None,
            jobs: None,
            warned_jobs: false,
            local,
            seed,
            stuck_since: None,
            warned_stuck: false,
        })
    }

    pub(crate) fn stack_handle(&self) -> Arc<StackHandle> {
        self.handle.clone()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> usize {
        match self.reactor.park(timeout) {
            Ok(n) => n,
            Err(e) => {
                // Losing the poller is fatal for I/O but must not spin: report it once per wait
                // and sleep a little, so timers keep working.
                eprintln!("corio: waiting for I/O failed: {e}");
                std::thread::sleep(
                    timeout
                        .unwrap_or(Duration::from_millis(10))
                        .min(Duration::from_millis(10)),
                );
                0
            }
        }
    }

    /// A paused clock (`time::pause`, `Builder::paused_clock`) moves only through
    /// `time::advance`: a loop that waits on one with timers pending waits for ever, where
    /// tokio's paused clock would jump ahead. Once the clock has stood at the same instant for
    /// [`PAUSED_IDLE_REPORT`] of real time across the loop's idle parks, with timers pending,
    /// say so once on stderr instead of hanging silently. (Counted across parks: a short sleep
    /// makes each park short, and a review saw a single-wait count never report it.)
    fn park_paused(&mut self, t: Option<Duration>) {
        let pending = self.handle.timer.pending();
        if pending == 0 {
            self.paused_idle = None;
            self.wait(t);
            self.timer.fire_due();
            return;
        }
        let now = self.handle.timer.clock().now();
        let since = match self.paused_idle {
            Some((at, since)) if at == now => since,
            _ => {
                let since = std::time::Instant::now();
                self.paused_idle = Some((now, since));
                since
            }
        };
        let left = PAUSED_IDLE_REPORT.saturating_sub(since.elapsed());
        self.wait(Some(t.map_or(left, |t| t.min(left))));
        if since.elapsed() >= PAUSED_IDLE_REPORT {
            self.warned_paused = true;
            eprintln!(
                "corio: this runtime's clock is paused (corio::time::pause or \
                 Builder::paused_clock) and has stood at the same instant for {} s of real time \
                 with {pending} timer(s) pending while the loop waited: a paused clock moves only \
                 through corio::time::advance, so they will not fire by themselves (tokio's \
                 paused clock jumps ahead when idle; for that, use deterministic mode: \
                 Builder::deterministic or #[corio::test(seed = ..)])",
                PAUSED_IDLE_REPORT.as_secs()
            );
        }
        self.timer.fire_due();
    }

    /// Whether virtual time holds for external work a task awaits (a child process): while
    /// any is awaited, for up to [`EXTERNAL_HOLD`] of real time from when the set of awaited
    /// work last changed. A child normally finishes by itself, and a virtual timeout around it
    /// must not fire first; but it may wait for the loop in turn (its stdin written by a task
    /// that sleeps on virtual time, a review found hanging for ever), so past the bound the
    /// clock moves again as it does for sockets.
    fn holds_for_external(&mut self) -> bool {
        let count = self.handle.reactor.external_in_flight();
        if count == 0 {
            self.external = None;
            return false;
        }
        unchanged_for(&mut self.external, count) < EXTERNAL_HOLD
    }

    /// Whether virtual time holds for blocking or CPU jobs in flight: while the pools complete
    /// jobs, and for up to [`EXTERNAL_HOLD`] of real time after the last completion. A job
    /// normally finishes by itself, and a virtual timeout around it must not fire first; but it
    /// may wait for the loop in turn (a `to_thread` closure that receives from a channel a task
    /// sends on after a virtual sleep: a probe found that hanging for ever), so past the bound
    /// the clock moves again, as for a child process, and the runtime says once that replay by
    /// seed is no longer exact.
    fn holds_for_jobs(&mut self, run: (u64, u64)) -> bool {
        if unchanged_for(&mut self.jobs, run) < EXTERNAL_HOLD {
            return true;
        }
        if !self.warned_jobs {
            self.warned_jobs = true;
            eprintln!(
                "corio: virtual time held still for {} s of real time while a blocking or CPU \
                 job (to_thread, unblock, spawn_cpu, fs) ran and no job finished; it moves on \
                 now, in case the job waits for this runtime's tasks (a channel fed after a \
                 virtual sleep). From here, this run's timing against that job is not replayed \
                 by its seed",
                EXTERNAL_HOLD.as_secs()
            );
        }
        false
    }

    /// Virtual time: the runtime is idle, so time may jump to the next timer, unless real work
    /// is in flight (a blocking or CPU job, a child process a task waits for, or a socket
    /// operation, which gets a short real-time grace).
    fn park_virtual(&mut self, timeout: Option<Duration>) {
        let pool = self.handle.pool.metrics();
        let jobs_busy = pool.queued > 0
            || pool.threads_alive > pool.threads_idle
            || !self.handle.cpu.is_settled();
        let jobs_hold = if jobs_busy {
            let run = (pool.jobs_run, self.handle.cpu.metrics().completed);
            self.holds_for_jobs(run)
        } else {
            self.jobs = None;
            false
        };
        let blocking_busy = jobs_hold || self.holds_for_external();
        if blocking_busy || self.handle.reactor.waiting() > 0 {
            // Something is in flight: not stuck (see `wait_stuck`).
            self.stuck_since = None;
        }
        if blocking_busy {
            // A blocking job will wake us when it finishes (a child process that a task waits
            // for, when it exits); virtual time holds until then.
            self.wait(Some(IO_GRACE));
            self.timer.fire_due();
            return;
        }
        if self.handle.reactor.waiting() > 0 && self.wait(Some(IO_GRACE)) > 0 {
            // I/O made progress: run the tasks it woke before moving time.
            self.timer.fire_due();
            return;
        }
        // Idle, and about to move time: a task waiting for exactly this goes first.
        let timer = &self.handle.timer;
        let waiter = IDLE_WAITERS.with(|w| {
            let mut waiters = w.borrow_mut();
            let at = waiters.iter().position(|(t, _)| t.ptr_eq(timer))?;
            Some(waiters.swap_remove(at).1)
        });
        if let Some(waiter) = waiter {
            waiter.wake();
            return;
        }
        if !self.timer.auto_advance() {
            // No timer to jump to: only another thread can wake us.
            let t = self.timer.park_timeout(timeout);
            self.wait_stuck(t);
            self.timer.fire_due();
        } else {
            self.stuck_since = None;
        }
    }

    /// The wait of a virtual-time loop with nothing to run, nothing in flight and no timer to
    /// jump to: unless a thread of the program's own wakes a task, every task waits for another
    /// (two locks taken in opposite orders, a channel nobody will send on). After
    /// [`PAUSED_IDLE_REPORT`] of real time so, across waits, say so once on stderr, with the
    /// seed, instead of hanging silently (a review: a lock-order inversion under `run_seeded`
    /// and `explore` hung with no output, so the failing seed could not be found).
    fn wait_stuck(&mut self, t: Option<Duration>) {
        if self.warned_stuck {
            self.wait(t);
            return;
        }
        let since = *self.stuck_since.get_or_insert_with(std::time::Instant::now);
        let left = PAUSED_IDLE_REPORT.saturating_sub(since.elapsed());
        if self.wait(Some(t.map_or(left, |t| t.min(left)))) > 0 {
            // I/O (a notification from another thread): not stuck.
            self.stuck_since = None;
            return;
        }
        if since.elapsed() >= PAUSED_IDLE_REPORT {
            self.warned_stuck = true;
            let seed = self
                .seed
                .map(|seed| format!(" (seed {seed}; replay it with CORIO_SEED={seed})"))
                .unwrap_or_default();
            eprintln!(
                "corio: this virtual-time runtime{seed} has waited {} s of real time with no \
                 task ready, no timer pending for its clock to jump to, and no blocking job, \
                 child process or I/O in flight: unless a thread of your own wakes one of its \
                 tasks, they wait for each other and never finish (a deadlock: locks taken in \
                 opposite orders, a channel nobody will send on). Debug mode's dump lists the \
                 tasks and where each waits",
                PAUSED_IDLE_REPORT.as_secs()
            );
        }
    }
}

/// How long (real time) `key` has been the value kept in `slot`: the clock restarts when the
/// value changes.
fn unchanged_for<K: PartialEq>(slot: &mut Option<(K, std::time::Instant)>, key: K) -> Duration {
    let now = std::time::Instant::now();
    match slot {
        Some((seen, since)) if *seen == key => now.duration_since(*since),
        _ => {
            *slot = Some((key, now));
            Duration::ZERO
        }
    }
}

impl Driver for Stack {
    fn park(&mut self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            // Tasks run: the loop is not stuck (see `wait_stuck`).
            self.stuck_since = None;
            // The busy-loop check. A poller wait costs several syscalls with `polling` (timerfd,
            // epoll_ctl, epoll_wait, eventfd), so skip it unless a task waits on I/O; an event
            // for a source nobody waits on stays queued in the kernel until someone does. On the
            // ring, requests may wait for submission even when no task waits (a dropped socket's
            // removal, which keeps it open): a local runtime's thread, or a worker (threads that
            // take on the ring's work by design), submits them here. Not the thread in a
            // multi-threaded runtime's `block_on`, which checks here too between its pinned
            // tasks: it is the user's, and must not take on the ring's wake-up work (see
            // `corio-reactor`'s `uring.rs`). A loop that made and dropped sockets without ever
            // waiting grew the queue by 128 bytes a socket, for as long as it ran (a probe).
            let reactor = &self.handle.reactor;
            if reactor.waiting() > 0
                || (reactor.queued_submissions() > 0
                    && (self.local || corio_executor::is_worker_thread()))
            {
                self.wait(timeout);
            }
            self.timer.fire_due();
            if self.timer.timer().clock().auto_advance() {
                self.busy_checks += 1;
                if self.busy_checks >= BUSY_CHECKS_BEFORE_JUMP {
                    self.busy_checks = 0;
                    self.timer.auto_advance();
                }
            }
            return;
        }
        if self.timer.timer().clock().auto_advance() {
            self.busy_checks = 0;
            IDLE_PARKS.with(|n| n.set(n.get() + 1));
            self.park_virtual(timeout);
            return;
        }
        let t = self.timer.park_timeout(timeout);
        if !self.warned_paused && self.timer.timer().clock().is_paused() {
            self.park_paused(t);
            return;
        }
        self.wait(t);
        self.timer.fire_due();
    }

    fn handle(&self) -> Arc<dyn DriverHandle> {
        self.handle.clone()
    }
}

impl DriverHandle for StackHandle {
    fn unpark(&self) {
        self.reactor.notify();
    }

    fn enter(&self) -> Box<dyn Any> {
        Box::new((
            self.timer.enter(),
            self.reactor.enter(),
            self.pool.enter(),
            self.cpu.enter(),
        ))
    }

    fn is_idle(&self) -> bool {
        self.timer.pending() == 0 && self.reactor.waiting() == 0
    }

    // Only the ring defers work (the default does nothing, without a call into the reactor).
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    fn assist(&self) {
        // Workers, and the thread in a multi-threaded runtime's `block_on` (its checks between
        // pinned tasks may submit), can hold deferred work; for a thread that holds none the
        // enter is in vain but harmless (it submits nothing, so it enrols no thread).
        self.reactor.run_deferred_work();
    }

    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    fn worker_exit(&self) {
        self.reactor.release_thread();
    }
}
