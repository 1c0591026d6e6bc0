//! Simulated UDP: datagrams with their own latency each (so they may overtake each other
//! within the latency range), loss, duplication and a bounded receive queue.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::tcp::bind_port;
use super::{Event, HostId, Net, Network, State};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

pub(crate) struct UdpState {
    pub(crate) host: HostId,
    port: u16,
    pub(crate) queue: VecDeque<(Vec<u8>, SocketAddr)>,
    pub(crate) waiters: super::WaitList,
    pub(crate) closed: bool,
    peer: Option<SocketAddr>,
}

pub(crate) struct Datagram {
    from: SocketAddr,
    from_host: HostId,
    to_host: HostId,
    to_incarnation: u64,
    port: u16,
    data: Vec<u8>,
}

impl State {
    pub(crate) fn udp_arrive(&mut self, d: Datagram, wakers: &mut Vec<Waker>) {
        let to = d.to_host;
        if self.partitioned(d.from_host, to) {
            self.record(Some(to), format!("udp from {} lost (partition)", d.from));
            return;
        }
        let h = self.host(to);
        if !h.up || h.incarnation != d.to_incarnation {
            return;
        }
        let Some(&id) = h.udp_ports.get(&d.port) else {
            self.record(Some(to), format!("udp to closed port {} dropped", d.port));
            return;
        };
        let cap = self.config.udp_queue;
        let u = self.udp.get_mut(&id).expect("a bound port has its socket");
        if u.peer.is_some_and(|p| p != d.from) {
            return;
        }
        if u.queue.len() >= cap {
            self.record(
                Some(to),
                format!("udp from {} dropped (queue full)", d.from),
            );
            return;
        }
        let len = d.data.len();
        u.queue.push_back((d.data, d.from));
        wakers.extend(u.waiters.take());
        self.record(Some(to), format!("udp recv {len} from {}", d.from));
    }
}

/// A simulated UDP socket.
pub(crate) struct SimUdp {
    net: Arc<Net>,
    id: u64,
    local: SocketAddr,
    /// What `as_fd` answers (see `stand_in`).
    #[cfg(unix)]
    pub(crate) stand_in: crate::stand_in::StandIn,
}

impl fmt::Debug for SimUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUdp")
            .field("local_addr", &self.local)
            .finish()
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "the socket's host crashed")
}

