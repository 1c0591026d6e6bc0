//! Turning samples into the table, BENCHMARKS.md and the chart.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::suite::{self, Options, UringRows};
use crate::workload::{Runtime, Scale, Sizes, Workload};

/// The samples of one runtime on one row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cell {
    pub(crate) samples: Vec<f64>,
    pub(crate) peak_rss_kib: Vec<u64>,
    /// The first failure (wrong result, panic, timeout); the cell then reports no number.
    pub(crate) error: Option<String>,
    /// The I/O backend each corio child reported (`RuntimeMetrics::io_backend`).
    pub(crate) backends: Vec<String>,
    /// Why a corio child's reactor was not on the ring, the first time one said so.
    pub(crate) fallback: Option<String>,
}

/// Min, median and max.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stats {
    pub(crate) min: f64,
    pub(crate) median: f64,
    pub(crate) max: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 0 {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some(Stats {
            min: v[0],
            median,
            max: v[v.len() - 1],
        })
    }
}

impl Cell {
    pub(crate) fn stats(&self) -> Option<Stats> {
        if self.error.is_some() {
            return None;
        }
        Stats::of(&self.samples)
    }

    /// The backends this cell's children reported that its column does not promise: any but
    /// `io_uring` in `corio-uring`, `io_uring` in `corio` (whose column is the default
    /// reactor). Empty when every child ran where its column says.
    pub(crate) fn wrong_backends(&self, runtime: Runtime) -> Vec<&str> {
        let mut wrong: Vec<&str> = self
            .backends
            .iter()
            .map(String::as_str)
            .filter(|&b| match runtime {
                Runtime::CorioUring => b != "io_uring",
                Runtime::Corio => b == "io_uring",
                _ => false,
            })
            .collect();
        wrong.sort_unstable();
        wrong.dedup();
        wrong
    }

    fn rss_mib(&self) -> Option<Stats> {
        if self.error.is_some() {
            return None;
        }
        let mib: Vec<f64> = self
            .peak_rss_kib
            .iter()
            .map(|&k| k as f64 / 1024.0)
            .collect();
        Stats::of(&mib)
    }
}

/// One (workload, workers) line of the table.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) workload: Workload,
    pub(crate) workers: usize,
    pub(crate) cells: Vec<(Runtime, Cell)>,
}

impl Row {
    pub(crate) fn cell(&self, runtime: Runtime) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|(r, _)| *r == runtime)
            .map(|(_, c)| c)
    }

    pub(crate) fn median(&self, runtime: Runtime) -> Option<f64> {
        self.cell(runtime)?.stats().map(|s| s.median)
    }

    /// The peer (tokio or smol) with the lower median, and that median.
    pub(crate) fn best_peer(&self) -> Option<(Runtime, f64)> {
        [Runtime::Tokio, Runtime::Smol]
            .into_iter()
            .filter_map(|r| self.median(r).map(|m| (r, m)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// corio's median (its default reactor) over the best peer's: below 1.0, corio is faster
    /// (or smaller). The chart and the "behind" list use this one.
    pub(crate) fn ratio_to_peer(&self) -> Option<f64> {
        self.ratio_to_peer_of(Runtime::Corio)
    }

    /// `corio`'s or `corio-uring`'s median over the best peer's.
    pub(crate) fn ratio_to_peer_of(&self, corio: Runtime) -> Option<f64> {
        Some(self.median(corio)? / self.best_peer()?.1)
    }

    /// `corio`'s or `corio-uring`'s median over the floor's.
    pub(crate) fn ratio_to_floor_of(&self, corio: Runtime) -> Option<f64> {
        Some(self.median(corio)? / self.median(Runtime::Floor)?)
    }

    pub(crate) fn label(&self) -> String {
        format!("{} ×{}", self.workload.name(), self.workers)
    }
}

/// The machine the numbers come from.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    cpu: String,
    cores: String,
    ram: String,
    kernel: String,
    rustc: String,
    date: String,
    commit: String,
    peers: String,
}

impl Machine {
    fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_owned());
        let processors = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or_else(
                || "unknown".into(),
                |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
            );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |k| format!("Linux {}", k.trim()));
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        Machine {
            cpu,
            cores: format!("{processors} logical CPUs in /proc/cpuinfo, {usable} usable"),
            ram,
            kernel,
            rustc: command_line(Command::new(rustc).arg("-V")),
            date: utc_now(),
            commit: command_line(Command::new("git").args(["rev-parse", "--short", "HEAD"])),
            peers: peer_versions(),
        }
    }
}

fn command_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_owned())
}

/// The versions of the peers' crates that were built, from the workspace's Cargo.lock.
fn peer_versions() -> String {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    let wanted = [
        "tokio",
        "smol",
        "async-executor",
        "async-io",
        "async-channel",
        "async-lock",
        "async-net",
        "blocking",
        "async-task",
    ];
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if wanted.contains(&n.as_str()) {
                found.push(format!("{n} {}", v.trim_matches('"')));
            }
        }
    }
    if found.is_empty() {
        "unknown".into()
    } else {
        found.join(", ")
    }
}

/// "YYYY-MM-DD HH:MM UTC", without a date crate (the calendar arithmetic is xtask's `utc.rs`).
fn utc_now() -> String {
    format!("{} UTC", utc::utc_now())
}

#[path = "../../../xtask/src/utc.rs"]
mod utc;

/// A row of the peak-RSS table: its label, and per runtime column its text, if it ran.
type RssRow = (String, Vec<(Runtime, Option<String>)>);

/// Everything a run produced.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub(crate) scale: Scale,
    pub(crate) rounds: usize,
    pub(crate) warmup: usize,
    pub(crate) iters: usize,
    pub(crate) filtered: bool,
    /// The rows the `corio-uring` column was asked for, and whether a binary with the ring
    /// was there to run it.
    uring: UringRows,
    uring_available: bool,
    pub(crate) rows: Vec<Row>,
    pub(crate) wall: Duration,
    /// The worker counts that ran, and those asked for but skipped (above the cores present).
    workers: Vec<usize>,
    skipped_workers: Vec<usize>,
    machine: Machine,
}

impl Report {
    pub(crate) fn new(opts: &Options, rows: Vec<Row>, wall: Duration) -> Report {
        Report::with_machine(opts, rows, wall, Machine::detect())
    }

