//! Simulated TCP: listeners, connections as two bounded, ordered pipes, and the packets that
//! open, feed, close and reset them. See the invariants in `sim/mod.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::{Event, HostId, Net, Network, State};

/// Connections waiting in a listener's backlog beyond this are refused.
const BACKLOG: usize = 4096;

pub(crate) struct ListenerState {
    pub(crate) host: HostId,
    port: u16,
    backlog: VecDeque<u64>,
    pub(crate) waiters: super::WaitList,
    pub(crate) closed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    SynSent,
    Established,
    Refused,
}

#[derive(Default)]
struct End {
    /// A handle (or the connect future) still holds this end.
    alive: bool,
    /// Reads and writes fail with `ConnectionReset`.
    reset: bool,
    /// The end's host crashed: its handles are going away, nothing is sent for it any more.
    crashed: bool,
    read_shut: bool,
    nodelay: bool,
    readers: super::WaitList,
    writers: super::WaitList,
}

/// One direction of a connection: what end `i` wrote, for end `1 - i` to read.
struct Pipe {
    /// Chunks on their way, with their arrival time; `None` is the end of the stream (FIN).
    flight: VecDeque<(Instant, Option<Vec<u8>>)>,
    flight_bytes: usize,
    /// Delivered and not yet read.
    buf: VecDeque<u8>,
    fin_sent: bool,
    eof: bool,
    last_at: Instant,
}

impl Pipe {
    fn new(now: Instant) -> Pipe {
        Pipe {
            flight: VecDeque::new(),
            flight_bytes: 0,
            buf: VecDeque::new(),
            fin_sent: false,
            eof: false,
            last_at: now,
        }
    }

    fn used(&self) -> usize {
        self.flight_bytes + self.buf.len()
    }
}

pub(crate) struct Conn {
    /// Side 0 connected, side 1 accepted (known once the connect reached the listener).
    pub(crate) hosts: [Option<HostId>; 2],
    addrs: [SocketAddr; 2],
    target: (HostId, u16),
    phase: Phase,
    ends: [End; 2],
    pipes: [Pipe; 2],
    connect_waker: Option<Waker>,
}

pub(crate) enum TcpEvent {
    Syn(u64),
    SynAck(u64),
    Refuse(u64),
    Data { conn: u64, from: usize },
    Rst { conn: u64, to: usize },
}

impl Conn {
    fn wake_end(&mut self, side: usize, wakers: &mut Vec<Waker>) {
        let end = &mut self.ends[side];
        wakers.extend(end.readers.take());
        wakers.extend(end.writers.take());
        if side == 0 {
            wakers.extend(self.connect_waker.take());
        }
    }

    /// The host of `side` crashed: that end is dead and the other end is reset.
    pub(crate) fn crash_side(&mut self, side: usize, wakers: &mut Vec<Waker>) {
        let other = 1 - side;
        self.ends[side].crashed = true;
        self.ends[side].reset = true;
        for pipe in &mut self.pipes {
            pipe.flight.clear();
            pipe.flight_bytes = 0;
        }
        self.pipes[other].buf.clear();
        self.wake_end(side, wakers);
        if self.hosts[other].is_some() {
            self.ends[other].reset = true;
            self.wake_end(other, wakers);
        }
    }

