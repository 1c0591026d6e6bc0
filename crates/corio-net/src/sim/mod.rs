//! The simulated network behind `corio::sim`: hosts, TCP connections and UDP datagrams on
//! virtual time, with latency, loss, partitions and crashes, all drawn from one seed.
//!
//! This module is the network only; `corio::sim` (the facade) runs the hosts' tasks and is what
//! users call. While a [`Network`] is [installed](Network::install) on a thread, the sockets of
//! this crate created on that thread ([`TcpListener`](crate::TcpListener),
//! [`TcpStream`](crate::TcpStream), [`UdpSocket`](crate::UdpSocket)) are simulated sockets of the
//! host that is [entered](Network::enter_host); elsewhere they are real ones, and the only cost
//! of the simulation to a real socket is one thread-local read when it is created.
//!
//! # Invariants
//!
//! 1. **One lock, no task woken under it.** All of the network's state is behind one mutex
//!    (the simulation runs on one thread, so it is never contended); the wakers of tasks are
//!    collected while it is held and woken after it is released. The one waker woken under the
//!    lock is the delivery future's ([`Deliver`]), which only gets scheduled by it.
//! 2. **Determinism.** Nothing here reads the real clock or iterates a `HashMap`: time is
//!    `corio_timer::now()` (virtual inside a simulation), collections are ordered (`BTreeMap`,
//!    `VecDeque`, a heap ordered by time then sequence number), and every random choice
//!    (latency, loss, duplication) comes from the network's own SplitMix64 stream, seeded from
//!    the simulation's seed and used by nothing else, so what tasks do between two network
//!    events cannot change the network's draws.
//! 3. **TCP is a reliable ordered pipe.** Each direction of a connection is a FIFO of chunks
//!    (one per write) tagged with their arrival time; a chunk never arrives before the one
//!    written before it (its time is at least the previous one's). Chunks are never dropped while
//!    both ends live: across a partition they wait, and go on after `repair`. The bytes of a
//!    direction in flight plus those delivered and unread never exceed the buffer size, so a
//!    writer whose peer does not read waits (`Pending`), and is woken when the reader reads.
//! 4. **Faults at connection level only.** A connect to a port nobody listens on is refused after
//!    a round trip; a connect across a partition waits (its packets are held) until `repair`, or
//!    until the caller's own timeout drops it; `crash` resets, at once, every connection with an
//!    end on the crashed host (the other end's reads and writes fail with `ConnectionReset`),
//!    and drops whatever was in flight to that host. A connect to a host that is down is held
//!    the same way, until the host restarts.
//! 5. **Incarnations.** A host's incarnation grows at each crash. Datagrams carry the incarnation
//!    of their destination when sent and are dropped if it changed; a socket of a crashed
//!    incarnation finds its port taken back, and never frees a port that a newer socket holds.
//! 6. **A trace.** Every network event and every fault is appended to the trace as (virtual time
//!    since the start, host, text), and folded into a 64-bit FNV-1a hash, so two runs can be
//!    compared by hash and, when they differ, event by event. A send's event carries a 32-bit
//!    digest of its bytes, so runs that send different bytes of the same size differ too.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The longest one-way latency the network uses: a larger configured latency (up to
/// `Duration::MAX`) is capped to it. A year of virtual time is past any sensible time limit, so
/// such traffic simply never arrives within the run.
pub(crate) const MAX_LATENCY: Duration = Duration::from_secs(365 * 24 * 3600);

pub(crate) mod tcp;
pub(crate) mod udp;

