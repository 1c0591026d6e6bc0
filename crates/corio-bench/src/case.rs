//! One benchmark case in this process: a workload on one runtime with one worker count.
//!
//! This is what `corio-bench <workload> <runtime> <workers>` runs, and what the suite runs in
//! a child process per sample round. It prints one line per measured iteration for people
//! (stderr) and machine lines starting with `@` (stdout) for the suite.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::outcome::{Metric, Outcome};
use crate::workload::{Runtime, Scale, Sizes, Workload};
use crate::{rt_corio, rt_floor, rt_smol, rt_tokio};

/// What to run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Case {
    pub(crate) workload: Workload,
    pub(crate) runtime: Runtime,
    pub(crate) workers: usize,
    pub(crate) scale: Scale,
    pub(crate) warmup: usize,
    pub(crate) iters: usize,
}

/// The runtime under test, started once for the whole process.
#[derive(Debug)]
enum Started {
    Corio(rt_corio::Bench),
    Tokio(rt_tokio::Bench),
    Smol(rt_smol::Bench),
    Floor(rt_floor::Bench),
}

impl Started {
    fn start(runtime: Runtime, workers: usize) -> std::io::Result<Started> {
        Ok(match runtime {
            Runtime::Corio => Started::Corio(rt_corio::Bench::start(workers)?),
            Runtime::CorioUring if !crate::workload::URING_BUILT_IN => {
                return Err(std::io::Error::other(
                    "this corio-bench was built without the `io-uring` feature (build it with \
                     `--features io-uring`, or let `cargo xtask bench` do it)",
                ));
            }
            Runtime::CorioUring => Started::Corio(rt_corio::Bench::start(workers)?),
            Runtime::Tokio => Started::Tokio(rt_tokio::Bench::start(workers)?),
            Runtime::Smol => Started::Smol(rt_smol::Bench::start(workers)?),
            Runtime::Floor => Started::Floor(rt_floor::Bench),
        })
    }

    fn tcp_clients(&self, addr: SocketAddr, n: usize) -> u64 {
        match self {
            Started::Corio(rt) => rt.tcp_clients(addr, n),
            Started::Tokio(rt) => rt.tcp_clients(addr, n),
            Started::Smol(rt) => rt.tcp_clients(addr, n),
            Started::Floor(_) => panic!("the floor has no sockets"),
        }
    }

    fn iteration(&self, workload: Workload, sizes: Sizes) -> Outcome {
        match self {
            Started::Corio(rt) => rt.iteration(workload, sizes),
            Started::Tokio(rt) => rt.iteration(workload, sizes),
            Started::Smol(rt) => rt.iteration(workload, sizes),
            Started::Floor(rt) => rt.iteration(workload, sizes),
        }
    }
}

