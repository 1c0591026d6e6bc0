//! PostgreSQL on corio: [tokio-postgres] over corio sockets, and a small connection pool.
//!
//! [`connect`] opens a socket with corio (TCP, or a Unix socket for a host given as a
//! directory), hands it to tokio-postgres's `connect_raw` through [`tokio_io`](crate::tokio_io),
//! and spawns the connection's background future on corio. No tokio runtime is involved.
//!
//! [`Pool`] is the article's `asyncpg.create_pool`: at least `min_size` and at most `max_size`
//! connections, guarded by a [`corio::Semaphore`]; [`Pool::acquire`] waits at most
//! `acquire_timeout`; a [`PooledClient`] goes back to the pool when dropped; [`Pool::close`]
//! waits for every client to come back, then closes every connection.
//!
//! # Examples
//!
//! The article's section 3.1 (it needs a server, so this one is not run here; the crate's
//! `postgres` example runs it for real):
//!
//! ```no_run
//! use std::time::Duration;
//! use corio_compat::pg::{Pool, PoolOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! corio::run(async {
//!     let config = "postgresql://postgres@127.0.0.1/postgres".parse()?;
//!     let options = PoolOptions::new().min_size(5).max_size(20).acquire_timeout(Duration::from_secs(5));
//!     let pool = Pool::connect(config, options).await?;
//!     {
//!         let client = pool.acquire().await?;
//!         for row in client.query("SELECT id, title FROM articles ORDER BY id DESC LIMIT 10", &[]).await? {
//!             let (id, title): (i32, &str) = (row.get(0), row.get(1));
//!             println!("ID: {id}, Title: {title}");
//!         }
//!     } // the client goes back to the pool here
//!     pool.close().await;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! [tokio-postgres]: https://docs.rs/tokio-postgres

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use corio::net::TcpStream;
use corio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit};
use corio::{Semaphore, Task};
use futures_io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::{Host, TargetSessionAttrs};

pub use tokio_postgres::{Client, Config, NoTls};

/// The corio task that drives one connection: tokio-postgres's `Connection` future. It ends
/// when the [`Client`] is dropped (after telling the server goodbye) or the connection fails.
/// Dropping it cancels the connection.
pub type ConnectionTask = Task<Result<(), tokio_postgres::Error>>;

