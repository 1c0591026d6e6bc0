//! Deterministic mode: virtual time, seeded interleavings, `explore`, and the same semantics as
//! real time for timeouts, task groups and queues.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn an_hour_of_sleep_takes_no_real_time_and_exactly_an_hour_of_virtual_time() {
    let real = Instant::now();
    let waited = corio::run_seeded(42, async {
        let t0 = corio::time::now();
        corio::sleep(Duration::from_secs(3600)).await;
        corio::time::now() - t0
    });
    assert_eq!(waited, Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(1),
        "{:?}",
        real.elapsed()
    );
}

#[test]
fn a_ten_minute_timeout_fires_in_virtual_time() {
    let real = Instant::now();
    let r = corio::run_seeded(
        7,
        corio::timeout(Duration::from_secs(600), std::future::pending::<()>()),
    );
    assert!(r.is_err());
    assert!(real.elapsed() < Duration::from_secs(1));
}

/// Five tasks, each appending its name three times, yielding in between.
async fn interleaving() -> String {
    let log = Arc::new(Mutex::new(String::new()));
    let tasks: Vec<_> = "abcde"
        .chars()
        .map(|c| {
            let log = log.clone();
            corio::spawn(async move {
                for _ in 0..3 {
                    log.lock().unwrap().push(c);
                    corio::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    log.lock().unwrap().clone()
}

#[test]
fn the_same_seed_replays_the_same_interleaving() {
    let first = corio::run_seeded(1234, interleaving());
    for _ in 0..100 {
        assert_eq!(corio::run_seeded(1234, interleaving()), first);
    }
}

#[test]
fn different_seeds_explore_different_interleavings() {
    let traces: std::collections::HashSet<String> = (0..20)
        .map(|seed| corio::run_seeded(seed, interleaving()))
        .collect();
    assert!(traces.len() >= 2, "{traces:?}");
}

/// A lost update across an await: two tasks read, yield, write.
async fn racy_counter() {
    let counter = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            corio::spawn(async move {
                let read = counter.load(Ordering::SeqCst);
                corio::yield_now().await;
                counter.store(read + 1, Ordering::SeqCst);
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(counter.load(Ordering::SeqCst), 2, "lost update");
}

#[test]
fn explore_finds_the_race_and_its_seed_reproduces_it() {
    let failure = corio::explore(1000, racy_counter).expect_err("the race is found");
    assert!(failure.message.contains("lost update"), "{failure}");
    assert!(
        failure
            .to_string()
            .contains(&format!("CORIO_SEED={}", failure.seed))
    );
    for _ in 0..10 {
        let replay = std::panic::catch_unwind(|| corio::run_seeded(failure.seed, racy_counter()));
        assert!(replay.is_err(), "seed {} replays the failure", failure.seed);
    }
}

/// The same scenario in virtual and in real time: nested timeouts, a task group that fails,
/// and a queue whose get is cancelled.
async fn scenario() -> Vec<String> {
    let mut out = Vec::new();
    // Nested deadlines: the outer (20 ms) fires before the inner (10 s).
    let r = corio::move_on_after(Duration::from_millis(20), async {
        corio::fail_after(
            Duration::from_secs(10),
            corio::sleep(Duration::from_secs(60)),
        )
        .await
    })
    .await;
    out.push(format!("nested: {r:?}"));
    // A task group: the fast failure cancels the slow sibling.
    let r: Result<(), corio::GroupError<&str>> = corio::task_group(async |g| {
        g.spawn(async {
            corio::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        g.spawn(async {
            corio::sleep(Duration::from_millis(5)).await;
            Err::<(), _>("fast failure")
        });
        Ok(())
    })
    .await;
    out.push(format!("group: {:?}", r.map_err(|e| e.errors().to_vec())));
    // A queue: a get cancelled by a timeout loses nothing.
    let q = corio::Queue::bounded(4);
    let r = corio::timeout(Duration::from_millis(5), q.get()).await;
    out.push(format!("get timed out: {}", r.is_err()));
    q.put(1).await.unwrap();
    out.push(format!("next get: {:?}", q.get().await));
    out
}

#[test]
fn timeouts_groups_and_queues_behave_the_same_in_virtual_and_real_time() {
    let real = corio::run_local(scenario());
    let virtual_ = corio::run_seeded(5, scenario());
    assert_eq!(real, virtual_);
    assert_eq!(
        real,
        [
            "nested: None",
            "group: Err([\"fast failure\"])",
            "get timed out: true",
            "next get: Ok(1)",
        ]
    );
}

#[test]
fn pause_and_advance_drive_time_by_hand() {
    corio::run_local(async {
        corio::time::pause();
        let t0 = corio::time::now();
        let sleeper = corio::spawn(corio::sleep(Duration::from_secs(30)));
        corio::time::advance(Duration::from_secs(10)).await;
        assert!(!sleeper.is_finished());
        corio::time::advance(Duration::from_secs(20)).await;
        sleeper.await;
        assert_eq!(corio::time::now() - t0, Duration::from_secs(30));
    });
}

#[corio::test(seed = 42)]
async fn the_test_attribute_runs_with_a_fixed_seed() {
    let t0 = corio::time::now();
    corio::sleep(Duration::from_secs(86_400)).await; // a day
    assert_eq!(corio::time::now() - t0, Duration::from_secs(86_400));
}

#[corio::test(deterministic)]
async fn the_test_attribute_runs_deterministically() {
    let r = corio::timeout(Duration::from_secs(3600), std::future::pending::<()>()).await;
    assert!(r.is_err());
}

#[test]
fn sockets_work_in_deterministic_mode() {
    // Real loopback I/O next to virtual time: the clock holds while I/O is in flight.
    corio::run_seeded(3, async {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = corio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        let r = corio::timeout(Duration::from_secs(5), c.read_exact(&mut buf)).await;
        assert!(r.is_ok(), "the echo arrived before a 5 s virtual timeout");
        assert_eq!(&buf, b"hello");
        server.await;
    });
}

/// Set in the child process of `a_failing_deterministic_test_prints_its_seed_and_corio_seed_replays_it`.
const CHILD_ENV: &str = "CORIO_TEST_SEED_REPLAY_CHILD";

/// What `#[corio::test(deterministic)]` runs, with a body that prints its interleaving and fails.
fn failing_deterministic_test() {
    corio::__private::run_test(
        corio::__private::MacroConfig::new().deterministic(),
        async {
            println!("TRACE={}", interleaving().await);
            panic!("deliberate failure");
        },
    );
}

/// Set in the child process of `a_deterministic_test_failing_with_an_err_prints_its_seed`.
const ERR_CHILD_ENV: &str = "CORIO_TEST_SEED_ERR_CHILD";

/// A deterministic test that fails by returning `Err` (a `?` in the test) names its seed too, so
/// it can be replayed. (A conformance probe found only panics naming it.)
#[test]
fn a_deterministic_test_failing_with_an_err_prints_its_seed() -> Result<(), String> {
    if std::env::var_os(ERR_CHILD_ENV).is_some() {
        return corio::__private::run_test(
            corio::__private::MacroConfig::new().deterministic(),
            async {
                println!("TRACE={}", interleaving().await);
                Err("deliberate failure".to_string())
            },
        );
    }
    // Without --nocapture: the harness shows the failed test's captured output.
    let run = |seed| {
        run_self(
            "a_deterministic_test_failing_with_an_err_prints_its_seed",
            ERR_CHILD_ENV,
            false,
            seed,
        )
        .0
    };
    let stdout = run(None);
    assert!(stdout.contains("deliberate failure"), "{stdout}");
    let seed = announced_seed(&stdout, "corio: deterministic test with seed ");
    let trace = field(&stdout, "TRACE=").to_owned();
    let again = run(Some(seed));
    assert_eq!(field(&again, "TRACE="), trace, "the seed replays the run");
    Ok(())
}

/// Runs this test binary again, filtered to the test `test`, with `child_env` set (its child
/// role); returns its stdout and stderr. The child's test must fail.
fn run_self(test: &str, child_env: &str, nocapture: bool, seed: Option<u64>) -> (String, String) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--test-threads=1"])
        .env(child_env, "1")
        .env_remove(corio::SEED_ENV);
    if nocapture {
        cmd.arg("--nocapture");
    }
    if let Some(seed) = seed {
        cmd.env(corio::SEED_ENV, seed.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "the child's test must fail");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs this test binary again, filtered to the test below, in its child role.
fn run_child(seed: Option<u64>) -> (String, String) {
    run_self(
        "a_failing_deterministic_test_prints_its_seed_and_corio_seed_replays_it",
        CHILD_ENV,
        true,
        seed,
    )
}

/// The seed in the line of `text` that starts with `prefix` (`<prefix>N; replay it with
/// CORIO_SEED=N`), checked to be the one the line tells to replay with.
fn announced_seed(text: &str, prefix: &str) -> u64 {
    let seed: u64 = field(text, prefix)
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        text.contains(&format!("replay it with CORIO_SEED={seed}")),
        "{text}"
    );
    seed
}

/// The rest of the first line that contains `prefix`, after it (the test harness may print on
/// the same line before it).
fn field<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.trim()))
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
}

#[test]
fn a_failing_deterministic_test_prints_its_seed_and_corio_seed_replays_it() {
    if std::env::var_os(CHILD_ENV).is_some() {
        failing_deterministic_test();
        return;
    }
    // A random seed: the failure names it.
    let (stdout, stderr) = run_child(None);
    let seed = announced_seed(&stderr, "corio: deterministic run failed with seed ");
    let trace = field(&stdout, "TRACE=").to_owned();
    // CORIO_SEED=<that seed> replays the same interleaving, and the same failure.
    for _ in 0..3 {
        let (stdout, stderr) = run_child(Some(seed));
        assert_eq!(field(&stdout, "TRACE="), trace);
        assert!(
            stderr.contains(&format!("failed with seed {seed};")),
            "{stderr}"
        );
    }
}

/// A blocking or CPU job that waits for a task which first sleeps on virtual time: virtual time
/// holds while the job runs, so the sleep could never fire, and the run hung for ever (probe Z).
/// Once the pools have finished no job for a second of real time, the clock moves on.
#[test]
fn a_job_waiting_for_a_task_that_sleeps_on_virtual_time_completes() {
    for cpu in [false, true] {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let got = corio::run_seeded(1, async move {
                let (tx, rx) = std::sync::mpsc::channel::<u32>();
                let producer = corio::spawn(async move {
                    corio::sleep(Duration::from_millis(10)).await;
                    tx.send(7).unwrap();
                });
                let got = if cpu {
                    corio::spawn_cpu(move || rx.recv().unwrap()).await
                } else {
                    corio::to_thread(move || rx.recv().unwrap()).await
                };
                producer.await;
                got
            });
            let _ = done_tx.send(got);
        });
        let got = done_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("cpu: {cpu}: the job never completed (a hang)"));
        assert_eq!(got, 7);
    }
}

/// A Unix connect to a full backlog under virtual time: its pauses between tries are real time,
/// so it connects once the listener makes room, in real time, rather than a virtual timeout
/// around it firing at once (a review found that, and, with no timeout, retries spinning
/// through virtual time).
#[cfg(unix)]
#[test]
fn a_unix_connect_to_a_full_backlog_waits_in_real_time_under_virtual_time() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    let addr = SockAddr::unix(&path).unwrap();
    let server = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    server.bind(&addr).unwrap();
    server.listen(1).unwrap();
    let mut queued = Vec::new();
    loop {
        let client = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        client.set_nonblocking(true).unwrap();
        match client.connect(&addr) {
            Ok(()) => queued.push(client),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(queued.len() < 64, "the backlog never filled");
    }
    let room = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..queued.len() {
            server.accept().unwrap();
        }
        server
    });
    let connected = corio::run_seeded(1, async move {
        corio::timeout(
            Duration::from_secs(5),
            corio::net::UnixStream::connect(&path),
        )
        .await
    });
    assert!(
        matches!(connected, Ok(Ok(_))),
        "not connected: {:?}",
        connected.map(|r| r.map(|_| ()))
    );
    drop(room.join().unwrap());
}
