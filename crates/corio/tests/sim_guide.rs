//! The code of `docs/simulation.md`: a web handler and its database pool under latency, a
//! partition and a database restart. The pool's bug (a connection that failed or timed out goes
//! back to the pool) is found by the simulation, and the fixed pool passes.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use corio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use corio::net::{TcpListener, TcpStream};
use corio::sim::{Builder, Sim, SimErrorKind};

// --- The program under test: a database, a pool, a web handler. ---

/// A key-value database: `GET k\n` -> `VALUE user-k\n`, one task per connection.
async fn database(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        corio::spawn(async move {
            let mut reader = BufReader::new(stream.clone());
            let mut writer = stream;
            let mut line = String::new();
            while reader.read_line(&mut line).await.unwrap_or(0) > 0 {
                let key = line.trim().trim_start_matches("GET ");
                let reply = format!("VALUE user-{key}\n");
                if writer.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                line.clear();
            }
        })
        .detach();
    }
}

/// A pool of database connections, at most `size` in use.
struct Pool {
    addr: String,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
    limit: corio::Semaphore,
    /// The fix: a connection that saw an error or a timeout never goes back.
    discard_broken: bool,
}

impl Pool {
    fn new(addr: &str, size: usize, discard_broken: bool) -> Pool {
        Pool {
            addr: addr.to_owned(),
            idle: Mutex::new(Vec::new()),
            limit: corio::Semaphore::new(size),
            discard_broken,
        }
    }

    /// Runs one query on a pooled connection, giving up after `deadline`.
    async fn query(&self, key: u32, deadline: Duration) -> io::Result<String> {
        let _permit = self.limit.acquire().await.map_err(io::Error::other)?;
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => BufReader::new(TcpStream::connect(self.addr.as_str()).await?),
        };
        let asked = async {
            conn.get_mut()
                .write_all(format!("GET {key}\n").as_bytes())
                .await?;
            let mut line = String::new();
            conn.read_line(&mut line).await?;
            Ok::<_, io::Error>(line)
        };
        let outcome = match corio::timeout(deadline, asked).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "database too slow")),
        };
        if outcome.is_ok() || !self.discard_broken {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
        let line = outcome?;
        Ok(line.trim().trim_start_matches("VALUE ").to_owned())
    }
}

/// The web handler: `GET /user/k\n` -> `200 <name>` or `503 <error>`.
async fn web(port: u16, pool: Arc<Pool>) -> io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let pool = pool.clone();
        corio::spawn(async move {
            let mut request = String::new();
            let mut reader = BufReader::new(stream.clone());
            if reader.read_line(&mut request).await.is_err() {
                return;
            }
            let key: u32 = request
                .trim()
                .trim_start_matches("GET /user/")
                .parse()
                .unwrap_or(0);
            let response = match pool.query(key, Duration::from_millis(300)).await {
                Ok(name) => format!("200 {name}"),
                Err(e) => format!("503 {e}"),
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.close().await;
        })
        .detach();
    }
}

/// A client of the web handler (the same function works against a real server).
async fn get_user(addr: &str, key: u32) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET /user/{key}\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

// --- The simulation. ---

fn simulation(seed: u64, discard_broken: bool) -> Sim {
    let sim = Builder::new()
        .seed(seed)
        .latency_range(Duration::from_millis(1), Duration::from_millis(40))
        .build();
    sim.host("db", || async {
        database(5432).await?;
        Ok(())
    });
    sim.host("web", move || async move {
        web(8080, Arc::new(Pool::new("db:5432", 4, discard_broken))).await?;
        Ok(())
    });
    sim.client("chaos", async {
        corio::sleep(Duration::from_secs(2)).await;
        corio::sim::partition("web", "db");
        corio::sleep(Duration::from_millis(1500)).await;
        corio::sim::repair("web", "db");
        corio::sleep(Duration::from_millis(1500)).await;
        corio::sim::restart("db");
        Ok(())
    });
    for c in 0..3u32 {
        sim.client(&format!("user{c}"), async move {
            let start = corio::time::now();
            let mut key = c * 1000;
            while corio::time::now() - start < Duration::from_secs(10) {
                key += 1;
                let response = get_user("web:8080", key).await?;
                if let Some(name) = response.strip_prefix("200 ") {
                    // Never someone else's data.
                    if name != format!("user-{key}") {
                        return Err(format!("asked for user {key}, got {name}").into());
                    }
                } else if corio::time::now() - start > Duration::from_secs(7) {
                    // Two seconds after the restart, everything must work again.
                    return Err(format!("request {key} still fails: {response}").into());
                }
                corio::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        });
    }
    sim
}

#[test]
fn the_simulation_finds_the_pools_bug() {
    let err = corio::sim::explore(5, |seed| simulation(seed, false)).unwrap_err();
    let SimErrorKind::ClientFailed { error, .. } = err.kind() else {
        panic!("{err}");
    };
    assert!(
        error.contains("got user-") || error.contains("still fails"),
        "{error}"
    );
    eprintln!("found: {err}");
    // The seed replays it.
    assert_eq!(simulation(err.seed(), false).run().unwrap_err(), err);
}

#[test]
fn the_fixed_pool_survives_partitions_latency_and_a_database_restart() {
    corio::sim::explore(5, |seed| simulation(seed, true)).unwrap();
}
