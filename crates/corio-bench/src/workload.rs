//! What the suite measures: the workloads, their sizes, and the runtimes that run them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One benchmark of issue 6. The floor (item 14) is a [`Runtime`], not a workload: it runs
/// `spawn_many` and `yield_many` on one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    SpawnMany,
    YieldMany,
    ChainedSpawn,
    PingPong,
    TimeoutChurn,
    SleepMany,
    SemaphoreContended,
    QueueMpmc,
    BlockingMany,
    TcpEcho,
    TcpConnections,
    MemPerTask,
    MemPerTaskChannel,
    MillionTasks,
    FileIo,
    SelectLoop,
    BroadcastFanout,
    ProcessSpawn,
    TlsEcho,
    CpuFanout,
    RetryStorm,
    RequestReply,
}

impl Workload {
    /// Every workload: issue 6's in its order, then those of issues 13, 14 and 20, then the
    /// request/reply row a probe's own harness found behind.
    pub(crate) const ALL: [Workload; 22] = [
        Workload::SpawnMany,
        Workload::YieldMany,
        Workload::ChainedSpawn,
        Workload::PingPong,
        Workload::TimeoutChurn,
        Workload::SleepMany,
        Workload::SemaphoreContended,
        Workload::QueueMpmc,
        Workload::BlockingMany,
        Workload::TcpEcho,
        Workload::TcpConnections,
        Workload::MemPerTask,
        Workload::MemPerTaskChannel,
        Workload::MillionTasks,
        Workload::FileIo,
        Workload::SelectLoop,
        Workload::BroadcastFanout,
        Workload::ProcessSpawn,
        Workload::TlsEcho,
        Workload::CpuFanout,
        Workload::RetryStorm,
        Workload::RequestReply,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::SpawnMany => "spawn_many",
            Workload::YieldMany => "yield_many",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::PingPong => "ping_pong",
            Workload::TimeoutChurn => "timeout_churn",
            Workload::SleepMany => "sleep_many",
            Workload::SemaphoreContended => "semaphore_contended",
            Workload::QueueMpmc => "queue_mpmc",
            Workload::BlockingMany => "blocking_many",
            Workload::TcpEcho => "tcp_echo",
            Workload::TcpConnections => "tcp_connections",
            Workload::MemPerTask => "mem_per_task",
            Workload::MemPerTaskChannel => "mem_per_task_channel",
            Workload::MillionTasks => "million_tasks",
            Workload::FileIo => "file_io",
            Workload::SelectLoop => "select_loop",
            Workload::BroadcastFanout => "broadcast_fanout",
            Workload::ProcessSpawn => "process_spawn",
            Workload::TlsEcho => "tls_echo",
            Workload::CpuFanout => "cpu_fanout",
            Workload::RetryStorm => "retry_storm",
            Workload::RequestReply => "request_reply",
        }
    }

    /// What one "op" is, for the `ns/<op>` unit.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Workload::SpawnMany | Workload::ChainedSpawn => "ns/spawn",
            Workload::YieldMany => "ns/yield",
            Workload::PingPong | Workload::TcpEcho | Workload::TlsEcho => "ns/round trip",
            Workload::TimeoutChurn => "ns/timeout",
            Workload::SleepMany => "ns/sleep",
            Workload::SemaphoreContended => "ns/acquire",
            Workload::QueueMpmc => "ns/item",
            Workload::BlockingMany => "ns/call",
            Workload::TcpConnections => "ns/connection",
            Workload::MemPerTask | Workload::MemPerTaskChannel => "bytes/task",
            Workload::MillionTasks => "ns/task",
            Workload::FileIo => "ns/chunk",
            Workload::SelectLoop => "ns/select",
            Workload::BroadcastFanout => "ns/delivery",
            Workload::ProcessSpawn => "ns/process",
            Workload::CpuFanout => "ns/job",
            Workload::RetryStorm => "ns/operation",
            Workload::RequestReply => "ns/request",
        }
    }

    /// Whether every sample needs a fresh process (no warm-up, one iteration): RSS would
    /// otherwise reuse the previous iteration's freed memory.
    pub(crate) fn fresh_process(self) -> bool {
        matches!(
            self,
            Workload::MemPerTask | Workload::MemPerTaskChannel | Workload::MillionTasks
        )
    }

    /// Whether the workload's time goes to sockets or files, the rows where corio's reactor
    /// backend matters: the suite runs the `corio-uring` column on these by default.
    pub(crate) fn is_io(self) -> bool {
        matches!(
            self,
            Workload::TcpEcho | Workload::TcpConnections | Workload::FileIo | Workload::TlsEcho
        )
    }

    /// Whether the report shows the child process's peak RSS.
    pub(crate) fn reports_peak_rss(self) -> bool {
        matches!(
            self,
            Workload::TcpConnections
                | Workload::MemPerTask
                | Workload::MemPerTaskChannel
                | Workload::MillionTasks
        )
    }

    /// The number of ops one iteration performs (the divisor of the metric).
    pub(crate) fn ops(self, s: &Sizes) -> u64 {
        let n = match self {
            Workload::SpawnMany => s.spawn_many,
            Workload::YieldMany => s.yield_tasks * s.yields,
            Workload::ChainedSpawn => s.chain_depth,
            Workload::PingPong => s.pp_pairs * s.pp_trips,
            Workload::TimeoutChurn => s.timeout_tasks * s.timeouts_per_task,
            Workload::SleepMany => s.sleeps,
            Workload::SemaphoreContended => s.sem_tasks * s.sem_iters,
            Workload::QueueMpmc => s.mpmc_producers * s.mpmc_items_per_producer,
            Workload::BlockingMany => s.blocking_tasks * s.blocking_per_task,
            Workload::TcpEcho => s.echo_conns * s.echo_trips,
            Workload::TcpConnections => s.conns,
            Workload::MemPerTask | Workload::MemPerTaskChannel => s.idle_tasks,
            Workload::MillionTasks => s.million,
            Workload::FileIo => s.file_chunks,
            Workload::SelectLoop => s.selects,
            Workload::BroadcastFanout => s.bc_receivers * s.bc_messages,
            Workload::ProcessSpawn => s.processes,
            Workload::TlsEcho => s.tls_conns * s.tls_trips,
            Workload::CpuFanout => s.cpu_small + s.cpu_large,
            Workload::RetryStorm => s.retries,
            Workload::RequestReply => s.rr_clients * s.rr_requests,
        };
        n as u64
    }

    /// The value an iteration must return: a wrong or lost result cannot pass as a fast one.
    pub(crate) fn expected(self, s: &Sizes) -> u64 {
        let ops = self.ops(s);
        match self {
            // Each task returns its index: the sum proves every task ran its own future.
            Workload::SpawnMany => ops * ops.saturating_sub(1) / 2,
            // Both ends count: the client its verified echoes, the server what it served.
            Workload::TcpEcho | Workload::TcpConnections | Workload::TlsEcho => 2 * ops,
            _ => ops,
        }
    }

    /// How long one iteration may take before the watchdog calls it a hang. The environment
    /// variable `CORIO_BENCH_BUDGET_SECS` overrides it for every workload.
    pub(crate) fn iteration_budget(self, scale: Scale) -> Duration {
        if let Some(secs) = std::env::var(BUDGET_ENV)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
        {
            return Duration::from_secs_f64(secs);
        }
        let full = match self {
            Workload::MillionTasks => 180,
            Workload::QueueMpmc
            | Workload::TcpEcho
            | Workload::TcpConnections
            | Workload::TlsEcho => 120,
            _ => 60,
        };
        match scale {
            Scale::Full => Duration::from_secs(full),
            Scale::Quick | Scale::Tiny => Duration::from_secs(full / 2),
        }
    }

    /// One paragraph for BENCHMARKS.md: exactly what an iteration does on every runtime.
    pub(crate) fn describe(self, s: &Sizes) -> String {
        match self {
            Workload::SpawnMany => format!(
                "The root task spawns {} tasks that each return their index, keeps every handle, \
                 then awaits them in order and sums the outputs.",
                thousands(s.spawn_many)
            ),
            Workload::YieldMany => format!(
                "{} tasks each call the runtime's `yield_now` {} times (corio::yield_now, \
                 tokio::task::yield_now, smol::future::yield_now); the root awaits them all.",
                thousands(s.yield_tasks),
                thousands(s.yields)
            ),
            Workload::ChainedSpawn => format!(
                "Each task spawns the next and detaches it, {} deep; the last one sends the depth \
                 it reached on a oneshot (corio::sync::oneshot, tokio::sync::oneshot; smol has no \
                 oneshot, so async_channel::bounded(1)).",
                thousands(s.chain_depth)
            ),
            Workload::PingPong => format!(
                "{} task pairs; each pair owns two bounded(1) channels and does {} round trips \
                 (A sends i, B sends it back, A checks it). corio::Queue::bounded(1), \
                 tokio::sync::mpsc::channel(1), async_channel::bounded(1).",
                thousands(s.pp_pairs),
                thousands(s.pp_trips)
            ),
            Workload::TimeoutChurn => format!(
                "{} tasks each run {} sequential `timeout(10 s, f)` where f yields once and \
                 returns ({} timeouts in all, none fires). smol has no timeout: \
                 `f.or(async {{ Timer::after(10 s).await; None }})`, its documented idiom.",
                thousands(s.timeout_tasks),
                thousands(s.timeouts_per_task),
                thousands(s.timeout_tasks * s.timeouts_per_task)
            ),
            Workload::SleepMany => format!(
                "{} tasks sleep concurrently, task i for (i mod 1001) µs (0–1 ms); the root awaits \
                 them all. corio::sleep, tokio::time::sleep, smol::Timer::after.",
                thousands(s.sleeps)
            ),
            Workload::SemaphoreContended => format!(
                "{} tasks each acquire a {}-permit semaphore {} times and hold the permit across \
                 one `yield_now` (without it, one worker never sees contention). At the end {} \
                 permits must be free. corio::Semaphore, tokio::sync::Semaphore, \
                 async_lock::Semaphore. Beware: corio's semaphore is strict FIFO by contract \
                 and tokio's is fair too, but async-lock's is not (a released permit goes to \
                 whoever calls `try_acquire` first, so a task that releases can take it \
                 straight back on the fast path): smol's figure is that of an unfair \
                 semaphore.",
                thousands(s.sem_tasks),
                s.sem_permits,
                thousands(s.sem_iters),
                s.sem_permits
            ),
            Workload::QueueMpmc => format!(
                "{} producers each put {} items into one bounded queue of {}; {} consumers get \
                 until the queue is closed; count and sum are checked. corio::Queue; \
                 async_channel for smol; tokio has no MPMC queue, so tokio::sync::mpsc with the \
                 receiver in a tokio::sync::Mutex shared by the consumers (the lock is held across \
                 `recv().await`, the usual pattern).",
                s.mpmc_producers,
                thousands(s.mpmc_items_per_producer),
                thousands(s.mpmc_capacity),
                s.mpmc_consumers
            ),
            Workload::BlockingMany => format!(
                "{} tasks each make {} sequential blocking calls ({} in all, at most {} in flight) \
                 of a closure that returns its argument. corio::to_thread, \
                 tokio::task::spawn_blocking, smol::unblock; each with its default pool.",
                thousands(s.blocking_tasks),
                thousands(s.blocking_per_task),
                thousands(s.blocking_tasks * s.blocking_per_task),
                thousands(s.blocking_tasks)
            ),
            Workload::TcpEcho => format!(
                "A listener bound with each runtime's own `TcpListener::bind(\"127.0.0.1:0\")` \
                 accepts {} connections and spawns an echo task per connection; {} client tasks \
                 each do {} round trips of {} bytes (write_all, read_exact, compare). TCP_NODELAY \
                 on both ends. The bind is not timed.",
                thousands(s.echo_conns),
                thousands(s.echo_conns),
                thousands(s.echo_trips),
                ECHO_BYTES
            ),
            Workload::TcpConnections => format!(
                "The server accepts {} connections and spawns a handler per connection that \
                 reads one byte, answers one byte, then waits for EOF; the root awaits every \
                 handler. The clients run in a helper process on the same runtime with the same \
                 worker count (10,000 connections with both ends in one process need 20,000 \
                 descriptors, above this machine's hard RLIMIT_NOFILE): they all connect at \
                 once, send a byte, read the answer, and keep their streams until all {} are \
                 answered, so all connections are open together; then they close. Timed from \
                 the go signal to the helper until the last handler sees EOF. The listener is \
                 the same for every runtime: a socket2 socket with a listen backlog of {} (the \
                 kernel caps it at net.core.somaxconn), handed to each runtime's `from_std`, \
                 since each runtime's own `bind` picks a different backlog (strace: corio \
                 4096, tokio 128, smol 128), which would measure the backlog rather than the \
                 runtime. RLIMIT_NOFILE is raised in both \
                 processes. Peak RSS is the server process's.",
                thousands(s.conns),
                thousands(s.conns),
                LISTEN_BACKLOG
            ),
            Workload::MemPerTask => format!(
                "In a fresh process: start the runtime, spawn and await 1,000 tasks (so one-time \
                 allocations are made), read RSS (VmRSS in /proc/self/status), spawn {} detached tasks \
                 that each bump a counter and await `std::future::pending()`, wait (sleeping 1 ms \
                 at a time) until all have been polled, read RSS again. Reported: the RSS \
                 increase divided by the task count. The process then exits without tearing \
                 the tasks down.",
                thousands(s.idle_tasks)
            ),
            Workload::MemPerTaskChannel => format!(
                "`mem_per_task` with tasks that store their waker: each of the {} detached tasks \
                 awaits `recv` on a clone of one `smol::channel` (async-channel) receiver whose \
                 sender stays alive, the same channel type on every runtime. This is the memory \
                 of a task parked on a resource: its future, the waker the channel keeps and the \
                 channel's listener.",
                thousands(s.idle_tasks)
            ),
            Workload::MillionTasks => format!(
                "In a fresh process: spawn {} tasks that each `sleep_until` one shared deadline \
                 {} ms after the start, wait (sleeping 1 ms at a time) until all have been polled, \
                 then let the deadline wake them all and await every handle. Reported: (spawn \
                 phase + wake phase) / tasks, where the wake phase runs from the deadline to the \
                 last join; the idle wait in between is not counted, and a run whose spawn phase \
                 overruns the deadline fails. Peak RSS (VmHWM) is reported too.",
                thousands(s.million),
                s.million_deadline.as_millis()
            ),
            Workload::FileIo => format!(
                "Issue 5's file comparison: write a {} MiB file in {} chunks of {} KiB \
                 (write_all each, then flush), then read it back with read_exact in chunks of the \
                 same size, checking each chunk's index stamp; the unit is one chunk written and \
                 read back. corio::fs::File (writes on corio's blocking pool, cached reads on the worker), tokio::fs::File \
                 (spawn_blocking), smol::fs::File (async-fs on blocking's pool). The file lives in \
                 the temp directory and is removed after the timed part; the page cache serves \
                 both directions, so this measures the runtimes' file paths, not the disk. The \
                 floor column is the same work as a plain synchronous loop on one thread: \
                 std::fs::File::create, `write_all` per chunk, `flush`, `open`, `read_exact` \
                 per chunk with the same check, and the same untimed removal (no runtime, no \
                 thread hop; the page-cache copy is what is left).",
                s.file_chunks * FILE_CHUNK / (1024 * 1024),
                thousands(s.file_chunks),
                FILE_CHUNK / 1024
            ),
            Workload::SelectLoop => format!(
                "Issue 14: one task selects {} times between a queue get that is ready (the task \
                 puts one item just before) and a pending 10 s sleep created in the same \
                 statement, the idiomatic \"receive with a timeout\"; the received item is \
                 checked. corio::select! (fair: random start arm) over corio::Queue::unbounded \
                 and corio::sleep; tokio::select! (fair too) over tokio::sync::mpsc's unbounded \
                 channel and tokio::time::sleep; futures-lite's `or` (biased: polls the get \
                 first) over async_channel::unbounded and async_io::Timer on smol.",
                thousands(s.selects)
            ),
            Workload::BroadcastFanout => format!(
                "Issue 14: 1 sender, {} receivers (each in its own task), {} messages, each \
                 received by every receiver, in order (checked). The unit is one delivery (one \
                 message to one receiver). Neither corio's nor tokio's broadcast sender ever \
                 waits, so the capacity is the message count ({}): no run can lag (a `Lagged` \
                 fails the check), and every runtime gets the same channel size. The sender \
                 yields every {} messages, so the receivers keep draining, parking and being \
                 woken while it sends. corio::sync::broadcast, tokio::sync::broadcast, and \
                 async-broadcast on smol (whose `broadcast` would wait when full; it never is).",
                s.bc_receivers,
                thousands(s.bc_messages),
                thousands(s.bc_messages),
                BROADCAST_YIELD_EVERY
            ),
            Workload::ProcessSpawn => format!(
                "Issue 13: {} `Command::new(\"true\").status()` (stdio inherited), at most {} in \
                 flight: that many tasks each run processes one after another, taking the next \
                 number from a shared atomic counter, until all are done; every exit status \
                 must be success. corio::process::Command, tokio::process::Command, \
                 async-process (smol::process::Command). Mostly fork/exec/wait: the runtimes \
                 differ in how they learn of a child's exit (SIGCHLD, pidfd, a reaper \
                 thread).",
                thousands(s.processes),
                PROCESS_IN_FLIGHT
            ),
            Workload::TlsEcho => format!(
                "Issue 13: `tcp_echo` over TLS: {} connections × {} round trips of {} KiB \
                 (write_all, flush, read_exact, compare), an echo task per accepted connection. \
                 Every runtime uses the same rustls configurations (ring provider, TLS 1.3, one \
                 rcgen self-signed certificate for `localhost` made once per process, \
                 untimed); the timing includes connects and handshakes. corio: corio-compat's \
                 `tls` (futures-rustls) over corio::net; tokio: tokio-rustls over tokio::net; \
                 smol: futures-rustls over smol::net.",
                thousands(s.tls_conns),
                thousands(s.tls_trips),
                TLS_BYTES / 1024
            ),
            Workload::CpuFanout => format!(
                "Issue 20: {} small CPU jobs (a fixed arithmetic loop of {} steps, about 10 µs \
                 on the machine it was calibrated on) and {} large ones ({} steps, about 10 ms), \
                 interleaved (one large job every {} submissions), all submitted at once from \
                 the root task, then awaited in order; each job's value is checked. The unit is \
                 one job (the CPU work itself is about {:.0} ms per iteration on one core). \
                 corio::spawn_cpu; tokio::task::spawn_blocking (its default pool, up to 512 \
                 threads); and, in the smol column, **rayon**: `rayon::spawn` plus a \
                 futures-channel oneshot, awaited from smol (rayon's global pool, one thread \
                 per core).",
                thousands(s.cpu_small),
                thousands(CPU_SMALL_STEPS as usize),
                s.cpu_large,
                thousands(CPU_LARGE_STEPS as usize),
                (s.cpu_small + s.cpu_large) / s.cpu_large.max(1),
                (s.cpu_small as f64 * 0.01) + (s.cpu_large as f64 * 10.0)
            ),
            Workload::RetryStorm => format!(
                "Issue 20: {} operations, one after another in the root task, each failing \
                 twice then succeeding, retried with exponential backoff from a zero base delay \
                 (no jitter, up to 5 attempts); each must end `Ok` on its third call. \
                 corio::retry with corio::Backoff (which skips a zero wait); backon's \
                 `Retryable` with an ExponentialBuilder (zero min delay) on tokio and on smol, \
                 whose sleeper skips a zero delay and otherwise calls tokio::time::sleep or \
                 async_io::Timer::after. Why skip: `tokio::time::sleep(Duration::ZERO)` waits \
                 for the timer's next 1 ms tick, so with `.sleep(tokio::time::sleep)` as is, \
                 an operation took about 2.4 ms (two ticks), and the row measured tokio's \
                 timer granularity rather than retrying.",
                thousands(s.retries)
            ),
            Workload::RequestReply => format!(
                "The actor pattern of a service: one server task owns a state and answers \
                 requests from a queue; {} client tasks each make {} requests one after \
                 another: make a oneshot, put (value, reply sender) on the server's unbounded \
                 queue, await the reply (value + 1, checked). The unit is one request. \
                 corio::Queue and corio::sync::oneshot; tokio::sync::mpsc's unbounded channel \
                 and tokio::sync::oneshot; on smol, async_channel's unbounded channel and \
                 futures-channel's oneshot (smol has none). Added after a probe's own harness \
                 found corio at 1.3-2x tokio here, with a lock-based oneshot.",
                s.rr_clients,
                thousands(s.rr_requests)
            ),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload `{s}` (one of: {})", names.join(", "))
            })
    }
}

