//! The PostgreSQL adapters without a server: what fails, fails cleanly and at once. (The tests
//! against a real server are in `tests/postgres.rs`, behind the `pg-integration` feature.)

use std::time::Duration;

use corio_compat::pg::{self, Config, Error, Pool, PoolOptions};

/// A loopback port nobody listens on (taken and released at once).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[corio::test]
async fn connect_reports_an_unreachable_server() {
    let port = closed_port();
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .connect_timeout(Duration::from_secs(5));
    match pg::connect(&config).await {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
            // Named, so that with several hosts the one that refused is known.
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        }
        other => panic!("expected a refused connection, got {other:?}"),
    }
}

#[corio::test]
async fn connect_tries_every_host_in_turn() {
    // The first host refuses; the second is a Unix socket directory with no server either.
    let dir = std::env::temp_dir().join(format!("corio-pg-none-{}", std::process::id()));
    let config: Config = format!(
        "host=127.0.0.1,{} port={},5432 user=postgres",
        dir.display(),
        closed_port()
    )
    .parse()
    .unwrap();
    match pg::connect(&config).await {
        // The last host's error comes back: no such socket file.
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected the Unix socket's error, got {other:?}"),
    }
}

#[corio::test]
async fn a_config_without_hosts_is_an_error_not_a_hang() {
    let config = Config::new();
    assert!(matches!(pg::connect(&config).await, Err(Error::Io(_))));
}

#[corio::test]
async fn pool_connect_fails_without_a_server() {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(closed_port())
        .user("postgres");
    let options = PoolOptions::new().min_size(3);
    assert!(matches!(
        Pool::connect(config, options).await,
        Err(Error::Io(_))
    ));
}

#[corio::test]
async fn a_pool_with_min_size_zero_connects_lazily() {
    // No connection is opened up front, so no server is needed until the first acquire, which
    // then reports the connection error.
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(closed_port())
        .user("postgres");
    let pool = Pool::connect(config, PoolOptions::new().min_size(0).max_size(2))
        .await
        .unwrap();
    assert_eq!(pool.size(), 0);
    assert!(matches!(pool.acquire().await, Err(Error::Io(_))));
    assert_eq!(pool.size(), 0);
    // The failed acquire gave its place back: close does not wait for it.
    corio::timeout(Duration::from_secs(20), pool.close())
        .await
        .unwrap();
    assert!(matches!(pool.acquire().await, Err(Error::Closed)));
}

#[test]
fn pool_options_clamp_instead_of_panicking() {
    let options = PoolOptions::new().min_size(8).max_size(0);
    assert_eq!((options.get_min_size(), options.get_max_size()), (1, 1));
    let options = PoolOptions::new().no_acquire_timeout();
    assert_eq!(options.get_acquire_timeout(), None);
    assert_eq!(
        PoolOptions::default().get_acquire_timeout(),
        Some(Duration::from_secs(30))
    );
}

/// A loopback server that accepts connections and never says a word (a hung database).
fn silent_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The connect timeout bounds the whole attempt on a host, the PostgreSQL startup exchange
/// included: a host that accepts and stays silent fails over to the next one (here one that
/// refuses, whose error comes back). It waited for ever (a probe found it).
#[corio::test]
async fn connect_timeout_covers_a_host_that_accepts_and_never_answers() {
    let (_silent, port) = silent_server();
    let config: Config = format!(
        "host=127.0.0.1,127.0.0.1 port={port},{} user=postgres connect_timeout=1",
        closed_port()
    )
    .parse()
    .unwrap();
    let answer = corio::timeout(Duration::from_secs(20), pg::connect(&config))
        .await
        .expect("connect waited past its connect_timeout");
    match answer {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected the second host's refusal, got {other:?}"),
    }
}

/// `Pool::connect` is bounded by the acquire timeout, even with no connect timeout set.
#[corio::test]
async fn pool_connect_to_a_silent_server_times_out() {
    let (_silent, port) = silent_server();
    let config: Config = format!("host=127.0.0.1 port={port} user=postgres")
        .parse()
        .unwrap();
    let options = PoolOptions::new()
        .min_size(2)
        .acquire_timeout(Duration::from_millis(300));
    let answer = corio::timeout(Duration::from_secs(20), Pool::connect(config, options))
        .await
        .expect("Pool::connect waited past its acquire timeout");
    assert!(matches!(answer, Err(Error::Timeout)), "{answer:?}");
}
