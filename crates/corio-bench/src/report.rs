//! Turning samples into the table, BENCHMARKS.md and the chart.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::suite::{self, Options};
use crate::workload::{Runtime, Scale, Sizes, Workload};

/// The samples of one runtime on one row.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cell {
    pub(crate) samples: Vec<f64>,
    pub(crate) peak_rss_kib: Vec<u64>,
    /// The first failure (wrong result, panic, timeout); the cell then reports no number.
    pub(crate) error: Option<String>,
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

    /// corio's median over the best peer's: below 1.0, corio is faster (or smaller).
    pub(crate) fn ratio_to_peer(&self) -> Option<f64> {
        Some(self.median(Runtime::Corio)? / self.best_peer()?.1)
    }

    pub(crate) fn ratio_to_floor(&self) -> Option<f64> {
        Some(self.median(Runtime::Corio)? / self.median(Runtime::Floor)?)
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

/// Everything a run produced.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub(crate) scale: Scale,
    pub(crate) rounds: usize,
    pub(crate) warmup: usize,
    pub(crate) iters: usize,
    pub(crate) filtered: bool,
    pub(crate) rows: Vec<Row>,
    pub(crate) wall: Duration,
    /// The worker counts that ran, and those asked for but skipped (above the cores present).
    workers: Vec<usize>,
    skipped_workers: Vec<usize>,
    machine: Machine,
}

impl Report {
    pub(crate) fn new(opts: &Options, rows: Vec<Row>, wall: Duration) -> Report {
        let (workers, skipped_workers) = suite::split_worker_counts(&opts.workers);
        Report {
            scale: opts.scale,
            rounds: opts.rounds,
            warmup: opts.warmup,
            iters: opts.iters,
            filtered: !opts.filters.is_empty(),
            rows,
            wall,
            workers,
            skipped_workers,
            machine: Machine::detect(),
        }
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
        for runtime in Runtime::ALL {
            out.push(match row.cell(runtime) {
                None => "".to_owned(),
                Some(cell) => match (cell.stats(), &cell.error) {
                    (Some(s), _) => triple(s, bold_median, num),
                    (None, Some(e)) if e.starts_with("TIMEOUT") => "TIMEOUT".to_owned(),
                    (None, _) => "FAILED".to_owned(),
                },
            });
        }
        out.push(match (row.ratio_to_peer(), row.best_peer()) {
            (Some(r), Some((peer, _))) => format!("{r:.2} (vs {peer})"),
            _ => "n/a".to_owned(),
        });
        out.push(
            row.ratio_to_floor()
                .map_or_else(String::new, |r| format!("{r:.2}")),
        );
        out
    }

    /// The table for the terminal: fixed-width columns.
    pub(crate) fn terminal_table(&self) -> String {
        let mut lines = vec![header()];
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
        let rss = self.rss_rows();
        if !rss.is_empty() {
            let _ = writeln!(
                out,
                "\npeak RSS of the child process, MiB (min–median–max):"
            );
            for (label, cells) in rss {
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

    fn rss_rows(&self) -> Vec<(String, Vec<String>)> {
        self.rows
            .iter()
            .filter(|r| r.workload.reports_peak_rss())
            .map(|row| {
                let cells = [Runtime::Corio, Runtime::Tokio, Runtime::Smol]
                    .into_iter()
                    .map(|rt| {
                        let text = row.cell(rt).and_then(Cell::rss_mib).map_or_else(
                            || "n/a".to_owned(),
                            |s| triple(s, false, |v| format!("{v:.1}")),
                        );
                        format!("{rt} {text}")
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
             # one case, for perf or callgrind (workload, runtime, workers):\n\
             cargo run --release -p corio-bench -- spawn_many corio 1\n\
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
        let _ = writeln!(
            md,
            "Each cell is min–**median**–max over {} samples (workloads 12 and 13: {}), in the \
             row's unit; lower is better. *corio / best peer* divides corio's median by the lower \
             of tokio's and smol's medians. *floor* is the bare async-task loop (the last item \
             below) and \
             *corio / floor* divides corio's median by it. {}\n",
            self.samples_per_cell(Workload::SpawnMany),
            self.samples_per_cell(Workload::MemPerTask),
            self.workers_sentence()
        );
        let head = header();
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
            .filter(|(_, x)| *x > 1.0)
            .collect();
        losses.sort_by(|a, b| b.1.total_cmp(&a.1));
        let _ = writeln!(md, "### Where corio is behind the best peer\n");
        if losses.is_empty() {
            let _ = writeln!(md, "Nowhere: every ratio is at or below 1.0.\n");
        } else {
            for (row, ratio) in losses {
                let peer = row.best_peer().map_or("?", |(p, _)| p.name());
                let _ = writeln!(
                    md,
                    "- {}: {ratio:.2}× {peer}'s median ({})",
                    row.label(),
                    row.workload.unit()
                );
            }
            let _ = writeln!(md);
        }
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
            let _ = writeln!(md, "| workload | corio | tokio | smol |\n|---|---|---|---|");
            for (label, cells) in rss {
                let cells: Vec<String> = cells
                    .into_iter()
                    .map(|c| c.split_once(' ').map_or(c.clone(), |(_, v)| v.to_owned()))
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
             thread (yielding with `futures_lite::future::yield_now`), as the lower bound.",
            Workload::ALL.len() + 1
        );
        md
    }
}

fn header() -> Vec<String> {
    [
        "workload",
        "workers",
        "unit",
        "corio",
        "tokio",
        "smol",
        "floor",
        "corio / best peer",
        "corio / floor",
    ]
    .map(str::to_owned)
    .to_vec()
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
    // The HTTP load test is measured by `cargo xtask integration --wrk`, not by this suite: keep
    // the section it wrote, or leave a placeholder that says how to fill it.
    let kept = std::fs::read_to_string(&md)
        .ok()
        .and_then(|old| wrk_section(&old).map(str::to_owned))
        .unwrap_or_else(|| {
            format!(
                "{WRK_BEGIN}\n## HTTP load (wrk)\n\nNot measured yet: run \
                 `cargo xtask integration --wrk`.\n{WRK_END}\n"
            )
        });
    let text = format!("{}\n{kept}", report.markdown());
    std::fs::write(&md, text).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = dir.join("benchmarks.svg");
    crate::chart::draw(report, &svg).map_err(|e| format!("{}: {e}", svg.display()))
}

/// The markers around the section of BENCHMARKS.md that `cargo xtask integration --wrk` owns.
const WRK_BEGIN: &str = "<!-- wrk:begin (written by `cargo xtask integration --wrk`) -->";
const WRK_END: &str = "<!-- wrk:end -->";

/// The wrk section of an existing BENCHMARKS.md, markers included, with its final newline.
fn wrk_section(md: &str) -> Option<&str> {
    let start = md.find(WRK_BEGIN)?;
    let end = start + md[start..].find(WRK_END)? + WRK_END.len();
    let end = if md[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&md[start..end])
}