/// A runtime under test. `CorioUring` is corio again, from a binary built with the
/// `io-uring` feature (see [`URING_BUILT_IN`]); `Floor` is the lower bound: a `VecDeque` of
/// async-task runnables, or for `file_io` a plain synchronous loop of std `write` and `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    Corio,
    CorioUring,
    Tokio,
    Smol,
    Floor,
}

/// Whether this binary was built with the `io-uring` feature, so that its corio waits on an
/// io_uring (where the kernel allows it, and unless `CORIO_IO=epoll`).
pub(crate) const URING_BUILT_IN: bool = cfg!(feature = "io-uring");

impl Runtime {
    /// The runtimes of the comparison, in table order.
    pub(crate) const ALL: [Runtime; 5] = [
        Runtime::Corio,
        Runtime::CorioUring,
        Runtime::Tokio,
        Runtime::Smol,
        Runtime::Floor,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Runtime::Corio => "corio",
            Runtime::CorioUring => "corio-uring",
            Runtime::Tokio => "tokio",
            Runtime::Smol => "smol",
            Runtime::Floor => "floor",
        }
    }

    /// Whether this runtime runs `workload` on `workers` threads. The floor runs
    /// `spawn_many` and `yield_many` on one worker only (on more it would compare a
    /// single-threaded loop with a pool), and `file_io` at every worker count: one thread
    /// writing and reading a file is the floor of that row whatever the pool.
    pub(crate) fn supports(self, workload: Workload, workers: usize) -> bool {
        match self {
            Runtime::Floor => match workload {
                Workload::SpawnMany | Workload::YieldMany => workers == 1,
                Workload::FileIo => true,
                _ => false,
            },
            _ => true,
        }
    }

    /// Whether this is corio (on either backend).
    pub(crate) fn is_corio(self) -> bool {
        matches!(self, Runtime::Corio | Runtime::CorioUring)
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Runtime {
    type Err = String;

    fn from_str(s: &str) -> Result<Runtime, String> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!("unknown runtime `{s}` (one of: corio, corio-uring, tokio, smol, floor)")
            })
    }
}