/// Opens one connection: a corio socket to the first host in `config` that answers, the
/// PostgreSQL handshake through tokio-postgres (without TLS), and the connection's future
/// spawned on corio.
///
/// Hosts are tried in order (`hostaddr` entries first take the place of names), each within
/// the config's `connect_timeout` if it has one: the socket's connect and the PostgreSQL
/// startup exchange together, so that a host that accepts the connection but never answers
/// fails over to the next one, as libpq does. A host whose server answered with an error
/// (authentication failed, no such database) ends the attempt with that error, as with libpq.
/// A host that is a directory is a Unix socket directory, as with libpq. Without a
/// `connect_timeout`, a host that never answers is waited for as long as it keeps the
/// connection open. As tokio-postgres's own `connect` (whose socket half `connect_raw` leaves
/// to us): TCP keepalive is on unless the config says `keepalives=0` (with its
/// `keepalives_idle`, `keepalives_interval` and `keepalives_retries`), and with
/// `target_session_attrs=read-write` a server whose sessions are read-only is skipped for the
/// next host. TLS is not offered (`NoTls`).
///
/// # Examples
///
/// Nothing listens on port 1, so this fails with an I/O error rather than hanging:
///
/// ```
/// use corio_compat::pg::{Config, Error};
///
/// corio::run(async {
///     let config: Config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
///     match corio_compat::pg::connect(&config).await {
///         Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
///         other => panic!("expected a refused connection, got {other:?}"),
///     }
/// });
/// ```
pub async fn connect(config: &Config) -> Result<(Client, ConnectionTask), Error> {
    let count = config.get_hosts().len().max(config.get_hostaddrs().len());
    let mut last_error = Error::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        "no host to connect to",
    ));
    for i in 0..count {
        let attempt = async {
            let socket = open_socket(config, i).await.map_err(|e| {
                // Named, so that with several hosts the one that failed is known (a review:
                // "Connection refused" alone).
                io::Error::new(
                    e.kind(),
                    format!("cannot connect to {}: {e}", host_name(config, i)),
                )
            })?;
            keep_alive(config, &socket)?;
            let (client, connection) = config.connect_raw(crate::tokio_io(socket), NoTls).await?;
            let connection = corio::spawn(connection);
            if config.get_target_session_attrs() == TargetSessionAttrs::ReadWrite
                && read_only(&client).await?
            {
                return Err(Error::Io(io::Error::other(format!(
                    "the server at {} is read-only, and target_session_attrs=read-write",
                    host_name(config, i)
                ))));
            }
            Ok::<_, Error>((client, connection))
        };
        let result = match config.get_connect_timeout() {
            Some(limit) => corio::timeout(*limit, attempt).await.unwrap_or_else(|_| {
                Err(Error::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connecting to {} took longer than the config's connect_timeout ({limit:?})",
                        host_name(config, i)
                    ),
                )))
            }),
            None => attempt.await,
        };
        match result {
            Ok(connected) => return Ok(connected),
            // The server answered: another host would not change the answer (libpq's rule).
            Err(Error::Postgres(e)) if e.as_db_error().is_some() => return Err(Error::Postgres(e)),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Sets TCP keepalive on a TCP socket as the config asks (`keepalives`, on by default, and
/// `keepalives_idle`, `keepalives_interval`, `keepalives_retries`), as tokio-postgres's own
/// `connect` does and `connect_raw` leaves to its caller: a pooled connection to a peer that
/// died silently is then found dead. A probe saw no keepalive timer on the socket.
fn keep_alive(config: &Config, socket: &Socket) -> io::Result<()> {
    let Socket::Tcp(stream) = socket else {
        return Ok(());
    };
    if !config.get_keepalives() {
        return Ok(());
    }
    let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
    #[cfg(not(any(target_os = "openbsd", target_os = "redox", target_os = "solaris")))]
    if let Some(interval) = config.get_keepalives_interval() {
        keepalive = keepalive.with_interval(interval);
    }
    #[cfg(not(any(
        target_os = "openbsd",
        target_os = "redox",
        target_os = "solaris",
        target_os = "windows"
    )))]
    if let Some(retries) = config.get_keepalives_retries() {
        keepalive = keepalive.with_retries(retries);
    }
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// Whether the session is read-only (`target_session_attrs=read-write` skips such a server, as
/// libpq and tokio-postgres's own `connect` do; `connect_raw` leaves that to its caller).
async fn read_only(client: &Client) -> Result<bool, Error> {
    let rows = client.simple_query("SHOW transaction_read_only").await?;
    Ok(rows.iter().any(|message| {
        matches!(message, tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("on"))
    }))
}

/// Host `i` of the config, for messages.
fn host_name(config: &Config, i: usize) -> String {
    let port = port_of(config, i);
    match (config.get_hostaddrs().get(i), config.get_hosts().get(i)) {
        (Some(ip), _) => format!("{ip}:{port}"),
        (None, Some(Host::Tcp(name))) => format!("{name}:{port}"),
        #[cfg(unix)]
        (None, Some(Host::Unix(dir))) => {
            format!("{}", dir.join(format!(".s.PGSQL.{port}")).display())
        }
        (None, None) => "(no host)".to_owned(),
    }
}

/// A pool's sizes and acquire timeout (asyncpg's `create_pool(min_size=, max_size=)` and
/// `acquire(timeout=)`).
///
/// The defaults: `min_size` 1, `max_size` 10, `acquire_timeout` 30 seconds (never waiting
/// forever is one of the article's rules). Out-of-range values are clamped, never a panic:
/// `max_size` is at least 1 and `min_size` at most `max_size`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_compat::pg::PoolOptions;
///
/// let options = PoolOptions::new().min_size(5).max_size(20).acquire_timeout(Duration::from_secs(5));
/// assert_eq!((options.get_min_size(), options.get_max_size()), (5, 20));
///
/// let clamped = PoolOptions::new().min_size(8).max_size(0);
/// assert_eq!((clamped.get_min_size(), clamped.get_max_size()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct PoolOptions {
    min_size: usize,
    max_size: usize,
    acquire_timeout: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            min_size: 1,
            max_size: 10,
            acquire_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl PoolOptions {
    /// The defaults (see the type's docs).
    pub fn new() -> PoolOptions {
        PoolOptions::default()
    }

    /// Connections opened by [`Pool::connect`] before it returns.
    pub fn min_size(mut self, min_size: usize) -> PoolOptions {
        self.min_size = min_size;
        self
    }

    /// The most connections open at once, lent or idle.
    pub fn max_size(mut self, max_size: usize) -> PoolOptions {
        self.max_size = max_size;
        self
    }

    /// How long [`Pool::acquire`] may wait, for a free connection and for opening a new one.
    pub fn acquire_timeout(mut self, timeout: Duration) -> PoolOptions {
        self.acquire_timeout = Some(timeout);
        self
    }

    /// Lets [`Pool::acquire`] wait for as long as it takes (the article's pitfall 5: prefer a
    /// timeout).
    pub fn no_acquire_timeout(mut self) -> PoolOptions {
        self.acquire_timeout = None;
        self
    }

    /// `max_size`, at least 1.
    pub fn get_max_size(&self) -> usize {
        self.max_size.max(1)
    }

    /// `min_size`, at most [`get_max_size`](Self::get_max_size).
    pub fn get_min_size(&self) -> usize {
        self.min_size.min(self.get_max_size())
    }

    /// The acquire timeout, if any.
    pub fn get_acquire_timeout(&self) -> Option<Duration> {
        self.acquire_timeout
    }
}