/// The tasks waiting on one side of a simulated socket (its receives, or its reads, or its
/// writes), each woken by the next event there: several tasks may wait on one socket through
/// clones (a `recv_from` beside a `readable`, say), and none may take another's wake-up (a
/// single slot did: the first waiter slept on with a datagram queued, a review found).
///
/// An event wakes every waiter (each looks again; those that find nothing wait on), so N tasks
/// that each receive one datagram on clones of one socket cost about N²/2 polls in all.
///
/// A task registers once however often it polls (`Waker::will_wake`). The waker of a waiter
/// that went away stays until the next event. So that such wakers do not pile up, a list that
/// reaches its limit wakes them all (the live waiters register again) and doubles the limit,
/// so that more live waiters than the limit cause one extra round, not a storm of them (a fixed
/// limit of 64 did: 65 tasks waiting on clones woke each other 368,869 times, a review found);
/// each event sets the limit to twice the number of waiters it woke (at least
/// [`WaitList::MIN_LIMIT`]). The list thus holds at most the live waiters and the wakers of the
/// waiters gone since the last event or round.
pub(crate) struct WaitList {
    wakers: Vec<Waker>,
    limit: usize,
}

impl Default for WaitList {
    fn default() -> Self {
        WaitList {
            wakers: Vec::new(),
            limit: Self::MIN_LIMIT,
        }
    }
}

impl WaitList {
    const MIN_LIMIT: usize = 64;

    /// Registers `waker`; returns the wakers to wake now (the list was full).
    #[must_use]
    pub(crate) fn register(&mut self, waker: &Waker) -> Vec<Waker> {
        if self.wakers.iter().any(|w| w.will_wake(waker)) {
            return Vec::new();
        }
        let full = if self.wakers.len() >= self.limit {
            self.limit = self.limit.saturating_mul(2);
            std::mem::take(&mut self.wakers)
        } else {
            Vec::new()
        };
        self.wakers.push(waker.clone());
        full
    }

    /// Every waiter's waker, for the caller to wake (after releasing the network's lock).
    pub(crate) fn take(&mut self) -> Vec<Waker> {
        self.limit = self.wakers.len().saturating_mul(2).max(Self::MIN_LIMIT);
        std::mem::take(&mut self.wakers)
    }
}

/// How the simulated network behaves; see the fields for the defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_net::sim::NetConfig;
///
/// let mut config = NetConfig::new(42);
/// config.latency = (Duration::from_millis(5), Duration::from_millis(50));
/// config.udp_loss = 0.1;
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// The seed of the network's random stream (derived from the simulation's seed).
    pub seed: u64,
    /// One-way latency of each TCP chunk and each datagram, drawn uniformly in `min..=max`
    /// (default 1 ms both).
    pub latency: (Duration, Duration),
    /// The probability that a datagram is lost (default 0).
    pub udp_loss: f64,
    /// The probability that a datagram is delivered twice (default 0).
    pub udp_duplicate: f64,
    /// The size, in bytes, of each direction of a TCP connection: in flight plus unread
    /// (default 64 KiB).
    pub tcp_buffer: usize,
    /// How many datagrams a UDP socket's receive queue holds; more are dropped (default 128).
    pub udp_queue: usize,
}

impl NetConfig {
    /// The defaults, with `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = corio_net::sim::NetConfig::new(1);
    /// assert_eq!(config.udp_loss, 0.0);
    /// ```
    pub fn new(seed: u64) -> NetConfig {
        NetConfig {
            seed,
            latency: (Duration::from_millis(1), Duration::from_millis(1)),
            udp_loss: 0.0,
            udp_duplicate: 0.0,
            tcp_buffer: 64 * 1024,
            udp_queue: 128,
        }
    }