/// How big the workloads are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scale {
    /// The sizes of issue 6.
    Full,
    /// About a tenth of the work, for `--quick`.
    Quick,
    /// Just enough to prove every case runs and checks out (the smoke test).
    Tiny,
}

impl Scale {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scale::Full => "full",
            Scale::Quick => "quick",
            Scale::Tiny => "tiny",
        }
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Overrides every iteration budget (seconds).
pub(crate) const BUDGET_ENV: &str = "CORIO_BENCH_BUDGET_SECS";

/// The bytes of one `tcp_echo` message.
pub(crate) const ECHO_BYTES: usize = 64;

/// The bytes of one `file_io` chunk.
pub(crate) const FILE_CHUNK: usize = 64 * 1024;

/// The `file_io` chunks: one template (bytes that are not all equal) whose first 8 bytes are
/// stamped with the chunk's index, so that a lost or reordered chunk fails the check. Stamping
/// and checking cost a copy of 8 bytes and one `memcmp` per chunk, not a byte loop.
pub(crate) struct FileChunks {
    template: Vec<u8>,
}

impl FileChunks {
    pub(crate) fn new() -> FileChunks {
        FileChunks {
            template: (0..FILE_CHUNK).map(|i| (i % 251) as u8).collect(),
        }
    }

    /// The chunk number `index`, in `buf` (reused between chunks).
    pub(crate) fn stamp<'a>(&self, buf: &'a mut Vec<u8>, index: usize) -> &'a [u8] {
        if buf.len() != FILE_CHUNK {
            buf.clone_from(&self.template);
        }
        buf[..8].copy_from_slice(&(index as u64).to_le_bytes());
        buf
    }

    /// Whether `chunk` is the chunk number `index`.
    pub(crate) fn check(&self, chunk: &[u8], index: usize) -> bool {
        chunk.len() == FILE_CHUNK
            && chunk[..8] == (index as u64).to_le_bytes()
            && chunk[8..] == self.template[8..]
    }
}

