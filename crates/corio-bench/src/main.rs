//! # corio-bench: corio against tokio and smol on the same work
//!
//! The runner behind `cargo xtask bench` (issue 6). It has two modes:
//!
//! - **One case**, for profiling: `corio-bench <workload> <runtime> <workers>` runs one
//!   workload on one runtime (`corio`, `corio-uring`, `tokio`, `smol`, or `floor`) with `1` or
//!   `n` (= cores) or any number of workers, with a warm-up, and prints the checked result of
//!   every iteration. Run it under `perf stat` or `valgrind --tool=callgrind`. `corio-uring`
//!   needs a binary built with `--features io-uring`.
//! - **The suite**: `corio-bench suite [--quick] [--filter <substring>]... [--runs <n>]
//!   [--workers <list>] [--uring io|all|off] [--uring-exe <path>] [--docs <dir>]` runs every
//!   case in child processes of this binary at each worker count (default 1 and the number of
//!   cores; counts above the cores present are skipped), rotating the runtime order each
//!   round, prints the table, and with `--docs` writes `BENCHMARKS.md` and `benchmarks.svg`
//!   there. The `corio-uring` column runs in the `--uring-exe` binary (built with the
//!   `io-uring` feature), or in this one if it has the feature.
//!
//! `corio-bench list` names the workloads. See `docs/BENCHMARKS.md` for the method.
#![forbid(unsafe_code)]

mod case;
mod chart;
mod clients;
mod outcome;
mod report;
mod rt_corio;
mod rt_floor;
mod rt_smol;
mod rt_tokio;
mod suite;
mod sys;
mod tls;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use workload::{Runtime, Scale, Workload};

const HELP: &str = "\
corio-bench: corio against tokio and smol on the same workloads

usage:
  corio-bench <workload> <runtime> <workers> [--quick | --scale full|quick|tiny]
              [--warmup <n>] [--iters <n>]
      one case in this process (for perf / callgrind); runtime: corio, corio-uring (a
      binary built with --features io-uring), tokio, smol, floor; workers: 1, n (= number
      of cores) or a number. Defaults: full sizes, 1 warm-up, 3 measured iterations.
  corio-bench suite [--quick | --scale full|quick|tiny] [--filter <substring>]...
              [--runs <n>] [--warmup <n>] [--iters <n>] [--workers <list>]
              [--uring io|all|off] [--uring-exe <path>] [--docs <dir>]
      the whole comparison, one child process per runtime per round; prints the table and,
      with --docs, writes BENCHMARKS.md and benchmarks.svg into <dir>. --workers: the
      worker counts, comma-separated (`1,2,4,8`; `n` = cores; default 1,n); counts above
      the cores present are skipped with a note. --uring: the rows of the corio-uring
      column (default io: tcp_echo, tcp_connections, file_io, tls_echo); it runs in the
      --uring-exe binary (built with --features io-uring), or in this one if it has the
      feature (the corio column then runs with CORIO_IO=epoll)
  corio-bench list
      the workloads
  corio-bench tcp-clients <runtime> <workers> <addr> <n>
      (internal) the client process of tcp_connections