    /// Checks the values: probabilities in `[0, 1]`, `min <= max` latency, non-zero sizes.
    ///
    /// # Errors
    ///
    /// An `InvalidInput` error that names the bad value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut config = corio_net::sim::NetConfig::new(1);
    /// config.udp_loss = 1.5;
    /// assert!(config.validate().is_err());
    /// ```
    pub fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        for (name, p) in [
            ("udp_loss", self.udp_loss),
            ("udp_duplicate", self.udp_duplicate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be a probability in [0, 1], got {p}"));
            }
        }
        if self.latency.0 > self.latency.1 {
            return bad(format!(
                "latency range: min {:?} is above max {:?}",
                self.latency.0, self.latency.1
            ));
        }
        if self.tcp_buffer == 0 || self.udp_queue == 0 {
            return bad("tcp_buffer and udp_queue must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// A host of the simulation, as the network numbers them (in the order they were added).
///
/// # Examples
///
/// ```
/// use corio_net::sim::{NetConfig, Network};
///
/// let net = Network::new(NetConfig::new(1)).unwrap();
/// let a = net.add_host("a").unwrap();
/// assert_eq!(a.index(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(u32);

impl HostId {
    /// The host's number: 0 for the first host added.
    ///
    /// # Examples
    ///
    /// ```
    /// # let net = corio_net::sim::Network::new(corio_net::sim::NetConfig::new(1)).unwrap();
    /// assert_eq!(net.add_host("x").unwrap().index(), 0);
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One line of a simulation's trace.
///
/// # Examples
///
/// ```
/// use corio_net::sim::{NetConfig, Network};
///
/// let net = Network::new(NetConfig::new(1)).unwrap();
/// let a = net.add_host("a").unwrap();
/// net.record(Some(a), "started");
/// let event = net.trace().pop().unwrap();
/// assert_eq!(event.host.as_deref(), Some("a"));
/// assert_eq!(event.what, "started");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Virtual time since the network was created.
    pub at: Duration,
    /// The host it happened on, if any.
    pub host: Option<String>,
    /// What happened.
    pub what: String,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} [{}] {}",
            self.at,
            self.host.as_deref().unwrap_or("-"),
            self.what
        )
    }
}

/// A simulated network: a handle (cheap to clone) to its hosts, connections and trace.
///
/// # Examples
///
/// ```
/// use corio_net::sim::{NetConfig, Network};
///
/// let net = Network::new(NetConfig::new(7)).unwrap();
/// let server = net.add_host("server").unwrap();
/// assert_eq!(net.host_by_name("server"), Some(server));
/// assert_eq!(net.address(server), "10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap());
/// assert!(Network::current().is_none(), "not installed on this thread");
/// ```
#[derive(Clone)]
pub struct Network {
    pub(crate) net: Arc<Net>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.net.lock();
        f.debug_struct("Network")
            .field("hosts", &st.hosts.len())
            .field("events", &st.trace.len)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Network>> = const { RefCell::new(None) };
    static HOST: Cell<Option<HostId>> = const { Cell::new(None) };
}

/// The network installed on this thread, if any: one thread-local read.
#[inline]
pub(crate) fn current() -> Option<Network> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().cloned())
        .ok()
        .flatten()
}

/// Whether a network is installed on this thread (for the `Unsupported` checks).
#[inline]
pub(crate) fn active() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// The error of an operation on a real file descriptor inside a simulation.
pub(crate) fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{what} inside a network simulation: only simulated TCP and UDP sockets exist there"
        ),
    )
}