    fn both_gone(&self) -> bool {
        !self.ends[0].alive && (!self.ends[1].alive || self.hosts[1].is_none())
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

impl State {
    fn one_way(&mut self, a: Option<HostId>, b: Option<HostId>) -> Duration {
        if a.is_some() && a == b {
            Duration::ZERO
        } else {
            self.latency()
        }
    }

    fn send_tcp(&mut self, from: Option<HostId>, to: Option<HostId>, ev: TcpEvent) {
        let delay = self.one_way(from, to);
        self.schedule_in(delay, Event::Tcp(ev));
    }

    pub(crate) fn tcp_event(&mut self, ev: TcpEvent, wakers: &mut Vec<Waker>) {
        match ev {
            TcpEvent::Syn(id) => self.syn_arrives(id, wakers),
            TcpEvent::SynAck(id) => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                if let (Some(a), Some(b)) = (c.hosts[0], c.hosts[1])
                    && self.partitioned(a, b)
                {
                    self.hold(Event::Tcp(TcpEvent::SynAck(id)));
                    return;
                }
                let c = self.conns.get_mut(&id).expect("looked up above");
                if c.phase != Phase::SynSent || c.ends[0].reset {
                    return;
                }
                if !c.ends[0].alive {
                    // The connect was given up: the accepted side is reset.
                    let hosts = c.hosts;
                    self.send_tcp(hosts[0], hosts[1], TcpEvent::Rst { conn: id, to: 1 });
                    return;
                }
                c.phase = Phase::Established;
                wakers.extend(c.connect_waker.take());
                let host = c.hosts[0];
                self.record(host, format!("tcp #{id} connected"));
            }
            TcpEvent::Refuse(id) => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                if c.phase == Phase::SynSent {
                    c.phase = Phase::Refused;
                    wakers.extend(c.connect_waker.take());
                    let host = c.hosts[0];
                    self.record(host, format!("tcp #{id} refused"));
                }
            }
            TcpEvent::Data { conn, from } => self.data_arrives(conn, from, wakers),
            TcpEvent::Rst { conn, to } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.ends[to].reset || !c.ends[to].alive {
                    return;
                }
                c.ends[to].reset = true;
                c.wake_end(to, wakers);
                let host = c.hosts[to];
                self.record(host, format!("tcp #{conn} reset"));
            }
        }
    }

    fn syn_arrives(&mut self, id: u64, wakers: &mut Vec<Waker>) {
        let Some(c) = self.conns.get(&id) else { return };
        let (src, (dst, port)) = (c.hosts[0], c.target);
        if let Some(src) = src
            && self.partitioned(src, dst)
        {
            // The connect's packets are lost until the link heals (and retried then).
            self.hold(Event::Tcp(TcpEvent::Syn(id)));
            return;
        }
        if !self.host(dst).up {
            // Nobody answers for a crashed host: the connect waits for its own timeout, or until
            // the host restarts, when the held SYN arrives again (a real client retransmits it).
            self.hold(Event::Tcp(TcpEvent::Syn(id)));
            return;
        }
        let listener = self.host(dst).tcp_ports.get(&port).copied();
        let accepted = listener.and_then(|lid| {
            let l = self.listeners.get(&lid)?;
            (!l.closed && l.backlog.len() < BACKLOG).then_some(lid)
        });
        let Some(lid) = accepted else {
            self.record(Some(dst), format!("tcp #{id} to port {port} refused"));
            self.send_tcp(Some(dst), src, TcpEvent::Refuse(id));
            return;
        };
        let c = self.conns.get_mut(&id).expect("looked up above");
        c.hosts[1] = Some(dst);
        c.ends[1].alive = true;
        let l = self.listeners.get_mut(&lid).expect("looked up above");
        l.backlog.push_back(id);
        wakers.extend(l.waiters.take());
        self.record(Some(dst), format!("tcp #{id} syn on port {port}"));
        self.send_tcp(Some(dst), src, TcpEvent::SynAck(id));
    }

    fn data_arrives(&mut self, id: u64, from: usize, wakers: &mut Vec<Waker>) {
        let now = corio_timer::now();
        let Some(c) = self.conns.get(&id) else { return };
        if let (Some(a), Some(b)) = (c.hosts[0], c.hosts[1])
            && self.partitioned(a, b)
        {
            self.hold(Event::Tcp(TcpEvent::Data { conn: id, from }));
            return;
        }
        let to = 1 - from;
        let c = self.conns.get_mut(&id).expect("looked up above");
        let mut delivered = 0;
        let mut fin = false;
        while c.pipes[from]
            .flight
            .front()
            .is_some_and(|(at, _)| *at <= now)
        {
            let (_, chunk) = c.pipes[from].flight.pop_front().expect("peeked");
            match chunk {
                Some(bytes) => {
                    c.pipes[from].flight_bytes -= bytes.len();
                    delivered += bytes.len();
                    c.pipes[from].buf.extend(bytes);
                }
                None => {
                    c.pipes[from].eof = true;
                    fin = true;
                }
            }
        }
        if delivered == 0 && !fin {
            return;
        }
        let (hosts, dead) = (c.hosts, !c.ends[to].alive && !c.ends[to].crashed);
        if dead {
            // Data for a closed socket: dropped, and the writer is reset.
            c.pipes[from].buf.clear();
            wakers.extend(c.ends[from].writers.take());
            if delivered > 0 && c.ends[from].alive && !c.ends[from].reset {
                self.send_tcp(hosts[to], hosts[from], TcpEvent::Rst { conn: id, to: from });
            }
            return;
        }
        wakers.extend(c.ends[to].readers.take());
        if delivered > 0 {
            self.record(hosts[to], format!("tcp #{id} recv {delivered}"));
        }
        if fin {
            self.record(hosts[to], format!("tcp #{id} eof"));
        }
        let c = self.conns.get(&id).expect("looked up above");
        if c.both_gone() && c.pipes.iter().all(|p| p.flight.is_empty()) {
            self.conns.remove(&id);
        }
    }

    /// The end `side` of `id` lost its last handle.
    fn close_end(&mut self, id: u64, side: usize) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.ends[side].alive = false;
        // The accepting side exists from the moment the connect reached the listener, before
        // the connecting side has heard back: its FIN follows the SYN-ACK.
        let open = c.phase == Phase::Established || (side == 1 && c.phase == Phase::SynSent);
        let send_fin =
            open && !c.ends[side].reset && !c.ends[side].crashed && !c.pipes[side].fin_sent;
        if send_fin {
            self.push_fin(id, side);
        }
        let c = self.conns.get(&id).expect("looked up above");
        if c.both_gone() && c.pipes.iter().all(|p| p.flight.is_empty()) {
            self.conns.remove(&id);
        }
    }

    fn push_fin(&mut self, id: u64, side: usize) {
        let c = self.conns.get(&id).expect("caller checked");
        let hosts = c.hosts;
        let delay = self.one_way(hosts[side], hosts[1 - side]);
        let now = corio_timer::now();
        let c = self.conns.get_mut(&id).expect("caller checked");
        let pipe = &mut c.pipes[side];
        pipe.fin_sent = true;
        let at = (now + delay).max(pipe.last_at);
        pipe.last_at = at;
        pipe.flight.push_back((at, None));
        self.record(hosts[side], format!("tcp #{id} fin"));
        self.schedule_at(
            at,
            Event::Tcp(TcpEvent::Data {
                conn: id,
                from: side,
            }),
        );
    }
}

