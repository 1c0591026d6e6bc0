//! The io_uring poller (Linux, feature `io-uring`), and the choice between it and epoll.
//!
//! The ring is used as a *readiness* poller, so every `Async<T>` works unchanged: each source
//! gets one multishot `IORING_OP_POLL_ADD` (edge-triggered, as the kernel arms multishot polls
//! without `IORING_POLL_ADD_LEVEL`), whose completions carry the ready mask exactly as an epoll
//! event would; they are written into the same [`Events`] buffer, so the reactor cannot tell the
//! two apart.
//!
//! Invariants:
//! - The submission queue is touched only under `sq`, the completion queue only under `cq` (only
//!   the thread in [`Ring::wait`] drains it; the reactor has one such thread at a time).
//! - A registration's `user_data` is `generation << 32 | key`, with a 31-bit generation (bit 63
//!   tags receives) unique to that registration (until it wraps, after 2^31 of them), so a late
//!   completion of a removed poll can never re-arm its key's next owner. `regs` maps each
//!   registered key to its fd and `user_data`.
//! - Only a thread that waits on the ring ([`Ring::wait`], the driver's park, including its
//!   zero-timeout check) submits, and, once the reactor's driver is gone (`driverless`: nobody
//!   will wait again), a short-lived thread of the ring's own. No other thread ever enters the
//!   ring with entries queued: not the one that builds the runtime (it queues nothing), not one
//!   that registers or drops a socket, not one that finds the submission queue full (entries
//!   then wait in a backlog behind it, in order, which the next submitter moves in), not the one
//!   that drops the runtime. The reason: the thread that
//!   submits a request owns its wake-up work. The kernel runs it on that thread with a
//!   signal-like notification, which interrupts that thread's blocking calls (a user thread's
//!   `read` with a timeout failed with `EINTR`), waits for it while that thread sits in a
//!   killable wait (a `vfork` parent held a socket's wake-up, and its FIN, for 1.7 s), and
//!   cancels the request once that thread has exited. A conformance probe found all three on
//!   threads that had submitted by accident.
//! - The kernel also enrols the thread that *creates* a ring, and every thread that ever
//!   submitted to it, in the ring's tasks until that thread exits; the ring's teardown notifies
//!   each of them the same way (`EINTR` up to 50 ms after a runtime was dropped, a probe
//!   found). So the ring is created on a short-lived thread ([`Ring::new`]), and the drop's
//!   cancels are submitted from one too: once a multi-threaded runtime's workers have exited,
//!   no thread is enrolled. The thread of a local loop, which waits on the ring itself, stays
//!   enrolled (documented in `docs/PLATFORMS.md`).
//! - A queued entry reaches the kernel at the next enter of the waiting thread. If that thread
//!   is inside its enter right now (`in_wait`), the queuing thread wakes it through the eventfd.
//!   A SeqCst fence on both sides (the queuing thread after publishing the entry, the waiter
//!   after raising `in_wait`) makes sure that one of the two sees the entry. If no thread is in
//!   the ring (every worker busy), the busy loop's zero-timeout park submits it: a worker's or a
//!   local loop's, whenever something is queued (`Reactor::queued_submissions`), not only while a
//!   task waits on I/O (a loop that made and dropped sockets without waiting grew the queue
//!   without bound); never the check of the thread in a multi-threaded runtime's `block_on`.
//! - A removal is an `IORING_OP_ASYNC_CANCEL` of the poll ([`Ring::kick`]): a poll holds a
//!   reference to the file, so the socket does not close (no FIN; a listener still accepts)
//!   until the removal reaches the kernel, and then until the kernel's wake-up work for the poll
//!   has run on the poll's submitter. A thread that has blocked in the ring itself (`WAITS_ON`)
//!   submits it at once; any other hands it to the waiting thread. Not `IORING_OP_POLL_REMOVE`: it fails with `EALREADY` and leaves the poll armed when
//!   a wake-up of that poll is being processed at that moment (a test that writes to a socket
//!   right before dropping it caught the leaked file), whereas a cancel marks the poll cancelled
//!   and lets whoever owns it complete it.
//! - A worker that exits (its runtime shuts down) cancels every registered source's poll in an
//!   enter of its own first ([`Ring::release_thread`]): the polls it submitted end during that
//!   enter, rather than in the kernel's deferred work ticks after its exit, which held the
//!   sockets dropped with the runtime's tasks open for 5-9 ms after the drop returned. It is
//!   exiting, so submitting enrols no thread that could be interrupted later.
//! - A multishot poll that ends by itself (a completion without `IORING_CQE_F_MORE`) while its
//!   source is still registered is re-armed and reported ready in both directions, since an edge
//!   may have been lost; a spurious readiness only costs the task one `WouldBlock`. Polls end
//!   when the completion queue is full, and with `ECANCELED` when a wake-up finds that the
//!   thread which submitted the poll has exited: the kernel runs a poll's wake-up work on its
//!   submitter, so the polls of a short-lived thread die with it (the corio-net suite caught
//!   this). The re-arm is submitted by the next thread to enter the ring, normally the parking
//!   one. A poll that ends with another error is reported ready, not re-armed (the next
//!   operation on the source sees the error).
//! - Cross-thread wake-ups are writes to an eventfd watched by a multishot poll, as in the epoll
//!   poller: each write is a new edge. The poll's completion work runs on the thread that
//!   submitted it, so each thread that blocks in the ring has an eventfd of its own, whose poll
//!   it submitted itself ([`Ring::become_waiter`]: pushed and submitted in one hold of the `sq`
//!   lock, which every other submission holds across its enter, so that none takes it; the
//!   waiter's own blocking enter submits without the lock, but waiters take turns, so no other
//!   thread's poll can be queued then), and `notify` writes to the eventfd of the
//!   thread blocking now (`Notifiers::current`, set from before that thread's first enter to
//!   after its last one). `notify` raises `notified` before it reads `current`, a waiter sets
//!   `current` before it reads `notified` (a SeqCst fence on both sides), so a wake-up is
//!   never lost: it reaches the waiter's eventfd or the waiter does not block. No thread ever
//!   touches another's poll: a busy thread holds back no wake-up, and no wake-up interrupts a
//!   thread that is not waiting (one that `notify` found current a moment before it stopped
//!   excepted). When a new thread comes to wait, the eventfds of threads that have exited get a
//!   write that makes the kernel end their polls (it does not cancel a poll when its submitter
//!   exits, and the poll holds the eventfd's file), and are dropped on the poll's last
//!   completion, which is no wake-up; one whose thread was still finishing its exit gets
//!   another write from the next newcomer. A blocking wait goes on through completions that
//!   do not matter (a removal's) until its timeout.
//! - The ring is created with `IORING_FEAT_NODROP` required, so a full completion queue never
//!   loses a completion; the kernel holds it, and every enter made with `GETEVENTS` (and the
//!   zero-timeout path when the overflow flag is up) flushes it.
//! - A park with a zero timeout (the executor's busy-loop check) makes no system call unless
//!   entries are queued, completions overflowed, or the kernel flags deferred work
//!   (`IORING_SQ_TASKRUN`): ready completions are in shared memory.
//! - The ring is set up with `IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG` where the
//!   kernel has them (5.19; an older kernel's `EINVAL` sets it up without them, as before):
//!   the wake-up work of a request no longer interrupts its submitter when that thread runs
//!   (an inter-processor interrupt when it runs on another core: a third of `tcp_echo`'s time
//!   at 2 workers, `perf record`, in `_raw_spin_unlock_irqrestore` under the socket's wake-up);
//!   a sleeping submitter is still woken. The work waits for the submitter's next entry into
//!   the kernel, and the kernel raises `IORING_SQ_TASKRUN`. Every thread that may have
//!   submitted therefore enters when it sees the flag and would otherwise make no system call:
//!   the zero-timeout check, and [`Ring::run_deferred_work`], which a worker calls between its
//!   tasks when another thread holds the driver, and each waiting thread's eventfd poll is its
//!   own (above). What is left: a task that computes on a worker without a system call
//!   delays the events of the sockets whose polls that worker submitted (whoever waits for
//!   them) to its next timer interrupt, at most a tick (4 ms at 250 Hz); a review measured it
//!   on UDP round trips beside a task computing in 20 ms stretches (4 of 10 runs had a p90
//!   over 1 ms; none on epoll), and nothing with 200 µs stretches.
//!
//! Receives (`Async::poll_recv`):
//! - Each source has a `RecvState`: a buffer of `RECV_BUF` bytes (allocated on the first
//!   receive), the range of bytes received and not read, a result to deliver (the end of stream,
//!   which stays, or an error, delivered once), and the index of its receive in flight, if any.
//! - While a receive is in flight its buffer belongs to the `Op` in `ops`, never to the source:
//!   the kernel writes to it until the completion, and the `Op` (so the buffer) lives until that
//!   completion is drained, whatever happened to the reader or the source. A reader that goes
//!   away leaves the receive in flight; its bytes wait in the buffer for the next read (nothing
//!   is lost). A source that goes away cancels its receive (`IORING_OP_ASYNC_CANCEL`) and the
//!   buffer is freed when the cancelled receive completes. A ring dropped with receives in flight
//!   cancels them and waits for their completions (up to `DROP_WAIT`), then leaks, never frees,
//!   the buffers of any that did not complete.
//! - A receive that completes with `ECANCELED` while its source is alive was cancelled by the
//!   kernel (its submitting thread exited): nothing was taken, and the reader is woken to start
//!   another.
//! - Memory: `RECV_BUF` (16 KiB) per source that has received on the ring, plus an `Op` (a
//!   `Vec` header and a `Weak`, 32 bytes) and a slab slot per receive in flight; the kernel's
//!   own request is about 200 bytes more.
//!
//! Across `fork`, the child shares the parent's ring (and its polls and receives): a child must
//! not use a reactor inherited from its parent, as with epoll, only build a new runtime.
//!
//! Measured (issue 17, `corio-bench tcp_echo`, 50 connections × 1,000 round trips of 64 B, both
//! ends in one process, 2-core machine): with receives on the ring a round trip costs about 2
//! system calls instead of 6 (no `recv` that fails with `EAGAIN`, one `io_uring_enter` per park
//! for many submissions), but no time is saved at 1 worker. At 2 workers the ring took twice
//! epoll's time (about 12 against 6 µs a round trip) until `COOP_TASKRUN`: the kernel
//! interrupted the other worker, the poll's submitter, for each wake-up. With it the ring is at
//! epoll's and tokio's level (about 6 µs); it does not beat them, so it stays opt-in. One ring
//! per worker, each submitted to and waited on only by its own thread, is not built.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use polling::{Event, PollMode};
use slab::Slab;

