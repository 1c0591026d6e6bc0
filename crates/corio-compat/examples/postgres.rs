//! The article's section 3.1 (asyncpg) on corio: a connection pool, a `COPY` bulk insert of
//! 1,000 rows, a query, and `pool.close()`. The driver is tokio-postgres over corio sockets,
//! with no tokio runtime; the pool is `corio_compat::pg::Pool`, built on `corio::Semaphore`.
//!
//! ```text
//! DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo run -p corio-compat --example postgres
//! cargo run -p corio-compat --example postgres -- --url 'host=127.0.0.1 user=postgres'
//! ```
//!
//! `cargo xtask integration` starts a throwaway PostgreSQL server and runs this against it.

use std::error::Error;
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use corio_compat::pg::{self, Config, Pool, PoolOptions};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

const USAGE: &str = "\
usage: postgres [--url URL]

The connection string (a postgresql:// URL or key=value pairs) comes from --url, or else from
the DATABASE_URL environment variable.
";

fn main() -> ExitCode {
    let url = match connection_string() {
        Ok(url) => url,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config: Config = match url.parse() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("postgres: bad connection string: {e}");
            return ExitCode::from(2);
        }
    };
    match corio::run(setup_database(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postgres: {e}");
            ExitCode::FAILURE
        }
    }
}

fn connection_string() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--url"), Some(url), None) => Ok(url),
        (None, _, _) => std::env::var("DATABASE_URL")
            .map_err(|_| "postgres: set DATABASE_URL or pass --url".to_string()),
        _ => Err("postgres: bad arguments".to_string()),
    }
}

/// `setup_database()` of the article, step by step.
async fn setup_database(config: Config) -> Result<(), Box<dyn Error>> {
    // asyncpg.create_pool(dsn, min_size=5, max_size=20)
    let start = Instant::now();
    let options = PoolOptions::new()
        .min_size(5)
        .max_size(20)
        .acquire_timeout(Duration::from_secs(10));
    let pool = Pool::connect(config, options).await?;
    println!(
        "pool: {} connections open (min 5, max 20) in {:.1?}",
        pool.size(),
        start.elapsed()
    );

    {
        // async with pool.acquire() as conn:
        let conn = pool.acquire().await?;
        conn.batch_execute(
            "CREATE TABLE IF NOT EXISTS articles (
                id SERIAL PRIMARY KEY,
                title TEXT NOT NULL,
                content TEXT,
                created_at TIMESTAMPTZ DEFAULT NOW()
            )",
        )
        .await?;

        // copy_records_to_table: COPY in PostgreSQL's binary format, far faster than 1,000 INSERTs.
        let records: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("Article {i}"), format!("Content {i}")))
            .collect();
        let start = Instant::now();
        let sink = conn
            .copy_in("COPY articles (title, content) FROM STDIN (FORMAT binary)")
            .await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT]));
        for (title, content) in &records {
            let row: [&(dyn ToSql + Sync); 2] = [title, content];
            writer.as_mut().write(&row).await?;
        }
        let copied = writer.finish().await?;
        println!("COPY: {copied} rows in {:.1?}", start.elapsed());

        let rows = conn
            .query(
                "SELECT id, title FROM articles ORDER BY id DESC LIMIT 10",
                &[],
            )
            .await?;
        for row in rows {
            let id: i32 = row.get("id");
            let title: &str = row.get("title");
            println!("ID: {id}, Title: {title}");
        }
    } // the connection goes back to the pool here

    // The pool at work: 20 queries of 100 ms at once, on up to 20 connections: about 100 ms in
    // all, not 2 s. The pool opens what it lacks beyond its 5.
    let start = Instant::now();
    let results = corio::join_all((0..20).map(|_| async {
        let conn = pool.acquire().await?;
        conn.execute("SELECT pg_sleep(0.1)", &[]).await?;
        Ok::<_, pg::Error>(())
    }))
    .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "20 concurrent queries of 100 ms: {:.1?}, {failed} failed, {} connections open",
        start.elapsed(),
        pool.size()
    );
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        return Err(e.into());
    }

    // await pool.close(): waits for every connection to come back, then closes them all.
    let start = Instant::now();
    pool.close().await;
    println!(
        "pool closed in {:.1?}: {} connections open",
        start.elapsed(),
        pool.size()
    );
    Ok(())
}
