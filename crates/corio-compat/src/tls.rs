//! TLS over corio's streams: [rustls] through [futures-rustls], which speaks futures-io, the
//! traits corio's sockets implement. No adapter sits between them; this module only saves the
//! setup code every TLS program repeats.
//!
//! - [`Connector`] and [`Acceptor`] wrap futures-rustls's connector and acceptor. They take the
//!   peer's name as a `&str`, and their errors say which handshake failed, with whom, and why
//!   (`TLS handshake with localhost failed: invalid peer certificate: UnknownIssuer`). An
//!   acceptor's error says `with a client`: it accepts any stream type, whose peer it cannot
//!   name, so log the address `accept` gave you beside it.
//! - [`client_config_trusting`] builds a client configuration that trusts exactly the given
//!   certificates: a self-signed server's own, or a private CA's.
//! - [`server_config`] builds a server configuration from a certificate chain and its key.
//! - [`provider`] is the cryptography both use: rustls's `ring` provider, always named
//!   explicitly, never the process default. (rustls's `ClientConfig::builder()` panics when a
//!   program links two providers and installed neither; ours never asks.)
//!
//! The TLS streams ([`ClientTlsStream`], [`ServerTlsStream`]) are futures-io streams again, so
//! [`HyperIo`](crate::HyperIo) serves HTTPS over them as it serves HTTP over a
//! [`TcpStream`](corio::net::TcpStream).
//!
//! # Invariants
//!
//! - A handshake future owns the stream it was given and spawns nothing. Dropping it at any
//!   await point (a [`corio::timeout`], a lost [`corio::race`]) drops the stream, which closes
//!   the socket: nothing is left behind, and the peer sees the connection end.
//! - Every failure is an [`io::Error`]: a bad server name is [`InvalidInput`]; a certificate the
//!   client does not trust, or a peer that does not speak TLS, is [`InvalidData`], from rustls;
//!   the message names the peer (the server, on the client's side) and the cause, and
//!   [`Error::source`](std::error::Error::source) of the returned error is the error rustls
//!   reported, when rustls failed the handshake.
//! - Closing a TLS stream ([`futures_io::AsyncWrite::poll_close`], e.g.
//!   `AsyncWriteExt::close`) sends TLS's `close_notify` and then closes the stream's write half.
//!
//! # Examples
//!
//! An echo over TLS on loopback, with a certificate made for the occasion by `rcgen`:
//!
//! ```
//! use corio::net::{TcpListener, TcpStream};
//! use corio_compat::tls::{self, Acceptor, Connector};
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
//! let key = tls::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())?;
//! let acceptor = Acceptor::with_single_cert(vec![cert.cert.der().clone()], key)?;
//! let connector = Connector::trusting([cert.cert.der().clone()])?;
//!
//! corio::run(async move {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server = corio::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let mut stream = acceptor.accept(stream).await?;
//!         let mut line = [0; 5];
//!         stream.read_exact(&mut line).await?;
//!         stream.write_all(&line).await?;
//!         stream.close().await // close_notify, then the socket's write half
//!     });
//!
//!     let tcp = TcpStream::connect(addr).await?;
//!     let mut stream = connector.connect("localhost", tcp).await?;
//!     stream.write_all(b"hello").await?;
//!     let mut echoed = Vec::new();
//!     stream.read_to_end(&mut echoed).await?;
//!     assert_eq!(echoed, b"hello");
//!     server.await
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! [rustls]: https://docs.rs/rustls
//! [futures-rustls]: https://docs.rs/futures-rustls
//! [`InvalidInput`]: io::ErrorKind::InvalidInput
//! [`InvalidData`]: io::ErrorKind::InvalidData

use std::fmt;
use std::io;
use std::sync::Arc;

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use futures_rustls::client::TlsStream as ClientTlsStream;
pub use futures_rustls::rustls;
pub use futures_rustls::server::TlsStream as ServerTlsStream;

