//! Deterministic simulation of the network: a distributed program's failures, on one thread,
//! reproducibly.
//!
//! A [`Sim`] runs *hosts* (servers: a closure, re-run when the host restarts) and *clients*
//! (a future each; the run ends when every client has finished) on a deterministic local
//! runtime with virtual time. Their code uses the ordinary [`corio::net`](crate::net) sockets:
//! created inside a simulation, a [`TcpListener`](crate::net::TcpListener),
//! [`TcpStream`](crate::net::TcpStream) or [`UdpSocket`](crate::net::UdpSocket) is a socket of
//! the simulated network, with latency, loss, partitions and crashes; created anywhere else it is
//! a real one. So the same client function runs against real loopback in production tests and
//! against a simulated, failing network here.
//!
//! From any task inside a running simulation, [`partition`], [`repair`], [`crash`] and
//! [`restart`] inject faults; [`corio::time::now`](crate::time::now) is the virtual clock.
//!
//! Hosts and clients all start at virtual time zero, in an order drawn from the seed. A connect
//! takes at least one latency to arrive, so with the default 1 ms a server has bound its
//! listener by then; with zero latency a client can reach a server that is not listening yet
//! and be refused, exactly as on a real network (sleep a moment or retry first).
//!
//! # Examples
//!
//! An echo server and a client that measures the round trip, 20 ms each way:
//!
//! ```
//! use std::time::Duration;
//! use corio::io::{AsyncReadExt, AsyncWriteExt};
//! use corio::net::{TcpListener, TcpStream};
//!
//! let sim = corio::sim::Builder::new()
//!     .seed(7)
//!     .latency(Duration::from_millis(20))
//!     .build();
//! sim.host("server", || async {
//!     let listener = TcpListener::bind("0.0.0.0:9000").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         corio::spawn(async move {
//!             let _ = corio::io::copy(&stream, &mut &stream).await;
//!         })
//!         .detach();
//!     }
//! });
//! sim.client("client", async {
//!     let mut stream = TcpStream::connect("server:9000").await?;
//!     let start = corio::time::now();
//!     stream.write_all(b"ping").await?;
//!     let mut buf = [0; 4];
//!     stream.read_exact(&mut buf).await?;
//!     assert_eq!(corio::time::now() - start, Duration::from_millis(40));
//!     Ok(())
//! });
//! sim.run().unwrap();
//! ```
//!
//! # The network
//!
//! - Every host has its own address (`10.0.0.1`, `10.0.0.2`, ... in the order they were added)
//!   and its name resolves to it inside the simulation (`"server:9000"`). It binds
//!   `0.0.0.0:PORT` (or its own address, or `127.0.0.1`). Each host has its own TCP and UDP port
//!   tables: a second bind of a port is `AddrInUse`, two hosts can both bind port 9000, and port
//!   0 picks the next free port from 49152, deterministically.
//! - **Latency** is one way ([`Builder::latency`], or uniform in [`Builder::latency_range`]), per
//!   TCP write and per datagram: a round trip takes two. Traffic from a host to itself has none.
//! - **TCP** is a reliable, ordered byte pipe. Each direction holds at most 64 KiB in flight plus
//!   unread, so a writer whose peer does not read waits. Faults are at connection level only:
//!   a connect to a port nobody listens on is *refused* (after a round trip); across a
//!   partition, connect packets are lost, so the connect waits until the caller's own timeout
//!   (or until [`repair`]: it is retried then), and the data of open connections waits for the
//!   repair too (it is never dropped); [`crash`] *resets* the connections of the crashed host
//!   (the peers' reads and writes fail with `ConnectionReset`).
//! - **UDP** datagrams are lost with probability [`Builder::udp_loss`], duplicated with
//!   probability [`Builder::udp_duplicate`], reordered within the latency range (each draws its
//!   own latency), lost across a partition, and dropped when the receiver's queue (128
//!   datagrams) is full.
//!
//! # Hosts and faults
//!
//! A task spawned inside a host (`corio::spawn`, `spawn_local`, task group children) belongs to
//! that host, as do the tasks it spawns in turn. [`crash`] drops every task of the host (their
//! destructors run) and what was in flight to it, closes its sockets and resets its
//! connections; [`restart`] runs the host's closure again on a fresh incarnation (a running host
//! is crashed first). Clients are hosts too: they can bind sockets, and their names work in
//! [`partition`]; crashing a client ends it (it counts as finished), and restarting one brings
//! its address back with no task.
//!
//! # Determinism and failures
//!
//! The scheduler (one stream per host incarnation), the network and the randomness the runtime
//! gives tasks (retry jitter through [`Backoff`](crate::Backoff)) draw from separate streams
//! derived from the seed, so a log line or an extra yield does not change the network's draws.
//! A run records a trace (virtual time, host, event): [`Sim::trace`], [`Sim::trace_hash`];
//! [`check_determinism`] runs a simulation twice and reports the first event that differs,
//! which is how leaks of real time or of `HashMap` order are found.
//!
//! [`Sim::run`] fails, with an error that names the seed, when a client returns an error or
//! panics, when a host's closure returns an error or panics, when a task panics unobserved,
//! when no task can ever make progress again (every client waits for something that cannot
//! come), or past the virtual [`Builder::time_limit`]. Without [`Builder::seed`], the seed is
//! `CORIO_SEED` or a random one, so `CORIO_SEED=<seed>` replays a failure.
//!
//! Inside a simulation, creating a socket from a real file descriptor (`from_std`), a Unix
//! socket, or anything else registered with the reactor (`Async::new`: pipes, signals,
//! subprocesses) is an `Unsupported` error, never a real syscall. Name resolution of host names,
//! [`to_thread`](crate::to_thread), [`spawn_cpu`](crate::spawn_cpu), the [`fs`](crate::fs)
//! functions and the reads, writes and seeks of a [`fs::File`](crate::fs::File) (or any
//! [`Unblock`](crate::Unblock)) run inline, at the point of the schedule where they are called (the seed decides
//! it, not a pool thread; an inline `spawn_cpu` job is not counted in the CPU pool's metrics). A
//! job run inline that waits for the simulation's tasks can never return, since they cannot run
//! on the thread it holds: after a second corio says so on stderr. Not modelled: TCP internals (windows, retransmits, congestion), IPv6 specifics,
//! multicast and broadcast, TLS, bandwidth, disk faults, clock skew; simulations run on one
//! thread only.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use corio_executor::{Report, SubLoop};
use corio_net::sim::{HostId, NetConfig, Network};
use futures_lite::FutureExt;