use crate::reactor::lock;
use crate::sys::linux::{self as epoll, CAPACITY, Events, check};

/// The `user_data` of removal completions, which nobody needs.
const IGNORE_KEY: u64 = u64::MAX - 1;
/// Set in the `user_data` of an operation (a receive), whose low bits are its index in `ops`.
const OP_BIT: u64 = 1 << 63;
/// The high 32 bits of the eventfds' polls' `user_data`, whose low 32 bits are the [`Notifier`]'s
/// id (see [`Ring::become_waiter`]). Never a registration's (bit 63 clear), an operation's
/// (`OP_BIT` and an index far below 2^32) or [`IGNORE_KEY`]'s (high bits `0xFFFF_FFFF`).
const NOTIFY_TAG: u64 = 0xFFFF_FFF0_0000_0000;

/// The `user_data` of a registration's poll: 31 bits of generation above the key's 32 bits, so
/// that bit 63 ([`OP_BIT`]) stays clear whatever the counter: after 2^31 registrations a full
/// 32-bit generation would set it, and that poll's completions would be taken for those of the
/// receive in the key's slot of `ops` (whose buffer the kernel may still be writing).
fn poll_user_data(generation: u32, key: usize) -> u64 {
    (u64::from(generation & 0x7FFF_FFFF) << 32) | (key as u64 & 0xFFFF_FFFF)
}
/// The buffer a source receives into on the ring.
const RECV_BUF: usize = 16 * 1024;
/// How long dropping a ring waits for the completions of operations still in flight before it
/// leaks their buffers instead of freeing memory the kernel may still write to.
const DROP_WAIT: Duration = Duration::from_secs(1);
/// Submission queue entries. A full queue is submitted and reused, so this bounds nothing.
const SQ_ENTRIES: u32 = 256;
/// Completion queue entries: one multishot poll may post several before a park drains them.
const CQ_ENTRIES: u32 = 4096;
/// The longest single wait on the ring, as on epoll (`c_int::MAX` milliseconds, about 24.8
/// days); a longer timeout just parks again.
const MAX_WAIT: Duration = Duration::from_millis(i32::MAX as u64);

const POLL_READ: u32 = (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) as u32;
const POLL_WRITE: u32 = libc::POLLOUT as u32;

/// A setup error forced by [`crate::fail_io_uring_setup`] (0: none).
static FORCED_SETUP_ERRNO: AtomicI32 = AtomicI32::new(0);

pub(crate) fn force_setup_error(errno: Option<i32>) {
    FORCED_SETUP_ERRNO.store(errno.unwrap_or(0), Ordering::SeqCst);
}

/// Set by [`crate::refuse_io_uring_coop_taskrun`]: rings are set up as on a kernel before 5.19.
static FORCED_NO_COOP: AtomicBool = AtomicBool::new(false);

pub(crate) fn force_no_coop(on: bool) {
    FORCED_NO_COOP.store(on, Ordering::SeqCst);
}

/// The poller: the ring where the kernel allows it, epoll where it does not.
#[derive(Debug)]
// One per reactor, inside its `Arc`: the size of the epoll variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Poller {
    Ring(Ring),
    /// epoll, and why the ring was not used.
    Epoll(epoll::Poller, String),
}

impl Poller {
    /// `CORIO_IO=epoll` forces epoll; otherwise the ring is set up and probed, and any failure
    /// falls back to epoll, keeping the reason for `Debug` output. Another value of `CORIO_IO`
    /// (`io_uring` is the default's name) is warned about on stderr once and ignored.
    pub(crate) fn new() -> io::Result<Poller> {
        match std::env::var_os("CORIO_IO") {
            Some(v) if v == "epoll" => {
                return Ok(Poller::Epoll(
                    epoll::Poller::new()?,
                    "CORIO_IO=epoll".into(),
                ));
            }
            Some(v) if v != "io_uring" && !v.is_empty() => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    eprintln!(
                        "corio: ignoring CORIO_IO={v:?}: expected `epoll` (or `io_uring`, the \
                         default)"
                    );
                });
            }
            _ => {}
        }
        match Ring::new() {
            Ok(ring) => Ok(Poller::Ring(ring)),
            Err(e) => Ok(Poller::Epoll(
                epoll::Poller::new()?,
                format!("io_uring unavailable: {e}"),
            )),
        }
    }

    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Poller::Ring(_) => "io_uring",
            Poller::Epoll(..) => "epoll",
        }
    }

    pub(crate) fn fallback_reason(&self) -> Option<&str> {
        match self {
            Poller::Ring(_) => None,
            Poller::Epoll(_, why) => Some(why),
        }
    }

    pub(crate) fn supports_edge(&self) -> bool {
        match self {
            Poller::Ring(_) => true,
            Poller::Epoll(p, _) => p.supports_edge(),
        }
    }

    /// Registers `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must stay open until it is [`delete`](Poller::delete)d.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn add_with_mode(
        &self,
        fd: RawFd,
        ev: Event,
        mode: PollMode,
    ) -> io::Result<()> {
        match self {
            Poller::Ring(ring) => ring.add(fd, &ev),
            // SAFETY: our caller's promise, passed on.
            Poller::Epoll(p, _) => unsafe { p.add_with_mode(fd, ev, mode) },
        }
    }

    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, ev: Event) -> io::Result<()> {
        match self {
            // Never called: the ring is edge-triggered, so nothing is re-armed by hand.
            Poller::Ring(ring) => {
                ring.delete(ev.key)?;
                ring.add(fd.as_raw_fd(), &ev)
            }
            Poller::Epoll(p, _) => p.modify(fd, ev),
        }
    }

    pub(crate) fn delete(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        match self {
            Poller::Ring(ring) => ring.delete(key),
            Poller::Epoll(p, _) => p.delete(fd, key),
        }
    }

    /// Receives into `out` through the ring; `None` on epoll (the caller reads directly).
    pub(crate) fn poll_recv(
        &self,
        fd: RawFd,
        slot: &RecvSlot,
        cx: &mut Context<'_>,
        out: &mut [u8],
        shut_down: bool,
    ) -> Option<Poll<io::Result<usize>>> {
        match self {
            Poller::Ring(ring) => Some(ring.poll_recv(fd, slot, cx, out, shut_down)),
            Poller::Epoll(..) => None,
        }
    }

    /// Cancels the receive in flight of a source that goes away (its buffer stays with the
    /// operation until the completion arrives).
    pub(crate) fn cancel_recv(&self, slot: &RecvSlot) {
        if let Poller::Ring(ring) = self {
            ring.cancel_recv(slot);
        }
    }

    /// The reactor's driver is gone: on the ring, a thread that queues an entry now submits it
    /// itself (nobody waits on the ring any more).
    pub(crate) fn driver_gone(&self) {
        if let Poller::Ring(ring) = self {
            ring.driver_gone();
        }
    }

    /// Entries queued for the ring and not yet submitted (the submission queue and its backlog).
    pub(crate) fn queued(&self) -> usize {
        match self {
            Poller::Ring(ring) => {
                let backlog = lock(&ring.sq);
                // SAFETY: the `sq` lock is held, so this is the only submission queue handle.
                #[allow(unsafe_code)]
                let sq = unsafe { ring.ring.submission_shared() };
                sq.len() + backlog.len()
            }
            Poller::Epoll(..) => 0,
        }
    }

    /// Runs the completion work the kernel holds for this thread, if the ring says some is
    /// pending (see [`Ring::run_deferred_work`]).
    pub(crate) fn run_deferred_work(&self) {
        if let Poller::Ring(ring) = self {
            ring.run_deferred_work();
        }
    }

    /// The calling thread, a worker of this reactor's runtime, is about to exit: see
    /// [`Ring::release_thread`].
    pub(crate) fn release_thread(&self) {
        if let Poller::Ring(ring) = self {
            ring.release_thread();
        }
    }

    /// Operations (receives) in flight on the ring.
    pub(crate) fn ops_in_flight(&self) -> usize {
        match self {
            Poller::Ring(ring) => lock(&ring.ops).len(),
            Poller::Epoll(..) => 0,
        }
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        match self {
            Poller::Ring(ring) => ring.notify(),
            Poller::Epoll(p, _) => p.notify(),
        }
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        match self {
            Poller::Ring(ring) => ring.wait(events, timeout),
            Poller::Epoll(p, _) => p.wait(events, timeout),
        }
    }
}