/// A file path of the temp directory for one `file_io` run of `runtime` in this process.
pub(crate) fn file_path(runtime: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "corio-bench-file-io-{runtime}-{}",
        std::process::id()
    ))
}

/// `broadcast_fanout`: the sender yields after this many messages.
pub(crate) const BROADCAST_YIELD_EVERY: usize = 64;

/// `process_spawn`: the most children alive at once.
pub(crate) const PROCESS_IN_FLIGHT: usize = 64;

/// The bytes of one `tls_echo` message.
pub(crate) const TLS_BYTES: usize = 1024;

/// `cpu_fanout`: the steps of a small job (about 10 µs) and of a large one (about 10 ms),
/// calibrated once and fixed since, so that every runtime and every run does the same work.
/// One step is a dependency chain of about 6 cycles (multiply, add, shift, xor): about 2 ns
/// at 3 GHz. Measured on the 2-core machine of the first runs (rustc -O, under load from
/// other builds): 16-20 µs per 4,000 steps, 17-19 ms per 4,000,000, so 2-5 ns a step
/// depending on the load; 5,000 steps is 10 µs on the unloaded core.
pub(crate) const CPU_SMALL_STEPS: u64 = 5_000;
pub(crate) const CPU_LARGE_STEPS: u64 = 5_000_000;

