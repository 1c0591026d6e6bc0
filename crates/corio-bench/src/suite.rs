//! The whole suite: every (workload, workers, runtime) case, run round after round in child
//! processes, with the runtime order rotated every round and a timeout on every child.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::{self, Cell, Report, Row};
use crate::workload::{Runtime, Scale, Workload};

/// How the suite runs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) scale: Scale,
    /// Run only the workloads whose name contains one of these.
    pub(crate) filters: Vec<String>,
    /// Sample rounds (one child process per runtime per round).
    pub(crate) rounds: usize,
    /// Warm-up iterations at the start of every child.
    pub(crate) warmup: usize,
    /// Measured iterations per child.
    pub(crate) iters: usize,
    /// Where to write BENCHMARKS.md and benchmarks.svg, if anywhere.
    pub(crate) docs: Option<PathBuf>,
    /// The worker counts asked for (ascending, no duplicates); those above the cores present
    /// are skipped with a note (see [`split_worker_counts`]).
    pub(crate) workers: Vec<usize>,
}

impl Options {
    /// The defaults for a scale.
    pub(crate) fn new(scale: Scale) -> Options {
        let (rounds, warmup, iters) = match scale {
            Scale::Full => (7, 1, 3),
            Scale::Quick => (5, 1, 1),
            Scale::Tiny => (1, 0, 1),
        };
        Options {
            scale,
            filters: Vec::new(),
            rounds,
            warmup,
            iters,
            docs: None,
            workers: default_worker_counts(),
        }
    }
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The worker counts of the comparison by default: 1, and the number of cores.
pub(crate) fn default_worker_counts() -> Vec<usize> {
    let cores = cores();
    if cores > 1 { vec![1, cores] } else { vec![1] }
}

/// Parses `--workers`: a comma-separated list of positive counts, `n` meaning the number of
/// cores (`1,2,4,8`, `n`, `2`). The result is ascending, without duplicates.
pub(crate) fn parse_worker_counts(list: &str) -> Result<Vec<usize>, String> {
    let mut counts = Vec::new();
    for item in list.split(',').map(str::trim) {
        let count = match item {
            "n" | "N" => cores(),
            _ => item
                .parse()
                .ok()
                .filter(|&w: &usize| w > 0)
                .ok_or_else(|| {
                    format!("--workers: `{item}` is not a positive number or `n` (in `{list}`)")
                })?,
        };
        counts.push(count);
    }
    counts.sort_unstable();
    counts.dedup();
    Ok(counts)
}

/// Splits the asked-for counts into those that run (at most the cores present) and those that
/// are skipped (more workers than cores would measure the OS scheduler, not the runtime).
pub(crate) fn split_worker_counts(asked: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let cores = cores();
    asked.iter().partition(|&&w| w <= cores)
}

/// Runs the suite, prints the table, and writes the docs if asked.
pub(crate) fn run(opts: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| opts.filters.is_empty() || opts.filters.iter().any(|f| w.name().contains(f)))
        .collect();
    if workloads.is_empty() {
        return Err(format!("no workload matches {:?}", opts.filters));
    }
    let (worker_counts, skipped) = split_worker_counts(&opts.workers);
    for w in &skipped {
        eprintln!(
            "corio-bench suite: skipping {w} workers: this machine has only {} core(s)",
            cores()
        );
    }
    if worker_counts.is_empty() {
        return Err(format!(
            "no worker count to run: every one of {:?} is above the {} core(s) present",
            opts.workers,
            cores()
        ));
    }
    let started = Instant::now();
    eprintln!(
        "corio-bench suite: {} scale, {} workload(s), {} round(s) of {} warm-up + {} measured \
         iteration(s) per child process{}",
        opts.scale.name(),
        workloads.len(),
        opts.rounds,
        opts.warmup,
        opts.iters,
        match opts.scale {
            Scale::Full => "",
            Scale::Quick =>
                " (QUICK: smaller sizes (about a tenth), one measured iteration per child)",
            Scale::Tiny => " (TINY: a smoke test, the numbers mean nothing)",
        }
    );
    let mut rows = Vec::new();
    for &workload in &workloads {
        for &workers in &worker_counts {
            rows.push(run_row(&exe, opts, workload, workers));
        }
    }
    let report = Report::new(opts, rows, started.elapsed());
    print!("{}", report.terminal_table());
    if let Some(dir) = &opts.docs {
        report::write_docs(&report, dir)?;
        eprintln!(
            "wrote {} and {}",
            dir.join("BENCHMARKS.md").display(),
            dir.join("benchmarks.svg").display()
        );
    }
    eprintln!("suite wall time: {:.1?}", started.elapsed());
    let failed = report.failures();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} case(s) failed:\n  {}",
            failed.len(),
            failed.join("\n  ")
        ))
    }
}