/// An io_uring used as a readiness poller.
pub(crate) struct Ring {
    ring: IoUring,
    /// Guards the submission queue, and holds the entries queued while it was full (in order,
    /// behind everything in the queue) until a submitting thread moves them in.
    sq: Mutex<VecDeque<squeue::Entry>>,
    /// The reactor's driver is gone: no thread will wait on this ring again, so whoever queues
    /// an entry submits it (see [`Ring::kick`]).
    driverless: AtomicBool,
    /// Guards the completion queue.
    cq: Mutex<()>,
    /// key -> (fd, user_data) of every registered source.
    regs: Mutex<HashMap<usize, (RawFd, u64)>>,
    generation: AtomicU32,
    /// A thread is inside (or about to enter) `io_uring_enter` to wait.
    in_wait: AtomicBool,
    /// The eventfds of the threads that block in the ring, one each.
    notifiers: Mutex<Notifiers>,
    /// A notification is pending (as in the epoll poller).
    notified: AtomicBool,
    /// Operations in flight: each owns its buffer until its completion arrives.
    ops: Mutex<Slab<Op>>,
    /// Receives completed during the current `wait` (only the waiting thread touches it).
    completed: AtomicUsize,
    /// This ring's number, unique in the process: what [`WAITS_ON`] holds.
    id: u64,
}

/// The eventfd of one thread that blocks in the ring, watched by a multishot poll that this
/// thread submitted (see [`Ring::become_waiter`]).
struct Notifier {
    /// Unique among this ring's notifiers (until it wraps, after 2^32 threads): the low bits of
    /// its poll's `user_data`.
    id: u32,
    /// The thread's [`thread_token`].
    thread: u64,
    fd: Arc<OwnedFd>,
    /// Its poll is queued or in the kernel, and has not ended.
    armed: bool,
    /// Dead once the thread has exited ([`THREAD_ALIVE`]).
    alive: Weak<()>,
    /// Its thread is gone and its poll is being ended: kept (with its eventfd, which the
    /// poll holds in the kernel anyway) until the poll's last completion arrives.
    closing: bool,
}

#[derive(Default)]
struct Notifiers {
    list: Vec<Notifier>,
    next_id: u32,
    /// The eventfd of the thread blocking in the ring now (from just before its first enter to
    /// just after its last one), which [`Ring::notify`] writes to.
    current: Option<Arc<OwnedFd>>,
}

thread_local! {
    /// Dropped when the thread exits: a [`Notifier`]'s `alive` then tells that its thread is
    /// gone, and the notifier can go.
    static THREAD_ALIVE: Arc<()> = Arc::new(());
}

/// An enter's error that is no failure of the ring: a timeout, an interrupted wait, a full
/// completion queue (`EBUSY`) or no memory for the moment (`EAGAIN`).
fn ignorable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
    )
}

/// A number unique to the calling thread (never 0).
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// The capacity (entries) a drained backlog keeps; a larger one is shrunk back to it.
const BACKLOG_KEPT: usize = 256;

/// The numbers of the rings made so far.
static RING_IDS: AtomicU64 = AtomicU64::new(1);

/// How many rings a thread remembers having waited on (nested runtimes on one thread).
const RINGS_REMEMBERED: usize = 4;

thread_local! {
    /// The rings this thread has blocked in ([`Ring::wait`] with a timeout other than zero; the
    /// latest first): it is a thread of their runtimes (a worker that held the driver, the
    /// thread of a local loop), which submitted to them and owns wake-up work of their requests
    /// anyway, so it may submit a removal itself (see [`Ring::kick`]). Not a thread that only
    /// made zero-timeout checks (the thread in a multi-threaded runtime's `block_on`, running
    /// pinned tasks): a removal must not make that one, a user's thread, submit (its blocking
    /// calls would see `EINTR`; a review caught it). Numbers, not addresses: a thread that
    /// outlived its ring must not take a later ring at the same address for it.
    static WAITS_ON: Cell<[u64; RINGS_REMEMBERED]> = const { Cell::new([0; RINGS_REMEMBERED]) };
}

/// Records that this thread blocks in ring `id`.
fn remember_waiting_on(id: u64) {
    let _ = WAITS_ON.try_with(|rings| {
        let mut ids = rings.get();
        if ids[0] != id {
            // Move it (or a new one) to the front; the oldest falls off.
            let at = ids
                .iter()
                .position(|&r| r == id)
                .unwrap_or(RINGS_REMEMBERED - 1);
            ids.copy_within(0..at, 1);
            ids[0] = id;
            rings.set(ids);
        }
    });
}

/// Whether this thread has blocked in ring `id` (see [`WAITS_ON`]).
fn waits_on(id: u64) -> bool {
    WAITS_ON.try_with(|rings| rings.get().contains(&id)) == Ok(true)
}

/// Buffers leaked by dropped rings whose operations did not complete in time.
static LEAKED_OP_BUFFERS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn leaked_op_buffers() -> usize {
    LEAKED_OP_BUFFERS.load(Ordering::Relaxed)
}

/// An operation in flight: the buffer the kernel writes to, and where the result goes.
struct Op {
    buf: Vec<u8>,
    slot: Weak<Mutex<RecvState>>,
}

/// The receive side of a source on the ring: bytes received and not read yet, the result to
/// deliver (end of stream or an error), or the receive in flight.
#[derive(Debug, Default)]
pub(crate) struct RecvState {
    /// The buffer, while no receive is in flight (empty until the first receive).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    result: Option<io::Result<usize>>,
    /// The index of the receive in flight in `ops`.
    in_flight: Option<usize>,
    waker: Option<Waker>,
}

/// A source's receive state, shared with its operation in flight.
pub(crate) type RecvSlot = Arc<Mutex<RecvState>>;