pub use corio_net::sim::TraceEvent;

/// The error type of hosts and clients.
pub type HostError = Box<dyn Error>;

type HostFuture = Pin<Box<dyn Future<Output = Result<(), HostError>>>>;
type MakeHost = Rc<dyn Fn() -> HostFuture>;

/// How many task polls a host runs before the other hosts get a turn.
const HOST_SLICE: usize = 61;
/// How often (virtual time) the simulation checks whether anything can still happen.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Real time a simulation's loop must stay busy (never idle) for, on top of a watchdog period
/// of virtual time, before that is a livelock: finite busy work (200,000 yields, or as many tasks
/// spawned and joined, 10-200 ms) was reported as one, since virtual time also jumps ahead
/// while the loop stays busy and nothing but the watchdog was due (a probe).
const LIVELOCK_REAL: Duration = Duration::from_secs(2);

/// Configures a simulation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let sim = corio::sim::Builder::new()
///     .seed(42)
///     .latency_range(Duration::from_millis(5), Duration::from_millis(50))
///     .udp_loss(0.01)
///     .build();
/// assert_eq!(sim.seed(), 42);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    seed: Option<u64>,
    latency: (Duration, Duration),
    udp_loss: f64,
    udp_duplicate: f64,
    time_limit: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: the seed of `CORIO_SEED` (or a random one), 1 ms of latency, no UDP loss
    /// or duplication, a time limit of one virtual day.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(1).build();
    /// assert_eq!(sim.seed(), 1);
    /// ```
    pub fn new() -> Builder {
        Builder {
            seed: None,
            latency: (Duration::from_millis(1), Duration::from_millis(1)),
            udp_loss: 0.0,
            udp_duplicate: 0.0,
            time_limit: Duration::from_secs(24 * 3600),
        }
    }

    /// The seed of every random choice of the run (scheduling, network, the user's randomness).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::sim::Builder::new().seed(9).build().seed(), 9);
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// A fixed one-way latency. Latencies above a year of virtual time are capped to a year
    /// (traffic that slow never arrives within a sensible time limit). Virtual time moves in
    /// whole milliseconds (the timer's resolution), so each hop takes the latency rounded up
    /// to a whole millisecond.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().latency(std::time::Duration::from_millis(20)).build();
    /// # drop(sim);
    /// ```
    pub fn latency(mut self, latency: Duration) -> Builder {
        self.latency = (latency, latency);
        self
    }

    /// A one-way latency drawn uniformly in `min..=max` for each TCP write and each datagram.
    ///
    /// # Panics
    ///
    /// If `min > max`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ok = corio::sim::Builder::new().latency_range(Duration::ZERO, Duration::from_millis(9));
    /// # drop(ok);
    /// let bad = std::panic::catch_unwind(|| {
    ///     corio::sim::Builder::new().latency_range(Duration::from_millis(9), Duration::ZERO)
    /// });
    /// assert!(bad.is_err());
    /// ```
    #[track_caller]
    pub fn latency_range(mut self, min: Duration, max: Duration) -> Builder {
        assert!(
            min <= max,
            "corio::sim::Builder::latency_range: min {min:?} is above max {max:?}"
        );
        self.latency = (min, max);
        self
    }

    /// The probability that a datagram is lost, independently of the others.
    ///
    /// # Panics
    ///
    /// If `p` is not in `[0, 1]` (NaN included).
    ///
    /// # Examples
    ///
    /// ```
    /// let ok = corio::sim::Builder::new().udp_loss(0.25);
    /// # drop(ok);
    /// assert!(std::panic::catch_unwind(|| corio::sim::Builder::new().udp_loss(1.5)).is_err());
    /// ```
    #[track_caller]
    pub fn udp_loss(mut self, p: f64) -> Builder {
        assert!(
            (0.0..=1.0).contains(&p),
            "corio::sim::Builder::udp_loss: {p} is not a probability in [0, 1]"
        );
        self.udp_loss = p;
        self
    }

    /// The probability that a datagram is delivered twice (default 0).
    ///
    /// # Panics
    ///
    /// If `p` is not in `[0, 1]`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().udp_duplicate(0.1).build();
    /// # drop(sim);
    /// ```
    #[track_caller]
    pub fn udp_duplicate(mut self, p: f64) -> Builder {
        assert!(
            (0.0..=1.0).contains(&p),
            "corio::sim::Builder::udp_duplicate: {p} is not a probability in [0, 1]"
        );
        self.udp_duplicate = p;
        self
    }

    /// How much virtual time a run may take before it fails (default: one day).
    ///
    /// A run where every client waits for ever fails at once as a deadlock, but only while no
    /// timer is pending: with a periodic task on some host (a heartbeat), it runs until this
    /// limit, in real time proportional to the ticks. Set it near the run's expected length.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sim = corio::sim::Builder::new().seed(1).time_limit(Duration::from_secs(60)).build();
    /// sim.client("sleeper", async {
    ///     corio::sleep(Duration::from_secs(3600)).await;
    ///     Ok(())
    /// });
    /// let err = sim.run().unwrap_err();
    /// assert!(err.to_string().contains("time limit"));
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Builder {
        self.time_limit = limit;
        self
    }

    /// The simulation, with no hosts yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().build();
    /// assert!(sim.trace().is_empty(), "nothing ran yet");
    /// ```
    pub fn build(self) -> Sim {
        let seed = self
            .seed
            .unwrap_or_else(crate::deterministic::seed_from_env_or_random);
        Sim {
            seed,
            config: self,
            hosts: RefCell::new(Vec::new()),
            trace: RefCell::new(Rc::from(Vec::new())),
            hash: Cell::new(0),
        }
    }
}