    fn with_machine(opts: &Options, rows: Vec<Row>, wall: Duration, machine: Machine) -> Report {
        let (workers, skipped_workers) = suite::split_worker_counts(&opts.workers);
        Report {
            scale: opts.scale,
            rounds: opts.rounds,
            warmup: opts.warmup,
            iters: opts.iters,
            filtered: !opts.filters.is_empty(),
            uring: opts.uring,
            uring_available: opts.uring_exe.is_some(),
            rows,
            wall,
            workers,
            skipped_workers,
            machine,
        }
    }

    /// Whether any row has a `corio-uring` cell (the table then shows its columns).
    fn shows_uring(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.cell(Runtime::CorioUring).is_some())
    }

    /// The runtime columns of the table: `corio-uring` only when it ran.
    fn runtime_columns(&self) -> Vec<Runtime> {
        Runtime::ALL
            .into_iter()
            .filter(|&r| r != Runtime::CorioUring || self.shows_uring())
            .collect()
    }

    /// The corio columns that get ratio columns.
    fn corio_columns(&self) -> Vec<Runtime> {
        self.runtime_columns()
            .into_iter()
            .filter(|r| r.is_corio())
            .collect()
    }

    fn header(&self) -> Vec<String> {
        let mut head: Vec<String> = ["workload", "workers", "unit"].map(str::to_owned).to_vec();
        head.extend(self.runtime_columns().iter().map(|r| r.name().to_owned()));
        let corios = self.corio_columns();
        head.extend(corios.iter().map(|r| format!("{r} / best peer")));
        head.extend(corios.iter().map(|r| format!("{r} / floor")));
        head
    }

    /// What the `corio-uring` cells really ran on, in one sentence (`None` without the
    /// column): the backend every child reported, or which fell back and why.
    fn uring_backend_sentence(&self) -> Option<String> {
        if !self.shows_uring() {
            return None;
        }
        let cells: Vec<(&Row, &Cell)> = self
            .rows
            .iter()
            .filter_map(|r| r.cell(Runtime::CorioUring).map(|c| (r, c)))
            .collect();
        let fell_back: Vec<String> = cells
            .iter()
            .filter(|(_, c)| !c.wrong_backends(Runtime::CorioUring).is_empty())
            .map(|(r, c)| {
                format!(
                    "{} on {}{}",
                    r.label(),
                    c.wrong_backends(Runtime::CorioUring).join("/"),
                    c.fallback
                        .as_deref()
                        .map_or_else(String::new, |why| format!(" ({why})"))
                )
            })
            .collect();
        let unreported = cells
            .iter()
            .filter(|(_, c)| c.error.is_none() && c.backends.is_empty())
            .count();
        Some(if fell_back.is_empty() && unreported == 0 {
            "Every corio-uring child reported `io_backend = \"io_uring\"`: the ring ran.".to_owned()
        } else if fell_back.is_empty() {
            format!("{unreported} corio-uring cell(s) reported no backend.")
        } else {
            format!(
                "**The ring fell back to epoll** in {} of {} corio-uring cell(s), marked \
                 [ran on …] in the table: {}. Those numbers are epoll's, not the ring's.",
                fell_back.len(),
                cells.len(),
                fell_back.join("; ")
            )
        })
    }

    /// Whether the run used the default worker counts (1 and the number of cores), which the
    /// page's wording assumes.
    fn default_workers(&self) -> bool {
        self.skipped_workers.is_empty() && self.workers == suite::default_worker_counts()
    }

    /// The legend of the chart's lighter bars: "N workers" by default.
    pub(crate) fn many_workers_label(&self) -> &'static str {
        if self.default_workers() {
            "N workers"
        } else {
            "more workers"
        }
    }

    /// "1, 2, 4".
    fn workers_list(counts: &[usize]) -> String {
        let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
        counts.join(", ")
    }

    /// The sentence of the Results paragraph that names the worker counts.
    fn workers_sentence(&self) -> String {
        if self.default_workers() {
            return format!(
                "N = {} workers (the number of cores).",
                self.workers.last().copied().unwrap_or(1)
            );
        }
        let mut text = format!(
            "Worker counts: {} (`--workers`).",
            Report::workers_list(&self.workers)
        );
        if !self.skipped_workers.is_empty() {
            let _ = write!(
                text,
                " Skipped: {}, above the {} core(s) of this machine.",
                Report::workers_list(&self.skipped_workers),
                suite::cores()
            );
        }
        text
    }

    pub(crate) fn scale_name(&self) -> &'static str {
        self.scale.name()
    }

    /// "workload ×workers: runtime: error" for every failed cell.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.rows {
            for (runtime, cell) in &row.cells {
                if let Some(e) = &cell.error {
                    out.push(format!("{}: {runtime}: {e}", row.label()));
                }
            }
        }
        out
    }

    fn cells_text(&self, row: &Row, bold_median: bool) -> Vec<String> {
        let mut out = vec![
            row.workload.name().to_owned(),
            row.workers.to_string(),
            row.workload.unit().to_owned(),
        ];
        for runtime in self.runtime_columns() {
            out.push(match row.cell(runtime) {
                None => "".to_owned(),
                Some(cell) => {
                    let text = match (cell.stats(), &cell.error) {
                        (Some(s), _) => triple(s, bold_median, num),
                        (None, Some(e)) if e.starts_with("TIMEOUT") => "TIMEOUT".to_owned(),
                        (None, _) => "FAILED".to_owned(),
                    };
                    text + &backend_flag(cell, runtime)
                }
            });
        }
        let corios = self.corio_columns();
        for &corio in &corios {
            out.push(match (row.ratio_to_peer_of(corio), row.best_peer()) {
                (Some(r), Some((peer, _))) => format!("{r:.2} (vs {peer})"),
                // corio-uring did not run this row: nothing to say.
                _ if row.cell(corio).is_none() => String::new(),
                _ => "n/a".to_owned(),
            });
        }
        for &corio in &corios {
            out.push(
                row.ratio_to_floor_of(corio)
                    .map_or_else(String::new, |r| format!("{r:.2}")),
            );
        }
        out
    }

    /// The table for the terminal: fixed-width columns.
    pub(crate) fn terminal_table(&self) -> String {
        let mut lines = vec![self.header()];
        lines.extend(self.rows.iter().map(|r| self.cells_text(r, false)));
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\ncells: min–median–max over {} samples per runtime ({}); ratio: corio median / \
             best peer median (below 1.00: corio wins)",
            self.samples_per_cell(Workload::SpawnMany),
            self.scale_note()
        );
        for (i, line) in lines.iter().enumerate() {
            let cols: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(text, &w)| format!("{text:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", cols.join(" | ").trim_end());
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
                let _ = writeln!(out, "{}", rule.join("-+-"));
            }
        }
        if let Some(backend) = self.uring_backend_sentence() {
            let _ = writeln!(out, "\ncorio-uring: {}", backend.replace("**", ""));
        } else if self.uring != UringRows::Off && !self.uring_available {
            let _ = writeln!(
                out,
                "\nno corio-uring column: no binary with the `io-uring` feature was given"
            );
        }
        let rss = self.rss_rows();
        if !rss.is_empty() {
            let _ = writeln!(
                out,
                "\npeak RSS of the child process, MiB (min–median–max):"
            );
            for (label, cells) in rss {
                // A runtime that did not run the row (corio-uring off the I/O rows) is left out.
                let cells: Vec<String> = cells
                    .into_iter()
                    .filter_map(|(rt, text)| text.map(|t| format!("{rt} {t}")))
                    .collect();
                let _ = writeln!(out, "  {label:<22} {}", cells.join(" | "));
            }
        }
        out
    }

    fn samples_per_cell(&self, workload: Workload) -> usize {
        if workload.fresh_process() {
            self.rounds
        } else {
            self.rounds * self.iters
        }
    }

    fn scale_note(&self) -> &'static str {
        match self.scale {
            Scale::Full => "full sizes",
            Scale::Quick => "QUICK run: smaller sizes, one measured iteration per child",
            Scale::Tiny => "TINY smoke run: the numbers mean nothing",
        }
    }

    /// The runtimes of the peak-RSS table.
    fn rss_columns(&self) -> Vec<Runtime> {
        self.runtime_columns()
            .into_iter()
            .filter(|&r| r != Runtime::Floor)
            .collect()
    }

    /// Per row with peak RSS: its label, and per RSS column the cell's text (`None`: the
    /// runtime did not run the row; "n/a": it failed).
    fn rss_rows(&self) -> Vec<RssRow> {
        self.rows
            .iter()
            .filter(|r| r.workload.reports_peak_rss())
            .map(|row| {
                let cells = self
                    .rss_columns()
                    .into_iter()
                    .map(|rt| {
                        let text = row.cell(rt).map(|cell| {
                            cell.rss_mib().map_or_else(
                                || "n/a".to_owned(),
                                |s| triple(s, false, |v| format!("{v:.1}")),
                            )
                        });
                        (rt, text)
                    })
                    .collect();
                (row.label(), cells)
            })
            .collect()
    }

    /// BENCHMARKS.md.
    pub(crate) fn markdown(&self) -> String {
        let m = &self.machine;
        let sizes = Sizes::new(self.scale);
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks: corio against tokio and smol\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench` on {} ({}; the whole run took {:.0} s). Do not \
             edit by hand: rerun it. The method is at the end of this page.\n",
            m.date,
            self.scale_note(),
            self.wall.as_secs_f64()
        );
        let _ = writeln!(md, "![corio / best peer, per workload](benchmarks.svg)\n");
        let counts = if self.default_workers() {
            "on 1 worker and on N workers".to_owned()
        } else {
            format!(
                "at each worker count of this run ({})",
                Report::workers_list(&self.workers)
            )
        };
        let _ = writeln!(
            md,
            "The chart shows corio's median over the best peer's median for every workload, \
             {counts}, on a log scale: below the 1.0 line corio is faster \
             (or smaller); the blue line marks the 0.8 moonshot.\n"
        );
        let _ = writeln!(md, "## Reproduce\n");
        let _ = writeln!(
            md,
            "```sh\n\
             cargo xtask bench                      # the full suite; rewrites this page and the chart\n\
             cargo xtask bench --quick              # about a tenth of the work: under 2 minutes\n\
             cargo xtask bench --filter tcp         # only the workloads whose name contains `tcp`\n\
             cargo xtask bench --uring all          # the corio-uring column on every row, not only I/O\n\
             # one case, for perf or callgrind (workload, runtime, workers):\n\
             cargo run --release -p corio-bench -- spawn_many corio 1\n\
             cargo run --release -p corio-bench --features io-uring -- tcp_echo corio-uring 1\n\
             perf stat target/release/corio-bench yield_many tokio 2 --iters 5\n\
             CORIO_BENCH_BUDGET_SECS=900 valgrind --tool=callgrind target/release/corio-bench spawn_many corio 1 --warmup 0 --iters 1\n\
             ```\n"
        );
        let _ = writeln!(md, "## Machine\n");
        let _ = writeln!(md, "| | |\n|---|---|");
        for (k, v) in [
            ("CPU", &m.cpu),
            ("Cores", &m.cores),
            ("RAM", &m.ram),
            ("Kernel", &m.kernel),
            ("Compiler", &m.rustc),
            ("Date", &m.date),
            ("HEAD (the tree may hold uncommitted work)", &m.commit),
            ("Peers", &m.peers),
        ] {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let _ = writeln!(
            md,
            "| Profile | `--release` (the workspace's release profile, `debug = 1`) |\n"
        );
        let _ = writeln!(md, "## Results\n");
        let uring = if self.shows_uring() {
            format!(
                " *corio* is corio as built by default, on its epoll reactor; *corio-uring* is \
                 corio built with the `io-uring` feature, on its io_uring reactor ({} rows; \
                 *corio-uring / best peer* and *corio-uring / floor* are its ratios). {}",
                if self.uring == UringRows::All {
                    "all"
                } else {
                    "the socket and file"
                },
                self.uring_backend_sentence().unwrap_or_default()
            )
        } else if self.uring != UringRows::Off && !self.uring_available {
            " No corio-uring column: this run had no binary built with the `io-uring` feature."
                .to_owned()
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "Each cell is min–**median**–max over {} samples (workloads 12 and 13: {}), in the \
             row's unit; lower is better. *corio / best peer* divides corio's median by the lower \
             of tokio's and smol's medians.{uring} *floor* is the bare async-task loop (the last \
             item below), and for `file_io` a plain synchronous loop of std `write_all` and \
             `read_exact` on one thread (the same file, chunks and check); *corio / floor* \
             divides corio's median by it. {}\n",
            self.samples_per_cell(Workload::SpawnMany),
            self.samples_per_cell(Workload::MemPerTask),
            self.workers_sentence()
        );
        let head = self.header();
        let _ = writeln!(md, "| {} |", head.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(head.len()));
        for row in &self.rows {
            let _ = writeln!(md, "| {} |", self.cells_text(row, true).join(" | "));
        }
        let _ = writeln!(md);
        let mut losses: Vec<(&Row, f64)> = self
            .rows
            .iter()
            .filter_map(|r| r.ratio_to_peer().map(|x| (r, x)))
            .filter(|(_, x)| *x > GOAL)
            .collect();
        losses.sort_by(|a, b| b.1.total_cmp(&a.1));
        let _ = writeln!(
            md,
            "### Where corio is above {GOAL}× the best peer (the goal), and why\n"
        );
        if losses.is_empty() {
            let _ = writeln!(md, "Nowhere: every ratio is at or below {GOAL}.\n");
        } else {
            for (row, ratio) in losses {
                let peer = row.best_peer().map_or("?", |(p, _)| p.name());
                let _ = writeln!(
                    md,
                    "- {}: {ratio:.2}× {peer}'s median ({}). {}",
                    row.label(),
                    row.workload.unit(),
                    why_above_goal(row.workload)
                );
            }
            let _ = writeln!(md);
        }
        self.uring_section(&mut md);
        let failures = self.failures();
        if !failures.is_empty() {
            let _ = writeln!(md, "### Failed cases\n");
            for f in failures {
                let _ = writeln!(md, "- {f}");
            }
            let _ = writeln!(md);
        }
        let rss = self.rss_rows();
        if !rss.is_empty() {
            let _ = writeln!(md, "### Peak RSS\n");
            let _ = writeln!(
                md,
                "The child process's peak resident set (VmHWM), MiB, min–median–max. It \
                 includes the runtime, the harness and, for `tcp_connections`, the sockets' \
                 user-space buffers; it is a whole-process number, not a per-task one.\n"
            );
            let names: Vec<&str> = self.rss_columns().iter().map(|r| r.name()).collect();
            let _ = writeln!(
                md,
                "| workload | {} |\n|---|{}",
                names.join(" | "),
                "---|".repeat(names.len())
            );
            for (label, cells) in rss {
                let cells: Vec<String> = cells
                    .into_iter()
                    .map(|(_, text)| text.unwrap_or_default())
                    .collect();
                let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "## Method\n");
        let _ = write!(md, "{}", method(self));
        let _ = writeln!(md, "\n## Workloads\n");
        let _ = writeln!(
            md,
            "Every workload runs inside one root task that the harness spawns from inside the \
             runtime under test, and whose output is checked against the expected value \
             (task count, item count and sum, echoed bytes…): a run that loses or duplicates \
             work fails instead of reporting a fast number. Sizes below are those of this run.\n"
        );
        for (i, w) in Workload::ALL.iter().enumerate() {
            let _ = writeln!(
                md,
                "{}. **`{}`** ({}). {}",
                i + 1,
                w,
                w.unit(),
                w.describe(&sizes)
            );
        }
        let _ = writeln!(
            md,
            "{}. **floor**. A thread-local `VecDeque<async_task::Runnable>`: `spawn` is \
             `async_task::spawn` with a schedule function that pushes to the back, and the loop \
             pops from the front and runs until the root task is done. No timers, I/O, \
             cross-thread wakes or panic handling. It runs `spawn_many` and `yield_many` on one \
             thread (yielding with `futures_lite::future::yield_now`), as the lower bound. For \
             `file_io` the floor is no executor at all: the same steps with std::fs::File's \
             blocking `write_all` and `read_exact` in a loop on one thread, at every worker \
             count (the physical floor of a file path: the system calls and the page-cache \
             copies).",
            Workload::ALL.len() + 1
        );
        md
    }

    /// "corio on io_uring": per row that has the column, the ring's median over the default
    /// reactor's, over the best peer's and over the floor's, and the backend it ran on.
    fn uring_section(&self, md: &mut String) {
        let rows: Vec<(&Row, &Cell)> = self
            .rows
            .iter()
            .filter_map(|r| r.cell(Runtime::CorioUring).map(|c| (r, c)))
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(md, "### corio on io_uring against corio on epoll\n");
        let _ = writeln!(
            md,
            "The same corio code built with the `io-uring` feature. Below 1.00 the ring is \
             faster. The list of rows above the goal is the default build's.\n"
        );
        let _ = writeln!(
            md,
            "| row | corio-uring / corio | corio-uring / best peer | corio-uring / floor | ran on |\n\
             |---|---|---|---|---|"
        );
        let ratio = |r: Option<f64>| r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        for (row, cell) in rows {
            let vs_corio = row
                .median(Runtime::CorioUring)
                .zip(row.median(Runtime::Corio))
                .map(|(u, c)| u / c);
            let mut ran_on: Vec<&str> = cell.backends.iter().map(String::as_str).collect();
            ran_on.sort_unstable();
            ran_on.dedup();
            let ran_on = if ran_on.is_empty() {
                "not reported".to_owned()
            } else {
                ran_on.join(", ")
            };
            let peer = match (row.ratio_to_peer_of(Runtime::CorioUring), row.best_peer()) {
                (Some(r), Some((p, _))) => format!("{r:.2} (vs {p})"),
                _ => "n/a".to_owned(),
            };
            let floor = row
                .ratio_to_floor_of(Runtime::CorioUring)
                .map_or_else(String::new, |r| format!("{r:.2}"));
            let _ = writeln!(
                md,
                "| {} | {} | {peer} | {floor} | {ran_on} |",
                row.label(),
                ratio(vs_corio)
            );
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "{URING_WHY}\n");
    }
}

/// Why the ring loses where it does (issue 17), as profiled: a statement about the backend's
/// design, not about one run's numbers.
const URING_WHY: &str = "Why the ring is not the default. It is used as a readiness poller \
     (multishot `POLL_ADD`, one ring for the whole runtime), so a socket costs the same \
     `recv`/`send` calls as on epoll plus the ring's own work: at best it is at parity with \
     epoll, and `tcp_connections` also pays a `POLL_ADD` and an `ASYNC_CANCEL` per socket \
     (submitted in batches by the thread waiting on the ring, so it makes fewer system calls than \
     epoll). At 2 workers it used to take about twice epoll's time on `tcp_echo` and `tls_echo`: \
     the kernel runs a poll's completion work on the thread that submitted the poll, and \
     interrupted that thread for it, an inter-processor interrupt to the other core for most \
     wake-ups (`perf record` on `tcp_echo corio-uring 2`: 34% of the time in \
     `_raw_spin_unlock_irqrestore` under the socket's wake-up, against 6% on epoll). The ring is \
     now set up with `IORING_SETUP_COOP_TASKRUN`, which leaves that work for the submitter's \
     next system call or check between tasks, and those rows are at epoll's level. One ring per \
     worker is not built. Completion receives (`Async::poll_recv`) cut `tcp_echo` from about 6 \
     to about 2 system calls per round trip but saved no time, with `COOP_TASKRUN` too (2 \
     workers: 6.9-7.3 µs per round trip against 6.0-8.2 with polls). Files use the same path on \
     both backends (`file_io`): cached reads on the worker, the rest on the blocking pool; files \
     on the ring (owned buffers, explicit offsets, no pool hop) measured 1.04-1.10x the pool path \
     with 25% fewer system calls, and were not merged.";

/// " [ran on epoll]" after a cell whose children ran on a backend its column does not promise.
fn backend_flag(cell: &Cell, runtime: Runtime) -> String {
    let wrong = cell.wrong_backends(runtime);
    if wrong.is_empty() {
        String::new()
    } else {
        format!(" [ran on {}]", wrong.join("/"))
    }
}

fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn triple(s: Stats, bold_median: bool, f: fn(f64) -> String) -> String {
    if bold_median {
        format!("{}–**{}**–{}", f(s.min), f(s.median), f(s.max))
    } else {
        format!("{}–{}–{}", f(s.min), f(s.median), f(s.max))
    }
}

fn method(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "- **Runtimes.** 1 worker: corio's `LocalRuntime`, tokio's `current_thread` runtime, \
         smol's `LocalExecutor` driven by `smol::block_on`. N workers: corio's `Runtime` with N \
         workers, tokio's `multi_thread` runtime with N workers, smol's `Executor` run by N \
         threads that each call `smol::block_on(ex.run(shutdown))` (the pattern of smol's \
         docs; `smol::block_on` is async-io's, which drives the reactor and timers on that \
         thread). Each runtime is built with its defaults apart from the worker count, \
         timers and I/O enabled. With N workers the main thread only waits for the root task: \
         `Runtime::block_on` for corio (whose parker may let that thread wait in the I/O and \
         timer driver: corio's own design), `Runtime::block_on` for tokio (which does not), \
         and futures-lite's `block_on` for smol, as in smol's docs (async-io's would make it an \
         extra reactor thread)."
    );
    let _ = writeln!(
        m,
        "- **Same entry for everyone.** Each iteration spawns one root task from inside the \
         runtime (`corio::spawn`, `tokio::spawn`, `Executor::spawn`) and the main thread \
         blocks on its handle. The workload's own tasks are spawned by that root task. smol \
         has no ambient executor, so its workloads get a `Copy` handle to the executor (a \
         `&'static Executor`, or a thread-local `LocalExecutor`), which costs what passing \
         the executor around costs in idiomatic smol code."
    );
    let _ = writeln!(
        m,
        "- **Processes and order.** Every case (workload × workers × runtime) runs in a child \
         process of the bench binary. A round runs one child per runtime; the order of the \
         runtimes rotates every round and reverses every few rounds, so no runtime always runs \
         first or after the same neighbour. This run: {} rounds per row, each child doing {} \
         warm-up iteration(s) then {} measured iteration(s) on the same runtime instance \
         ({} samples per cell). Every runtime gets exactly the same warm-up.",
        r.rounds,
        r.warmup,
        r.iters,
        r.rounds * r.iters
    );
    let _ = writeln!(
        m,
        "- **Fresh processes for memory.** `mem_per_task` and `million_tasks` run one \
         measured iteration per child process and no warm-up ({} samples per cell): an \
         earlier iteration's freed memory would otherwise hide the growth being measured.",
        r.rounds
    );
    let _ = writeln!(
        m,
        "- **Two processes for `tcp_connections`.** Its clients run in a helper process (the \
         same binary, runtime and worker count), started and ready before the timer starts, \
         because both ends of 10,000 connections in one process would exceed this machine's \
         hard limit of open files."
    );
    let _ = writeln!(
        m,
        "- **Timing.** `Instant::now()` inside the root task, around the workload (the \
         listener setup of the TCP workloads is outside). Results and task outputs go \
         through `std::hint::black_box` and are summed and checked, so no work can be \
         optimised away. The metric is the elapsed time divided by the op count in the \
         unit column."
    );
    let _ = writeln!(
        m,
        "- **Watchdog.** Each iteration is armed with a budget (60–180 s, halved for \
         `--quick`); a hang ends the child with exit code 124 and the cell reads TIMEOUT. The \
         suite also kills a child that outlives the sum of its budgets."
    );
    if r.shows_uring() {
        let _ = writeln!(
            m,
            "- **Two corio builds.** The *corio* column is the binary as built by default \
         (corio's epoll reactor). The *corio-uring* column runs the same suite code from a \
         second binary built with `--features io-uring` (`cargo xtask bench` builds it and \
         runs it for that column; `--uring all|io|off` picks its rows, by default the socket \
         and file rows). That runtime probes the kernel at start and falls back to epoll \
         where the ring is refused; every corio child reports `RuntimeMetrics::io_backend`, \
         and a cell whose children did not run on its column's backend is marked [ran on …]. \
         The corio-uring children run without `CORIO_IO` in their environment (which would \
         force epoll). It takes its turn in the same rotation as the other runtimes, and \
         `tcp_connections`' client helper runs in the same binary as its server."
        );
    }
    let _ = writeln!(
        m,
        "- **The file floor.** `file_io`'s floor is a plain synchronous loop of std \
         `write_all` and `read_exact` (create, write, flush, open, read, check; the same \
         chunks, stamp check and untimed removal) on one thread, in its own child process \
         like every cell; it is the bound issue 17 compares corio's file path against."
    );
    let _ = writeln!(
        m,
        "- **Noise.** The machine is shared and has few cores; read the spread, not only the \
         median. For instruction-level comparisons use callgrind on a single case (see \
         Reproduce)."
    );
    if r.filtered {
        let _ = writeln!(m, "- This run was filtered to a subset of the workloads.");
    }
    m
}