/// The client side of TLS: wraps a connected stream (a [`corio::net::TcpStream`], or any
/// futures-io stream) in a TLS session with a named server.
///
/// Cheap to clone (the configuration is shared); make one per program, not per connection, so
/// that sessions can be resumed.
///
/// # Examples
///
/// A client that trusts only the server's self-signed certificate:
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// # let server_cert = cert.cert.der().clone();
/// use corio_compat::tls::Connector;
///
/// let connector = Connector::trusting([server_cert]).unwrap();
/// # let _ = connector;
/// ```
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    /// A connector with a configuration of your own (ALPN, client certificates, other roots).
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// use std::sync::Arc;
    /// use corio_compat::tls::{self, Connector};
    ///
    /// let mut config = tls::client_config_trusting([cert.cert.der().clone()]).unwrap();
    /// config.alpn_protocols = vec![b"http/1.1".to_vec()];
    /// let connector = Connector::new(Arc::new(config));
    /// # let _ = connector;
    /// ```
    pub fn new(config: Arc<ClientConfig>) -> Connector {
        Connector { config }
    }

    /// A connector that trusts exactly `certs` (see [`client_config_trusting`]).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if a certificate cannot be parsed as a
    /// trust anchor, or none was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_compat::tls::{Connector, rustls::pki_types::CertificateDer};
    ///
    /// let junk = CertificateDer::from(vec![1, 2, 3]);
    /// let err = Connector::trusting([junk]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn trusting(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> io::Result<Connector> {
        Ok(Connector::new(Arc::new(client_config_trusting(certs)?)))
    }

    /// Runs the TLS handshake over `stream` with the server named `server_name` (a DNS name or
    /// an IP address, which its certificate must cover) and returns the encrypted stream.
    ///
    /// Put a timeout around it: a server that accepts the TCP connection and never answers
    /// holds the handshake forever. Dropping the future closes `stream`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) for a malformed name; for a failed
    /// handshake, the error rustls or the stream reported (an untrusted or mismatched
    /// certificate is [`InvalidData`](io::ErrorKind::InvalidData)), with the server's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// # let key = corio_compat::tls::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    /// # let acceptor = corio_compat::tls::Acceptor::with_single_cert(vec![cert.cert.der().clone()], key).unwrap();
    /// use corio::net::TcpStream;
    /// use corio_compat::tls::Connector;
    ///
    /// let connector = Connector::trusting([cert.cert.der().clone()]).unwrap();
    /// corio::run(async move {
    ///     # let listener = corio::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     # let addr = listener.local_addr()?;
    ///     # let server = corio::spawn(async move { acceptor.accept(listener.accept().await?.0).await.map(drop) });
    ///     let tcp = TcpStream::connect(addr).await?;
    ///     let tls = corio::timeout(std::time::Duration::from_secs(10), connector.connect("localhost", tcp))
    ///         .await
    ///         .map_err(std::io::Error::other)??;
    ///     assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    ///     # server.await?;
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn connect<S>(&self, server_name: &str, stream: S) -> io::Result<ClientTlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{server_name}` is not a valid TLS server name: {e}"),
            )
        })?;
        futures_rustls::TlsConnector::from(self.config.clone())
            .connect(name, stream)
            .await
            .map_err(|e| handshake_failed(format!("with {server_name}"), e))
    }

    /// The configuration, shared by every connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// let connector = corio_compat::tls::Connector::trusting([cert.cert.der().clone()]).unwrap();
    /// assert!(connector.config().alpn_protocols.is_empty());
    /// ```
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("alpn_protocols", &self.config().alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// The server side of TLS: wraps an accepted stream in a TLS session, presenting the server's
/// certificate.
///
/// Cheap to clone; make one per listener and clone it into each connection's task.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// use corio_compat::tls::{Acceptor, rustls::pki_types::PrivateKeyDer};
///
/// let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
/// let acceptor = Acceptor::with_single_cert(vec![cert.cert.der().clone()], key).unwrap();
/// # let _ = acceptor;
/// ```
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
}

impl Acceptor {
    /// An acceptor with a configuration of your own (ALPN, client authentication, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// # let key = corio_compat::tls::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    /// use std::sync::Arc;
    /// use corio_compat::tls::{self, Acceptor};
    ///
    /// let mut config = tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
    /// config.alpn_protocols = vec![b"http/1.1".to_vec()];
    /// let acceptor = Acceptor::new(Arc::new(config));
    /// # let _ = acceptor;
    /// ```
    pub fn new(config: Arc<ServerConfig>) -> Acceptor {
        Acceptor { config }
    }