/// A simulated listener.
pub(crate) struct SimListener {
    net: Arc<Net>,
    id: u64,
    local: SocketAddr,
    /// What `as_fd` answers (see `stand_in`).
    #[cfg(unix)]
    pub(crate) stand_in: crate::stand_in::StandIn,
}

impl fmt::Debug for SimListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimListener")
            .field("local_addr", &self.local)
            .finish()
    }
}

/// Checks a bind address against `host` and picks the port.
pub(crate) fn bind_port(
    st: &mut State,
    host: HostId,
    addr: SocketAddr,
    udp: bool,
) -> io::Result<u16> {
    let ip = addr.ip();
    let own = IpAddr::V4(st.host(host).ip);
    if !(ip.is_unspecified() || ip.is_loopback() || ip == own) {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "host `{}` (address {own}) cannot bind {addr}: bind 0.0.0.0:PORT",
                st.host(host).name
            ),
        ));
    }
    let port = match addr.port() {
        0 => st.ephemeral_port(host, udp)?,
        port => port,
    };
    let h = st.host(host);
    let taken = if udp {
        h.udp_ports.contains_key(&port)
    } else {
        h.tcp_ports.contains_key(&port)
    };
    if taken {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "port {port} of host `{}` is already bound ({})",
                h.name,
                if udp { "udp" } else { "tcp" }
            ),
        ));
    }
    Ok(port)
}