/// Writes BENCHMARKS.md and benchmarks.svg into `dir`.
pub(crate) fn write_docs(report: &Report, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let md = dir.join("BENCHMARKS.md");
    // The system calls per op (`cargo xtask syscalls`) and the HTTP load test (`cargo xtask
    // integration --wrk`) are measured by xtask, not by this suite: keep the sections they
    // wrote, or leave placeholders that say how to fill them.
    let old = std::fs::read_to_string(&md).unwrap_or_default();
    let keep = |begin: &str, end: &str, title: &str, command: &str| {
        kept_section(&old, begin, end).map_or_else(
            || format!("{begin}\n## {title}\n\nNot measured yet: run `{command}`.\n{end}\n"),
            str::to_owned,
        )
    };
    let syscalls = keep(
        SYSCALLS_BEGIN,
        SYSCALLS_END,
        "System calls per op (strace)",
        "cargo xtask syscalls",
    );
    let wrk = keep(
        WRK_BEGIN,
        WRK_END,
        "HTTP load (wrk)",
        "cargo xtask integration --wrk",
    );
    let text = format!("{}\n{syscalls}\n{wrk}", report.markdown());
    std::fs::write(&md, text).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = dir.join("benchmarks.svg");
    crate::chart::draw(report, &svg).map_err(|e| format!("{}: {e}", svg.display()))
}