enum Spec {
    Host(MakeHost),
    Client(Option<HostFuture>),
}

/// A simulation: hosts and clients, run by [`run`](Sim::run).
///
/// # Examples
///
/// ```
/// use corio::net::UdpSocket;
///
/// let sim = corio::sim::Builder::new().seed(3).build();
/// sim.host("echo", || async {
///     let socket = UdpSocket::bind("0.0.0.0:53").await?;
///     let mut buf = [0; 512];
///     loop {
///         let (n, from) = socket.recv_from(&mut buf).await?;
///         socket.send_to(&buf[..n], from).await?;
///     }
/// });
/// sim.client("asker", async {
///     let socket = UdpSocket::bind("0.0.0.0:0").await?;
///     socket.send_to(b"hello", "echo:53").await?;
///     let mut buf = [0; 512];
///     let (n, _) = socket.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"hello");
///     Ok(())
/// });
/// sim.run().unwrap();
/// assert!(sim.trace().iter().any(|e| e.what.starts_with("udp recv")));
/// ```
pub struct Sim {
    seed: u64,
    config: Builder,
    // Cells, so that `host`, `client` and `run` take `&self`: `let sim = ...build()` works.
    hosts: RefCell<Vec<(String, Spec)>>,
    trace: RefCell<Rc<[TraceEvent]>>,
    hash: Cell<u64>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field(
                "hosts",
                &self
                    .hosts
                    .borrow()
                    .iter()
                    .map(|h| h.0.clone())
                    .collect::<Vec<_>>(),
            )
            .field("trace_hash", &self.hash.get())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// The seed of this simulation.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::sim::Builder::new().seed(5).build().seed(), 5);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    #[track_caller]
    fn add(&self, name: &str, spec: Spec) -> &Sim {
        assert!(
            !name.is_empty()
                && !name.contains(':')
                && name != "localhost"
                && name.parse::<std::net::IpAddr>().is_err(),
            "corio::sim: `{name}` cannot name a host (use a non-empty name with no `:` that is \
             not an address or `localhost`)"
        );
        assert!(
            self.hosts.borrow().iter().all(|(n, _)| n != name),
            "corio::sim: there is already a host named `{name}`"
        );
        self.hosts.borrow_mut().push((name.to_owned(), spec));
        self
    }

    /// Adds a host: `start` runs when the simulation starts, and again at each
    /// [`restart`] of the host. The host stays up after `start` returns `Ok(())`
    /// (its spawned tasks go on); an error from it fails the run.
    ///
    /// # Panics
    ///
    /// If the name is taken, empty, contains `:`, is `localhost` or parses as an IP address.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(1).build();
    /// sim.host("db", || async {
    ///     let _listener = corio::net::TcpListener::bind("0.0.0.0:5432").await?;
    ///     std::future::pending::<()>().await;
    ///     Ok(())
    /// });
    /// sim.client("app", async {
    ///     corio::net::TcpStream::connect("db:5432").await?;
    ///     Ok(())
    /// });
    /// sim.run().unwrap();
    /// ```
    #[track_caller]
    pub fn host<F, Fut>(&self, name: &str, start: F) -> &Sim
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<(), HostError>> + 'static,
    {
        let make: MakeHost = Rc::new(move || Box::pin(start()) as HostFuture);
        self.add(name, Spec::Host(make))
    }

    /// Adds a client: `future` runs once, and the run ends when every client has finished.
    /// An error or a panic in it fails the run.
    ///
    /// # Panics
    ///
    /// As [`host`](Sim::host).
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(1).build();
    /// sim.client("lonely", async {
    ///     let refused = corio::net::TcpStream::connect("lonely:80").await.unwrap_err();
    ///     assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    ///     Ok(())
    /// });
    /// sim.run().unwrap();
    /// ```
    #[track_caller]
    pub fn client<Fut>(&self, name: &str, future: Fut) -> &Sim
    where
        Fut: Future<Output = Result<(), HostError>> + 'static,
    {
        self.add(name, Spec::Client(Some(Box::pin(future))))
    }

    /// The trace of the last run: every network event and fault, with its virtual time and host.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(1).build();
    /// sim.client("c", async { Ok(()) });
    /// sim.run().unwrap();
    /// assert!(sim.trace().iter().any(|e| e.what == "client finished"));
    /// ```
    pub fn trace(&self) -> Rc<[TraceEvent]> {
        self.trace.borrow().clone()
    }

    /// The hash of the last run's trace: two runs with equal traces have equal hashes.
    ///
    /// # Examples
    ///
    /// ```
    /// let run = |seed| {
    ///     let sim = corio::sim::Builder::new().seed(seed).build();
    ///     sim.client("c", async { corio::sleep(std::time::Duration::from_millis(5)).await; Ok(()) });
    ///     sim.run().unwrap();
    ///     sim.trace_hash()
    /// };
    /// assert_eq!(run(1), run(1));
    /// ```
    pub fn trace_hash(&self) -> u64 {
        self.hash.get()
    }

