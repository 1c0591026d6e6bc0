//! TLS on corio's sockets through `corio_compat::tls` (futures-rustls, `ring`): an echo server
//! and clients on loopback, the errors of bad certificates and bad names, and handshakes
//! cancelled at many points that leave nothing behind. Certificates are made by `rcgen` here.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use corio_compat::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use corio_compat::tls::{self, Acceptor, Connector};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Generous bound for anything that should take milliseconds: only a hang trips it.
const SANITY: Duration = Duration::from_secs(20);

/// Fails the test if this code runs inside a tokio runtime: everything here must be corio's.
#[track_caller]
fn assert_no_tokio() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a tokio runtime context exists: the code under test is not running on corio alone"
    );
}

/// A self-signed certificate for `names`, and its key.
fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    (certified.cert.der().clone(), key)
}

fn acceptor_for(names: &[&str]) -> (Acceptor, CertificateDer<'static>) {
    let (cert, key) = self_signed(names);
    (
        Acceptor::with_single_cert(vec![cert.clone()], key).unwrap(),
        cert,
    )
}

/// Echoes every byte of each TLS connection until the client closes its side, then closes.
/// Returns how many connections were served; a failed handshake ends that connection only.
async fn echo_server(listener: TcpListener, acceptor: Acceptor, connections: usize) -> usize {
    let served = corio::join_all((0..connections).map(|_| async {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = acceptor.clone();
        corio::spawn(async move {
            assert_no_tokio();
            let mut tls = acceptor.accept(tcp).await?;
            let mut buf = vec![0; 16 * 1024];
            loop {
                let n = tls.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await?;
            }
            tls.close().await?;
            io::Result::Ok(())
        })
        .await
    }))
    .await;
    served.into_iter().filter(|r| r.is_ok()).count()
}

#[corio::test(multi)]
async fn echo_client_and_server_on_loopback() {
    assert_no_tokio();
    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    const CLIENTS: usize = 8;
    let server = corio::spawn(echo_server(listener, acceptor, CLIENTS));

    // Each client sends 256 KiB (many TLS records, in both directions at once) and reads the
    // echo concurrently; the bytes must come back exactly.
    let echoed = corio::join_all((0..CLIENTS).map(|c| {
        let connector = connector.clone();
        corio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let tls = connector.connect("localhost", tcp).await.unwrap();
            assert_no_tokio();
            let (_, session) = tls.get_ref();
            assert_eq!(
                session.protocol_version(),
                Some(tls::rustls::ProtocolVersion::TLSv1_3)
            );
            let data: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 + c) as u8).collect();
            let (mut reader, mut writer) = futures_lite::io::split(tls);
            let sent = data.clone();
            let write = async move {
                writer.write_all(&sent).await.unwrap();
                writer.close().await.unwrap(); // close_notify: the server's read ends
            };
            let read = async move {
                let mut back = Vec::new();
                reader.read_to_end(&mut back).await.unwrap();
                back
            };
            let ((), back) = futures_lite::future::zip(write, read).await;
            back == data
        })
    }));
    let echoed = corio::timeout(SANITY, echoed).await.expect("echo hung");
    assert!(echoed.iter().all(|&ok| ok), "an echo came back altered");
    let served = corio::timeout(SANITY, server).await.expect("server hung");
    assert_eq!(served, CLIENTS);
}

/// Runs one handshake: the server with `acceptor`, the client with `connector` and `name`.
async fn handshake(
    acceptor: Acceptor,
    connector: &Connector,
    name: &str,
) -> (io::Result<()>, io::Result<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        acceptor.accept(tcp).await.map(drop)
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client = corio::timeout(SANITY, connector.connect(name, tcp))
        .await
        .expect("client handshake hung")
        .map(drop);
    let server = corio::timeout(SANITY, server)
        .await
        .expect("server handshake hung");
    (client, server)
}