/// The markers around the section of BENCHMARKS.md that `cargo xtask integration --wrk` owns.
const WRK_BEGIN: &str = "<!-- wrk:begin (written by `cargo xtask integration --wrk`) -->";
const WRK_END: &str = "<!-- wrk:end -->";
/// The markers around the section that `cargo xtask syscalls` owns.
const SYSCALLS_BEGIN: &str = "<!-- syscalls:begin (written by `cargo xtask syscalls`) -->";
const SYSCALLS_END: &str = "<!-- syscalls:end -->";

/// The section between `begin` and `end` of an existing BENCHMARKS.md, markers included, with
/// its final newline.
fn kept_section<'a>(md: &'a str, begin: &str, end_marker: &str) -> Option<&'a str> {
    let start = md.find(begin)?;
    let end = start + md[start..].find(end_marker)? + end_marker.len();
    let end = if md[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&md[start..end])
}

/// The target of every row: corio at most this fraction of the best peer's median.
const GOAL: f64 = 0.8;

/// Why a workload's row could not be brought to [`GOAL`], as far as it was investigated: a
/// statement about the workload (its floor, or what the peers do differently), measured with
/// the commands given in the closing notes of the issues (16, 17, 13, 20). A row above the goal
/// whose workload has no entry says so.
fn why_above_goal(workload: Workload) -> &'static str {
    match workload {
        Workload::SemaphoreContended => {
            "corio's semaphore is strictly FIFO: each release hands its permit to the longest \
             waiter and wakes it, a task switch per acquire, where async-lock's (smol) is unfair \
             and lets a releasing task take its permit straight back on its fast path, so its tasks \
             rarely wait. At 2 workers one-permit waiters take a lock-free line (a signed count, a \
             concurrent-queue of nodes, one CAS per hand-off): interleaved A/B 735 to 388 ns per \
             acquire against smol's 484, where the locked line queued both cores on its lock (30% \
             of the run in `lock_contended`); the row is noisy on this host (0.80-0.94x smol across \
             runs). tokio's fair semaphore is slower than corio's. Since a task that yields \
             waits for the driver (its worker polls it once per pass through the yielded tasks, \
             as tokio does; without it a task that spins between yields delayed timers and I/O \
             by 61 of its bursts), each acquire here, which yields while it holds the permit, \
             pays that poll: interleaved A/B at 1 worker 265 -> 297 ns per acquire."
        }
        Workload::YieldMany | Workload::TimeoutChurn | Workload::PingPong => {
            "A task that yields waits aside until its worker has run everything else and polled \
             the driver (I/O and timers), as tokio defers it: without that, a task that spins \
             between yields delayed a 1 ms timer by 300 ms and starved sockets (a probe, against \
             tokio's 4 ms). The driver poll per pass through the yielded tasks costs these \
             yield-heavy rows a few percent (interleaved A/B: yield_many +3% at 1 worker, +8% at \
             2; timeout_churn +29% at 2, still far below its peers)."
        }
        Workload::BlockingMany => {
            "Bimodal on this 2-core host: the blocking pool's threads and the two workers share the \
             two cores. In 4 interleaved rounds one and the same corio binary gave samples from 617 \
             to 2,038 ns per call (smol 981 to 2,124); earlier full runs measured 0.76x and 0.92x \
             smol. Interleaved A/B of the last pool change (a count kept only for jobs that wait \
             for another job), 4 rounds: 1,652 -> 1,313 ns at 1 worker and 1,290 -> 1,247 at 2, \
             inside the same spread."
        }
        Workload::SelectLoop => {
            "corio::select! evaluates its arms first, as tokio::select! does, so every select \
             creates its 10 s sleep and reads the clock (callgrind: 1,007,952 clock_gettime \
             calls for 1,000,000 selects); futures-lite's biased `or` polls the ready get first \
             and never builds the timer in its lazy async block. A clock read costs about 20 ns \
             on the current host (the row was 0.74-0.78 on the previous one, with the same \
             instruction count: 567.5 M at 9351d81, 567.4 M at e106e83). The host is bimodal \
             here too: interleaved A/B at b32eab3, 4 rounds of 3 (1 worker), gave corio 113 to \
             148 ns per select, median 141, against smol's median 175 (0.80x)."
        }
        Workload::QueueMpmc => {
            "Puts and gets go through concurrent-queue's ring without the queue's lock while \
             nobody waits; each costs a compare-and-swap and a fence, and a put also counts the \
             item unfinished (the count `join` waits on, which async-channel does not keep). At \
             2 workers the ring's head, tail and slots move between the two cores on every \
             item (perf: two thirds of the time in the ring's push and pop)."
        }
        Workload::FileIo => {
            "Reads of cached data are served on the worker (`preadv2` with `RWF_NOWAIT`: one \
             copy, no hop), but writes still go to the blocking pool: each byte is copied into \
             the pool's buffer and then by the kernel, and ext4 refuses `RWF_NOWAIT` on buffered \
             writes (`EOPNOTSUPP`). The floor column is the page-cache copies alone. Files on \
             the io_uring ring (owned buffers, explicit offsets, no pool hop) took 1.04-1.10x \
             the pool path's time with 25% fewer system calls: a write's page-cache copy then \
             runs on the parking thread after the task's copy into the ring's buffer, where the \
             pool overlaps the two; not merged."
        }
        Workload::MemPerTask | Workload::MemPerTaskChannel => {
            "Both corio and smol build tasks on async-task. dhat: corio's task is a 120 B \
             allocation and smol's 112 B, both a 128 B malloc chunk; corio adds 16 B in its idle \
             registry, smol about 21 B in its slab of wakers. At most 0.8× smol needs a task 32 \
             B smaller: its id, spawn location, registry key and runtime pointer together."
        }
        Workload::CpuFanout => {
            "CPU-bound: about 1,100 ms of jobs on 2 cores is a floor of about 54.5 µs per job, \
             which every column reaches (rayon in the smol column)."
        }
        Workload::ProcessSpawn => {
            "fork/exec-bound: each `true` child itself takes about 0.8 ms of CPU (posix_spawn \
             in a loop), a floor of about 0.4 ms per process on 2 cores before any runtime work."
        }
        Workload::TlsEcho => {
            "The same rustls code and the same system calls on every runtime (strace: 100,250 \
             writev and about 100,200 recvfrom for corio and tokio alike); crypto and the \
             kernel's loopback TCP are about 85% of the time."
        }
        Workload::TcpEcho | Workload::TcpConnections => {
            "Readiness I/O makes the system calls tokio makes (strace -c), and the kernel's \
             loopback TCP is about 84% of the time; the io_uring reactor (the corio-uring \
             column) does not win on this machine (see below)."
        }
        Workload::MillionTasks => {
            "A million tasks spawned by one root task. A spawn on a worker that pushes an \
             earlier spawn out of the LIFO slot offers it to an idle worker through the \
             stealable queue, so that a fan-out of long tasks spreads (8 tasks of 50 ms on 2 \
             workers: 200 ms instead of 350-400); here that costs about 12% (interleaved A/B \
             at 2 workers: 590 -> 657 ns per task, and spawn_many 154 -> 180 ns)."
        }
        Workload::RequestReply => {
            "At 1 worker the lock-free oneshot brought this row to tokio's level (with the \
             lock-based one it was 1.3-1.7x tokio in a probe's harness: four lock round trips \
             per request). At 2 workers a worker that ran dry used to park before the busy one \
             shared its queue with it, then be woken (~800 parks a run, 13% of the run in \
             eventfd writes, 14% in the kernel's task switch: 1.3-1.5x tokio); a searcher now \
             keeps looking for 10 us while the other worker runs, which took this row from \
             ~215 to ~165 ns (tokio ~155, `/tmp/ab.sh`). What is left: the replies wake the \
             clients on the server's worker, so the server and the clients keep changing \
             workers, and the unbounded Queue's lock moves between the cores (tokio's unbounded \
             mpsc is lock-free)."
        }
        _ => "Not investigated yet.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sections_written_by_xtask_are_kept_whole() {
        let md = format!(
            "table\n{SYSCALLS_BEGIN}\nsys\n{SYSCALLS_END}\n\n{WRK_BEGIN}\nwrk\n{WRK_END}\n"
        );
        assert_eq!(
            kept_section(&md, SYSCALLS_BEGIN, SYSCALLS_END),
            Some(format!("{SYSCALLS_BEGIN}\nsys\n{SYSCALLS_END}\n").as_str())
        );
        assert_eq!(
            kept_section(&md, WRK_BEGIN, WRK_END),
            Some(format!("{WRK_BEGIN}\nwrk\n{WRK_END}\n").as_str())
        );
        assert_eq!(kept_section("table\n", WRK_BEGIN, WRK_END), None);
        // An end marker before the begin marker does not count.
        let md = format!("{WRK_END}\n{WRK_BEGIN}\n");
        assert_eq!(kept_section(&md, WRK_BEGIN, WRK_END), None);
    }

    fn machine() -> Machine {
        let t = || "test".to_owned();
        Machine {
            cpu: t(),
            cores: t(),
            ram: t(),
            kernel: t(),
            rustc: t(),
            date: t(),
            commit: t(),
            peers: t(),
        }
    }

    fn cell(median: f64, backend: Option<&str>) -> Cell {
        Cell {
            samples: vec![median * 0.9, median, median * 1.1],
            peak_rss_kib: vec![1024; 3],
            backends: backend.map(str::to_owned).into_iter().collect(),
            ..Cell::default()
        }
    }

    fn row(workload: Workload, cells: Vec<(Runtime, Cell)>) -> Row {
        Row {
            workload,
            workers: 1,
            cells,
        }
    }

    /// tcp_echo: corio behind tokio, the ring ahead. file_io: corio ahead of smol, the ring
    /// (which fell back to epoll) behind, and the floor. spawn_many: no ring column.
    fn rows(with_uring: bool) -> Vec<Row> {
        let uring = |median, backend| {
            with_uring.then(|| (Runtime::CorioUring, cell(median, Some(backend))))
        };
        let mut echo = vec![(Runtime::Corio, cell(110.0, Some("epoll")))];
        echo.extend(uring(80.0, "io_uring"));
        echo.extend([
            (Runtime::Tokio, cell(100.0, None)),
            (Runtime::Smol, cell(150.0, None)),
        ]);
        let mut file = vec![(Runtime::Corio, cell(90.0, Some("epoll")))];
        if let Some((rt, mut c)) = uring(120.0, "epoll") {
            c.fallback = Some("io_uring unavailable: EPERM".into());
            file.push((rt, c));
        }
        file.extend([
            (Runtime::Tokio, cell(300.0, None)),
            (Runtime::Smol, cell(100.0, None)),
            (Runtime::Floor, cell(60.0, None)),
        ]);
        vec![
            row(Workload::TcpEcho, echo),
            row(Workload::FileIo, file),
            row(
                Workload::SpawnMany,
                vec![
                    (Runtime::Corio, cell(50.0, Some("epoll"))),
                    (Runtime::Tokio, cell(100.0, None)),
                    (Runtime::Smol, cell(100.0, None)),
                    (Runtime::Floor, cell(40.0, None)),
                ],
            ),
        ]
    }

    fn report(with_uring: bool, uring_available: bool) -> Report {
        let mut opts = Options::new(Scale::Quick);
        opts.uring_exe = uring_available.then(|| "/bin/corio-bench-uring".into());
        Report::with_machine(&opts, rows(with_uring), Duration::from_secs(1), machine())
    }

    fn table_line<'a>(md: &'a str, prefix: &str) -> &'a str {
        md.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line `{prefix}` in:\n{md}"))
    }

    #[test]
    fn without_the_ring_the_table_keeps_its_columns() {
        let r = report(false, false);
        assert_eq!(
            r.header(),
            [
                "workload",
                "workers",
                "unit",
                "corio",
                "tokio",
                "smol",
                "floor",
                "corio / best peer",
                "corio / floor"
            ]
        );
        let md = r.markdown();
        assert!(!md.contains("corio-uring |"), "{md}");
        assert!(md.contains("No corio-uring column"), "{md}");
        assert!(r.terminal_table().contains("no corio-uring column"));
        // The file floor makes file_io's corio / floor cell: 90 / 60.
        assert!(table_line(&md, "| file_io | 1 |").ends_with("| 0.90 (vs smol) | 1.50 |"));
    }

    #[test]
    fn the_ring_gets_its_own_columns_and_ratios() {
        let r = report(true, true);
        let head = r.header();
        assert_eq!(
            &head[3..8],
            ["corio", "corio-uring", "tokio", "smol", "floor"]
        );
        assert_eq!(
            &head[8..],
            [
                "corio / best peer",
                "corio-uring / best peer",
                "corio / floor",
                "corio-uring / floor"
            ]
        );
        let md = r.markdown();
        let echo = table_line(&md, "| tcp_echo | 1 |");
        assert!(
            echo.ends_with("| 1.10 (vs tokio) | 0.80 (vs tokio) |  |  |"),
            "{echo}"
        );
        let file = table_line(&md, "| file_io | 1 |");
        assert!(
            file.ends_with("| 0.90 (vs smol) | 1.20 (vs smol) | 1.50 | 2.00 |"),
            "{file}"
        );
        // A row without the ring leaves its cells empty, not "n/a".
        let spawn = table_line(&md, "| spawn_many | 1 |");
        assert!(
            spawn.ends_with("| 0.50 (vs tokio) |  | 1.25 |  |"),
            "{spawn}"
        );
        for line in [echo, file, spawn] {
            assert_eq!(line.matches('|').count(), head.len() + 1, "{line}");
        }
        assert_eq!(
            r.terminal_table()
                .lines()
                .nth(2)
                .map(|l| l.matches('|').count()),
            Some(head.len() - 1)
        );
    }

    #[test]
    fn a_fallback_is_said_and_never_labelled_as_the_ring() {
        let md = report(true, true).markdown();
        let file = table_line(&md, "| file_io | 1 |");
        assert!(file.contains("[ran on epoll]"), "{file}");
        assert!(!table_line(&md, "| tcp_echo | 1 |").contains("[ran on"));
        assert!(
            md.contains("**The ring fell back to epoll** in 1 of 2"),
            "{md}"
        );
        assert!(md.contains("io_uring unavailable: EPERM"), "{md}");
        let section = &md[md.find("### corio on io_uring").expect("ring section")..];
        assert!(section.contains("| tcp_echo ×1 | 0.73 | 0.80 (vs tokio) |  | io_uring |"));
        assert!(section.contains("| file_io ×1 | 1.33 | 1.20 (vs smol) | 2.00 | epoll |"));
    }

    #[test]
    fn a_clean_ring_run_says_so() {
        let mut r = report(true, true);
        for row in &mut r.rows {
            for (rt, c) in &mut row.cells {
                if *rt == Runtime::CorioUring {
                    c.backends = vec!["io_uring".into()];
                    c.fallback = None;
                }
            }
        }
        let md = r.markdown();
        assert!(md.contains("the ring ran"), "{md}");
        for row in ["| tcp_echo | 1 |", "| file_io | 1 |"] {
            assert!(!table_line(&md, row).contains("[ran on"), "{md}");
        }
        assert!(!md.contains("fell back"), "{md}");
        assert!(md.contains("**Two corio builds.**"));
    }

    #[test]
    fn the_behind_list_is_the_default_builds() {
        let md = report(true, true).markdown();
        let behind = &md[md.find("### Where corio is above 0.8").unwrap()..];
        let behind = &behind[..behind[4..].find("###").unwrap() + 4];
        // corio's tcp_echo (1.10× tokio) and file_io (0.90× smol) are above the goal, each with
        // its reason; corio-uring's file_io (1.20× smol) is not corio's default and is not what
        // puts file_io there; spawn_many (0.50×) is not listed.
        assert!(
            behind.contains("- tcp_echo ×1: 1.10× tokio's median (ns/round trip). Readiness"),
            "{behind}"
        );
        assert!(
            behind.contains("- file_io ×1: 0.90× smol's median (ns/chunk). Reads of cached"),
            "{behind}"
        );
        assert!(!behind.contains("1.20×"), "{behind}");
        assert!(!behind.contains("spawn_many"), "{behind}");
        assert_eq!(report(true, true).rows[0].ratio_to_peer(), Some(1.1));
    }

    #[test]
    fn a_corio_cell_that_ran_on_the_ring_is_flagged_too() {
        let mut c = cell(1.0, Some("io_uring"));
        assert_eq!(backend_flag(&c, Runtime::Corio), " [ran on io_uring]");
        assert_eq!(backend_flag(&c, Runtime::CorioUring), "");
        c.backends.push("epoll".into());
        c.backends.push("epoll".into());
        assert_eq!(backend_flag(&c, Runtime::CorioUring), " [ran on epoll]");
        assert_eq!(backend_flag(&cell(1.0, None), Runtime::Tokio), "");
    }

    #[test]
    fn the_rss_table_follows_the_columns() {
        let mut r = report(true, true);
        r.rows[0].workload = Workload::TcpConnections;
        let md = r.markdown();
        assert!(
            md.contains("| workload | corio | corio-uring | tokio | smol |\n|---|---|---|---|---|"),
            "{md}"
        );
        assert!(
            md.contains(
                "| tcp_connections ×1 | 1.0–1.0–1.0 | 1.0–1.0–1.0 | 1.0–1.0–1.0 | 1.0–1.0–1.0 |"
            ),
            "{md}"
        );
        // A row the ring did not run: an empty cell in the page, nothing on the terminal.
        r.rows[2].workload = Workload::MemPerTask;
        let md = r.markdown();
        assert!(
            md.contains("| mem_per_task ×1 | 1.0–1.0–1.0 |  | 1.0–1.0–1.0 | 1.0–1.0–1.0 |"),
            "{md}"
        );
        let term = r.terminal_table();
        let line = term
            .lines()
            .find(|l| l.trim_start().starts_with("mem_per_task ×1"))
            .unwrap();
        assert!(
            !line.contains("corio-uring") && line.contains("corio 1.0"),
            "{line}"
        );
        assert!(!term.contains("n/a"), "{term}");
    }
}
