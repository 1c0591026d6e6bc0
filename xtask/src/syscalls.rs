//! `cargo xtask syscalls`: the system calls each runtime makes per op on the I/O rows, counted
//! with `strace -f -c` (issue 17), written into the "System calls per op" section of
//! docs/BENCHMARKS.md.
//!
//! Each case is one `corio-bench <workload> <runtime> <workers> --warmup 0 --iters 1` process
//! under `strace -f -c` (every thread and child process counted). corio-bench prints the op count
//! of its iteration (`@ops`), and the counts are divided by it; the process's start-up and
//! teardown are in the counts too, which is noise at these op counts (50,000 round trips, 10,000
//! connections, 1,024 file chunks). strace slows every system call down, so calls whose number
//! depends on timing (`epoll_wait`, `futex`, `io_uring_enter` waits) read higher or lower than
//! in an untraced run; the calls that do the I/O (`recvfrom`, `sendto`, `read`, `write`, ...)
//! do not depend on it.
//!
//! strace is installed from Debian when it is missing (as root). Linux only.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, ensure_debian_tool, record_section, run, target_dir};

const HELP: &str = "\
cargo xtask syscalls [--no-write]

Counts the system calls per op of tcp_echo, tcp_connections and file_io on corio (epoll),
corio on io_uring (a second corio-bench built with --features io-uring), tokio and smol (and
the synchronous floor of file_io), at 1 worker and at N = cores, with strace -f -c (installed
from Debian if missing). Prints the table and writes it into docs/BENCHMARKS.md.

  --no-write   print only
";

/// The markers of the section this task owns (corio-bench's report keeps it when it rewrites
/// BENCHMARKS.md; the same strings are in its `report.rs`).
const BEGIN: &str = "<!-- syscalls:begin (written by `cargo xtask syscalls`) -->";
const END: &str = "<!-- syscalls:end -->";

const WORKLOADS: [(&str, &[&str]); 3] = [
    ("tcp_echo", &["corio", "corio-uring", "tokio", "smol"]),
    (
        "tcp_connections",
        &["corio", "corio-uring", "tokio", "smol"],
    ),
    (
        "file_io",
        &["corio", "corio-uring", "tokio", "smol", "floor"],
    ),
];

/// How many of the most frequent system calls a row names.
const TOP: usize = 4;

pub(crate) fn syscalls(args: &[String]) -> Result<(), String> {
    let mut write = true;
    for arg in args {
        match arg.as_str() {
            "--no-write" => write = false,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("syscalls: unknown option `{other}`\n\n{HELP}")),
        }
    }
    if !cfg!(target_os = "linux") {
        return Err("syscalls needs Linux (strace, and the io_uring build)".into());
    }
    let uring = crate::bench::build_uring_bench()?;
    run(
        "syscalls: corio-bench",
        cargo().args(["build", "--release", "-p", "corio-bench"]),
    )?;
    let plain = target_dir()
        .join("release")
        .join(format!("corio-bench{}", std::env::consts::EXE_SUFFIX));
    measure(&plain, &uring, write)
}

/// Counts every case with the two corio-bench binaries (plain and io-uring) and prints the
/// table; with `write`, records it in BENCHMARKS.md.
pub(crate) fn measure(plain: &Path, uring: &Path, write: bool) -> Result<(), String> {
    let strace = ensure_debian_tool("strace", "strace")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut workers = vec![1];
    if cores > 1 {
        workers.push(cores);
    }
    let scratch = target_dir().join("syscalls");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut rows = Vec::new();
    for (workload, runtimes) in WORKLOADS {
        for &w in &workers {
            for &runtime in runtimes {
                let exe = if runtime == "corio-uring" {
                    uring
                } else {
                    plain
                };
                let row = count(&strace, exe, &scratch, workload, runtime, w)?;
                eprintln!("{}", row.line());
                rows.push(row);
            }
        }
    }
    let section = section(&rows, cores);
    println!("{section}");
    if write {
        record_section(BEGIN, END, &section)?;
    }
    Ok(())
}