/// The rustls error in an error's chain, found as any caller would: walking
/// `std::error::Error::source` (the module's invariant; the walk stopped before rustls's
/// error, a probe found).
fn rustls_cause(e: &io::Error) -> Option<&tls::rustls::Error> {
    let mut cause = std::error::Error::source(e);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<tls::rustls::Error>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

#[corio::test(multi)]
async fn untrusted_certificate_fails_with_a_clear_error() {
    // The server presents its own self-signed certificate; the client trusts another one.
    // (rcgen gives every certificate the same subject unless told otherwise; with the same
    // name, the client would find the "issuer" and fail on its signature instead.)
    let (acceptor, _) = acceptor_for(&["localhost"]);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "another authority");
    let other = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let connector = Connector::trusting([other.der().clone()]).unwrap();
    let (client, server) = handshake(acceptor, &connector, "localhost").await;

    let err = client.expect_err("a certificate nobody trusts was accepted");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let message = err.to_string();
    assert!(
        message.starts_with("TLS handshake with localhost failed: invalid peer certificate"),
        "{message}"
    );
    assert!(
        matches!(
            rustls_cause(&err),
            Some(tls::rustls::Error::InvalidCertificate(
                tls::rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    // The client told the server why (a fatal alert), so the server fails too, at once.
    let err = server.expect_err("the server finished a handshake the client refused");
    assert!(
        err.to_string()
            .starts_with("TLS handshake with a client failed: received fatal alert"),
        "{err}"
    );
}

#[corio::test(multi)]
async fn certificate_for_another_name_fails() {
    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert]).unwrap();
    let (client, _) = handshake(acceptor, &connector, "example.com").await;
    let err = client.expect_err("a certificate for localhost passed for example.com");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .starts_with("TLS handshake with example.com failed: invalid peer certificate"),
        "{err}"
    );
    assert!(
        matches!(
            rustls_cause(&err),
            Some(tls::rustls::Error::InvalidCertificate(
                tls::rustls::CertificateError::NotValidForName
                    | tls::rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );

    // The same certificate, for the right name (and for an IP address it names), passes.
    let (acceptor, cert) = acceptor_for(&["localhost", "127.0.0.1"]);
    let connector = Connector::trusting([cert]).unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let (client, server) = handshake(acceptor.clone(), &connector, name).await;
        client.unwrap();
        server.unwrap();
    }
}

#[corio::test]
async fn bad_inputs_are_errors_not_panics() {
    // A malformed server name fails before any byte is sent.
    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert.clone()]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let err = connector.connect("not a name!", tcp).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("`not a name!`"), "{err}");
    let (mut server_side, _) = listener.accept().await.unwrap();
    let mut rest = Vec::new();
    server_side.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "bytes were sent for a bad name: {rest:?}");

    // Configurations refuse what cannot work, with the reason.
    let err =
        tls::client_config_trusting([CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .starts_with("certificate 0 cannot be trusted")
    );
    assert!(tls::client_config_trusting([]).is_err());
    let (_, key) = self_signed(&["localhost"]);
    assert!(tls::server_config(Vec::new(), key).is_err());
    let (_, wrong_key) = self_signed(&["localhost"]);
    let err = Acceptor::with_single_cert(vec![cert], wrong_key).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("certificate and key"), "{err}");

    // A client that speaks plain HTTP to the TLS port: the server's handshake fails, no hang.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = corio::spawn(async move {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await; // the server hangs up
        io::Result::Ok(())
    });
    let (tcp, _) = listener.accept().await.unwrap();
    let err = corio::timeout(SANITY, acceptor.accept(tcp))
        .await
        .expect("the handshake hung")
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    corio::timeout(SANITY, client).await.unwrap().unwrap();
}

/// A stream that records its own drop: proof that a cancelled handshake let go of its socket.
struct Tracked {
    inner: TcpStream,
    dropped: Arc<AtomicBool>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Copies `from` to `to`, but only the first `limit` bytes: after that it swallows what comes,
/// stalling the handshake at that byte. When `from` ends, `to`'s write half is closed.
async fn pump(from: Arc<TcpStream>, to: Arc<TcpStream>, limit: usize) {
    let mut sent = 0;
    let mut buf = [0; 4096];
    loop {
        let n = match (&*from).read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let pass = n.min(limit - sent);
        if pass > 0 {
            if (&*to).write_all(&buf[..pass]).await.is_err() {
                break;
            }
            sent += pass;
        }
    }
    let _ = (&*to).close().await;
}

/// A one-connection proxy from a fresh loopback port to `upstream` that passes at most
/// `to_server` bytes one way and `to_client` bytes the other. Returns its address and a task
/// that ends when both directions have ended.
async fn cutting_proxy(
    upstream: std::net::SocketAddr,
    to_server: usize,
    to_client: usize,
) -> (std::net::SocketAddr, corio::Task<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = corio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (client, server) = (Arc::new(client), Arc::new(server));
        futures_lite::future::zip(
            pump(client.clone(), server.clone(), to_server),
            pump(server, client, to_client),
        )
        .await;
    });
    (addr, task)
}