impl SimListener {
    pub(crate) fn bind(net: &Network, addr: SocketAddr) -> io::Result<SimListener> {
        let mut st = net.net.lock();
        let host = st.this_host()?;
        let port = bind_port(&mut st, host, addr, false)?;
        let id = st.next_id();
        st.listeners.insert(
            id,
            ListenerState {
                host,
                port,
                backlog: VecDeque::new(),
                waiters: super::WaitList::default(),
                closed: false,
            },
        );
        st.hosts[host.index()].tcp_ports.insert(port, id);
        st.record(Some(host), format!("tcp listen on port {port}"));
        Ok(SimListener {
            net: net.net.clone(),
            id,
            local: SocketAddr::new(addr.ip(), port),
            #[cfg(unix)]
            stand_in: Default::default(),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(SimStream, SocketAddr)>> {
        let mut st = self.net.lock();
        let Some(l) = st.listeners.get_mut(&self.id) else {
            return Poll::Ready(Err(io::Error::other("listener closed")));
        };
        if l.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the listener's host crashed",
            )));
        }
        match l.backlog.pop_front() {
            Some(cid) => {
                let host = l.host;
                let c = st
                    .conns
                    .get(&cid)
                    .expect("a connection in a backlog exists");
                let (local, peer) = (c.addrs[1], c.addrs[0]);
                st.record(Some(host), format!("tcp #{cid} accepted"));
                Poll::Ready(Ok((
                    SimStream {
                        net: self.net.clone(),
                        id: cid,
                        side: 1,
                        local,
                        peer,
                        #[cfg(unix)]
                        stand_in: Default::default(),
                    },
                    peer,
                )))
            }
            None => {
                let overflow = l.waiters.register(cx.waker());
                drop(st);
                overflow.into_iter().for_each(Waker::wake);
                Poll::Pending
            }
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<(SimStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let mut st = self.net.lock();
        let Some(l) = st.listeners.remove(&self.id) else {
            return;
        };
        let (host, port) = (l.host, l.port);
        // A crashed incarnation's listener must not free a port its successor bound.
        let ports = &mut st.hosts[host.index()].tcp_ports;
        if ports.get(&port) == Some(&self.id) {
            ports.remove(&port);
        }
        // Connections never accepted are reset, as a real close of a listener does.
        for cid in l.backlog {
            if let Some(c) = st.conns.get_mut(&cid) {
                c.ends[1].alive = false;
                let hosts = c.hosts;
                st.send_tcp(hosts[1], hosts[0], TcpEvent::Rst { conn: cid, to: 0 });
            }
        }
    }
}

/// One end of a simulated connection. The last handle going closes the end (a FIN).
pub(crate) struct SimStream {
    net: Arc<Net>,
    id: u64,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
    /// What `as_fd` answers (see `stand_in`).
    #[cfg(unix)]
    pub(crate) stand_in: crate::stand_in::StandIn,
}

impl fmt::Debug for SimStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimStream")
            .field("local_addr", &self.local)
            .field("peer_addr", &self.peer)
            .finish()
    }
}

