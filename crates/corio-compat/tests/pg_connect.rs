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
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(closed_port())
        .user("postgres")
        .connect_timeout(Duration::from_secs(5));
    match pg::connect(&config).await {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
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