    /// Runs the simulation until every client has finished, on virtual time.
    ///
    /// Running a `Sim` again re-runs its hosts (clients ran once and are gone).
    ///
    /// # Errors
    ///
    /// A [`SimError`] naming the seed: a client's or a host's error or panic, an unobserved
    /// panic in any task, a deadlock (no task can ever make progress while a client is
    /// unfinished), or the time limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(11).build();
    /// sim.client("c", async { Err("it went wrong".into()) });
    /// let err = sim.run().unwrap_err();
    /// assert_eq!(err.seed(), 11);
    /// assert!(err.to_string().contains("seed 11"));
    /// assert!(err.to_string().contains("it went wrong"));
    /// ```
    pub fn run(&self) -> Result<(), SimError> {
        let seed = self.seed;
        let fail = |kind| self.error(kind);
        let reports = Arc::new(Reports::default());
        let hook_reports = reports.clone();
        let run_reports = reports.clone();
        let rt = crate::runtime::Builder::new()
            .deterministic(seed)
            .report_hook(move |report| hook_reports.push(report))
            .build_local()
            .map_err(|e| fail(SimErrorKind::Setup(e.to_string())))?;
        let specs: Vec<(String, Spec)> = self
            .hosts
            .borrow_mut()
            .iter_mut()
            .map(|(name, spec)| {
                let spec = match spec {
                    Spec::Host(make) => Spec::Host(make.clone()),
                    Spec::Client(fut) => Spec::Client(fut.take()),
                };
                (name.clone(), spec)
            })
            .collect();
        let config = self.config.clone();
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(run_world(seed, config, specs, reports))
        }));
        // The runtime holds the report hook, which holds the reports, which hold the waker of
        // the run's controller task, which holds the runtime: a cycle that leaked every run's
        // runtime (its poller and eventfd: 2 descriptors a run; `explore` ran out of them).
        run_reports.forget_waker();
        drop(rt);
        let (outcome, trace, hash) = match ran {
            Ok(done) => done,
            Err(panic) => {
                let message = corio_executor::panic_message(&*panic);
                return Err(fail(SimErrorKind::Panicked {
                    host: "(simulation)".to_owned(),
                    message,
                }));
            }
        };
        *self.trace.borrow_mut() = trace.into();
        self.hash.set(hash);
        outcome.map_err(fail)
    }

    /// A failure of this simulation: its seed, and how to replay it.
    fn error(&self, kind: SimErrorKind) -> SimError {
        SimError {
            seed: self.seed,
            kind,
            seed_given: self.config.seed.is_some(),
        }
    }
}

/// Runs the simulation that `make` builds twice and compares the traces.
///
/// # Errors
///
/// [`SimErrorKind::Diverged`] with the first event that differs; otherwise the first run's own
/// error, if it failed.
///
/// # Examples
///
/// ```
/// let make = || {
///     let sim = corio::sim::Builder::new().seed(4).build();
///     sim.client("c", async { corio::sleep(std::time::Duration::from_millis(3)).await; Ok(()) });
///     sim
/// };
/// let hash = corio::sim::check_determinism(make).unwrap();
/// assert_ne!(hash, 0);
/// ```
pub fn check_determinism(make: impl Fn() -> Sim) -> Result<u64, SimError> {
    let first = make();
    let outcome = first.run();
    let second = make();
    let _ = second.run();
    let (a, b) = (first.trace(), second.trace());
    if let Some(index) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        return Err(first.error(SimErrorKind::Diverged {
            index,
            first: a.get(index).map(ToString::to_string),
            second: b.get(index).map(ToString::to_string),
        }));
    }
    outcome.map(|()| first.trace_hash())
}

/// Runs the simulation that `make` builds for each seed in `0..seeds` (on a fresh runtime each)
/// and returns the first failure: [`crate::explore`] for simulations.
///
/// # Errors
///
/// The [`SimError`] of the first seed that fails; its [`seed`](SimError::seed) replays it.
///
/// # Examples
///
/// A client that gives up after 45 ms fails only under some latencies:
///
/// ```
/// use std::time::Duration;
/// use corio::net::{TcpListener, TcpStream};
///
/// let make = |seed| {
///     let sim = corio::sim::Builder::new()
///         .seed(seed)
///         .latency_range(Duration::from_millis(1), Duration::from_millis(30))
///         .build();
///     sim.host("server", || async {
///         let listener = TcpListener::bind("0.0.0.0:80").await?;
///         loop { listener.accept().await?; }
///     });
///     sim.client("client", async {
///         corio::timeout(Duration::from_millis(45), TcpStream::connect("server:80")).await??;
///         Ok(())
///     });
///     sim
/// };
/// let failure = corio::sim::explore(100, make).unwrap_err();
/// assert!(make(failure.seed()).run().is_err(), "the seed replays the failure");
/// ```
pub fn explore(seeds: u64, make: impl Fn(u64) -> Sim) -> Result<(), SimError> {
    for seed in 0..seeds {
        make(seed).run()?;
    }
    Ok(())
}

/// Why a simulation failed; see [`SimError::kind`].
///
/// # Examples
///
/// ```
/// use corio::sim::SimErrorKind;
///
/// let sim = corio::sim::Builder::new().seed(2).build();
/// sim.client("c", async { panic!("boom") });
/// match sim.run().unwrap_err().kind() {
///     SimErrorKind::Panicked { host, message } => {
///         assert_eq!(host, "c");
///         assert!(message.contains("boom"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimErrorKind {
    /// A client returned an error.
    ClientFailed {
        /// The client's name.
        client: String,
        /// The error, displayed.
        error: String,
    },
    /// A host's closure returned an error.
    HostFailed {
        /// The host's name.
        host: String,
        /// The error, displayed.
        error: String,
    },
    /// A client, a host's closure or one of their tasks panicked.
    Panicked {
        /// The host (or client) whose task panicked, or `(simulation)`.
        host: String,
        /// The panic's message.
        message: String,
    },
    /// No task can ever make progress again, and these clients have not finished.
    Deadlock {
        /// Virtual time since the start.
        at: Duration,
        /// The unfinished clients.
        waiting: Vec<String>,
    },
    /// Some task never stops running: the loop did not go idle once while the watchdog's
    /// period of virtual time (it moved only because virtual time also jumps ahead when the
    /// loop stays busy for about 62,000 polls) and two seconds of real time went by. A spin on
    /// `yield_now` waiting for something that cannot happen while it spins is the usual cause.
    Livelock {
        /// Virtual time since the start.
        at: Duration,
        /// The unfinished clients.
        waiting: Vec<String>,
    },
    /// The run went past [`Builder::time_limit`].
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
    /// Two runs of [`check_determinism`] differ, first at event `index`.
    Diverged {
        /// The index of the first differing event of the traces.
        index: usize,
        /// The event of the first run (`None`: its trace ended).
        first: Option<String>,
        /// The event of the second run.
        second: Option<String>,
    },
    /// The runtime or the network could not be set up.
    Setup(String),
}