fn run_row(exe: &PathBuf, opts: &Options, workload: Workload, workers: usize) -> Row {
    let runtimes: Vec<Runtime> = Runtime::ALL
        .into_iter()
        .filter(|r| r.supports(workload, workers))
        .collect();
    let mut cells: Vec<(Runtime, Cell)> = runtimes.iter().map(|&r| (r, Cell::default())).collect();
    let (warmup, iters) = if workload.fresh_process() {
        (0, 1)
    } else {
        (opts.warmup, opts.iters)
    };
    for round in 0..opts.rounds {
        // Rotate the order every round, and reverse it every `n` rounds, so that no runtime
        // always runs first, or always right after the same neighbour.
        let n = runtimes.len();
        for k in 0..n {
            let k = if (round / n) % 2 == 1 { n - 1 - k } else { k };
            let runtime = runtimes[(round + k) % n];
            let cell = &mut cells
                .iter_mut()
                .find(|(r, _)| *r == runtime)
                .expect("cell")
                .1;
            if cell.error.is_some() {
                continue;
            }
            let label = format!(
                "{:<20} {}w  round {}/{}  {:<6}",
                workload.name(),
                workers,
                round + 1,
                opts.rounds,
                runtime.name()
            );
            match run_child(exe, opts, workload, runtime, workers, warmup, iters) {
                Ok(child) => {
                    let shown: Vec<String> =
                        child.samples.iter().map(|v| format!("{v:.1}")).collect();
                    eprintln!(
                        "{label} {} {}  (peak RSS {:.1} MiB)",
                        shown.join(" "),
                        workload.unit(),
                        child.peak_rss_kib as f64 / 1024.0
                    );
                    cell.samples.extend(child.samples);
                    cell.peak_rss_kib.push(child.peak_rss_kib);
                }
                Err(e) => {
                    eprintln!("{label} FAILED: {e}");
                    cell.error = Some(e);
                }
            }
        }
    }
    Row {
        workload,
        workers,
        cells,
    }
}

#[derive(Debug)]
struct ChildResult {
    samples: Vec<f64>,
    peak_rss_kib: u64,
}

fn run_child(
    exe: &PathBuf,
    opts: &Options,
    workload: Workload,
    runtime: Runtime,
    workers: usize,
    warmup: usize,
    iters: usize,
) -> Result<ChildResult, String> {
    let mut child = Command::new(exe)
        .args([
            workload.name(),
            runtime.name(),
            &workers.to_string(),
            "--scale",
            opts.scale.name(),
            "--warmup",
            &warmup.to_string(),
            "--iters",
            &iters.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    // The child has its own watchdog per iteration; this one catches a child that wedges
    // outside an iteration (start-up, shutdown).
    let limit =
        workload.iteration_budget(opts.scale) * (warmup + iters) as u32 + Duration::from_secs(30);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("TIMEOUT: killed after {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let what = if status.code() == Some(124) {
            "TIMEOUT"
        } else {
            "FAILED"
        };
        return Err(format!("{what} ({status}): {}", tail.join(" | ")));
    }
    let mut samples = Vec::new();
    let mut peak_rss_kib = 0;
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("@sample ") {
            samples.push(
                v.trim()
                    .parse()
                    .map_err(|e| format!("bad sample `{v}`: {e}"))?,
            );
        } else if let Some(v) = line.strip_prefix("@peak_rss_kib ") {
            peak_rss_kib = v
                .trim()
                .parse()
                .map_err(|e| format!("bad rss `{v}`: {e}"))?;
        }
    }
    if samples.len() != iters {
        return Err(format!("expected {iters} samples, got {}", samples.len()));
    }
    Ok(ChildResult {
        samples,
        peak_rss_kib,
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_lists_parse_sorted_and_deduplicated() {
        assert_eq!(parse_worker_counts("4,1,2,2").unwrap(), vec![1, 2, 4]);
        assert_eq!(parse_worker_counts(" 8 ").unwrap(), vec![8]);
        assert_eq!(parse_worker_counts("n").unwrap(), vec![cores()]);
        for bad in ["", "0", "1,,2", "x", "-1", "1;2"] {
            assert!(parse_worker_counts(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn counts_above_the_cores_are_skipped() {
        let cores = cores();
        let (run, skipped) = split_worker_counts(&[1, cores, cores + 1, 4 * cores + 4]);
        assert_eq!(
            run,
            if cores == 1 {
                vec![1, 1]
            } else {
                vec![1, cores]
            }
        );
        assert_eq!(skipped, vec![cores + 1, 4 * cores + 4]);
        assert_eq!(default_worker_counts().last(), Some(&cores));
    }
}