/// `cpu_fanout`'s job: `steps` rounds of a multiply-xorshift that the compiler cannot fold.
/// Never inlined: every runtime's closure calls this one copy of the loop, so its code (and its
/// alignment) is the same in every column.
#[inline(never)]
pub(crate) fn cpu_job(steps: u64, seed: u64) -> u64 {
    let steps = std::hint::black_box(steps);
    let mut x = std::hint::black_box(seed);
    for i in 0..steps {
        x = x.wrapping_mul(0x5851_F42D_4C95_7F2D).wrapping_add(i | 1);
        x ^= x >> 29;
    }
    x
}

/// `cpu_fanout`'s plan: whether job `i` is large, and the value every job of its size returns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuPlan {
    total: usize,
    stride: usize,
    large: usize,
    pub(crate) small_value: u64,
    pub(crate) large_value: u64,
}

/// The seed of every `cpu_fanout` job.
pub(crate) const CPU_SEED: u64 = 0x2545_F491_4F6C_DD1D;

impl CpuPlan {
    /// Computes both reference values (untimed: one small and one large job).
    pub(crate) fn new(s: &Sizes) -> CpuPlan {
        let total = s.cpu_small + s.cpu_large;
        CpuPlan {
            total,
            stride: total / s.cpu_large.max(1),
            large: s.cpu_large,
            small_value: cpu_job(CPU_SMALL_STEPS, CPU_SEED),
            large_value: cpu_job(CPU_LARGE_STEPS, CPU_SEED),
        }
    }

