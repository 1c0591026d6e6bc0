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
    MillionTasks,
    FileIo,
}

impl Workload {
    /// Every workload, in the order of issue 6.
    pub(crate) const ALL: [Workload; 14] = [
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
        Workload::MillionTasks,
        Workload::FileIo,
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
            Workload::MillionTasks => "million_tasks",
            Workload::FileIo => "file_io",
        }
    }

    /// What one "op" is, for the `ns/<op>` unit.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Workload::SpawnMany | Workload::ChainedSpawn => "ns/spawn",
            Workload::YieldMany => "ns/yield",
            Workload::PingPong | Workload::TcpEcho => "ns/round trip",
            Workload::TimeoutChurn => "ns/timeout",
            Workload::SleepMany => "ns/sleep",
            Workload::SemaphoreContended => "ns/acquire",
            Workload::QueueMpmc => "ns/item",
            Workload::BlockingMany => "ns/call",
            Workload::TcpConnections => "ns/connection",
            Workload::MemPerTask => "bytes/task",
            Workload::MillionTasks => "ns/task",
            Workload::FileIo => "ns/chunk",
        }
    }

    /// Whether every sample needs a fresh process (no warm-up, one iteration): RSS would
    /// otherwise reuse the previous iteration's freed memory.
    pub(crate) fn fresh_process(self) -> bool {
        matches!(self, Workload::MemPerTask | Workload::MillionTasks)
    }

    /// Whether the report shows the child process's peak RSS.
    pub(crate) fn reports_peak_rss(self) -> bool {
        matches!(
            self,
            Workload::TcpConnections | Workload::MemPerTask | Workload::MillionTasks
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
            Workload::MemPerTask => s.idle_tasks,
            Workload::MillionTasks => s.million,
            Workload::FileIo => s.file_chunks,
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
            Workload::TcpEcho | Workload::TcpConnections => 2 * ops,
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
            Workload::QueueMpmc | Workload::TcpEcho | Workload::TcpConnections => 120,
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
                 read back. corio::fs::File (on corio's blocking pool), tokio::fs::File \
                 (spawn_blocking), smol::fs::File (async-fs on blocking's pool). The file lives in \
                 the temp directory and is removed after the timed part; the page cache serves \
                 both directions, so this measures the runtimes' file paths, not the disk.",
                s.file_chunks * FILE_CHUNK / (1024 * 1024),
                thousands(s.file_chunks),
                FILE_CHUNK / 1024
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

/// A runtime under test. `Floor` is the lower bound: a `VecDeque` of async-task runnables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    Corio,
    Tokio,
    Smol,
    Floor,
}

impl Runtime {
    /// The runtimes of the comparison, in table order.
    pub(crate) const ALL: [Runtime; 4] = [
        Runtime::Corio,
        Runtime::Tokio,
        Runtime::Smol,
        Runtime::Floor,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Runtime::Corio => "corio",
            Runtime::Tokio => "tokio",
            Runtime::Smol => "smol",
            Runtime::Floor => "floor",
        }
    }

    /// Whether this runtime runs `workload` on `workers` threads.
    pub(crate) fn supports(self, workload: Workload, workers: usize) -> bool {
        match self {
            Runtime::Floor => {
                workers == 1 && matches!(workload, Workload::SpawnMany | Workload::YieldMany)
            }
            _ => true,
        }
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
            .ok_or_else(|| format!("unknown runtime `{s}` (one of: corio, tokio, smol, floor)"))
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
                ..full
            },
        }
    }
}