/// Resolves a host name inside the simulation installed on this thread, if any: `Some` with
/// the host's address (or a `NotFound` error), `None` when no simulation runs here.
pub(crate) fn resolve(name: &str, port: Option<u16>) -> Option<io::Result<Vec<SocketAddr>>> {
    let net = current()?;
    let (host, port) = match port {
        Some(port) => (name, port),
        None => match name.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) => (host, port),
                Err(_) => {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("invalid port in `{name}`"),
                    )));
                }
            },
            None => {
                return Some(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{name}` has no port (expected \"host:port\")"),
                )));
            }
        },
    };
    let ip = if host == "localhost" {
        Some(Ipv4Addr::LOCALHOST)
    } else {
        net.host_by_name(host).map(|h| net.address(h))
    };
    Some(match ip {
        Some(ip) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("`{host}` is not a host of the simulation"),
        )),
    })
}

/// Undoes [`Network::install`] when dropped.
///
/// # Examples
///
/// ```
/// # use corio_net::sim::{NetConfig, Network};
/// let net = Network::new(NetConfig::new(1)).unwrap();
/// let guard = net.install();
/// assert!(Network::current().is_some());
/// drop(guard);
/// assert!(Network::current().is_none());
/// ```
#[must_use = "the network is uninstalled when the guard is dropped"]
#[derive(Debug)]
pub struct InstallGuard {
    prev: Option<Network>,
    _refuse: corio_reactor::RefuseGuard,
    _inline: corio_blocking::InlineGuard,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for InstallGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// Undoes [`Network::enter_host`] when dropped.
///
/// # Examples
///
/// ```
/// # use corio_net::sim::{NetConfig, Network};
/// let net = Network::new(NetConfig::new(1)).unwrap();
/// let a = net.add_host("a").unwrap();
/// let guard = Network::enter_host(a);
/// assert_eq!(Network::current_host(), Some(a));
/// drop(guard);
/// assert_eq!(Network::current_host(), None);
/// ```
#[must_use = "the host is left when the guard is dropped"]
#[derive(Debug)]
pub struct HostGuard {
    prev: Option<HostId>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        let _ = HOST.try_with(|h| h.set(self.prev));
    }
}

impl Network {
    /// A network with no hosts yet.
    ///
    /// # Errors
    ///
    /// The error of [`NetConfig::validate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::sim::{NetConfig, Network};
    ///
    /// assert!(Network::new(NetConfig::new(3)).is_ok());
    /// ```
    pub fn new(config: NetConfig) -> io::Result<Network> {
        config.validate()?;
        let rng = config.seed ^ 0x5851_F42D_4C95_7F2D;
        let mut state = State {
            config,
            rng,
            start: corio_timer::now(),
            hosts: Vec::new(),
            partitions: BTreeSet::new(),
            conns: BTreeMap::new(),
            listeners: BTreeMap::new(),
            udp: BTreeMap::new(),
            next_id: 1,
            seq: 0,
            events: BinaryHeap::new(),
            held: Vec::new(),
            driver: None,
            trace: Trace::default(),
        };
        let seed = state.config.seed;
        state.record_at(Duration::ZERO, None, format!("network seed {seed}"));
        Ok(Network {
            net: Arc::new(Net {
                state: Mutex::new(state),
            }),
        })
    }

    /// The network installed on this thread, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio_net::sim::Network::current().is_none());
    /// ```
    pub fn current() -> Option<Network> {
        current()
    }

    /// Makes this network the one behind the sockets created on this thread, until the guard is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let _guard = net.install();
    /// assert!(Network::current().is_some());
    /// ```
    pub fn install(&self) -> InstallGuard {
        let prev = CURRENT
            .try_with(|c| c.borrow_mut().replace(self.clone()))
            .ok()
            .flatten();
        InstallGuard {
            prev,
            // Inside a simulation, nothing may make a real system call the seed cannot replay:
            // real file descriptors are refused, and `to_thread` runs at a point of the schedule.
            _refuse: corio_reactor::refuse_new_sources("inside a corio::sim simulation"),
            _inline: corio_blocking::run_inline_on_this_thread(),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Makes `host` the host of the sockets created on this thread, until the guard is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// # let net = Network::new(NetConfig::new(1)).unwrap();
    /// let b = net.add_host("b").unwrap();
    /// let _guard = Network::enter_host(b);
    /// assert_eq!(Network::current_host(), Some(b));
    /// ```
    pub fn enter_host(host: HostId) -> HostGuard {
        let prev = HOST.try_with(|h| h.replace(Some(host))).ok().flatten();
        HostGuard {
            prev,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The host entered on this thread, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio_net::sim::Network::current_host(), None);
    /// ```
    pub fn current_host() -> Option<HostId> {
        HOST.try_with(Cell::get).ok().flatten()
    }

    /// Adds a host, up, with the next address (`10.0.0.1`, `10.0.0.2`, ...).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name is taken, `InvalidInput` if it is empty, contains `:` or
    /// parses as an IP address.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// net.add_host("db").unwrap();
    /// assert!(net.add_host("db").is_err());
    /// ```
    pub fn add_host(&self, name: &str) -> io::Result<HostId> {
        let mut st = self.net.lock();
        if name.is_empty()
            || name.contains(':')
            || name.parse::<IpAddr>().is_ok()
            || name == "localhost"
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{name}` cannot name a host: use a non-empty name with no `:` that is not an address or `localhost`"
                ),
            ));
        }
        if st.hosts.iter().any(|h| h.name == name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("the simulation already has a host named `{name}`"),
            ));
        }
        let n = u32::try_from(st.hosts.len()).unwrap_or(u32::MAX);
        if n >= 0xFFFE {
            return Err(io::Error::other("too many hosts (at most 65,534)"));
        }
        let number = n + 1;
        let ip = Ipv4Addr::new(10, 0, (number >> 8) as u8, (number & 0xFF) as u8);
        st.hosts.push(Host {
            name: name.to_owned(),
            ip,
            up: true,
            incarnation: 0,
            tcp_ports: BTreeMap::new(),
            udp_ports: BTreeMap::new(),
            next_port: EPHEMERAL_START,
        });
        let id = HostId(n);
        st.record(Some(id), format!("host added at {ip}"));
        Ok(id)
    }

    /// The host with this name.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// assert_eq!(net.host_by_name("nobody"), None);
    /// ```
    pub fn host_by_name(&self, name: &str) -> Option<HostId> {
        let st = self.net.lock();
        st.hosts
            .iter()
            .position(|h| h.name == name)
            .map(|i| HostId(i as u32))
    }

    /// The host's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let a = net.add_host("a").unwrap();
    /// assert_eq!(net.host_name(a), "a");
    /// ```
    pub fn host_name(&self, host: HostId) -> String {
        self.net.lock().hosts[host.index()].name.clone()
    }

    /// The host's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// net.add_host("a").unwrap();
    /// let b = net.add_host("b").unwrap();
    /// assert_eq!(net.address(b).to_string(), "10.0.0.2");
    /// ```
    pub fn address(&self, host: HostId) -> Ipv4Addr {
        self.net.lock().hosts[host.index()].ip
    }

    /// Whether the host is up (not crashed).
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let a = net.add_host("a").unwrap();
    /// net.crash(a);
    /// assert!(!net.is_up(a));
    /// net.restart(a);
    /// assert!(net.is_up(a));
    /// ```
    pub fn is_up(&self, host: HostId) -> bool {
        self.net.lock().hosts[host.index()].up
    }

    /// Cuts the link between `a` and `b` (both ways): datagrams between them are lost, TCP data
    /// and connects between them wait until [`repair`](Network::repair).
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let (a, b) = (net.add_host("a").unwrap(), net.add_host("b").unwrap());
    /// net.partition(a, b);
    /// assert!(net.is_partitioned(b, a));
    /// net.repair(a, b);
    /// assert!(!net.is_partitioned(a, b));
    /// ```
    pub fn partition(&self, a: HostId, b: HostId) {
        let mut st = self.net.lock();
        if st.partitions.insert(pair(a, b)) {
            let what = format!("partition from {}", st.hosts[b.index()].name);
            st.record(Some(a), what);
        }
    }

    /// Whether `a` and `b` are partitioned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let (a, b) = (net.add_host("a").unwrap(), net.add_host("b").unwrap());
    /// assert!(!net.is_partitioned(a, b));
    /// ```
    pub fn is_partitioned(&self, a: HostId, b: HostId) -> bool {
        self.net.lock().partitions.contains(&pair(a, b))
    }

    /// Heals the link between `a` and `b`: what waited on it goes on, one latency from now.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let (a, b) = (net.add_host("a").unwrap(), net.add_host("b").unwrap());
    /// net.repair(a, b); // repairing a link that is not cut does nothing
    /// ```
    pub fn repair(&self, a: HostId, b: HostId) {
        let wake = {
            let mut st = self.net.lock();
            if !st.partitions.remove(&pair(a, b)) {
                return;
            }
            let what = format!("repair to {}", st.hosts[b.index()].name);
            st.record(Some(a), what);
            st.release_held()
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Crashes `host` in the network: it goes down, its listeners and UDP sockets are closed,
    /// every connection with an end on it is reset (the other end gets `ConnectionReset`), and
    /// what is in flight to it is dropped. Its tasks are the caller's business (the facade drops
    /// them). Crashing a host that is down does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let a = net.add_host("a").unwrap();
    /// net.crash(a);
    /// assert!(!net.is_up(a));
    /// ```
    pub fn crash(&self, host: HostId) {
        self.take_down(host, true);
    }

    /// Ends the simulation's network: every host goes down as in [`crash`](Network::crash),
    /// without a trace record, so that a socket that outlives its simulation fails with
    /// `ConnectionReset` (or, for a listener or a UDP socket, as closed) instead of taking
    /// writes nobody receives and waiting for ever on reads. The facade calls it when a run
    /// ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let a = net.add_host("a").unwrap();
    /// net.end();
    /// assert!(!net.is_up(a));
    /// ```
    pub fn end(&self) {
        let hosts = self.net.lock().hosts.len();
        for index in 0..hosts {
            let id = u32::try_from(index).expect("host ids are u32");
            self.take_down(HostId(id), false);
        }
    }

    fn take_down(&self, host: HostId, record: bool) {
        let mut wakers = Vec::new();
        {
            let mut st = self.net.lock();
            let h = &mut st.hosts[host.index()];
            if !h.up {
                return;
            }
            h.up = false;
            h.incarnation += 1;
            h.tcp_ports.clear();
            h.udp_ports.clear();
            if record {
                st.record(Some(host), "crash".to_owned());
            }
            for l in st.listeners.values_mut() {
                if l.host == host {
                    l.closed = true;
                    wakers.extend(l.waiters.take());
                }
            }
            for u in st.udp.values_mut() {
                if u.host == host {
                    u.closed = true;
                    u.queue.clear();
                    wakers.extend(u.waiters.take());
                }
            }
            let mut resets = Vec::new();
            for (&id, conn) in &mut st.conns {
                for side in 0..2 {
                    if conn.hosts[side] == Some(host) {
                        conn.crash_side(side, &mut wakers);
                        resets.push(id);
                    }
                }
            }
            resets.dedup();
            for id in resets.into_iter().filter(|_| record) {
                st.record(Some(host), format!("tcp #{id} reset by crash"));
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Brings a crashed host back up with empty port tables (the facade then re-runs its
    /// closure). Does nothing to a host that is up.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// let a = net.add_host("a").unwrap();
    /// net.restart(a);
    /// assert!(net.is_up(a));
    /// ```
    pub fn restart(&self, host: HostId) {
        let wake = {
            let mut st = self.net.lock();
            let h = &mut st.hosts[host.index()];
            if h.up {
                return;
            }
            h.up = true;
            h.next_port = EPHEMERAL_START;
            st.record(Some(host), "restart".to_owned());
            // Connects that found it down try again (a real client retransmits its SYN).
            st.release_held()
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// Appends an event to the trace (the facade records hosts starting and ending, and
    /// failures).
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// net.record(None, "hello");
    /// assert_eq!(net.trace().last().unwrap().what, "hello");
    /// ```
    pub fn record(&self, host: Option<HostId>, what: impl Into<String>) {
        self.net.lock().record(host, what.into());
    }

    /// The trace so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let net = Network::new(NetConfig::new(9)).unwrap();
    /// assert_eq!(net.trace()[0].what, "network seed 9");
    /// ```
    pub fn trace(&self) -> Vec<TraceEvent> {
        let st = self.net.lock();
        st.trace
            .events
            .iter()
            .map(|e| TraceEvent {
                at: e.at,
                host: e.host.map(|h| st.hosts[h.index()].name.clone()),
                what: e.what.clone(),
            })
            .collect()
    }

    /// The FNV-1a hash of the trace so far: equal traces, equal hashes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use corio_net::sim::{NetConfig, Network};
    /// let a = Network::new(NetConfig::new(1)).unwrap();
    /// let b = Network::new(NetConfig::new(1)).unwrap();
    /// let c = Network::new(NetConfig::new(2)).unwrap();
    /// assert_eq!(a.trace_hash(), b.trace_hash());
    /// assert_ne!(a.trace_hash(), c.trace_hash());
    /// ```
    pub fn trace_hash(&self) -> u64 {
        self.net.lock().trace.hash
    }

    /// Delivers the network's packets on time: the future never ends, and must be polled (on
    /// the simulation's runtime) for anything to arrive.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use corio_net::sim::{NetConfig, Network};
    /// # async fn f() {
    /// let net = Network::new(NetConfig::new(1)).unwrap();
    /// net.deliver().await; // never returns: run it as a task beside the hosts
    /// # }
    /// ```
    pub fn deliver(&self) -> Deliver {
        Deliver {
            net: self.net.clone(),
            sleep: None,
        }
    }
}

/// The future of [`Network::deliver`].
///
/// # Examples
///
/// ```no_run
/// # async fn f() {
/// let net = corio_net::sim::Network::new(corio_net::sim::NetConfig::new(1)).unwrap();
/// let deliver: corio_net::sim::Deliver = net.deliver();
/// deliver.await;
/// # }
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Deliver {
    net: Arc<Net>,
    sleep: Option<(Instant, Pin<Box<corio_timer::Sleep>>)>,
}

impl fmt::Debug for Deliver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deliver").finish_non_exhaustive()
    }
}

impl Future for Deliver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut wakers = Vec::new();
            let next = {
                let mut st = self.net.lock();
                st.deliver_due(corio_timer::now(), &mut wakers);
                match &mut st.driver {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                st.events.peek().map(|e| e.at)
            };
            wakers.into_iter().for_each(Waker::wake);
            let Some(at) = next else {
                self.sleep = None;
                return Poll::Pending;
            };
            if self.sleep.as_ref().is_none_or(|(when, _)| *when != at) {
                self.sleep = Some((at, Box::pin(corio_timer::sleep_until(at))));
            }
            let (_, sleep) = self.sleep.as_mut().expect("set above");
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => self.sleep = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

const EPHEMERAL_START: u16 = 49152;

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    if a <= b { (a, b) } else { (b, a) }
}

pub(crate) struct Net {
    state: Mutex<State>,
}

impl Net {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) up: bool,
    pub(crate) incarnation: u64,
    /// Listening port -> listener id.
    pub(crate) tcp_ports: BTreeMap<u16, u64>,
    /// Bound port -> UDP socket id.
    pub(crate) udp_ports: BTreeMap<u16, u64>,
    next_port: u16,
}

#[derive(Default)]
pub(crate) struct Trace {
    events: Vec<RawEvent>,
    len: usize,
    hash: u64,
}

struct RawEvent {
    at: Duration,
    host: Option<HostId>,
    what: String,
}

pub(crate) struct State {
    pub(crate) config: NetConfig,
    rng: u64,
    start: Instant,
    pub(crate) hosts: Vec<Host>,
    partitions: BTreeSet<(HostId, HostId)>,
    pub(crate) conns: BTreeMap<u64, tcp::Conn>,
    pub(crate) listeners: BTreeMap<u64, tcp::ListenerState>,
    pub(crate) udp: BTreeMap<u64, udp::UdpState>,
    next_id: u64,
    seq: u64,
    events: BinaryHeap<Scheduled>,
    /// Events that met a partition, re-sent at the next repair.
    held: Vec<Event>,
    /// The waker of the [`Deliver`] future.
    driver: Option<Waker>,
    pub(crate) trace: Trace,
}

pub(crate) enum Event {
    Tcp(tcp::TcpEvent),
    Udp(udp::Datagram),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: the heap pops the earliest event, and among equal times the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// A short digest of a payload for the trace (its FNV-1a hash, folded to 32 bits), so that two
/// runs that send different bytes of the same size have different traces.
pub(crate) fn digest(bytes: &[u8]) -> u32 {
    let h = fnv(FNV_OFFSET, bytes);
    (h ^ (h >> 32)) as u32
}

impl State {
    pub(crate) fn record(&mut self, host: Option<HostId>, what: String) {
        let at = corio_timer::now().saturating_duration_since(self.start);
        self.record_at(at, host, what);
    }

    fn record_at(&mut self, at: Duration, host: Option<HostId>, what: String) {
        let t = &mut self.trace;
        if t.len == 0 {
            t.hash = FNV_OFFSET;
        }
        let mut h = fnv(t.hash, &at.as_nanos().to_le_bytes());
        h = fnv(h, &host.map_or(u32::MAX, |h| h.0).to_le_bytes());
        h = fnv(h, what.as_bytes());
        t.hash = fnv(h, b"\n");
        t.len += 1;
        t.events.push(RawEvent { at, host, what });
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        let next = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng = next;
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let r = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        r < p
    }

    /// A one-way latency, uniform in the configured range.
    /// One draw of the one-way latency, capped at [`MAX_LATENCY`] (so that `now + latency`
    /// cannot overflow the clock, whatever the configuration).
    pub(crate) fn latency(&mut self) -> Duration {
        let (min, max) = self.config.latency;
        if min >= max {
            return min.min(MAX_LATENCY);
        }
        let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
        let draw = self.next_random() % span.saturating_add(1);
        (min + Duration::from_nanos(draw)).min(MAX_LATENCY)
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn partitioned(&self, a: HostId, b: HostId) -> bool {
        a != b && self.partitions.contains(&pair(a, b))
    }

    pub(crate) fn host(&self, id: HostId) -> &Host {
        &self.hosts[id.index()]
    }

    /// The host whose address is `ip`, seen from `from` (loopback and unspecified are `from`).
    pub(crate) fn host_at(&self, from: HostId, ip: IpAddr) -> Option<HostId> {
        if ip.is_loopback() || ip.is_unspecified() {
            return Some(from);
        }
        let IpAddr::V4(v4) = ip else { return None };
        self.hosts
            .iter()
            .position(|h| h.ip == v4)
            .map(|i| HostId(i as u32))
    }

    /// A free port of `host` (TCP or UDP table), deterministic: the next one from 49152 up.
    pub(crate) fn ephemeral_port(&mut self, host: HostId, udp: bool) -> io::Result<u16> {
        let h = &mut self.hosts[host.index()];
        for _ in 0..(u16::MAX - EPHEMERAL_START) {
            let port = h.next_port;
            h.next_port = if port == u16::MAX {
                EPHEMERAL_START
            } else {
                port + 1
            };
            let taken = if udp {
                h.udp_ports.contains_key(&port)
            } else {
                h.tcp_ports.contains_key(&port)
            };
            if !taken {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("host `{}` has no free port left", h.name),
        ))
    }

    pub(crate) fn schedule_at(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        let earliest = self.events.peek().is_none_or(|e| at < e.at);
        self.events.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
        if earliest && let Some(w) = self.driver.take() {
            // Woken under the lock: the delivery future only stores its waker, it never runs
            // from a wake.
            w.wake();
        }
    }

    pub(crate) fn schedule_in(&mut self, delay: Duration, event: Event) {
        let at = corio_timer::now() + delay;
        self.schedule_at(at, event);
    }

    /// Keeps an event that cannot be delivered now (a connect across a partition, or to a host
    /// that is down) until [`release_held`](Self::release_held).
    pub(crate) fn hold(&mut self, event: Event) {
        self.held.push(event);
    }

    /// Delivers every held event again, one latency from now (each is checked again then, and
    /// held again if its way is still blocked); returns the delivery loop's waker to wake.
    fn release_held(&mut self) -> Option<Waker> {
        let now = corio_timer::now();
        for ev in std::mem::take(&mut self.held) {
            let at = now + self.latency();
            self.schedule_at(at, ev);
        }
        self.driver.take()
    }

    fn deliver_due(&mut self, now: Instant, wakers: &mut Vec<Waker>) {
        while self.events.peek().is_some_and(|e| e.at <= now) {
            let Scheduled { event, .. } = self.events.pop().expect("peeked");
            match event {
                Event::Tcp(ev) => self.tcp_event(ev, wakers),
                Event::Udp(d) => self.udp_arrive(d, wakers),
            }
        }
    }

    /// The host entered on this thread, which must be up.
    pub(crate) fn this_host(&self) -> io::Result<HostId> {
        let host = Network::current_host().ok_or_else(|| {
            io::Error::other(
                "a simulated socket was used outside of any simulated host: create sockets in \
                 a host's or a client's tasks",
            )
        })?;
        if !self.hosts[host.index()].up {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("host `{}` has crashed", self.hosts[host.index()].name),
            ));
        }
        Ok(host)
    }
}
