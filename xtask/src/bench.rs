//! `cargo xtask bench`: corio against tokio and smol on the workloads of issue 6.
//!
//! The measuring lives in the `corio-bench` crate (it needs the peers and a plotting crate,
//! which xtask should not). This task builds it in release mode, runs its suite, and points it
//! at `docs/` so that a full run rewrites `docs/BENCHMARKS.md` and `docs/benchmarks.svg`.
//! `CARGO_TARGET_DIR` is honoured, since cargo reads it itself.

use crate::util::{cargo, root, run};

const HELP: &str = "\
cargo xtask bench [options]

Runs every workload on corio, tokio and smol (1 worker and N = cores, or the counts of
--workers), prints the table (min–median–max per runtime, and corio / best peer), and after a
full, unfiltered run writes docs/BENCHMARKS.md and docs/benchmarks.svg.

options:
  --quick             smaller sizes, one measured iteration per child (under 2 minutes);
                      prints only
  --filter <text>     only the workloads whose name contains <text> (repeatable); prints only
  --runs <n>          sample rounds per row (default 7, --quick 5; one child process per
                      runtime per round)
  --workers <list>    the worker counts, comma-separated: a sweep like 1,2,4,8,16,32,64
                      (`n` = cores; default 1,n). Counts above the cores present are
                      skipped with a note; prints only
  --write             write the docs even after --quick, --filter or --workers
  --no-write          do not write the docs

one case, for perf or callgrind:
  cargo run --release -p corio-bench -- <workload> <corio|tokio|smol|floor> <1|n|workers>
  cargo run --release -p corio-bench -- list
";

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let mut suite: Vec<String> = Vec::new();
    let mut partial = false;
    let mut write = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                partial = true;
                suite.push(arg.clone());
            }
            "--filter" | "--runs" | "--workers" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("bench: {arg} needs a value"))?;
                partial |= arg == "--filter" || arg == "--workers";
                suite.extend([arg.clone(), value.clone()]);
            }
            "--write" => write = Some(true),
            "--no-write" => write = Some(false),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("bench: unknown option `{other}`\n\n{HELP}")),
        }
    }
    if write.unwrap_or(!partial) {
        suite.push("--docs".into());
        suite.push(root().join("docs").display().to_string());
    } else {
        eprintln!(
            "xtask bench: printing only; docs/BENCHMARKS.md keeps the last full run \
             (add --write to replace it)"
        );
    }
    run(
        "bench",
        cargo()
            .args(["run", "--release", "-p", "corio-bench", "--", "suite"])
            .args(&suite),
    )
}