/// A pool of PostgreSQL connections on corio. Cloning it is cheap and shares the pool.
///
/// At most `max_size` clients are out at once: [`acquire`](Pool::acquire) takes a permit from
/// a strict-FIFO [`corio::Semaphore`], reuses an idle connection (the most recently returned,
/// skipping any that broke) or opens a new one. The [`PooledClient`] it returns dereferences
/// to a tokio-postgres [`Client`] and goes back to the pool when dropped.
///
/// [`close`](Pool::close) refuses new acquires, waits for every lent client to come back, and
/// closes every connection. Dropping the last handle (and the last client) closes the idle
/// connections too, in the background.
///
/// Unlike asyncpg's pool, a connection goes back **as it is**: no `ROLLBACK`, no `RESET ALL`.
/// A transaction left open with a raw `BEGIN`, a `SET` or a temporary table is what the next
/// user gets. Use tokio-postgres's [`Transaction`](tokio_postgres::Transaction) (it rolls back
/// when dropped uncommitted), `SET LOCAL` inside it, or run `DISCARD ALL` before dropping a
/// client whose session you changed. A query whose future was dropped still runs on the server,
/// and the next user of that connection waits behind it (the acquire timeout does not cover
/// that wait); to stop it, use the client's `cancel_token()` with
/// `cancel_query_raw(corio_compat::tokio_io(TcpStream::connect(addr).await?), NoTls)`.
///
/// # Examples
///
/// Without a server, `connect` fails cleanly (the module docs show a real session):
///
/// ```
/// use corio_compat::pg::{Pool, PoolOptions};
///
/// corio::run(async {
///     let config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
///     assert!(Pool::connect(config, PoolOptions::new()).await.is_err());
/// });
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    options: PoolOptions,
    permits: Arc<Semaphore>,
    /// Connections not lent out. The lock is never held across an await.
    idle: Mutex<Vec<Conn>>,
    /// Connections open (idle or lent).
    open: AtomicUsize,
    /// Set by the first `close`: acquires fail from then on.
    closing: AtomicBool,
    /// Held by the `close` doing the work; `true` once it has finished. A `close` that is
    /// cancelled releases it, and the next one picks the work up.
    closed: AsyncMutex<bool>,
}