/// The waker of a reader waiting for a receive (taken at shutdown, to be woken).
pub(crate) fn take_waker(slot: &RecvSlot) -> Option<Waker> {
    lock(slot).waker.take()
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.ring.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// Sets a ring up on a short-lived thread of its own (see [`Ring::new_here`]).
    ///
    /// The kernel enrols the thread that creates a ring as one of the ring's tasks, for as long
    /// as that thread lives, and when the ring is torn down (after the runtime is dropped) its
    /// exit work sends every enrolled task a signal-like notification: the thread that built
    /// the runtime saw a later, unrelated `recv_from` with a timeout fail with `EINTR` up to
    /// 50 ms after the drop (a conformance probe; `tests/uring_eintr.rs`). A helper thread that
    /// creates the ring and exits leaves no task enrolled but the ones that wait on the ring.
    pub(crate) fn new() -> io::Result<Ring> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("corio-ring-setup".into())
                .spawn_scoped(scope, Ring::new_here)?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Sets a ring up on this thread and probes what the reactor needs: the features (`EXT_ARG`
    /// for the wait's timeout, `NODROP` for overflow, `POLL_32BITS`, which came with multishot
    /// polls in 5.13) and the opcodes.
    fn new_here() -> io::Result<Ring> {
        let forced = FORCED_SETUP_ERRNO.load(Ordering::SeqCst);
        if forced != 0 {
            return Err(io::Error::from_raw_os_error(forced));
        }
        // No interrupt for a request's completion work: see `run_deferred_work`.
        let coop = if FORCED_NO_COOP.load(Ordering::SeqCst) {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        } else {
            IoUring::builder()
                .setup_cqsize(CQ_ENTRIES)
                .setup_coop_taskrun()
                .setup_taskrun_flag()
                .build(SQ_ENTRIES)
        };
        let ring: IoUring = match coop {
            // Kernels before 5.19 refuse the two flags: the kernel then interrupts a request's
            // submitter to run its completion work, as it always did.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
                .setup_cqsize(CQ_ENTRIES)
                .build(SQ_ENTRIES)?,
            built => built?,
        };
        let params = ring.params();
        let missing = [
            (params.is_feature_ext_arg(), "IORING_FEAT_EXT_ARG"),
            (params.is_feature_nodrop(), "IORING_FEAT_NODROP"),
            (
                params.is_feature_poll_32bits(),
                "IORING_FEAT_POLL_32BITS (multishot poll)",
            ),
        ]
        .into_iter()
        .find(|(has, _)| !has);
        if let Some((_, feature)) = missing {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the kernel's io_uring lacks {feature}"),
            ));
        }
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
            (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
            (opcode::Recv::CODE, "IORING_OP_RECV"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the kernel's io_uring lacks {name}"),
                ));
            }
        }
        let ring = Ring {
            ring,
            sq: Mutex::new(VecDeque::new()),
            driverless: AtomicBool::new(false),
            cq: Mutex::new(()),
            regs: Mutex::new(HashMap::new()),
            generation: AtomicU32::new(0),
            in_wait: AtomicBool::new(false),
            notifiers: Mutex::new(Notifiers::default()),
            notified: AtomicBool::new(false),
            ops: Mutex::new(Slab::new()),
            completed: AtomicUsize::new(0),
            id: RING_IDS.fetch_add(1, Ordering::Relaxed),
        };
        // An enter that submits nothing: it fails where a seccomp filter or
        // `kernel.io_uring_disabled` refuses `io_uring_enter`, so that we fall back now, and it
        // makes this thread the owner of no request.
        ring.ring.submit()?;
        // Each eventfd's poll is queued by the thread that waits on it (see `become_waiter`),
        // not by the thread that builds the runtime.
        Ok(ring)
    }

    /// Runs this thread's deferred completion work if the ring flags any as pending.
    ///
    /// The ring is set up with `IORING_SETUP_COOP_TASKRUN`: the kernel no longer interrupts a
    /// request's submitter (an inter-processor interrupt when it runs on another core) to run
    /// the request's completion work, but leaves it for that thread's next entry into the
    /// kernel, and raises `IORING_SQ_TASKRUN` (`IORING_SETUP_TASKRUN_FLAG`). A busy worker that
    /// makes no system call (its tasks compute or yield) and cannot wait on the ring (another
    /// thread does) calls this between tasks: without it, a completion that the waiting thread
    /// waits for would wait for this worker's next timer interrupt (4 ms at 250 Hz). The enter
    /// submits nothing, so it enrols no thread in the ring's tasks; the flag is the ring's, so
    /// the work may belong to another thread, and this enter is then in vain.
    fn run_deferred_work(&self) {
        let pending = {
            let _backlog = lock(&self.sq);
            // SAFETY: the `sq` lock is held, so this is the only submission queue handle.
            #[allow(unsafe_code)]
            let sq = unsafe { self.ring.submission_shared() };
            sq.taskrun()
        };
        if pending {
            // SAFETY: `io_uring_enter` on our own ring's descriptor, submitting nothing and
            // waiting for nothing, with no argument pointer.
            #[allow(unsafe_code)]
            let _ = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    self.ring.as_raw_fd(),
                    0u32,
                    0u32,
                    0u32,
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                )
            };
        }
    }

    /// Makes this thread the one that `notify` wakes, before it blocks in the ring: its own
    /// eventfd (made on its first wait) becomes `current`, and its poll, if it is not armed yet,
    /// is submitted by this thread at once, so that the poll's wake-up work is this thread's.
    ///
    /// Cross-thread wake-ups are writes to the eventfd of the thread that waits. Each thread
    /// watches an eventfd of its own because the kernel runs a poll's completion work on the
    /// thread that submitted the poll: with one eventfd for all, each thread that came to wait
    /// had to cancel the previous waiter's poll and submit its own (with `COOP_TASKRUN` a busy
    /// previous owner held back every wake-up to its next timer interrupt, a review found), and
    /// the cancel's completion work then interrupted the previous owner's own blocking calls
    /// with `EINTR` (a review: 10 of 10 runs of a timed `recv_from` on a `ReactorDriver` user's
    /// thread) and woke idle workers more often. A thread's poll is never touched by another
    /// thread, and fires only when that thread is the one waiting (or was, a moment ago).
    ///
    /// Returns whether a notification is pending, in which case the caller must not block:
    /// `notify` raises `notified` before it reads `current`, and this reads `notified` after it
    /// set `current` (a fence on both sides), so either `notify` writes to this thread's eventfd
    /// or this sees the flag.
    fn become_waiter(&self) -> io::Result<bool> {
        let me = thread_token();
        let arm = {
            let mut n = lock(&self.notifiers);
            let index = match n.list.iter().position(|x| x.thread == me && !x.closing) {
                Some(index) => index,
                None => {
                    // A thread new to this ring: the notifiers of threads that have exited go
                    // first. Their polls are still armed: the kernel does not cancel a poll
                    // when its submitter exits, only when a wake-up finds the submitter gone,
                    // and the poll holds the eventfd's file until then (a review: one kernel
                    // file and one poll request per thread that waited once and exited). So
                    // each gets a write: the wake-up finds its thread gone, and the kernel
                    // ends the poll (`ECANCELED`) and frees both; `drain` drops the notifier
                    // on that last completion. A thread whose thread-locals are gone may still
                    // be running its exit (a review: a later thread-local destructor that
                    // slept): its poll then just fires and stays, and the next newcomer
                    // writes again.
                    let current = n.current.clone();
                    n.list.retain_mut(|x| {
                        let gone = x.alive.strong_count() == 0
                            && !current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &x.fd));
                        if gone && x.armed {
                            x.closing = true;
                            let _ = epoll::write_eventfd(&x.fd);
                        }
                        !gone || x.armed
                    });
                    // SAFETY: a plain system call with valid constant flags.
                    #[allow(unsafe_code)]
                    let fd =
                        check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
                    // SAFETY: `fd` is a descriptor we just created and own from here on.
                    #[allow(unsafe_code)]
                    let fd = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
                    let id = n.next_id;
                    n.next_id = id.wrapping_add(1);
                    let alive = THREAD_ALIVE.try_with(Arc::downgrade).unwrap_or_default();
                    n.list.push(Notifier {
                        id,
                        thread: me,
                        fd,
                        armed: false,
                        alive,
                        closing: false,
                    });
                    n.list.len() - 1
                }
            };
            let mine = &mut n.list[index];
            let arm = if mine.armed {
                None
            } else {
                // A poll armed on a count that is not zero would fire at once: read it back to
                // zero first. A notification meant for this thread that the read consumes is
                // still pending in `notified` (checked below).
                epoll::reset_eventfd(&mine.fd);
                mine.armed = true;
                Some(
                    opcode::PollAdd::new(types::Fd(mine.fd.as_raw_fd()), libc::POLLIN as u32)
                        .multi(true)
                        .build()
                        .user_data(NOTIFY_TAG | u64::from(mine.id)),
                )
            };
            n.current = Some(mine.fd.clone());
            arm
        };
        if let Some(poll) = arm {
            // Submitted here, by this thread, in the same hold of the `sq` lock as the push:
            // another thread's submission (a removal `kick` makes at once) takes whatever is
            // queued, and a poll it took would be that thread's, its completion work
            // interrupting that thread's blocking calls with every wake-up of this one (a
            // review: 7-36 of 50 timed reads of such a thread failed with `EINTR`). Left: if
            // the kernel takes nothing now (its completion queue full), the poll stays queued
            // for this thread's next enter, and another thread's submission may take it first.
            self.push_and_submit(&[poll])?;
        }
        // Pairs with `notify`'s compare-exchange, made before it reads `current`.
        fence(Ordering::SeqCst);
        Ok(self.notified.load(Ordering::SeqCst))
    }

    /// This thread no longer blocks in the ring: `notify` writes to nobody's eventfd (the next
    /// waiter sees `notified`) rather than to this thread's, whose poll's completion work would
    /// interrupt this thread's own blocking calls.
    fn stop_waiting(&self) {
        lock(&self.notifiers).current = None;
    }

    /// Queues poll and cancel entries, which point at no user memory (an fd, a mask and a
    /// `user_data` only), so nothing must outlive them.
    fn push(&self, entries: &[squeue::Entry]) -> io::Result<()> {
        // SAFETY: as said above, these entries reference no memory.
        #[allow(unsafe_code)]
        unsafe {
            self.push_entries(entries)
        }
    }

    /// Queues `entries` without submitting them: into the submission queue, or, once it is
    /// full, into the backlog behind it, which the next submitting thread moves in
    /// ([`submit_queued`](Ring::submit_queued)). Never submits: see [`hand_to_waiter`](Self::hand_to_waiter).
    ///
    /// # Safety
    ///
    /// Whatever memory an entry points to must stay valid until its completion is drained.
    #[allow(unsafe_code)]
    unsafe fn push_entries(&self, entries: &[squeue::Entry]) -> io::Result<()> {
        // SAFETY: our caller keeps what the entries point to valid until their completions.
        unsafe {
            Self::push_entries_locked(&self.ring, &mut lock(&self.sq), entries);
        }
        Ok(())
    }

    /// [`push_entries`](Self::push_entries) with the `sq` lock held (`backlog` is its guard's).
    ///
    /// # Safety
    ///
    /// As `push_entries`; and `backlog` must be the `sq` lock's, held.
    #[allow(unsafe_code)]
    unsafe fn push_entries_locked(
        ring: &IoUring,
        backlog: &mut VecDeque<squeue::Entry>,
        entries: &[squeue::Entry],
    ) {
        for entry in entries {
            if !backlog.is_empty() {
                backlog.push_back(entry.clone());
                continue;
            }
            // SAFETY: the `sq` lock is held (our caller's promise), so this is the only
            // submission queue handle.
            #[allow(unsafe_code)]
            let mut sq = unsafe { ring.submission_shared() };
            // SAFETY: our caller keeps what the entry points to valid until its completion.
            #[allow(unsafe_code)]
            let pushed = unsafe { sq.push(entry) };
            // Dropping `sq` publishes the new tail.
            drop(sq);
            if pushed.is_err() {
                backlog.push_back(entry.clone());
            }
        }
    }

    /// Submits everything queued, the backlog included, as many `io_uring_enter`s as that takes.
    /// Only for a thread that waits on the ring (about to, or one that did: `WAITS_ON`), or for
    /// a short-lived thread once the driver is gone: the submitting thread owns the requests'
    /// wake-up work. Another thread may be inside its own enter meanwhile: the kernel takes
    /// each entry once, whichever enter reaches it first.
    fn submit_queued(&self) -> io::Result<()> {
        self.submit_queued_locked(&mut lock(&self.sq))
    }

    /// Queues poll and cancel entries (see [`push`](Self::push)) and submits everything queued,
    /// in one hold of the `sq` lock, so that no other thread's submission takes them: the
    /// requests are this thread's (see [`submit_queued`](Self::submit_queued)).
    fn push_and_submit(&self, entries: &[squeue::Entry]) -> io::Result<()> {
        let mut backlog = lock(&self.sq);
        // SAFETY: these entries reference no memory (an fd, a mask, a `user_data`).
        #[allow(unsafe_code)]
        unsafe {
            Self::push_entries_locked(&self.ring, &mut backlog, entries);
        }
        self.submit_queued_locked(&mut backlog)
    }

    /// [`submit_queued`](Self::submit_queued) with the `sq` lock held, across the enters too:
    /// the kernel takes every entry published when an enter starts, so a submission outside
    /// the lock could take entries that another thread pushed to submit itself
    /// ([`push_and_submit`](Self::push_and_submit)).
    fn submit_queued_locked(&self, backlog: &mut VecDeque<squeue::Entry>) -> io::Result<()> {
        loop {
            let more = {
                // SAFETY: the `sq` lock is held, so this is the only submission queue handle.
                #[allow(unsafe_code)]
                let mut sq = unsafe { self.ring.submission_shared() };
                while let Some(entry) = backlog.front() {
                    // SAFETY: an entry in the backlog was queued by `push_entries`, whose caller
                    // keeps what it points to valid until its completion.
                    #[allow(unsafe_code)]
                    if unsafe { sq.push(entry) }.is_err() {
                        break;
                    }
                    backlog.pop_front();
                }
                !backlog.is_empty()
            };
            match self.ring.submit() {
                // The kernel took none: no room for their completions until the queue is
                // drained (the next wait does that); the rest stays queued, in order.
                Ok(0) => return Ok(()),
                Ok(_) if more => {}
                Ok(_) => {
                    // A backlog that grew large (a loop that registered and dropped sockets
                    // for long before anyone submitted) gives its memory back once drained.
                    if backlog.is_empty() && backlog.capacity() > BACKLOG_KEPT {
                        backlog.shrink_to(BACKLOG_KEPT);
                    }
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
                    ) =>
                {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gets queued entries to the kernel soon, from a thread that will not wait on the ring: at
    /// once if no thread ever will again (the driver is gone), otherwise through the thread
    /// waiting in the ring (woken if it is inside its enter; if nobody is, the next park, or
    /// the busy loop's zero-timeout check, submits them).
    ///
    /// A thread that has blocked in this ring itself (a worker of its runtime that held the
    /// driver, the thread of its local loop: [`WAITS_ON`]) submits at once: it is already among
    /// the ring's tasks, and a removal handed to a waiter would wait for that waiter, which may
    /// be this very thread, busy: a dropped listener went on accepting connections, and a
    /// dropped stream sent its FIN, only once the thread parked again (a probe; `net_tcp.rs`).
    /// The file is released when the kernel's wake-up work for the poll has run, on the thread
    /// that submitted the poll: at once if that is this thread, otherwise a moment later (on
    /// several workers a connect made right after a listener's drop can still be accepted).
    fn kick(&self) -> io::Result<()> {
        if self.driverless.load(Ordering::SeqCst) {
            return self.submit_queued_aside();
        }
        if waits_on(self.id) {
            // What the kernel did not take (its completion queue full) stays queued for the
            // waiter, as below.
            self.submit_queued()?;
        }
        self.hand_to_waiter()
    }

    /// The reactor's driver is gone (its runtime shut down): from now on what is queued is
    /// submitted at once, by [`submit_queued_aside`](Self::submit_queued_aside). What is
    /// queued now is submitted here.
    pub(crate) fn driver_gone(&self) {
        self.driverless.store(true, Ordering::SeqCst);
        let _ = self.submit_queued_aside();
    }

    /// [`submit_queued`](Self::submit_queued) from a short-lived thread of its own, if anything
    /// is queued: once the driver is gone, the thread that queues (the one dropping the runtime,
    /// or a socket after it) is a user's thread, and a thread that submits stays enrolled in the
    /// ring's tasks (see [`Ring::new`]): the ring's teardown would interrupt its blocking calls
    /// (`EINTR`). Nothing submitted here needs its submitter to outlive it: a cancel takes effect
    /// when submitted, and nobody waits for a poll's wake-up once the driver is gone.
    fn submit_queued_aside(&self) -> io::Result<()> {
        let queued = {
            let backlog = lock(&self.sq);
            // SAFETY: the `sq` lock is held, so this is the only submission queue handle.
            #[allow(unsafe_code)]
            let sq = unsafe { self.ring.submission_shared() };
            !backlog.is_empty() || !sq.is_empty()
        };
        if !queued {
            return Ok(());
        }
        std::thread::scope(|scope| {
            match std::thread::Builder::new()
                .name("corio-ring-submit".into())
                .spawn_scoped(scope, || self.submit_queued())
            {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to spare: submit here (the FIN of a dropped socket must go out),
                // enrolling this one.
                Err(_) => self.submit_queued(),
            }
        })
    }

    /// Cancels every registered source's poll, and this thread's own eventfd poll, in one
    /// submission of this thread's, which is about to exit (a worker of a runtime that shuts
    /// down).
    ///
    /// The kernel runs a poll's completion work on the thread that submitted it, and once that
    /// thread has exited, in deferred work one or two timer ticks later. A poll holds its
    /// socket's file: the sockets still open when a multi-threaded runtime was dropped closed
    /// 5-9 ms after the drop returned (their removals, queued by the drop, reached polls of
    /// workers that had exited), and an immediate rebind of a listener's port failed with
    /// `AddrInUse` (a review; 20 of 20 runs of a probe). Cancelled here, the polls this thread
    /// submitted end during this very enter (their work runs before it returns to user
    /// space), so each socket closes when it is dropped. The polls of other threads that are
    /// cancelled too end on their threads, which are exiting as well. A source still
    /// registered is re-armed by whoever drains the cancel's `ECANCELED`, as after any ended
    /// poll (a destructor that does I/O during the runtime's drop still gets its events).
    fn release_thread(&self) {
        if self.driverless.load(Ordering::SeqCst) {
            return;
        }
        let me = thread_token();
        let mut cancels: Vec<squeue::Entry> = {
            let mut n = lock(&self.notifiers);
            n.list
                .iter_mut()
                .filter(|x| x.thread == me && x.armed && !x.closing)
                .map(|x| {
                    // Its last completion drops it (see `drain`); no wake-up.
                    x.closing = true;
                    opcode::AsyncCancel::new(NOTIFY_TAG | u64::from(x.id))
                        .build()
                        .user_data(IGNORE_KEY)
                })
                .collect()
        };
        // Under the `regs` lock (taken before `sq`, as `drain` does): every poll queued or
        // submitted for a registered source has its `user_data` in `regs`.
        let regs = lock(&self.regs);
        cancels.extend(regs.values().map(|&(_, user_data)| {
            opcode::AsyncCancel::new(user_data)
                .build()
                .user_data(IGNORE_KEY)
        }));
        if !cancels.is_empty() {
            // Submitted by this thread, with whatever is queued before them: polls it
            // submits now are its own, and cancelled at once.
            let _ = self.push_and_submit(&cancels);
        }
        drop(regs);
    }

    fn add(&self, fd: RawFd, ev: &Event) -> io::Result<()> {
        let user_data = poll_user_data(self.generation.fetch_add(1, Ordering::Relaxed), ev.key);
        let mut mask = 0;
        if ev.readable {
            mask |= POLL_READ;
        }
        if ev.writable {
            mask |= POLL_WRITE;
        }
        lock(&self.regs).insert(ev.key, (fd, user_data));
        let entry = opcode::PollAdd::new(types::Fd(fd), mask)
            .multi(true)
            .build()
            .user_data(user_data);
        self.push(&[entry])?;
        self.hand_to_waiter()
    }

    fn delete(&self, key: usize) -> io::Result<()> {
        let Some((_, user_data)) = lock(&self.regs).remove(&key) else {
            return Ok(());
        };
        self.push(&[opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(IGNORE_KEY)])?;
        // Soon: the poll holds the file open (no FIN) until the removal is submitted. Not by
        // this thread, which would then own the wake-up work of everything queued.
        self.kick()
    }

    /// Copies received bytes into `out`, or delivers the end of stream or error a receive
    /// returned, or starts a receive into the source's own buffer and waits for it. Once the
    /// reactor is shut down, bytes already received are still delivered, then the shutdown
    /// error (nobody would drain a new receive's completion).
    fn poll_recv(
        &self,
        fd: RawFd,
        slot: &RecvSlot,
        cx: &mut Context<'_>,
        out: &mut [u8],
        shut_down: bool,
    ) -> Poll<io::Result<usize>> {
        let mut st = lock(slot);
        if st.end > st.start {
            let n = out.len().min(st.end - st.start);
            out[..n].copy_from_slice(&st.buf[st.start..st.start + n]);
            st.start += n;
            return Poll::Ready(Ok(n));
        }
        // The end of a stream stays (every later `recv` would return 0 at once); an error is
        // delivered once.
        if let Some(Ok(0)) = st.result {
            return Poll::Ready(Ok(0));
        }
        if let Some(result) = st.result.take() {
            return Poll::Ready(result);
        }
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if shut_down {
            return Poll::Ready(Err(io::Error::other(
                "the runtime that owns this I/O source has shut down",
            )));
        }
        match &mut st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        if st.in_flight.is_none() {
            if let Err(e) = self.submit_recv(fd, slot, &mut st) {
                st.waker = None;
                return Poll::Ready(Err(e));
            }
        }
        Poll::Pending
    }

    fn submit_recv(&self, fd: RawFd, slot: &RecvSlot, st: &mut RecvState) -> io::Result<()> {
        let mut buf = std::mem::take(&mut st.buf);
        if buf.is_empty() {
            buf = vec![0; RECV_BUF];
        }
        let (ptr, len) = (buf.as_mut_ptr(), buf.len() as u32);
        // Moving the `Vec` into the slab moves its header, not its heap block: `ptr` stays valid
        // while the `Op` lives, which is until its completion is drained (or forever, if the
        // ring is dropped first and the completion never comes: see `Drop for Ring`).
        let index = lock(&self.ops).insert(Op {
            buf,
            slot: Arc::downgrade(slot),
        });
        st.start = 0;
        st.end = 0;
        st.in_flight = Some(index);
        let entry = opcode::Recv::new(types::Fd(fd), ptr, len)
            .build()
            .user_data(OP_BIT | index as u64);
        // SAFETY: the buffer is owned by the `Op` in `ops` until the completion of this entry
        // is drained (see above), so the kernel never writes to freed memory.
        #[allow(unsafe_code)]
        let pushed = unsafe { self.push_entries(&[entry]) };
        if let Err(e) = pushed {
            st.in_flight = None;
            if let Some(op) = lock(&self.ops).try_remove(index) {
                st.buf = op.buf;
            }
            return Err(e);
        }
        self.hand_to_waiter()
    }

    /// Makes sure that queued entries reach the kernel: the next enter of the parking thread
    /// submits them, and if that thread is inside its enter already, it is woken to loop.
    ///
    /// Not submitted here: the thread that submits a poll or a receive owns its wake-up work
    /// (see the module docs), so only the threads that wait on the ring submit.
    fn hand_to_waiter(&self) -> io::Result<()> {
        // Pairs with the fence in `wait`: either the waiter's enter sees the entry, or we see
        // `in_wait` and wake it.
        fence(Ordering::SeqCst);
        if self.in_wait.load(Ordering::SeqCst) {
            self.notify()?;
        }
        Ok(())
    }

    fn cancel_recv(&self, slot: &RecvSlot) {
        let Some(index) = lock(slot).in_flight else {
            return;
        };
        let cancel = opcode::AsyncCancel::new(OP_BIT | index as u64)
            .build()
            .user_data(IGNORE_KEY);
        if self.push(&[cancel]).is_ok() {
            let _ = self.kick();
        }
    }

    fn notify(&self) -> io::Result<()> {
        if self
            .notified
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Ok(());
        }
        // Nobody blocks in the ring: the next thread to wait sees `notified` (`become_waiter`).
        let Some(fd) = lock(&self.notifiers).current.clone() else {
            return Ok(());
        };
        epoll::write_eventfd(&fd)
    }

    /// Waits up to `timeout` for completions and turns them into events; returns how many
    /// sources are ready plus how many receives completed (a notification alone returns 0).
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.len = 0;
        self.completed.store(0, Ordering::Relaxed);
        // Completions of removals only (no event, no notification) are no reason to return.
        if !self.drain(events)? {
            let result = match timeout {
                Some(t) if t.is_zero() => {
                    // No syscall unless something is queued or the kernel holds overflowed
                    // completions: ready completions are in shared memory already.
                    let pending = {
                        let backlog = lock(&self.sq);
                        // SAFETY: the `sq` lock is held, so this is the only submission queue
                        // handle.
                        #[allow(unsafe_code)]
                        let sq = unsafe { self.ring.submission_shared() };
                        !sq.is_empty() || sq.cq_overflow() || sq.taskrun() || !backlog.is_empty()
                    };
                    if pending {
                        self.submit_queued()
                    } else {
                        Ok(())
                    }
                }
                timeout => {
                    remember_waiting_on(self.id);
                    // A notification pending: submit (a new poll among the rest) and return.
                    let timeout = match self.become_waiter() {
                        Ok(true) => Some(Duration::ZERO),
                        Ok(false) => timeout,
                        Err(e) => {
                            self.stop_waiting();
                            return Err(e);
                        }
                    };
                    let waited = self.wait_blocking(events, timeout);
                    self.stop_waiting();
                    return waited;
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if ignorable(&e) => {}
                Err(e) => return Err(e),
            }
            self.drain(events)?;
        }
        self.notified.store(false, Ordering::SeqCst);
        Ok(events.len + self.completed.load(Ordering::Relaxed))
    }

    /// The rest of [`wait`](Ring::wait) with a timeout that is not zero: blocks in the ring
    /// until a completion that matters arrives (an event, a notification, a receive) or
    /// `timeout` passes. A completion that does not matter (a removal's, a cancelled poll's)
    /// wakes the enter but not the caller: the wait goes on for the time left.
    fn wait_blocking(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        // `None` waits for ever (the clamp keeps the sum in range).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t.min(MAX_WAIT)));
        let mut left = timeout;
        loop {
            if !lock(&self.sq).is_empty() {
                // More than the queue holds: submit the backlog first (the enter below submits
                // what is left in the queue).
                self.submit_queued()?;
            }
            self.in_wait.store(true, Ordering::SeqCst);
            // Pairs with the fence in `add`.
            fence(Ordering::SeqCst);
            let result = match left {
                None => self.ring.submit_and_wait(1),
                Some(t) => {
                    // The kernel reads the seconds as signed: a timeout past `i64::MAX` s (a
                    // timer more than ~585 years away makes the timer driver ask for
                    // `Duration::MAX`) would be a deadline in the past, and the wait would
                    // return at once, for ever. Clamped as epoll's.
                    let ts = types::Timespec::from(t.min(MAX_WAIT));
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            };
            self.in_wait.store(false, Ordering::SeqCst);
            let timed_out = match result {
                Ok(_) => false,
                Err(e) if ignorable(&e) => e.raw_os_error() == Some(libc::ETIME),
                Err(e) => return Err(e),
            };
            if self.drain(events)? || timed_out {
                break;
            }
            if let Some(deadline) = deadline {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(rest) if !rest.is_zero() => left = Some(rest),
                    _ => break,
                }
            }
        }
        self.notified.store(false, Ordering::SeqCst);
        Ok(events.len + self.completed.load(Ordering::Relaxed))
    }

    /// Moves completions into `events` (up to its capacity; the rest stay queued for the next
    /// wait), and re-arms the polls that ended. Returns whether there was an event or a
    /// notification.
    ///
    /// A multishot poll ends without us asking when the completion queue is full, and, with
    /// `ECANCELED`, when a wake-up finds the thread that submitted it gone (the kernel runs a
    /// poll's wake-up work on that thread, and cancels it once the thread has exited). A poll
    /// still registered that ends either way is re-armed (by whoever enters the ring next, which
    /// is usually the parking thread) and reported ready both ways, since an edge was lost.
    fn drain(&self, events: &mut Events) -> io::Result<bool> {
        let mut ended = Vec::new();
        let mut done = Vec::new();
        let mut notified = false;
        {
            let _guard = lock(&self.cq);
            // SAFETY: the `cq` lock is held, so this is the only completion queue handle.
            #[allow(unsafe_code)]
            let mut cq = unsafe { self.ring.completion_shared() };
            while events.len < CAPACITY {
                let Some(cqe) = cq.next() else { break };
                let (user_data, res) = (cqe.user_data(), cqe.result());
                let more = cqueue::more(cqe.flags());
                if user_data == IGNORE_KEY {
                    continue;
                }
                if user_data & !0xFFFF_FFFF == NOTIFY_TAG {
                    // A wake-up; or an eventfd's poll ended (the completion queue was full):
                    // its thread arms a new one before it blocks again (`become_waiter`), and
                    // the wait returns now, in case the poll was the waiting thread's (a
                    // wake-up meanwhile stays pending in `notified`). The poll of a notifier
                    // that is closing (its thread exited; `become_waiter` wrote to it to end
                    // it) is no wake-up: a wait must not return early for it.
                    let id = user_data as u32;
                    let mut n = lock(&self.notifiers);
                    if let Some(at) = n.list.iter().position(|x| x.id == id) {
                        let this = &mut n.list[at];
                        if this.closing {
                            if !more {
                                // Its last completion: the kernel let go of the eventfd.
                                n.list.swap_remove(at);
                            }
                        } else {
                            if res >= 0 || !more {
                                notified = true;
                            }
                            if !more {
                                this.armed = false;
                            }
                        }
                    }
                    continue;
                }
                if user_data & OP_BIT != 0 {
                    done.push(((user_data & !OP_BIT) as usize, res));
                    continue;
                }
                let key = (user_data & 0xFFFF_FFFF) as usize;
                if more {
                    events.list[events.len] = libc::epoll_event {
                        events: res as u32,
                        u64: key as u64,
                    };
                    events.len += 1;
                } else {
                    ended.push((key, user_data, res));
                }
            }
        }
        if !ended.is_empty() {
            // Under the `regs` lock: a source deleted meanwhile (its cancel's `ECANCELED`
            // lands here too) is neither reported nor re-armed, and one deleted after the
            // re-arm is pushed has its cancel queued behind it.
            let regs = lock(&self.regs);
            let mut entries = Vec::new();
            for (key, user_data, res) in ended {
                let Some(&(fd, _)) = regs.get(&key).filter(|r| r.1 == user_data) else {
                    continue;
                };
                if res >= 0 || res == -libc::ECANCELED {
                    entries.push(
                        opcode::PollAdd::new(types::Fd(fd), POLL_READ | POLL_WRITE)
                            .multi(true)
                            .build()
                            .user_data(user_data),
                    );
                }
                // Other errors (the fd is unusable) are not re-armed: the next operation on
                // the source sees the error itself.
                if events.len < CAPACITY {
                    events.list[events.len] = libc::epoll_event {
                        events: (libc::EPOLLIN | libc::EPOLLOUT) as u32,
                        u64: key as u64,
                    };
                    events.len += 1;
                }
            }
            self.push(&entries)?;
        }
        let completed = !done.is_empty();
        if completed {
            self.completed.fetch_add(done.len(), Ordering::Relaxed);
            self.complete_ops(done);
        }
        Ok(notified || completed || events.len > 0)
    }

    /// Hands finished receives back to their sources (or frees their buffers, for sources
    /// gone) and wakes the readers.
    fn complete_ops(&self, done: Vec<(usize, i32)>) {
        let finished: Vec<(Op, i32)> = {
            let mut ops = lock(&self.ops);
            done.into_iter()
                .filter_map(|(index, res)| ops.try_remove(index).map(|op| (op, res)))
                .collect()
        };
        let mut wakers = Vec::new();
        for (op, res) in finished {
            let Some(slot) = op.slot.upgrade() else {
                continue; // the source is gone: the buffer is freed here, after its completion
            };
            let mut st = lock(&slot);
            st.in_flight = None;
            st.buf = op.buf;
            st.start = 0;
            if res > 0 {
                st.end = res as usize;
            } else if res == -libc::ECANCELED {
                // Not our cancel (that one is sent only for sources gone): the thread that
                // submitted the receive exited while it waited, and the kernel cancelled it. No
                // byte was taken; the woken reader starts another.
                st.end = 0;
            } else {
                st.end = 0;
                st.result = Some(if res == 0 {
                    Ok(0)
                } else {
                    Err(io::Error::from_raw_os_error(-res))
                });
            }
            wakers.extend(st.waker.take());
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Drop for Ring {
    /// Cancels the operations still in flight and waits (up to `DROP_WAIT`) for their
    /// completions; the buffers of any that do not complete are leaked, never freed, since the
    /// kernel could still write to them.
    fn drop(&mut self) {
        let indices: Vec<usize> = lock(&self.ops).iter().map(|(i, _)| i).collect();
        if indices.is_empty() {
            return;
        }
        // On a short-lived thread: the thread that submits and waits stays enrolled in the
        // ring's tasks, and the teardown would interrupt the dropping thread's later blocking
        // calls (see `Ring::new`).
        let this = &*self;
        std::thread::scope(|scope| {
            let cancel = std::thread::Builder::new()
                .name("corio-ring-drop".into())
                .spawn_scoped(scope, || this.cancel_ops_and_wait(&indices));
            match cancel {
                Ok(thread) => {
                    if let Err(panic) = thread.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                // No thread to spare: do it here, enrolling this one.
                Err(_) => this.cancel_ops_and_wait(&indices),
            }
        });
        let left = std::mem::take(&mut *lock(&self.ops));
        for (_, op) in left {
            LEAKED_OP_BUFFERS.fetch_add(1, Ordering::Relaxed);
            std::mem::forget(op.buf);
        }
    }
}

impl Ring {
    /// Cancels the operations at `indices` and waits (up to `DROP_WAIT`) for the completions of
    /// all of them.
    fn cancel_ops_and_wait(&self, indices: &[usize]) {
        let cancels: Vec<squeue::Entry> = indices
            .iter()
            .map(|&i| {
                opcode::AsyncCancel::new(OP_BIT | i as u64)
                    .build()
                    .user_data(IGNORE_KEY)
            })
            .collect();
        let _ = self.push(&cancels);
        let deadline = Instant::now() + DROP_WAIT;
        let mut events = Events::new();
        while !lock(&self.ops).is_empty() && Instant::now() < deadline {
            // Receives still in the backlog reach the kernel (and their cancels) here.
            let _ = self.submit_queued();
            let ts = types::Timespec::from(Duration::from_millis(10));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            events.len = 0;
            let _ = self.drain(&mut events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polls_user_data_never_looks_like_a_receives() {
        for generation in [0, 1, 0x7FFF_FFFF, 0x8000_0000, u32::MAX] {
            for key in [0, 7, 0xFFFF_FFFF, usize::MAX] {
                let user_data = poll_user_data(generation, key);
                assert_eq!(
                    user_data & OP_BIT,
                    0,
                    "generation {generation:#x}, key {key:#x}"
                );
                assert_eq!(user_data & 0xFFFF_FFFF, key as u64 & 0xFFFF_FFFF);
            }
        }
        assert_ne!(poll_user_data(1, 3), poll_user_data(2, 3));
    }

    /// Each thread that blocks in the ring gets an eventfd of its own, and the eventfds of
    /// threads that have exited go when another thread comes: a program that blocks on a
    /// runtime from a new thread each time keeps a bounded number of descriptors. A thread
    /// that waits again reuses its own, and nobody's is current once its wait is over.
    #[test]
    fn each_waiting_thread_has_an_eventfd_and_exited_threads_give_theirs_back() {
        let Ok(ring) = Ring::new() else {
            return; // no ring on this kernel: nothing to check
        };
        let ring = Arc::new(ring);
        for _ in 0..50 {
            let waiter = ring.clone();
            std::thread::spawn(move || {
                let mut events = Events::new();
                for _ in 0..2 {
                    waiter
                        .wait(&mut events, Some(Duration::from_micros(100)))
                        .unwrap();
                }
            })
            .join()
            .unwrap();
            let n = lock(&ring.notifiers);
            assert!(
                n.current.is_none(),
                "a finished wait left its eventfd current"
            );
            // Those of exited threads are kept until the kernel has ended their polls, which it
            // does some milliseconds later (its fallback work for an exited thread is delayed
            // work): they are counted below, once that has happened.
        }
        let mut events = Events::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            ring.wait(&mut events, Some(Duration::from_millis(1)))
                .unwrap();
            let n = lock(&ring.notifiers);
            if n.list.len() == 1 {
                assert_eq!(
                    n.list[0].thread,
                    thread_token(),
                    "only this thread's is left"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} eventfds kept after 50 waiting threads exited",
                n.list.len()
            );
        }
        // The kernel's side: the polls of the threads gone are gone too (each held its
        // eventfd's file until a write to it made the kernel end it), so the ring holds a few
        // polls, not one per thread that ever waited. The kernel ends them a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let polls = polls_in_kernel(&ring);
            if polls <= 4 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the kernel still holds {polls} polls after 50 waiting threads exited"
            );
            ring.wait(&mut events, Some(Duration::from_millis(1)))
                .unwrap();
        }
    }

    /// A thread whose thread-locals are gone may still be running its exit when the next
    /// thread comes to wait (here a later thread-local destructor sleeps): the write to its
    /// eventfd then finds it alive, and its poll stays. The notifier waits, closing, and the
    /// next newcomer writes again, so the kernel's polls do not pile up (a review: every such
    /// thread left one behind).
    #[test]
    fn a_thread_still_exiting_when_its_eventfd_is_pruned_leaves_no_poll_behind() {
        struct SlowExit;
        impl Drop for SlowExit {
            fn drop(&mut self) {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        thread_local! {
            static SLOW: SlowExit = const { SlowExit };
        }
        let Ok(ring) = Ring::new() else {
            return; // no ring on this kernel: nothing to check
        };
        let ring = Arc::new(ring);
        let wait_once = |ring: &Arc<Ring>, slow: bool| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                if slow {
                    // Registered before `THREAD_ALIVE`, so destroyed after it.
                    SLOW.with(|_| {});
                }
                let mut events = Events::new();
                ring.wait(&mut events, Some(Duration::from_micros(100)))
                    .unwrap();
            })
        };
        for round in 0..20 {
            let polls = polls_in_kernel(&ring);
            assert!(
                polls <= 6,
                "{polls} polls in the kernel after {round} threads that were still exiting"
            );
            let exiting = wait_once(&ring, true);
            // Its thread-locals go, then it sleeps 30 ms before it is gone.
            std::thread::sleep(Duration::from_millis(10));
            wait_once(&ring, false).join().unwrap();
            exiting.join().unwrap();
        }
        // Newcomers after every thread has gone: the closing ones are written to again.
        let mut events = Events::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            wait_once(&ring, false).join().unwrap();
            ring.wait(&mut events, Some(Duration::from_millis(1)))
                .unwrap();
            let polls = polls_in_kernel(&ring);
            if polls <= 4 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the kernel still holds {polls} polls after 40 waiting threads exited"
            );
        }
        assert!(lock(&ring.notifiers).list.len() <= 4);
    }

    /// The requests the kernel's `PollList` for this ring shows (`/proc/self/fdinfo`).
    fn polls_in_kernel(ring: &Ring) -> usize {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", ring.ring.as_raw_fd()))
            .unwrap();
        info.lines()
            .skip_while(|l| !l.starts_with("PollList"))
            .skip(1)
            .take_while(|l| l.starts_with(char::is_whitespace))
            .filter(|l| l.trim_start().starts_with("op="))
            .count()
    }

    /// A wait with a timeout past what the kernel's signed seconds hold (the timer driver asks
    /// for `Duration::MAX` when the next timer is more than ~585 years away) waits, instead of
    /// returning at once for ever (an idle runtime spun at 100% CPU, a probe found). It ends
    /// when notified: the waiter cannot have returned before the notification.
    #[test]
    fn a_wait_with_a_huge_timeout_waits_until_notified() {
        let Ok(ring) = Ring::new() else {
            return; // no ring on this kernel: nothing to check
        };
        let ring = Arc::new(ring);
        let notified = Arc::new(AtomicBool::new(false));
        for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            notified.store(false, Ordering::SeqCst);
            let waiter = {
                let (ring, notified) = (ring.clone(), notified.clone());
                std::thread::spawn(move || {
                    let mut events = Events::new();
                    // A signal may end a wait early once in a while; the bug ended every one.
                    let mut early = 0;
                    loop {
                        ring.wait(&mut events, Some(timeout)).unwrap();
                        if notified.load(Ordering::SeqCst) {
                            return;
                        }
                        early += 1;
                        assert!(
                            early <= 3,
                            "waits with timeout {timeout:?} return before any notification"
                        );
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            notified.store(true, Ordering::SeqCst);
            ring.notify().unwrap();
            waiter.join().unwrap();
        }
    }
}