    /// The jobs: (steps, expected value), large ones spread evenly.
    pub(crate) fn jobs(&self) -> impl Iterator<Item = (u64, u64)> + use<> {
        let plan = *self;
        (0..plan.total).map(move |i| {
            if i % plan.stride == 0 && i / plan.stride < plan.large {
                (CPU_LARGE_STEPS, plan.large_value)
            } else {
                (CPU_SMALL_STEPS, plan.small_value)
            }
        })
    }
}

/// The listen backlog asked for in `tcp_connections`.
pub(crate) const LISTEN_BACKLOG: i32 = 16_384;

/// The sizes of one iteration of every workload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) spawn_many: usize,
    pub(crate) yield_tasks: usize,
    pub(crate) yields: usize,
    pub(crate) chain_depth: usize,
    pub(crate) pp_pairs: usize,
    pub(crate) pp_trips: usize,
    pub(crate) timeout_tasks: usize,
    pub(crate) timeouts_per_task: usize,
    pub(crate) sleeps: usize,
    pub(crate) sem_tasks: usize,
    pub(crate) sem_iters: usize,
    pub(crate) sem_permits: usize,
    pub(crate) mpmc_producers: usize,
    pub(crate) mpmc_consumers: usize,
    pub(crate) mpmc_items_per_producer: usize,
    pub(crate) mpmc_capacity: usize,
    pub(crate) blocking_tasks: usize,
    pub(crate) blocking_per_task: usize,
    pub(crate) echo_conns: usize,
    pub(crate) echo_trips: usize,
    pub(crate) conns: usize,
    pub(crate) idle_tasks: usize,
    pub(crate) million: usize,
    pub(crate) million_deadline: Duration,
    pub(crate) file_chunks: usize,
    pub(crate) selects: usize,
    pub(crate) bc_receivers: usize,
    pub(crate) bc_messages: usize,
    pub(crate) processes: usize,
    pub(crate) tls_conns: usize,
    pub(crate) tls_trips: usize,
    pub(crate) cpu_small: usize,
    pub(crate) cpu_large: usize,
    pub(crate) retries: usize,
    pub(crate) rr_clients: usize,
    pub(crate) rr_requests: usize,
}