/// A failed simulation: what went wrong, and the seed that replays it.
///
/// # Examples
///
/// ```
/// let sim = corio::sim::Builder::new().seed(99).build();
/// sim.client("c", async { Err("no".into()) });
/// let err = sim.run().unwrap_err();
/// // The seed was given to the builder, which wins over `CORIO_SEED`: replay by building with it.
/// assert!(format!("{err}").contains("replay with Builder::seed(99)"));
/// assert!(format!("{err:?}").contains("99"));
///
/// // Without one, the seed comes from `CORIO_SEED` (or is random), and that replays it.
/// let sim = corio::sim::Builder::new().build();
/// sim.client("c", async { Err("no".into()) });
/// let err = sim.run().unwrap_err();
/// assert!(format!("{err}").contains(&format!("CORIO_SEED={}", err.seed())));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SimError {
    seed: u64,
    kind: SimErrorKind,
    /// Whether the seed was given to [`Builder::seed`], which wins over `CORIO_SEED`: the way
    /// to replay is then to build with that seed.
    seed_given: bool,
}

impl SimError {
    /// How to replay the run, for the messages.
    fn replay(&self) -> String {
        if self.seed_given {
            format!("Builder::seed({})", self.seed)
        } else {
            format!("{}={}", crate::SEED_ENV, self.seed)
        }
    }

    /// The seed of the failed run.
    ///
    /// # Examples
    ///
    /// ```
    /// let sim = corio::sim::Builder::new().seed(8).build();
    /// sim.client("c", async { Err("x".into()) });
    /// assert_eq!(sim.run().unwrap_err().seed(), 8);
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sim::SimErrorKind;
    ///
    /// let sim = corio::sim::Builder::new().seed(8).build();
    /// sim.client("c", async { Err("x".into()) });
    /// assert!(matches!(sim.run().unwrap_err().kind(), SimErrorKind::ClientFailed { .. }));
    /// ```
    pub fn kind(&self) -> &SimErrorKind {
        &self.kind
    }
}

impl fmt::Debug for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimError")
            .field("seed", &self.seed)
            .field("replay", &self.replay())
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation failed with seed {} (replay with {}): ",
            self.seed,
            self.replay()
        )?;
        match &self.kind {
            SimErrorKind::ClientFailed { client, error } => {
                write!(f, "client `{client}` failed: {error}")
            }
            SimErrorKind::HostFailed { host, error } => write!(f, "host `{host}` failed: {error}"),
            SimErrorKind::Panicked { host, message } => {
                write!(f, "a task of `{host}` panicked: {message}")
            }
            SimErrorKind::Deadlock { at, waiting } => write!(
                f,
                "deadlock at {at:?} of virtual time: no task can make progress, and clients \
                 {waiting:?} have not finished"
            ),
            SimErrorKind::Livelock { at, waiting } => write!(
                f,
                "livelock at {at:?} of virtual time: tasks keep running but the loop never goes \
                 idle (a spin loop?), and clients {waiting:?} have not finished"
            ),
            SimErrorKind::TimeLimit { limit } => {
                write!(f, "the run went past its time limit of {limit:?} (virtual)")
            }
            SimErrorKind::Diverged {
                index,
                first,
                second,
            } => write!(
                f,
                "two runs diverged at trace event {index}: {} vs {}",
                first.as_deref().unwrap_or("(end of trace)"),
                second.as_deref().unwrap_or("(end of trace)")
            ),
            SimErrorKind::Setup(e) => write!(f, "cannot start the simulation: {e}"),
        }
    }
}

impl Error for SimError {}

/// Partitions hosts `a` and `b` from each other (both ways), from any task inside a running
/// simulation: datagrams between them are lost, TCP connects and data wait for [`repair`].
///
/// # Panics
///
/// Outside a running simulation, or if a name is not a host's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio::net::TcpStream;
///
/// let sim = corio::sim::Builder::new().seed(1).build();
/// sim.host("server", || async {
///     let listener = corio::net::TcpListener::bind("0.0.0.0:80").await?;
///     loop { listener.accept().await?; }
/// });
/// sim.client("client", async {
///     corio::sim::partition("client", "server");
///     let start = corio::time::now();
///     let attempt = corio::timeout(Duration::from_secs(2), TcpStream::connect("server:80")).await;
///     assert!(attempt.is_err(), "the connect's packets are lost");
///     assert_eq!(corio::time::now() - start, Duration::from_secs(2));
///     corio::sim::repair("client", "server");
///     TcpStream::connect("server:80").await?;
///     Ok(())
/// });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn partition(a: &str, b: &str) {
    let world = World::current("partition");
    let (a, b) = (world.host(a), world.host(b));
    world.net.partition(a, b);
}

/// Heals the link between `a` and `b`: held TCP traffic goes on one latency later.
///
/// # Panics
///
/// Outside a running simulation, or if a name is not a host's.
///
/// # Examples
///
/// See [`partition`].
///
/// ```
/// let sim = corio::sim::Builder::new().seed(1).build();
/// sim.client("a", async { corio::sim::repair("a", "b"); Ok(()) }); // nothing to heal
/// sim.client("b", async { Ok(()) });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn repair(a: &str, b: &str) {
    let world = World::current("repair");
    let (a, b) = (world.host(a), world.host(b));
    world.net.repair(a, b);
}