Every iteration runs under a watchdog (60-180 s); under valgrind, raise it with
CORIO_BENCH_BUDGET_SECS=<seconds>.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "-h" | "--help") => {
            print!("{HELP}");
            Ok(())
        }
        Some("list") => {
            for w in Workload::ALL {
                println!("{:<20} {}", w.name(), w.unit());
            }
            Ok(())
        }
        Some("tcp-clients") => clients::serve_as_helper(&args[1..]),
        Some("suite") => parse_suite(&args[1..]).and_then(|opts| suite::run(&opts)),
        Some(_) => parse_case(&args).and_then(case::run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("corio-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The options both modes share, taken out of `args` as they are found.
#[derive(Debug, Default)]
struct Common {
    scale: Option<Scale>,
    warmup: Option<usize>,
    iters: Option<usize>,
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    match s {
        "full" => Ok(Scale::Full),
        "quick" => Ok(Scale::Quick),
        "tiny" => Ok(Scale::Tiny),
        other => Err(format!("unknown scale `{other}` (full, quick, tiny)")),
    }
}

fn parse_count(flag: &str, value: Option<&String>) -> Result<usize, String> {
    value
        .ok_or_else(|| format!("{flag} needs a value"))?
        .parse()
        .map_err(|e| format!("{flag}: {e}"))
}

/// Parses a shared option at `args[*i]`; returns whether it was one.
fn parse_common(args: &[String], i: &mut usize, common: &mut Common) -> Result<bool, String> {
    match args[*i].as_str() {
        "--quick" => common.scale = Some(Scale::Quick),
        "--scale" => {
            *i += 1;
            let value = args.get(*i).ok_or("--scale needs a value")?;
            common.scale = Some(parse_scale(value)?);
        }
        "--warmup" => {
            *i += 1;
            common.warmup = Some(parse_count("--warmup", args.get(*i))?);
        }
        "--iters" => {
            *i += 1;
            let n = parse_count("--iters", args.get(*i))?;
            if n == 0 {
                return Err("--iters must be at least 1".into());
            }
            common.iters = Some(n);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_case(args: &[String]) -> Result<case::Case, String> {
    let mut positional = Vec::new();
    let mut common = Common::default();
    let mut i = 0;
    while i < args.len() {
        if !parse_common(args, &mut i, &mut common)? {
            if args[i].starts_with("--") {
                return Err(format!("unknown option `{}`\n\n{HELP}", args[i]));
            }
            positional.push(args[i].as_str());
        }
        i += 1;
    }
    let [workload, runtime, workers] = positional[..] else {
        return Err(format!(
            "expected <workload> <runtime> <workers>, got {positional:?}\n\n{HELP}"
        ));
    };
    let workers = match workers {
        "n" | "N" => std::thread::available_parallelism().map_or(1, |n| n.get()),
        w => w
            .parse()
            .ok()
            .filter(|&w: &usize| w > 0)
            .ok_or_else(|| format!("workers must be 1, n or a positive number, not `{w}`"))?,
    };
    Ok(case::Case {
        workload: workload.parse::<Workload>()?,
        runtime: runtime.parse::<Runtime>()?,
        workers,
        scale: common.scale.unwrap_or(Scale::Full),
        warmup: common.warmup.unwrap_or(1),
        iters: common.iters.unwrap_or(3),
    })
}

fn parse_suite(args: &[String]) -> Result<suite::Options, String> {
    let mut common = Common::default();
    let mut filters = Vec::new();
    let mut rounds = None;
    let mut docs = None;
    let mut workers = None;
    let mut uring = None;
    let mut uring_exe = None;
    let mut i = 0;
    while i < args.len() {
        if !parse_common(args, &mut i, &mut common)? {
            match args[i].as_str() {
                "--filter" => {
                    i += 1;
                    filters.push(args.get(i).ok_or("--filter needs a value")?.clone());
                }
                "--runs" => {
                    i += 1;
                    let n = parse_count("--runs", args.get(i))?;
                    if n == 0 {
                        return Err("--runs must be at least 1".into());
                    }
                    rounds = Some(n);
                }
                "--docs" => {
                    i += 1;
                    docs = Some(PathBuf::from(
                        args.get(i).ok_or("--docs needs a directory")?,
                    ));
                }
                "--workers" => {
                    i += 1;
                    let list = args.get(i).ok_or("--workers needs a list, like 1,2,4")?;
                    workers = Some(suite::parse_worker_counts(list)?);
                }
                "--uring" => {
                    i += 1;
                    let rows = args.get(i).ok_or("--uring needs io, all or off")?;
                    uring = Some(suite::UringRows::parse(rows)?);
                }
                "--uring-exe" => {
                    i += 1;
                    uring_exe = Some(PathBuf::from(
                        args.get(i).ok_or("--uring-exe needs a path")?,
                    ));
                }
                other => return Err(format!("unknown suite option `{other}`\n\n{HELP}")),
            }
        }
        i += 1;
    }
    let mut opts = suite::Options::new(common.scale.unwrap_or(Scale::Full));
    opts.filters = filters;
    opts.docs = docs;
    if let Some(counts) = workers {
        opts.workers = counts;
    }
    if let Some(rows) = uring {
        opts.uring = rows;
    }
    opts.uring_exe = uring_exe;
    if let Some(n) = rounds {
        opts.rounds = n;
    }
    if let Some(n) = common.warmup {
        opts.warmup = n;
    }
    if let Some(n) = common.iters {
        opts.iters = n;
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_suite_takes_the_uring_options() {
        let opts = parse_suite(&args(&["--quick"])).unwrap();
        assert_eq!((opts.uring, opts.uring_exe), (suite::UringRows::Io, None));
        let opts =
            parse_suite(&args(&["--uring", "all", "--uring-exe", "/x/bench-uring"])).unwrap();
        assert_eq!(opts.uring, suite::UringRows::All);
        assert_eq!(opts.uring_exe, Some(PathBuf::from("/x/bench-uring")));
        assert_eq!(
            parse_suite(&args(&["--uring", "off"])).unwrap().uring,
            suite::UringRows::Off
        );
        for bad in [&["--uring"][..], &["--uring", "maybe"], &["--uring-exe"]] {
            assert!(parse_suite(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_case_takes_corio_uring_as_a_runtime() {
        let case = parse_case(&args(&["tcp_echo", "corio-uring", "2"])).unwrap();
        assert_eq!(case.runtime, workload::Runtime::CorioUring);
        assert_eq!(case.workers, 2);
    }
}