/// Runs the case: `warmup` iterations, then `iters` measured ones, each checked and each under
/// the watchdog.
pub(crate) fn run(case: Case) -> Result<(), String> {
    let Case {
        workload,
        runtime,
        workers,
        scale,
        mut warmup,
        mut iters,
    } = case;
    if !runtime.supports(workload, workers) {
        return Err(format!(
            "{runtime} does not run {workload} on {workers} worker(s)"
        ));
    }
    if workload.fresh_process() && (warmup, iters) != (0, 1) {
        eprintln!(
            "{workload} measures a fresh process: one iteration, no warm-up (--warmup and \
             --iters ignored)"
        );
        (warmup, iters) = (0, 1);
    }
    crate::clients::set_case(runtime, workers);
    let sizes = Sizes::new(scale);
    let expected = workload.expected(&sizes);
    let ops = workload.ops(&sizes) as f64;
    let watchdog = Watchdog::start();
    let budget = workload.iteration_budget(scale);
    let started = Started::start(runtime, workers)
        .map_err(|e| format!("cannot start {runtime} with {workers} worker(s): {e}"))?;
    let mut stdout = std::io::stdout().lock();
    if let Started::Corio(rt) = &started {
        // Which reactor corio really waits in, so that the report never labels epoll numbers
        // as the ring's.
        let (backend, fallback) = rt.io_backend();
        eprintln!(
            "{runtime}: I/O backend {backend}{}",
            fallback
                .as_deref()
                .map_or_else(String::new, |why| format!(" ({why})"))
        );
        writeln!(stdout, "@io_backend {backend}").map_err(|e| e.to_string())?;
        if let Some(why) = fallback {
            writeln!(stdout, "@io_fallback {why}").map_err(|e| e.to_string())?;
        }
    }
    // The op count of one iteration, for tools that divide whole-process counts by it (the
    // system calls per op of `cargo xtask syscalls`).
    writeln!(stdout, "@ops {ops}").map_err(|e| e.to_string())?;
    for i in 0..warmup + iters {
        let measured = i >= warmup;
        let label = if measured {
            format!(
                "{workload} {runtime} {workers}w iteration {}",
                i - warmup + 1
            )
        } else {
            format!("{workload} {runtime} {workers}w warm-up {}", i + 1)
        };
        watchdog.arm(&label, budget);
        let outcome = started.iteration(workload, sizes);
        watchdog.disarm();
        if outcome.check != expected {
            return Err(format!(
                "{label}: wrong result: checked value {} instead of {expected}",
                outcome.check
            ));
        }
        let value = match outcome.metric {
            Metric::Elapsed(elapsed) => elapsed.as_nanos() as f64 / ops,
            Metric::Bytes(bytes) => bytes as f64 / ops,
        };
        eprintln!("{label}: {value:.1} {} (checked)", workload.unit());
        if measured {
            writeln!(stdout, "@sample {value}").map_err(|e| e.to_string())?;
        }
    }
    writeln!(stdout, "@peak_rss_kib {}", crate::sys::peak_rss_kib()).map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    if workload.fresh_process() {
        // Tearing down a million tasks measures nothing; the process is done.
        std::process::exit(0);
    }
    drop(started);
    Ok(())
}

/// The helper process of `tcp_connections`: the clients, on the same runtime and worker count
/// as the server, under the same watchdog budget.
pub(crate) fn run_clients(
    runtime: Runtime,
    workers: usize,
    addr: SocketAddr,
    n: usize,
) -> Result<(), String> {
    let started = Started::start(runtime, workers)
        .map_err(|e| format!("cannot start {runtime} with {workers} worker(s): {e}"))?;
    let watchdog = Watchdog::start();
    crate::clients::wait_for_go()?;
    watchdog.arm(
        &format!("tcp_connections clients on {runtime} {workers}w"),
        Workload::TcpConnections.iteration_budget(Scale::Full),
    );
    let answered = started.tcp_clients(addr, n);
    watchdog.disarm();
    println!("@ok {answered}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    drop(started);
    Ok(())
}

/// The armed deadline and what it guards, if any.
type Armed = Mutex<Option<(Instant, String)>>;

/// Ends the process if an iteration outlives its budget, so a hang is reported, not waited on.
#[derive(Debug)]
struct Watchdog {
    state: Arc<(Armed, Condvar)>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let state: Arc<(Armed, Condvar)> = Arc::new((Mutex::new(None), Condvar::new()));
        let watched = state.clone();
        std::thread::Builder::new()
            .name("bench-watchdog".into())
            .spawn(move || {
                let (lock, cvar) = &*watched;
                let mut armed = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let now = Instant::now();
                    armed = match &*armed {
                        None => cvar.wait(armed).unwrap_or_else(|e| e.into_inner()),
                        Some((deadline, label)) if *deadline <= now => {
                            eprintln!("watchdog: {label} still running after its budget: hung");
                            std::process::exit(124);
                        }
                        Some((deadline, _)) => {
                            let wait = *deadline - now;
                            cvar.wait_timeout(armed, wait)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                    };
                }
            })
            .expect("cannot start the watchdog thread");
        Watchdog { state }
    }

    fn arm(&self, label: &str, budget: Duration) {
        let (lock, cvar) = &*self.state;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            Instant::now() + budget,
            format!("{label} (budget {budget:.1?})"),
        ));
        cvar.notify_one();
    }

    fn disarm(&self) {
        let (lock, cvar) = &*self.state;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = None;
        cvar.notify_one();
    }
}