/// Crashes `host`: drops all of its tasks (their destructors run) and what was in flight to it,
/// closes its sockets, and resets its connections (the peers get `ConnectionReset`). A host
/// that crashes itself stops when the poll that called this ends (at its task's next `await`
/// that waits; the code up to there still runs, since a poll cannot be interrupted): none of
/// its tasks runs again, and what it returns is
/// ignored (a client that crashes itself counts as finished). Crashing a host that is down
/// does nothing.
///
/// # Panics
///
/// Outside a running simulation, or if the name is not a host's.
///
/// # Examples
///
/// ```
/// use corio::io::AsyncReadExt;
/// use corio::net::{TcpListener, TcpStream};
///
/// let sim = corio::sim::Builder::new().seed(1).build();
/// sim.host("server", || async {
///     let listener = TcpListener::bind("0.0.0.0:80").await?;
///     let mut open = Vec::new();
///     loop { open.push(listener.accept().await?.0); }
/// });
/// sim.client("client", async {
///     let mut stream = TcpStream::connect("server:80").await?;
///     corio::sim::crash("server");
///     let mut buf = [0; 1];
///     let err = stream.read(&mut buf).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
///     Ok(())
/// });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn crash(host: &str) {
    let world = World::current("crash");
    let id = world.host(host);
    world.crash(id);
}

/// Restarts `host`: crashes it if it is up, then runs its closure again on a fresh
/// incarnation (empty port tables, new tasks), at the same virtual instant.
///
/// # Panics
///
/// Outside a running simulation, or if the name is not a host's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio::net::{TcpListener, TcpStream};
///
/// let sim = corio::sim::Builder::new().seed(1).build();
/// sim.host("server", || async {
///     let listener = TcpListener::bind("0.0.0.0:80").await?;
///     loop { listener.accept().await?; }
/// });
/// sim.client("client", async {
///     corio::sim::crash("server");
///     let refused = TcpStream::connect("server:80").await;
///     assert!(refused.is_err() || true); // lost: a crashed host does not answer
///     # drop(refused);
///     Ok(())
/// });
/// # drop(sim);
/// let sim = corio::sim::Builder::new().seed(1).build();
/// sim.host("server", || async {
///     let listener = TcpListener::bind("0.0.0.0:80").await?;
///     loop { listener.accept().await?; }
/// });
/// sim.client("client", async {
///     corio::sim::restart("server");
///     corio::sleep(Duration::from_millis(1)).await;
///     TcpStream::connect("server:80").await?; // the new incarnation listens again
///     Ok(())
/// });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn restart(host: &str) {
    let world = World::current("restart");
    let id = world.host(host);
    world.crash(id);
    world.inner.borrow_mut().controls.push_back(id);
    world.wake_controller();
}

/// Panics and unobserved-panic reports of the run's tasks, from the runtime's report hook.
#[derive(Default)]
struct Reports {
    /// The panics, with the host whose task it was (the host running when it was reported).
    inner: Mutex<(Vec<HostPanic>, Option<Waker>)>,
}

/// A panic report, and the host whose task panicked.
type HostPanic = (Option<HostId>, String);

impl Reports {
    fn push(&self, report: &Report) {
        let waker = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            if let Report::UnobservedPanic { .. } = report {
                inner.0.push((Network::current_host(), report.to_string()));
            } else {
                return;
            }
            inner.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Drops the stored waker (the run is over: nobody waits for a report any more).
    fn forget_waker(&self) {
        let waker = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .take();
        drop(waker);
    }

    fn first(&self, waker: &Waker) -> Option<HostPanic> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.1 = Some(waker.clone());
        inner.0.first().cloned()
    }
}

struct HostRt {
    name: String,
    id: HostId,
    make: Option<MakeHost>,
    client: bool,
    finished: bool,
    generation: u64,
    sub: Option<Rc<SubLoop>>,
}

struct WorldInner {
    hosts: Vec<HostRt>,
    /// Hosts to start again (restart).
    controls: VecDeque<HostId>,
    /// Sub-loops of crashed hosts, to shut down outside of any host's tasks.
    crashed: Vec<(HostId, Rc<SubLoop>)>,
    failure: Option<SimErrorKind>,
    controller: Option<Waker>,
}