/// One case under strace.
fn count(
    strace: &Path,
    exe: &Path,
    scratch: &Path,
    workload: &str,
    runtime: &str,
    workers: usize,
) -> Result<Row, String> {
    let out_file = scratch.join(format!("{workload}-{runtime}-{workers}.txt"));
    let label = format!("{workload} {runtime} {workers}w");
    let output = Command::new(strace)
        .args(["-f", "-c", "-o"])
        .arg(&out_file)
        .arg(exe)
        .args([workload, runtime, &workers.to_string()])
        .args(["--warmup", "0", "--iters", "1"])
        .output()
        .map_err(|e| format!("{label}: could not run strace: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{label}: corio-bench under strace failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ops = machine_value(&stdout, "@ops")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ops| ops > 0)
        .ok_or_else(|| format!("{label}: corio-bench printed no @ops line"))?;
    let backend = machine_value(&stdout, "@io_backend").map(str::to_owned);
    let summary = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("{label}: {}: {e}", out_file.display()))?;
    let calls = parse_strace_summary(&summary).map_err(|e| format!("{label}: {e}"))?;
    Ok(Row {
        workload: workload.to_owned(),
        runtime: runtime.to_owned(),
        workers,
        backend,
        ops,
        calls,
    })
}

/// The value of a corio-bench machine line (`@name value`).
fn machine_value<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::trim)
    })
}

/// One system call's line of `strace -c`.
#[derive(Debug, Clone, PartialEq)]
struct Calls {
    name: String,
    calls: u64,
    errors: u64,
}

/// The per-call lines of a `strace -c` summary, most frequent first (the `total` line left out).
fn parse_strace_summary(text: &str) -> Result<Vec<Calls>, String> {
    let mut calls = Vec::new();
    let mut saw_header = false;
    let mut saw_total = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"%") {
            saw_header = true;
            continue;
        }
        if !saw_header || fields.is_empty() || fields[0].starts_with('-') {
            continue;
        }
        // `% time  seconds  usecs/call  calls  [errors]  syscall`: the errors column is blank
        // when a call never failed.
        let (count, errors) = match fields.len() {
            5 => (fields[3], "0"),
            6 => (fields[3], fields[4]),
            _ => return Err(format!("unexpected strace -c line `{line}`")),
        };
        let name = fields[fields.len() - 1];
        let parse = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("bad count `{v}` in strace -c line `{line}`"))
        };
        if name == "total" {
            saw_total = true;
            continue;
        }
        calls.push(Calls {
            name: name.to_owned(),
            calls: parse(count)?,
            errors: parse(errors)?,
        });
    }
    if !saw_header || !saw_total {
        return Err(format!("not a strace -c summary:\n{text}"));
    }
    calls.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    Ok(calls)
}

/// One measured case.
struct Row {
    workload: String,
    runtime: String,
    workers: usize,
    /// What a corio child reported as its reactor (`@io_backend`).
    backend: Option<String>,
    ops: u64,
    calls: Vec<Calls>,
}

impl Row {
    fn per_op(&self, n: u64) -> f64 {
        n as f64 / self.ops as f64
    }

    fn total(&self) -> f64 {
        self.per_op(self.calls.iter().map(|c| c.calls).sum())
    }

    /// The runtime's column label; a corio-uring child whose kernel refused the ring says so.
    fn runtime_label(&self) -> String {
        match (self.runtime.as_str(), self.backend.as_deref()) {
            ("corio-uring", Some(b)) if b != "io_uring" => {
                format!("corio-uring (fell back to {b})")
            }
            ("corio", Some(b)) => format!("corio ({b})"),
            (r, _) => r.to_owned(),
        }
    }