impl Sizes {
    pub(crate) fn new(scale: Scale) -> Sizes {
        let full = Sizes {
            spawn_many: 100_000,
            yield_tasks: 200,
            yields: 1_000,
            chain_depth: 10_000,
            pp_pairs: 500,
            pp_trips: 200,
            timeout_tasks: 100,
            timeouts_per_task: 1_000,
            sleeps: 100_000,
            sem_tasks: 1_000,
            sem_iters: 100,
            sem_permits: 10,
            mpmc_producers: 4,
            mpmc_consumers: 4,
            mpmc_items_per_producer: 250_000,
            mpmc_capacity: 1_024,
            blocking_tasks: 100,
            blocking_per_task: 200,
            echo_conns: 50,
            echo_trips: 1_000,
            conns: 10_000,
            idle_tasks: 200_000,
            million: 1_000_000,
            million_deadline: Duration::from_millis(3_000),
            // 64 MiB in 64 KiB chunks, as issue 5 asks.
            file_chunks: 1_024,
            selects: 1_000_000,
            bc_receivers: 100,
            bc_messages: 10_000,
            processes: 1_000,
            tls_conns: 50,
            tls_trips: 1_000,
            cpu_small: 10_000,
            cpu_large: 100,
            retries: 10_000,
            rr_clients: 100,
            rr_requests: 1_000,
        };
        match scale {
            Scale::Full => full,
            Scale::Quick => Sizes {
                spawn_many: 20_000,
                yield_tasks: 100,
                yields: 200,
                chain_depth: 2_000,
                pp_pairs: 100,
                pp_trips: 100,
                timeout_tasks: 20,
                timeouts_per_task: 1_000,
                sleeps: 20_000,
                sem_tasks: 200,
                sem_iters: 100,
                mpmc_items_per_producer: 25_000,
                blocking_tasks: 50,
                blocking_per_task: 40,
                echo_conns: 20,
                echo_trips: 200,
                conns: 1_000,
                idle_tasks: 50_000,
                million: 100_000,
                million_deadline: Duration::from_millis(350),
                file_chunks: 128,
                selects: 100_000,
                bc_messages: 1_000,
                processes: 200,
                tls_conns: 20,
                tls_trips: 200,
                cpu_small: 1_000,
                cpu_large: 10,
                retries: 2_000,
                rr_clients: 100,
                rr_requests: 200,
                ..full
            },
            Scale::Tiny => Sizes {
                spawn_many: 200,
                yield_tasks: 10,
                yields: 10,
                chain_depth: 100,
                pp_pairs: 5,
                pp_trips: 10,
                timeout_tasks: 5,
                timeouts_per_task: 20,
                sleeps: 200,
                sem_tasks: 20,
                sem_iters: 5,
                sem_permits: 3,
                mpmc_items_per_producer: 500,
                mpmc_capacity: 16,
                blocking_tasks: 5,
                blocking_per_task: 5,
                echo_conns: 3,
                echo_trips: 10,
                conns: 20,
                idle_tasks: 1_000,
                million: 2_000,
                million_deadline: Duration::from_millis(300),
                file_chunks: 4,
                selects: 1_000,
                bc_receivers: 5,
                bc_messages: 100,
                processes: 10,
                tls_conns: 3,
                tls_trips: 10,
                cpu_small: 20,
                cpu_large: 2,
                retries: 50,
                rr_clients: 4,
                rr_requests: 10,
                ..full
            },
        }
    }
}
