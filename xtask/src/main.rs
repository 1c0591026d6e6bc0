//! corio's project automation, in the style of rust-analyzer's `cargo xtask`.
//!
//! Run `cargo xtask help` for the list of tasks.
#![forbid(unsafe_code)]

mod bench;
mod ci;
mod integration;
mod loom;
mod package;
mod stress;
mod syscalls;
mod utc;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <task> [options]

tasks:
  bench         corio against tokio and smol: prints the table, writes docs/BENCHMARKS.md
                and docs/benchmarks.svg (--quick, --filter <text>, --workers 1,2,4;
                --help for more)
  ci            fmt --check, clippy -D warnings, every test (nextest, a time limit per test)
                and doctest, cargo doc -D warnings, cargo package and the cherry-pick crate
  loom          the loom models (executor wake path, timer registration, sync primitives)
  package       cargo package --workspace --no-verify, then build and run xtask/cherry-pick
                (single crates used without the facade)
  stress        corio under load, faults and shutdown: a million parked tasks, 10,000 connections,
                cancel storms, EMFILE, leaks (--quick for CI, --valgrind; --help for more)
  integration   HTTP smoke test; PostgreSQL example and test on a throwaway server (installs
                postgresql from Debian if missing); --wrk: also a load test, corio vs tokio
                (3 rounds at c100 and c1000, req/s, mean and p50/p90/p99); --wrk-only: just that
  syscalls      system calls per op of the I/O rows on corio (epoll and io_uring), tokio and
                smol, with strace -f -c (installed from Debian if missing); writes its section
                of docs/BENCHMARKS.md (--no-write: print only)
  help          this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "bench" => bench::bench(rest),
        "ci" => ci::ci(rest),
        "integration" => integration::integration(rest),
        "loom" => loom::loom(rest),
        "package" => package::package_and_cherry_pick(rest),
        "stress" => stress::stress(rest),
        "syscalls" => syscalls::syscalls(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