/// An open connection: the client and the task that drives it.
struct Conn {
    client: Client,
    task: Option<ConnectionTask>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Let the connection say goodbye to the server once the client is gone, rather than
        // cutting the socket (which the server would log as an unexpected EOF).
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl Pool {
    /// Creates a pool and opens `min_size` connections at once; the first failure fails the
    /// call (and closes the connections already opened). Opening them takes at most the
    /// acquire timeout, if the options have one (then [`Error::Timeout`]), so a server that
    /// accepts connections but never answers cannot hold the call up for ever; each host also
    /// gets the config's `connect_timeout` (see [`connect`]).
    pub async fn connect(config: Config, options: PoolOptions) -> Result<Pool, Error> {
        let max = options.get_max_size();
        let min = options.get_min_size();
        let open_all = corio::try_join_all((0..min).map(|_| open_conn(&config)));
        let conns = match options.get_acquire_timeout() {
            Some(limit) => corio::timeout(limit, open_all)
                .await
                .unwrap_or(Err(Error::Timeout))?,
            None => open_all.await?,
        };
        let pool = Pool {
            inner: Arc::new(Inner {
                config,
                options,
                permits: Arc::new(Semaphore::new(max)),
                idle: Mutex::new(Vec::with_capacity(max)),
                open: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                closed: AsyncMutex::new(false),
            }),
        };
        pool.inner.open.store(conns.len(), Ordering::SeqCst);
        pool.inner.idle().extend(conns);
        Ok(pool)
    }

    /// Borrows a connection, waiting for one if all `max_size` are lent, within the acquire
    /// timeout.
    ///
    /// Fails with [`Error::Timeout`] when the timeout passes, [`Error::Closed`] once
    /// [`close`](Pool::close) has begun, or the connection error if a new connection could not
    /// be opened. Cancel-safe: dropping the future gives back whatever it held.
    ///
    /// # Examples
    ///
    /// A pool with `min_size(0)` opens nothing until the first acquire; with no server there,
    /// the acquire reports the connection error, and gives its place back:
    ///
    /// ```
    /// use corio_compat::pg::{Error, Pool, PoolOptions};
    ///
    /// corio::run(async {
    ///     let config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
    ///     let pool = Pool::connect(config, PoolOptions::new().min_size(0).max_size(1)).await.unwrap();
    ///     assert!(matches!(pool.acquire().await, Err(Error::Io(_))));
    ///     assert!(matches!(pool.acquire().await, Err(Error::Io(_)))); // not Timeout: the place is free
    ///     assert_eq!(pool.size(), 0);
    /// });
    /// ```
    pub async fn acquire(&self) -> Result<PooledClient, Error> {
        match self.inner.options.acquire_timeout {
            Some(limit) => corio::timeout(limit, self.acquire_now())
                .await
                .unwrap_or(Err(Error::Timeout)),
            None => self.acquire_now().await,
        }
    }

    async fn acquire_now(&self) -> Result<PooledClient, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        // Waiters queued before `close` began get their turn, and give it straight back.
        if self.is_closed() {
            return Err(Error::Closed);
        }
        loop {
            let conn = self.inner.idle().pop();
            match conn {
                Some(conn) if !conn.client.is_closed() => return Ok(self.lend(conn, permit)),
                Some(broken) => self.inner.discard(broken),
                None => break,
            }
        }
        let conn = open_conn(&self.inner.config).await?;
        self.inner.open.fetch_add(1, Ordering::SeqCst);
        Ok(self.lend(conn, permit))
    }

    fn lend(&self, conn: Conn, permit: OwnedSemaphorePermit) -> PooledClient {
        PooledClient {
            conn: Some(conn),
            pool: self.inner.clone(),
            _permit: permit,
        }
    }