impl SimStream {
    pub(crate) async fn connect(net: &Network, addr: SocketAddr) -> io::Result<SimStream> {
        let stream = {
            let mut st = net.net.lock();
            let host = st.this_host()?;
            let Some(target) = st.host_at(host, addr.ip()) else {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("no host of the simulation has the address {}", addr.ip()),
                ));
            };
            let port = st.ephemeral_port(host, false)?;
            let local_ip = if addr.ip().is_loopback() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(st.host(host).ip)
            };
            let local = SocketAddr::new(local_ip, port);
            let server = if addr.ip().is_loopback() || addr.ip().is_unspecified() {
                SocketAddr::new(local_ip, addr.port())
            } else {
                addr
            };
            let id = st.next_id();
            let now = corio_timer::now();
            st.conns.insert(
                id,
                Conn {
                    hosts: [Some(host), None],
                    addrs: [local, server],
                    target: (target, addr.port()),
                    phase: Phase::SynSent,
                    ends: [
                        End {
                            alive: true,
                            ..End::default()
                        },
                        End::default(),
                    ],
                    pipes: [Pipe::new(now), Pipe::new(now)],
                    connect_waker: None,
                },
            );
            let to = st.host(target).name.clone();
            st.record(
                Some(host),
                format!("tcp #{id} connect to {to}:{}", addr.port()),
            );
            st.send_tcp(Some(host), Some(target), TcpEvent::Syn(id));
            SimStream {
                net: net.net.clone(),
                id,
                side: 0,
                local,
                peer: server,
                #[cfg(unix)]
                stand_in: Default::default(),
            }
        };
        // Dropping this future drops `stream`, which gives the connection up.
        poll_fn(|cx| {
            let mut st = stream.net.lock();
            let c = st.conns.get_mut(&stream.id).expect("held by `stream`");
            if c.ends[0].reset {
                return Poll::Ready(Err(reset_error()));
            }
            match c.phase {
                Phase::Established => Poll::Ready(Ok(())),
                Phase::Refused => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection to {addr} refused"),
                ))),
                Phase::SynSent => {
                    c.connect_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(stream)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn with<R>(&self, f: impl FnOnce(&mut State, &mut Conn) -> R) -> R {
        let mut st = self.net.lock();
        let mut c = st
            .conns
            .remove(&self.id)
            .expect("a live handle keeps its connection");
        let r = f(&mut st, &mut c);
        st.conns.insert(self.id, c);
        r
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_inner(Some(cx), buf, false)
    }

    /// A read that does not wait: `WouldBlock` where a read would, and no waker stored.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.poll_read_inner(None, buf, false) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Without a context (`try_read`), returns `Pending` without storing a waker.
    fn poll_read_inner(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        let (side, other) = (self.side, 1 - self.side);
        let mut wake = Vec::new();
        let poll = self.with(|_, c| {
            if c.ends[side].reset {
                return Poll::Ready(Err(reset_error()));
            }
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let pipe = &mut c.pipes[other];
            if !pipe.buf.is_empty() {
                let n = buf.len().min(pipe.buf.len());
                for (dst, src) in buf.iter_mut().zip(pipe.buf.iter()) {
                    *dst = *src;
                }
                if !peek {
                    pipe.buf.drain(..n);
                    // Room in the writer's buffer.
                    wake = c.ends[other].writers.take();
                }
                return Poll::Ready(Ok(n));
            }
            if pipe.eof || c.ends[side].read_shut {
                return Poll::Ready(Ok(0));
            }
            if let Some(cx) = cx {
                wake = c.ends[side].readers.register(cx.waker());
            }
            Poll::Pending
        });
        wake.into_iter().for_each(Waker::wake);
        poll
    }

    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_inner(Some(cx), buf, true)).await
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_inner(Some(cx), buf)
    }

    /// A write that does not wait: `WouldBlock` where a write would, and no waker stored.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self.poll_write_inner(None, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn poll_write_inner(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let side = self.side;
        let id = self.id;
        let mut st = self.net.lock();
        let cap = st.config.tcp_buffer;
        let c = st
            .conns
            .get_mut(&id)
            .expect("a live handle keeps its connection");
        if c.ends[side].reset {
            return Poll::Ready(Err(reset_error()));
        }
        if c.pipes[side].fin_sent {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the write half is shut down",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let used = c.pipes[side].used();
        if used >= cap {
            if let Some(cx) = cx {
                let overflow = c.ends[side].writers.register(cx.waker());
                drop(st);
                overflow.into_iter().for_each(Waker::wake);
            }
            return Poll::Pending;
        }
        let n = buf.len().min(cap - used);
        let hosts = c.hosts;
        let delay = st.one_way(hosts[side], hosts[1 - side]);
        let now = corio_timer::now();
        let c = st.conns.get_mut(&id).expect("looked up above");
        let pipe = &mut c.pipes[side];
        let at = (now + delay).max(pipe.last_at);
        pipe.last_at = at;
        pipe.flight.push_back((at, Some(buf[..n].to_vec())));
        pipe.flight_bytes += n;
        st.record(
            hosts[side],
            format!("tcp #{id} send {n} [{:08x}]", super::digest(&buf[..n])),
        );
        st.schedule_at(
            at,
            Event::Tcp(TcpEvent::Data {
                conn: id,
                from: side,
            }),
        );
        Poll::Ready(Ok(n))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let (side, id) = (self.side, self.id);
        let mut wake = Vec::new();
        {
            let mut st = self.net.lock();
            let c = st
                .conns
                .get_mut(&id)
                .expect("a live handle keeps its connection");
            if c.ends[side].reset {
                return Err(reset_error());
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                c.ends[side].read_shut = true;
                wake = c.ends[side].readers.take();
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) && !c.pipes[side].fin_sent {
                st.push_fin(id, side);
            }
        }
        wake.into_iter().for_each(Waker::wake);
        Ok(())
    }

    /// `close()`: shuts the write half down; a reset connection is not an error here.
    pub(crate) fn close(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
            other => other,
        }
    }

    pub(crate) fn set_nodelay(&self, on: bool) {
        self.with(|_, c| c.ends[self.side].nodelay = on);
    }

    pub(crate) fn nodelay(&self) -> bool {
        self.with(|_, c| c.ends[self.side].nodelay)
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        let mut byte = [0u8; 1];
        poll_fn(|cx| {
            self.poll_read_inner(Some(cx), &mut byte, true)
                .map(|r| r.map(drop))
        })
        .await
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = self.net.lock();
            let cap = st.config.tcp_buffer;
            let c = st
                .conns
                .get_mut(&self.id)
                .expect("a live handle keeps its connection");
            if c.ends[self.side].reset || c.pipes[self.side].used() < cap {
                return Poll::Ready(Ok(()));
            }
            let overflow = c.ends[self.side].writers.register(cx.waker());
            drop(st);
            overflow.into_iter().for_each(Waker::wake);
            Poll::Pending
        })
        .await
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.net.lock().close_end(self.id, self.side);
    }
}