    /// The most frequent calls per op, failures in parentheses.
    fn top(&self) -> String {
        self.calls
            .iter()
            .take(TOP)
            .map(|c| {
                let mut s = format!("{} {:.2}", c.name, self.per_op(c.calls));
                if c.errors > 0 {
                    s.push_str(&format!(" ({:.2} failed)", self.per_op(c.errors)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn line(&self) -> String {
        format!(
            "{} {}w {}: {:.2} system calls per op ({})",
            self.workload,
            self.workers,
            self.runtime_label(),
            self.total(),
            self.top()
        )
    }
}

/// The markdown section, markers included.
fn section(rows: &[Row], cores: usize) -> String {
    let mut md = format!(
        "{BEGIN}\n## System calls per op (strace)\n\n\
         Every system call of one `corio-bench <workload> <runtime> <workers> --warmup 0 \
         --iters 1` process (all threads and child processes), counted by `strace -f -c` and \
         divided by the iteration's op count: per round trip (tcp_echo: 50 connections × 1,000 \
         round trips of 64 B, both ends in the process), per connection (tcp_connections: \
         10,000, the clients in a child process, both counted), per 64 KiB chunk written and \
         read back (file_io: 1,024 chunks). Start-up and teardown are included. strace slows \
         every call, so the calls that wait (`epoll_wait`, `futex`, `io_uring_enter`) vary \
         with timing; the calls that move data do not. {cores} cores.\n\n\
         Run: {} UTC, by `cargo xtask syscalls` (`cargo xtask bench` runs it after a full run).\n\n\
         | workload | workers | runtime | calls per op | most frequent, per op |\n\
         |---|---:|---|---:|---|\n",
        crate::utc::utc_now()
    );
    for row in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} |\n",
            row.workload,
            row.workers,
            row.runtime_label(),
            row.total(),
            row.top()
        ));
    }
    md.push_str(END);
    md.push('\n');
    md
}

/// The corio-bench binaries a run of `cargo xtask bench` already built.
pub(crate) fn binaries() -> (PathBuf, PathBuf) {
    let release = target_dir().join("release");
    let exe = |name: &str| release.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    (exe("corio-bench"), exe("corio-bench-uring"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 49.23    1.104002        3619       305        28 futex
 26.12    0.585663          25     22644           sendto
 22.54    0.505482          22     22828        29 recvfrom
  0.02    0.000539          19        27        24 shutdown
------ ----------- ----------- --------- --------- ----------------
100.00    2.242514          47     45804        81 total
";

    #[test]
    fn parses_a_strace_summary_most_frequent_first() {
        let calls = parse_strace_summary(SUMMARY).unwrap();
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["recvfrom", "sendto", "futex", "shutdown"]);
        assert_eq!(
            calls[0],
            Calls {
                name: "recvfrom".into(),
                calls: 22828,
                errors: 29
            }
        );
        assert_eq!(calls[1].errors, 0);
    }

    #[test]
    fn refuses_what_is_not_a_summary() {
        assert!(parse_strace_summary("").is_err());
        assert!(parse_strace_summary("hello\nworld\n").is_err());
        // A header and lines but no total: cut short.
        let cut = SUMMARY.lines().take(4).collect::<Vec<_>>().join("\n");
        assert!(parse_strace_summary(&cut).is_err());
        let bad = SUMMARY.replace("22644", "many");
        assert!(parse_strace_summary(&bad).is_err());
    }

    #[test]
    fn divides_by_the_op_count_and_names_the_top_calls() {
        let row = Row {
            workload: "tcp_echo".into(),
            runtime: "corio".into(),
            workers: 1,
            backend: Some("epoll".into()),
            ops: 100,
            calls: parse_strace_summary(SUMMARY).unwrap(),
        };
        assert!((row.total() - 458.04).abs() < 1e-9);
        assert_eq!(
            row.top(),
            "recvfrom 228.28 (0.29 failed), sendto 226.44, futex 3.05 (0.28 failed), \
             shutdown 0.27 (0.24 failed)"
        );
        assert_eq!(row.runtime_label(), "corio (epoll)");
        let md = section(&[row], 2);
        assert!(md.starts_with(BEGIN) && md.ends_with(&format!("{END}\n")));
        assert!(md.contains("| tcp_echo | 1 | corio (epoll) | 458.04 |"));
    }

    #[test]
    fn reads_machine_lines() {
        let out = "@io_backend epoll\n@ops 50000\n@sample 1.5\n";
        assert_eq!(machine_value(out, "@ops"), Some("50000"));
        assert_eq!(machine_value(out, "@io_backend"), Some("epoll"));
        assert_eq!(machine_value(out, "@io"), None);
    }

    #[test]
    fn a_fallen_back_ring_is_labelled() {
        let row = Row {
            workload: "file_io".into(),
            runtime: "corio-uring".into(),
            workers: 2,
            backend: Some("epoll".into()),
            ops: 1,
            calls: Vec::new(),
        };
        assert_eq!(row.runtime_label(), "corio-uring (fell back to epoll)");
    }
}