impl SimUdp {
    pub(crate) fn bind(net: &Network, addr: SocketAddr) -> io::Result<SimUdp> {
        let mut st = net.net.lock();
        let host = st.this_host()?;
        let port = bind_port(&mut st, host, addr, true)?;
        let id = st.next_id();
        st.udp.insert(
            id,
            UdpState {
                host,
                port,
                queue: VecDeque::new(),
                waiters: super::WaitList::default(),
                closed: false,
                peer: None,
            },
        );
        st.hosts[host.index()].udp_ports.insert(port, id);
        st.record(Some(host), format!("udp bind port {port}"));
        Ok(SimUdp {
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

    pub(crate) fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        let mut st = self.net.lock();
        let u = st
            .udp
            .get_mut(&self.id)
            .expect("a live socket has its state");
        if u.closed {
            return Err(closed_error());
        }
        let host = u.host;
        let peer = match st.host_at(host, peer.ip()) {
            Some(h) if peer.ip().is_unspecified() || peer.ip().is_loopback() => {
                SocketAddr::new(IpAddr::V4(st.host(h).ip), peer.port())
            }
            _ => peer,
        };
        st.udp.get_mut(&self.id).expect("looked up above").peer = Some(peer);
        Ok(())
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        let st = self.net.lock();
        st.udp
            .get(&self.id)
            .and_then(|u| u.peer)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not connected"))
    }

    pub(crate) fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        if buf.len() > MAX_DATAGRAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a datagram of {} bytes is larger than {MAX_DATAGRAM}",
                    buf.len()
                ),
            ));
        }
        let mut st = self.net.lock();
        let u = st.udp.get(&self.id).expect("a live socket has its state");
        if u.closed {
            return Err(closed_error());
        }
        let (host, port) = (u.host, u.port);
        let Some(to_host) = st.host_at(host, to.ip()) else {
            st.record(Some(host), format!("udp to unknown address {to} dropped"));
            return Ok(buf.len());
        };
        let from_ip = if to.ip().is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            st.host(host).ip
        };
        let from = SocketAddr::new(IpAddr::V4(from_ip), port);
        let name = st.host(to_host).name.clone();
        if st.partitioned(host, to_host) {
            st.record(
                Some(host),
                format!("udp send {} to {name} lost (partition)", buf.len()),
            );
            return Ok(buf.len());
        }
        let loss = st.config.udp_loss;
        if st.chance(loss) {
            st.record(Some(host), format!("udp send {} to {name} lost", buf.len()));
            return Ok(buf.len());
        }
        let dup = st.config.udp_duplicate;
        let copies = if st.chance(dup) { 2 } else { 1 };
        let to_incarnation = st.host(to_host).incarnation;
        st.record(
            Some(host),
            format!(
                "udp send {} [{:08x}] to {name}:{}{}",
                buf.len(),
                super::digest(buf),
                to.port(),
                if copies == 2 { " (duplicated)" } else { "" }
            ),
        );
        for _ in 0..copies {
            let delay = if to_host == host {
                std::time::Duration::ZERO
            } else {
                st.latency()
            };
            st.schedule_in(
                delay,
                Event::Udp(Datagram {
                    from,
                    from_host: host,
                    to_host,
                    to_incarnation,
                    port: to.port(),
                    data: buf.to_vec(),
                }),
            );
        }
        Ok(buf.len())
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let peer = self.peer_addr()?;
        self.send_to(buf, peer)
    }

    /// Without a context (the try operations), returns `Pending` without storing a waker.
    fn poll_recv(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut st = self.net.lock();
        let u = st
            .udp
            .get_mut(&self.id)
            .expect("a live socket has its state");
        if u.closed {
            return Poll::Ready(Err(closed_error()));
        }
        let item = if peek {
            u.queue.front().cloned()
        } else {
            u.queue.pop_front()
        };
        match item {
            Some((data, from)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Poll::Ready(Ok((n, from)))
            }
            None => {
                if let Some(cx) = cx {
                    let overflow = u.waiters.register(cx.waker());
                    drop(st);
                    overflow.into_iter().for_each(Waker::wake);
                }
                Poll::Pending
            }
        }
    }

    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv(Some(cx), buf, false)).await
    }

    pub(crate) async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv(Some(cx), buf, true)).await
    }

    /// The front datagram now (removed unless `peek`), or `WouldBlock`; stores no waker, so a
    /// task waiting on the socket keeps its wake-up.
    pub(crate) fn try_recv_from(
        &self,
        buf: &mut [u8],
        peek: bool,
    ) -> io::Result<(usize, SocketAddr)> {
        match self.poll_recv(None, buf, peek) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Waits until a datagram is queued (or the socket's host crashed: the next receive
    /// reports it).
    pub(crate) async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = self.net.lock();
            let u = st
                .udp
                .get_mut(&self.id)
                .expect("a live socket has its state");
            if u.closed || !u.queue.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let overflow = u.waiters.register(cx.waker());
            drop(st);
            overflow.into_iter().for_each(Waker::wake);
            Poll::Pending
        })
        .await
    }
}

impl Drop for SimUdp {
    fn drop(&mut self) {
        let mut st = self.net.lock();
        let Some(u) = st.udp.remove(&self.id) else {
            return;
        };
        let ports = &mut st.hosts[u.host.index()].udp_ports;
        if ports.get(&u.port) == Some(&self.id) {
            ports.remove(&u.port);
        }
    }
}