/// Short enough to keep the test fast; a stalled handshake never completes, so it only decides
/// how soon the test gives up waiting (it is not a bound on anything measured).
const STALL: Duration = Duration::from_millis(100);

#[corio::test(multi)]
async fn cancelled_client_handshake_leaves_nothing_behind() {
    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert]).unwrap();
    // The server's first flight (hello, certificate, verify, finished) is far over 300 bytes:
    // each cut stalls the client at a different point of reading it.
    for cut in [0, 1, 5, 100, 300] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let acceptor = acceptor.clone();
        let server = corio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(drop)
        });
        let (proxy, proxied) = cutting_proxy(upstream, usize::MAX, cut).await;

        let dropped = Arc::new(AtomicBool::new(false));
        let tcp = Tracked {
            inner: TcpStream::connect(proxy).await.unwrap(),
            dropped: dropped.clone(),
        };
        let attempt = corio::timeout(STALL, connector.connect("localhost", tcp)).await;
        assert!(attempt.is_err(), "cut {cut}: the handshake got through");
        // The timeout dropped the handshake, and the handshake its socket, at once.
        assert!(
            dropped.load(Ordering::SeqCst),
            "cut {cut}: the stream lives on"
        );
        // The close travels: the proxy ends, and the server's half-done handshake fails.
        corio::timeout(SANITY, proxied)
            .await
            .unwrap_or_else(|_| panic!("cut {cut}: the client's socket was never closed"));
        let served = corio::timeout(SANITY, server)
            .await
            .unwrap_or_else(|_| panic!("cut {cut}: the server never saw the client leave"));
        assert!(
            served.is_err(),
            "cut {cut}: the server finished a handshake"
        );
    }
}

#[corio::test(multi)]
async fn cancelled_server_handshake_leaves_nothing_behind() {
    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert]).unwrap();
    // The client's hello is over 100 bytes: each cut stalls the server in reading it.
    for cut in [0, 1, 5, 100] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        let (proxy, proxied) = cutting_proxy(upstream, cut, usize::MAX).await;
        let connector = connector.clone();
        let client = corio::spawn(async move {
            let tcp = TcpStream::connect(proxy).await.unwrap();
            connector.connect("localhost", tcp).await.map(drop)
        });

        let (tcp, _) = listener.accept().await.unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let tcp = Tracked {
            inner: tcp,
            dropped: dropped.clone(),
        };
        let attempt = corio::timeout(STALL, acceptor.accept(tcp)).await;
        assert!(attempt.is_err(), "cut {cut}: the handshake got through");
        assert!(
            dropped.load(Ordering::SeqCst),
            "cut {cut}: the stream lives on"
        );
        // The client learns that the server is gone instead of waiting forever.
        let connected = corio::timeout(SANITY, client)
            .await
            .unwrap_or_else(|_| panic!("cut {cut}: the client never saw the server leave"));
        assert!(
            connected.is_err(),
            "cut {cut}: the client finished a handshake"
        );
        corio::timeout(SANITY, proxied)
            .await
            .unwrap_or_else(|_| panic!("cut {cut}: the proxy never ended"));
    }
}

#[corio::test(multi)]
async fn https_with_hyper_over_tls_streams() {
    use bytes::Bytes;
    use corio_compat::HyperIo;
    use http_body_util::{BodyExt, Full};

    let (acceptor, cert) = acceptor_for(&["localhost"]);
    let connector = Connector::trusting([cert]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let server = corio::spawn({
        let requests = requests.clone();
        async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    assert_no_tokio();
                    requests.fetch_add(1, Ordering::SeqCst);
                    let body = format!("secure {}", request.uri().path());
                    async move { Ok::<_, io::Error>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                },
            );
            hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(tls), service)
                .await
                .unwrap();
        }
    });

    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(HyperIo::new(tls))
        .await
        .unwrap();
    let connection = corio::spawn(connection);
    for path in ["/a", "/b"] {
        let request = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        // A kept-alive connection takes the next request once it has finished the last one.
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), hyper::StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("secure {path}"));
    }
    drop(sender);
    corio::timeout(SANITY, connection).await.unwrap().unwrap();
    corio::timeout(SANITY, server).await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}
