//! `cargo xtask bench`: corio against tokio and smol on the workloads of issue 6.
//!
//! The measuring lives in the `corio-bench` crate (it needs the peers and a plotting crate,
//! which xtask should not). This task builds it in release mode, runs its suite, and points it
//! at `docs/` so that a full run rewrites `docs/BENCHMARKS.md` and `docs/benchmarks.svg`.
//! `CARGO_TARGET_DIR` is honoured, since cargo reads it itself.
//!
//! On Linux it first builds a second corio-bench with `--features io-uring` and copies it to
//! `<target>/release/corio-bench-uring`, which the suite runs for its `corio-uring` column
//! (corio on its io_uring reactor; by default on the socket and file rows, `--uring` picks).
//! Both builds share the target directory: only corio's crates and the bench differ between
//! them, and cargo keeps both variants, so a second run rebuilds neither.

use std::path::PathBuf;

use crate::util::{cargo, root, run, target_dir};

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
  --uring <rows>      the rows of the corio-uring column (corio built with the io-uring
                      feature, its own binary): io (default: tcp_echo, tcp_connections,
                      file_io, tls_echo), all, or off (no second build). Linux only
  --no-syscalls       after a full run, skip the system-call count of the I/O rows
                      (`cargo xtask syscalls`, strace; it needs the io_uring build)
  --write             write the docs even after --quick, --filter or --workers
  --no-write          do not write the docs

one case, for perf or callgrind:
  cargo run --release -p corio-bench -- <workload> <corio|tokio|smol|floor> <1|n|workers>
  cargo run --release -p corio-bench --features io-uring -- <workload> corio-uring <workers>
  cargo run --release -p corio-bench -- list
";

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let mut suite: Vec<String> = Vec::new();
    let mut partial = false;
    let mut write = None;
    let mut uring = "io".to_owned();
    let mut no_syscalls = false;
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
            "--uring" => {
                uring = args
                    .next()
                    .ok_or("bench: --uring needs io, all or off")?
                    .clone();
                if !["io", "all", "off"].contains(&uring.as_str()) {
                    return Err(format!(
                        "bench: --uring `{uring}`: expected io, all or off\n\n{HELP}"
                    ));
                }
            }
            "--no-syscalls" => no_syscalls = true,
            "--write" => write = Some(true),
            "--no-write" => write = Some(false),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("bench: unknown option `{other}`\n\n{HELP}")),
        }
    }
    let write = write.unwrap_or(!partial);
    if write {
        suite.push("--docs".into());
        suite.push(root().join("docs").display().to_string());
    } else {
        eprintln!(
            "xtask bench: printing only; docs/BENCHMARKS.md keeps the last full run \
             (add --write to replace it)"
        );
    }
    let ring = uring != "off" && cfg!(target_os = "linux");
    if ring {
        let exe = build_uring_bench()?;
        suite.extend(["--uring".into(), uring]);
        suite.extend(["--uring-exe".into(), exe.display().to_string()]);
    } else {
        suite.extend(["--uring".into(), "off".into()]);
    }
    run(
        "bench",
        cargo()
            .args(["run", "--release", "-p", "corio-bench", "--", "suite"])
            .args(&suite),
    )?;
    if write && ring && !no_syscalls {
        // The system calls per op of the I/O rows (issue 17), with the two binaries just built.
        let (plain, uring) = crate::syscalls::binaries();
        crate::syscalls::measure(&plain, &uring, true)?;
    }
    Ok(())
}

/// Builds corio-bench with the `io-uring` feature and copies the binary aside, since the plain
/// build that follows takes its place at `<target>/release/corio-bench`.
pub(crate) fn build_uring_bench() -> Result<PathBuf, String> {
    run(
        "bench: corio-bench with io-uring",
        cargo().args([
            "build",
            "--release",
            "-p",
            "corio-bench",
            "--features",
            "io-uring",
        ]),
    )?;
    let release = target_dir().join("release");
    let built = release.join(format!("corio-bench{}", std::env::consts::EXE_SUFFIX));
    let copy = release.join(format!("corio-bench-uring{}", std::env::consts::EXE_SUFFIX));
    // Remove first: the old copy may be running (another bench), and a fresh inode leaves it be.
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(&built, &copy)
        .map_err(|e| format!("bench: copy {} to {}: {e}", built.display(), copy.display()))?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_uring_values_are_refused_before_building() {
        for bad in [&["--uring"][..], &["--uring", "yes"]] {
            let args: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(bench(&args).is_err(), "{bad:?} was accepted");
        }
    }
}