struct World {
    seed: u64,
    net: Network,
    inner: RefCell<WorldInner>,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

impl World {
    #[track_caller]
    fn current(what: &str) -> Rc<World> {
        WORLD
            .try_with(|w| w.borrow().clone())
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                panic!("corio::sim::{what} called outside of a running simulation (Sim::run)")
            })
    }

    #[track_caller]
    fn host(&self, name: &str) -> HostId {
        let inner = self.inner.borrow();
        match inner.hosts.iter().find(|h| h.name == name) {
            Some(h) => h.id,
            None => {
                let names: Vec<&str> = inner.hosts.iter().map(|h| h.name.as_str()).collect();
                panic!("corio::sim: no host named `{name}` in this simulation (hosts: {names:?})")
            }
        }
    }

    fn wake_controller(&self) {
        let waker = self.inner.borrow_mut().controller.take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn fail(&self, kind: SimErrorKind) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.failure.is_none() {
                inner.failure = Some(kind);
            }
        }
        self.wake_controller();
    }

    /// Crashes the host in the network, then drops its tasks: at once, unless the caller is one
    /// of them (a task cannot drop itself mid-poll); then the controller does it next.
    fn crash(&self, id: HostId) {
        self.net.crash(id);
        let sub = {
            let mut inner = self.inner.borrow_mut();
            // A restart asked for earlier at this instant is overridden: the host stays down.
            inner.controls.retain(|&queued| queued != id);
            let h = &mut inner.hosts[id.index()];
            let Some(sub) = h.sub.take() else { return };
            h.generation += 1;
            if h.client && !h.finished {
                h.finished = true;
                self.net.record(Some(id), "client crashed");
            }
            if Network::current_host() == Some(id) {
                // Crashed from one of its own tasks: none of them runs again (not even the
                // rest of the batch in progress, the crashing task included), though they are
                // dropped only by the controller, outside of any host's tasks.
                sub.stop();
                inner.crashed.push((id, sub));
                None
            } else {
                Some(sub)
            }
        };
        if let Some(sub) = sub {
            let _host = Network::enter_host(id);
            sub.shutdown();
        }
        self.wake_controller();
    }

    /// Starts (or restarts) host `index` on a fresh sub-loop, and the task that drives it.
    /// Called by the controller only, so the driver task is a task of the simulation's loop.
    fn start(self: &Rc<World>, index: usize, client: Option<HostFuture>) {
        let (id, generation, make, name) = {
            let inner = self.inner.borrow();
            let h = &inner.hosts[index];
            (h.id, h.generation, h.make.clone(), h.name.clone())
        };
        self.net.restart(id);
        let seed = derive(self.seed, 0x1000 + ((index as u64) << 20) + generation);
        let sub = Rc::new(SubLoop::new(Some(seed)));
        let body: Option<HostFuture> = match (make, client) {
            (_, Some(fut)) => Some(fut),
            (Some(make), None) => Some(make()),
            (None, None) => None,
        };
        if let Some(body) = body {
            let world = self.clone();
            let is_client = self.inner.borrow().hosts[index].client;
            self.net.record(
                Some(id),
                if is_client {
                    "client started"
                } else {
                    "host started"
                },
            );
            sub.spawn(async move {
                let outcome = AssertUnwindSafe(body).catch_unwind().await;
                if world.inner.borrow().hosts[index].generation != generation {
                    // The host crashed during the poll that ended its body (it crashed itself
                    // and returned): a crashed client counts as finished, and what a crashed
                    // incarnation returns is nobody's.
                    return;
                }
                let kind = match outcome {
                    Ok(Ok(())) => {
                        if is_client {
                            world.inner.borrow_mut().hosts[index].finished = true;
                            world.net.record(Some(id), "client finished");
                            world.wake_controller();
                        } else {
                            world.net.record(Some(id), "host returned");
                        }
                        return;
                    }
                    Ok(Err(e)) if is_client => SimErrorKind::ClientFailed {
                        client: name,
                        error: e.to_string(),
                    },
                    Ok(Err(e)) => SimErrorKind::HostFailed {
                        host: name,
                        error: e.to_string(),
                    },
                    Err(panic) => SimErrorKind::Panicked {
                        host: name,
                        message: corio_executor::panic_message(&*panic),
                    },
                };
                world.net.record(Some(id), format!("failed: {kind:?}"));
                world.fail(kind);
            })
            .detach();
        }
        // The world owns the sub-loop; the task that drives it only looks at it, so the sub-loop
        // is dropped by the world (a crash, or the end of the run), never by the runtime's
        // shutdown from inside its scheduler.
        let driven = Rc::downgrade(&sub);
        self.inner.borrow_mut().hosts[index].sub = Some(sub);
        let world = self.clone();
        corio_executor::spawn_local(async move {
            poll_fn(|cx| {
                if world.inner.borrow().hosts[index].generation != generation {
                    return Poll::Ready(());
                }
                let Some(sub) = driven.upgrade() else {
                    return Poll::Ready(());
                };
                let _host = Network::enter_host(id);
                sub.run_ready(cx, HOST_SLICE);
                Poll::Pending
            })
            .await;
        })
        .detach();
    }

    /// Shuts down the sub-loops of crashed hosts and starts the restarted ones.
    fn handle_controls(self: &Rc<World>) {
        loop {
            let crashed = std::mem::take(&mut self.inner.borrow_mut().crashed);
            let had_crashes = !crashed.is_empty();
            for (id, sub) in crashed {
                let _host = Network::enter_host(id);
                sub.shutdown();
            }
            let next = self.inner.borrow_mut().controls.pop_front();
            match next {
                Some(id) => self.start(id.index(), None),
                None if !had_crashes => return,
                None => {}
            }
        }
    }

    fn unfinished(&self) -> Vec<String> {
        self.inner
            .borrow()
            .hosts
            .iter()
            .filter(|h| h.client && !h.finished)
            .map(|h| h.name.clone())
            .collect()
    }
}

/// Shuts every host down when the run ends (also by a panic), and puts back the thread's world
/// from before the run (that of an enclosing simulation, if this one runs inside it).
struct WorldGuard(Rc<World>, Option<Rc<World>>);

impl Drop for WorldGuard {
    fn drop(&mut self) {
        let subs: Vec<(HostId, Rc<SubLoop>)> = {
            let mut inner = self.0.inner.borrow_mut();
            let mut subs = std::mem::take(&mut inner.crashed);
            for h in &mut inner.hosts {
                h.generation += 1;
                if let Some(sub) = h.sub.take() {
                    subs.push((h.id, sub));
                }
            }
            subs
        };
        for (id, sub) in subs {
            let _host = Network::enter_host(id);
            sub.shutdown();
        }
        let outer = self.1.take();
        let _ = WORLD.try_with(|w| *w.borrow_mut() = outer);
    }
}

type RunOutcome = (Result<(), SimErrorKind>, Vec<TraceEvent>, u64);

/// Ends a simulation's network when dropped (see [`Network::end`]).
struct EndNetwork(Network);

impl Drop for EndNetwork {
    fn drop(&mut self) {
        self.0.end();
    }
}

