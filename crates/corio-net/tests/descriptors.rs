//! Every socket type lends its descriptor (`AsFd`, `AsRawFd`), so that options the types do not
//! wrap can be set through `socket2::SockRef`, as with tokio's and std's sockets; the socket
//! keeps working afterwards (still non-blocking, still registered). Loopback only.
#![cfg(unix)]

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use corio_net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use corio_reactor::Async;
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use socket2::{SockRef, Type};

#[test]
fn an_accepted_tcp_connection_takes_keepalive_and_linger_and_still_carries_data() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        let sock = SockRef::from(&server);
        assert!(!sock.keepalive().unwrap());
        sock.set_keepalive(true).unwrap();
        sock.set_linger(Some(Duration::from_secs(3))).unwrap();
        // Read back through another handle of the same socket: one descriptor.
        let clone = server.clone();
        assert_eq!(clone.as_raw_fd(), server.as_raw_fd());
        assert!(SockRef::from(&clone).keepalive().unwrap());
        assert_eq!(
            SockRef::from(&clone).linger().unwrap(),
            Some(Duration::from_secs(3))
        );
        assert!(
            SockRef::from(&server).nonblocking().unwrap(),
            "still non-blocking"
        );
        assert_eq!(
            SockRef::from(&server).peer_addr().unwrap().as_socket(),
            Some(client.local_addr().unwrap())
        );
        assert_ne!(server.as_raw_fd(), client.as_raw_fd());
        assert_eq!(
            SockRef::from(&listener).r#type().unwrap(),
            Type::STREAM,
            "the listener lends its own descriptor too"
        );

        // Data still flows both ways, through the reactor.
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    });
}

#[test]
fn a_udp_socket_takes_options_through_its_descriptor() {
    block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sock = SockRef::from(&a);
        assert_eq!(sock.r#type().unwrap(), Type::DGRAM);
        sock.set_broadcast(true).unwrap();
        assert!(a.clone().as_fd().as_raw_fd() == a.as_raw_fd());
        assert!(SockRef::from(&a).broadcast().unwrap());
        sock.set_recv_buffer_size(64 * 1024).unwrap();
        a.send_to(b"hi", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 8];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr().unwrap()));
    });
}

#[test]
fn unix_sockets_and_async_handles_lend_their_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = UnixStream::connect(&path).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        assert_eq!(SockRef::from(&listener).r#type().unwrap(), Type::STREAM);
        let sock = SockRef::from(&server);
        sock.set_send_buffer_size(32 * 1024).unwrap();
        assert!(sock.send_buffer_size().unwrap() >= 32 * 1024);
        assert!(sock.nonblocking().unwrap());
        client.write_all(b"unix").await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"unix");

        let (d1, d2) = UnixDatagram::pair().unwrap();
        assert_eq!(SockRef::from(&d1).r#type().unwrap(), Type::DGRAM);
        assert_ne!(d1.as_raw_fd(), d2.as_raw_fd());

        let raw = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = raw.as_raw_fd();
        let handle = Async::new(raw).unwrap();
        assert_eq!(handle.as_raw_fd(), fd);
        assert_eq!(handle.as_fd().as_raw_fd(), fd);
    });
}