    /// Closes the pool (asyncpg's `pool.close()`): new and waiting acquires fail with
    /// [`Error::Closed`], then it waits for every lent client to come back, and closes every
    /// connection (each says goodbye to the server and its socket is closed) before returning.
    ///
    /// It waits as long as clients are held; bound it with [`corio::timeout`] if a client might
    /// be held forever. Calling it again (or concurrently) waits for the same close. If the
    /// future is dropped before it finishes, the pool stays closed to acquires and the next
    /// call to `close` finishes the job.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_compat::pg::{Error, Pool, PoolOptions};
    ///
    /// corio::run(async {
    ///     let config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
    ///     let pool = Pool::connect(config, PoolOptions::new().min_size(0)).await.unwrap();
    ///     assert!(!pool.is_closed());
    ///     pool.close().await; // nothing lent, so it returns at once
    ///     assert!(pool.is_closed());
    ///     assert!(matches!(pool.acquire().await, Err(Error::Closed)));
    /// });
    /// ```
    pub async fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        let mut closed = self.inner.closed.lock().await;
        if *closed {
            return;
        }
        // Every permit back means every client back. Only a finished close closes the
        // semaphore, so this cannot fail.
        let all = self
            .inner
            .permits
            .acquire_many(self.inner.options.get_max_size())
            .await;
        let idle = std::mem::take(&mut *self.inner.idle());
        self.inner.open.store(0, Ordering::SeqCst);
        let tasks: Vec<ConnectionTask> = idle
            .into_iter()
            .filter_map(|mut conn| conn.task.take()) // `conn` drops here: its client goes
            .collect();
        // Connection errors at goodbye change nothing for the caller: the pool is closed.
        let _ = corio::join_all(tasks).await;
        self.inner.permits.close();
        drop(all);
        *closed = true;
    }

    /// Whether [`close`](Pool::close) has begun.
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Connections open now, lent or idle.
    pub fn size(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Connections open and not lent out.
    pub fn idle_count(&self) -> usize {
        self.inner.idle().len()
    }

    /// The options the pool was made with.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("idle", &self.idle_count())
            .field("max_size", &self.inner.options.get_max_size())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Inner {
    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn discard(&self, conn: Conn) {
        self.open.fetch_sub(1, Ordering::SeqCst);
        drop(conn);
    }
}

/// A connection borrowed from a [`Pool`]: use it as a [`Client`]. Dropping it returns the
/// connection to the pool (or discards it if it broke) and then frees its place.
pub struct PooledClient {
    conn: Option<Conn>,
    pool: Arc<Inner>,
    // Dropped after `Drop::drop` has put the connection back, so that the next waiter finds it.
    _permit: OwnedSemaphorePermit,
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        match &self.conn {
            Some(conn) => &conn.client,
            None => unreachable!("a PooledClient holds its connection until dropped"),
        }
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.conn {
            Some(conn) => &mut conn.client,
            None => unreachable!("a PooledClient holds its connection until dropped"),
        }
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if conn.client.is_closed() {
                self.pool.discard(conn);
            } else {
                // Even while closing: `close` closes idle connections and waits for them.
                self.pool.idle().push(conn);
            }
        }
    }
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledClient")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// What can go wrong when connecting or acquiring.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server could not be reached (or the config names no host).
    Io(io::Error),
    /// PostgreSQL (or tokio-postgres) reported an error.
    Postgres(tokio_postgres::Error),
    /// [`Pool::acquire`] (or [`Pool::connect`]) waited longer than the acquire timeout.
    Timeout,
    /// The pool is closed.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "could not reach the database server: {e}"),
            // tokio-postgres's own text for a server's error is only "db error": the server's
            // message is in its source, which a plain `{e}` never shows (a probe saw
            // "postgres: db error" for a database that does not exist).
            Error::Postgres(e) => match e.as_db_error() {
                Some(db) => {
                    write!(
                        f,
                        "postgres: {} {}: {}",
                        db.severity(),
                        db.code().code(),
                        db.message()
                    )?;
                    if let Some(detail) = db.detail() {
                        write!(f, " ({detail})")?;
                    }
                    Ok(())
                }
                None => match StdError::source(e) {
                    Some(cause) => write!(f, "postgres: {e}: {cause}"),
                    None => write!(f, "postgres: {e}"),
                },
            },
            Error::Timeout => f.write_str("timed out (the pool's acquire timeout)"),
            Error::Closed => f.write_str("the pool is closed"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Postgres(e) => Some(e),
            Error::Timeout | Error::Closed => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        Error::Postgres(e)
    }
}

async fn open_conn(config: &Config) -> Result<Conn, Error> {
    let (client, task) = connect(config).await?;
    Ok(Conn {
        client,
        task: Some(task),
    })
}

/// Connects a socket to host `i` of `config`.
/// The port of host `i` (libpq's rules: none is 5432, one is everyone's).
fn port_of(config: &Config, i: usize) -> u16 {
    match config.get_ports() {
        [] => 5432,
        [port] => *port,
        many => many.get(i).copied().unwrap_or(5432),
    }
}

async fn open_socket(config: &Config, i: usize) -> io::Result<Socket> {
    let port = port_of(config, i);
    match (config.get_hostaddrs().get(i), config.get_hosts().get(i)) {
        (Some(ip), _) => tcp(TcpStream::connect((*ip, port)).await?),
        (None, Some(Host::Tcp(name))) => tcp(TcpStream::connect((name.as_str(), port)).await?),
        #[cfg(unix)]
        (None, Some(Host::Unix(dir))) => Ok(Socket::Unix(
            corio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).await?,
        )),
        (None, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no host to connect to",
        )),
    }
}

fn tcp(stream: TcpStream) -> io::Result<Socket> {
    // Queries are small request/response exchanges: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    Ok(Socket::Tcp(stream))
}

/// A TCP or Unix socket, so that one connection type serves both kinds of host.
#[derive(Debug)]
enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(corio::net::UnixStream),
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_close(cx),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}