async fn run_world(
    seed: u64,
    config: Builder,
    specs: Vec<(String, Spec)>,
    reports: Arc<Reports>,
) -> RunOutcome {
    let mut net_config = NetConfig::new(derive(seed, 1));
    net_config.latency = config.latency;
    net_config.udp_loss = config.udp_loss;
    net_config.udp_duplicate = config.udp_duplicate;
    let net = match Network::new(net_config) {
        Ok(net) => net,
        Err(e) => return (Err(SimErrorKind::Setup(e.to_string())), Vec::new(), 0),
    };
    let _installed = net.install();
    // However the run ends, a socket that outlives it fails from then on instead of hanging.
    let _end = EndNetwork(net.clone());
    let mut hosts = Vec::new();
    let mut clients = Vec::new();
    for (name, spec) in specs {
        let id = match net.add_host(&name) {
            Ok(id) => id,
            Err(e) => return (Err(SimErrorKind::Setup(e.to_string())), Vec::new(), 0),
        };
        let (make, client) = match spec {
            Spec::Host(make) => (Some(make), false),
            Spec::Client(fut) => {
                clients.push(fut);
                (None, true)
            }
        };
        if !client {
            clients.push(None);
        }
        hosts.push(HostRt {
            name,
            id,
            make,
            client,
            finished: false,
            generation: 0,
            sub: None,
        });
    }
    let world = Rc::new(World {
        seed,
        net: net.clone(),
        inner: RefCell::new(WorldInner {
            hosts,
            controls: VecDeque::new(),
            crashed: Vec::new(),
            failure: None,
            controller: None,
        }),
    });
    let outer = WORLD
        .try_with(|w| w.borrow_mut().replace(world.clone()))
        .ok()
        .flatten();
    let guard = WorldGuard(world.clone(), outer);
    let deliver = corio_executor::spawn_local(net.deliver());
    for (index, client) in clients.into_iter().enumerate() {
        let is_client = world.inner.borrow().hosts[index].client;
        if is_client && client.is_none() {
            // A client that already ran (a second `run`): it is finished.
            world.inner.borrow_mut().hosts[index].finished = true;
            continue;
        }
        world.start(index, client);
    }
    let start = crate::time::now();
    let limit = config.time_limit;
    // Set when the watchdog found no timer pending: the virtual time it fired at, for a second
    // look once the loop has gone idle.
    let mut confirm: Option<Duration> = None;
    // The loop's count of idle parks when it last changed, and when (real time): a livelock
    // needs both a watchdog period of virtual time and `LIVELOCK_REAL` without going idle.
    let mut idle_seen = (crate::driver::idle_parks(), std::time::Instant::now());
    let outcome = loop {
        let woken = poll_fn(|cx| {
            world.handle_controls();
            if let Some((host, message)) = reports.first(cx.waker()) {
                let host = host.map_or_else(|| "(simulation)".to_owned(), |h| net.host_name(h));
                return Poll::Ready(Err(SimErrorKind::Panicked { host, message }));
            }
            let mut inner = world.inner.borrow_mut();
            if let Some(kind) = inner.failure.take() {
                return Poll::Ready(Err(kind));
            }
            if inner.hosts.iter().all(|h| !h.client || h.finished) {
                return Poll::Ready(Ok(true));
            }
            inner.controller = Some(cx.waker().clone());
            Poll::Pending
        });
        if let Some(at) = confirm.take() {
            // A failure or the end of the run, found meanwhile, comes first.
            match futures_lite::future::poll_once(woken).await {
                Some(Ok(true)) => break Ok(()),
                Some(Ok(false)) | None => {}
                Some(Err(kind)) => break Err(kind),
            }
            if corio_timer::Timer::current().pending() == 0 {
                break Err(SimErrorKind::Deadlock {
                    at,
                    waiting: world.unfinished(),
                });
            }
            continue;
        }
        let elapsed = crate::time::now() - start;
        // Up to just past the limit: what is due at the limit itself (or, for a limit of 0,
        // ready at the start) still runs before the limit counts.
        let wait = WATCHDOG.min(
            limit
                .saturating_sub(elapsed)
                .saturating_add(Duration::from_nanos(1)),
        );
        let idle_before = crate::driver::idle_parks();
        match crate::timeout(wait, woken).await {
            Ok(Ok(true)) => break Ok(()),
            Ok(Ok(false)) => {}
            Ok(Err(kind)) => break Err(kind),
            Err(_) => {
                let elapsed = crate::time::now() - start;
                if elapsed > limit {
                    break Err(SimErrorKind::TimeLimit { limit });
                }
                let idle_now = crate::driver::idle_parks();
                if idle_now != idle_before || idle_now != idle_seen.0 {
                    idle_seen = (idle_now, std::time::Instant::now());
                } else if idle_seen.1.elapsed() >= LIVELOCK_REAL {
                    break Err(SimErrorKind::Livelock {
                        at: elapsed,
                        waiting: world.unfinished(),
                    });
                }
                if corio_timer::Timer::current().pending() == 0 {
                    // Maybe a deadlock. But the watchdog may have fired in the same tick as a
                    // task's own timer (a client's `sleep(10 s)`), whose task is woken and not
                    // yet polled: its timer is no longer pending, and it may well finish or
                    // wait on a new timer. Look again once the loop has nothing left to run,
                    // before time moves (a sleep would move it a tick, firing the timers of that
                    // tick too). Bounded, in case the loop never goes idle (then the watchdog's
                    // next periods see the livelock).
                    if crate::timeout(WATCHDOG, crate::driver::until_idle())
                        .await
                        .is_ok()
                    {
                        confirm = Some(elapsed);
                    }
                }
            }
        }
    };
    if let Err(kind) = &outcome {
        net.record(None, format!("run failed: {kind:?}"));
    } else {
        net.record(None, "run finished");
    }
    drop(guard);
    drop(deliver);
    let trace = net.trace();
    let hash = net.trace_hash();
    (outcome, trace, hash)
}

/// A seed for one purpose, derived from the run's seed (SplitMix64 of both).
fn derive(seed: u64, purpose: u64) -> u64 {
    let mut z = seed
        .wrapping_add(purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
