//! PostgreSQL on corio, against a real server: the pool, COPY, queries, close, and proof that no
//! tokio runtime is involved.
//!
//! Built only with the `pg-integration` feature, and then it needs a server: `CORIO_PG_URL` or
//! `DATABASE_URL`, else it fails. `cargo xtask integration` starts a throwaway server and runs it:
//!
//! ```text
//! DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo test -p corio-compat --features pg-integration --test postgres
//! ```

use std::pin::pin;
use std::time::{Duration, Instant};

use corio_compat::pg::{self, Config, Error, Pool, PoolOptions};
use futures_lite::future::poll_once;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

const SANITY: Duration = Duration::from_secs(30);

#[track_caller]
fn assert_no_tokio() {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "a tokio runtime context exists: the code under test is not running on corio alone"
    );
}

/// The server's config, with an application name unique to this test, so that the server's
/// own view (`pg_stat_activity`) can count this test's connections.
fn config(test: &str) -> (Config, String) {
    let url = std::env::var("CORIO_PG_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect(
            "the pg-integration tests need a PostgreSQL server: set CORIO_PG_URL or DATABASE_URL \
             (`cargo xtask integration` starts one and sets it)",
        );
    let mut config: Config = url.parse().expect("a valid connection string");
    let name = format!("corio_{test}_{}", std::process::id());
    config.application_name(&name);
    (config, name)
}

/// This test's connections, as the server counts them.
async fn server_side_connections(client: &tokio_postgres::Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

#[corio::test(multi)]
async fn pool_copy_query_and_close() {
    assert_no_tokio();
    let (config, name) = config("pool");
    let table = name.clone();
    let options = PoolOptions::new()
        .min_size(2)
        .max_size(4)
        .acquire_timeout(Duration::from_millis(300));
    let pool = Pool::connect(config.clone(), options).await.unwrap();
    assert_eq!(pool.size(), 2, "min_size connections are opened up front");

    {
        let conn = pool.acquire().await.unwrap();
        assert_no_tokio();
        conn.batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (id SERIAL PRIMARY KEY, title TEXT NOT NULL, content TEXT)"
        ))
        .await
        .unwrap();

        // The article's bulk insert: 1,000 rows through COPY (binary format).
        let sink = conn
            .copy_in(&format!(
                "COPY {table} (title, content) FROM STDIN (FORMAT binary)"
            ))
            .await
            .unwrap();
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT]));
        for i in 0..1000 {
            let (title, content) = (format!("Article {i}"), format!("Content {i}"));
            let row: [&(dyn ToSql + Sync); 2] = [&title, &content];
            writer.as_mut().write(&row).await.unwrap();
        }
        assert_eq!(writer.finish().await.unwrap(), 1000);
        assert_no_tokio();

        let count: i64 = conn
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 1000);
        let rows = conn
            .query(
                &format!("SELECT id, title FROM {table} ORDER BY id DESC LIMIT 10"),
                &[],
            )
            .await
            .unwrap();
        let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let want: Vec<(i32, String)> = (990..1000)
            .rev()
            .map(|i| (i + 1, format!("Article {i}")))
            .collect();
        assert_eq!(got, want);
    }

    // Queries on several pooled connections at once, each in its own corio task.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            corio::spawn(async move {
                assert_no_tokio();
                let conn = pool.acquire().await.unwrap();
                let row = conn
                    .query_one("SELECT $1::INT4 * 2 FROM pg_sleep(0.05)", &[&i])
                    .await
                    .unwrap();
                row.get::<_, i32>(0)
            })
        })
        .collect();
    assert_eq!(corio::join_all(tasks).await, [0, 2, 4, 6]);

    // At most max_size clients: with all four lent, the fifth acquire times out.
    let held = corio::try_join_all((0..4).map(|_| pool.acquire()))
        .await
        .unwrap();
    assert_eq!(pool.size(), 4);
    assert_eq!(server_side_connections(&held[0], &name).await, 4);
    let start = Instant::now();
    assert!(matches!(pool.acquire().await, Err(Error::Timeout)));
    assert!(start.elapsed() >= Duration::from_millis(300));

    // close() waits for the lent clients; acquires fail once it has begun.
    let mut closing = pin!(pool.close());
    assert!(poll_once(closing.as_mut()).await.is_none());
    assert!(matches!(pool.acquire().await, Err(Error::Closed)));
    drop(held);
    corio::timeout(SANITY, closing).await.unwrap();
    assert_eq!(pool.size(), 0);
    pool.close().await; // closing again is a no-op

    // The server agrees that every connection of the pool is gone (a backend leaves
    // pg_stat_activity as it exits, just after the client's goodbye).
    let (admin, connection) = pg::connect(&config).await.unwrap();
    let deadline = Instant::now() + SANITY;
    loop {
        // The admin connection itself carries the same application name.
        if server_side_connections(&admin, &name).await == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool's connections stayed open"
        );
        corio::sleep(Duration::from_millis(10)).await;
    }
    admin
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
    drop(admin);
    connection.await.unwrap();
}

#[corio::test(multi)]
async fn a_broken_connection_is_replaced() {
    let (config, _) = config("broken");
    let pool = Pool::connect(config.clone(), PoolOptions::new().min_size(1).max_size(1))
        .await
        .unwrap();
    let victim = pool.acquire().await.unwrap();
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    // Kill that backend from another connection.
    let (admin, connection) = pg::connect(&config).await.unwrap();
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    drop(admin);
    connection.await.unwrap();

    // The victim's next query fails, and its connection task ends soon after; a closed client
    // that comes back to the pool is discarded, not lent again.
    assert!(victim.query_one("SELECT 1", &[]).await.is_err());
    let deadline = Instant::now() + SANITY;
    while !victim.is_closed() {
        assert!(
            Instant::now() < deadline,
            "the killed connection never closed"
        );
        corio::sleep(Duration::from_millis(5)).await;
    }
    drop(victim);
    let fresh = pool.acquire().await.unwrap();
    let new_pid: i32 = fresh
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(new_pid, pid);
    assert_eq!(pool.size(), 1);
    drop(fresh);
    pool.close().await;
}

/// What `connect_raw` leaves to its caller and `pg::connect` now does, as tokio-postgres's own
/// `connect` and libpq do (a probe found both ignored): `target_session_attrs=read-write` skips
/// a read-only server (here the only one, made read-only through `options`), with an error that
/// says why; and an error the server sends shows its message (it printed "postgres: db error").
#[corio::test(multi)]
async fn read_write_sessions_and_server_errors_are_honoured() {
    assert_no_tokio();
    let (config, _) = config("attrs");

    let mut read_only = config.clone();
    read_only.options("-c default_transaction_read_only=on");
    let (client, connection) = corio_compat::pg::connect(&read_only).await.unwrap();
    let on = client
        .simple_query("SHOW transaction_read_only")
        .await
        .unwrap()
        .into_iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("on")));
    assert!(on, "the options make the session read-only");
    drop(client);
    connection.await.unwrap();

    read_only.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
    let refused = corio_compat::pg::connect(&read_only).await.unwrap_err();
    assert!(refused.to_string().contains("read-only"), "{refused}");

    let mut missing = config.clone();
    missing.dbname("corio_no_such_database");
    let err = corio_compat::pg::connect(&missing).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("3D000"), "the SQLSTATE: {text}");
}