    /// An acceptor that presents `cert_chain` (the server's certificate first), signed with
    /// `key` (see [`server_config`]).
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) if the key is unusable or does not match
    /// the certificate.
    ///
    /// # Examples
    ///
    /// A key that does not belong to the certificate is refused at once, not at the first
    /// handshake:
    ///
    /// ```
    /// use corio_compat::tls::{Acceptor, rustls::pki_types::PrivateKeyDer};
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// let other = rcgen::KeyPair::generate().unwrap();
    /// let wrong_key = PrivateKeyDer::try_from(other.serialize_der()).unwrap();
    /// let err = Acceptor::with_single_cert(vec![cert.cert.der().clone()], wrong_key).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn with_single_cert(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<Acceptor> {
        Ok(Acceptor::new(Arc::new(server_config(cert_chain, key)?)))
    }

    /// Runs the TLS handshake over an accepted `stream` and returns the encrypted stream.
    ///
    /// Put a timeout around it: a client that connects and says nothing holds the handshake
    /// forever. Dropping the future closes `stream`.
    ///
    /// # Errors
    ///
    /// The error rustls or the stream reported, e.g. [`InvalidData`](io::ErrorKind::InvalidData)
    /// for a client that does not speak TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// # let key = corio_compat::tls::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    /// use corio_compat::tls::Acceptor;
    /// use futures_lite::AsyncWriteExt;
    ///
    /// let acceptor = Acceptor::with_single_cert(vec![cert.cert.der().clone()], key).unwrap();
    /// corio::run(async move {
    ///     let listener = corio::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     let addr = listener.local_addr()?;
    ///     // A client that speaks plain HTTP to a TLS port.
    ///     let client = corio::spawn(async move {
    ///         let mut tcp = corio::net::TcpStream::connect(addr).await?;
    ///         tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await
    ///     });
    ///     let (stream, _) = listener.accept().await?;
    ///     let err = acceptor.accept(stream).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    ///     client.await
    /// })
    /// .unwrap();
    /// ```
    pub async fn accept<S>(&self, stream: S) -> io::Result<ServerTlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        futures_rustls::TlsAcceptor::from(self.config.clone())
            .accept(stream)
            .await
            .map_err(|e| handshake_failed("with a client".to_string(), e))
    }

    /// The configuration, shared by every connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    /// # let key = corio_compat::tls::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    /// let acceptor = corio_compat::tls::Acceptor::with_single_cert(vec![cert.cert.der().clone()], key).unwrap();
    /// assert!(acceptor.config().alpn_protocols.is_empty());
    /// ```
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("alpn_protocols", &self.config().alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// The cryptography of every configuration built here: rustls's `ring` provider.
///
/// Its key exchange is classical (X25519, P-256, P-384): ring has no post-quantum hybrid, which
/// is why rustls 0.23.48 deprecated this provider. Bring a configuration of your own, on the
/// `aws-lc-rs` provider, to [`Connector::new`] and [`Acceptor::new`] if you need one.
///
/// Use it for configurations of your own
/// (`ClientConfig::builder_with_provider(tls::provider())`), so that they do not depend on a
/// process-wide default.
///
/// # Examples
///
/// ```
/// use corio_compat::tls::{self, rustls::ClientConfig};
///
/// let config = ClientConfig::builder_with_provider(tls::provider())
///     .with_safe_default_protocol_versions()
///     .unwrap()
///     .with_root_certificates(tls::rustls::RootCertStore::empty())
///     .with_no_client_auth();
/// # let _ = config;
/// ```
pub fn provider() -> Arc<CryptoProvider> {
    // rustls 0.23.48 deprecated this for lacking post-quantum key exchange (X25519MLKEM768),
    // which only the aws-lc-rs provider has, and aws-lc-rs needs cmake and more to build; ring
    // is what this crate promises. Key exchange is X25519 (then P-256, P-384), as before.
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(ring)
}

/// A client configuration (TLS 1.2 and 1.3, no client certificate) that trusts exactly `certs`
/// as roots: a self-signed server's own certificate, or the CA that signed the server's.
///
/// # Errors
///
/// [`InvalidInput`](io::ErrorKind::InvalidInput) if a certificate cannot be parsed as a trust
/// anchor, or `certs` is empty (a client that trusts nothing can connect nowhere).
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// let config = corio_compat::tls::client_config_trusting([cert.cert.der().clone()]).unwrap();
/// assert!(config.alpn_protocols.is_empty());
///
/// let none = corio_compat::tls::client_config_trusting([]);
/// assert_eq!(none.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn client_config_trusting(
    certs: impl IntoIterator<Item = CertificateDer<'static>>,
) -> io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("certificate {i} cannot be trusted as a root: {e}"),
            )
        })?;
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no certificate to trust: a TLS client needs at least one root",
        ));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid_input("the ring provider supports no TLS version"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A server configuration (TLS 1.2 and 1.3, no client authentication) that presents
/// `cert_chain` (the server's certificate first) and signs with `key`.
///
/// # Errors
///
/// [`InvalidInput`](io::ErrorKind::InvalidInput) if the chain is empty, the key is unusable, or
/// it does not match the certificate.
///
/// # Examples
///
/// ```
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// use corio_compat::tls::rustls::pki_types::PrivateKeyDer;
///
/// let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
/// let mut config = corio_compat::tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
/// ```
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<ServerConfig> {
    if cert_chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty certificate chain: a TLS server needs its certificate",
        ));
    }
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid_input("the ring provider supports no TLS version"))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(invalid_input(
            "the server's certificate and key are unusable",
        ))
}

fn invalid_input(what: &'static str) -> impl FnOnce(rustls::Error) -> io::Error {
    move |e| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// A failed handshake: says so, and with whom, and keeps the kind and the cause.
fn handshake_failed(peer: String, source: io::Error) -> io::Error {
    io::Error::new(source.kind(), HandshakeError { peer, source })
}

#[derive(Debug)]
struct HandshakeError {
    peer: String,
    source: io::Error,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS handshake {} failed: {}", self.peer, self.source)
    }
}

impl std::error::Error for HandshakeError {
    /// The error rustls reported, if rustls failed the handshake; else the stream's error.
    /// (Not rustls's error wrapped in an `io::Error`: an `io::Error`'s own `source` skips the
    /// error it wraps, so the chain from the returned error stopped there, before rustls's.)
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self
            .source
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            Some(rustls) => Some(rustls),
            None => Some(&self.source),
        }
    }
}
