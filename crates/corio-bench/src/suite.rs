//! The whole suite: every (workload, workers, runtime) case, run round after round in child
//! processes, with the runtime order rotated every round and a timeout on every child.
//!
//! The `corio-uring` column is corio from a binary built with the `io-uring` feature: the one
//! `--uring-exe` names (`cargo xtask bench` builds it), or this binary if it has the feature.
//! Its children run without `CORIO_IO`, and when this binary has the feature the `corio`
//! column's children get `CORIO_IO=epoll`, so that `corio` is always corio's default (epoll)
//! reactor. Every corio child reports the backend it really waited in, and the report flags
//! a cell whose backend is not its column's.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::report::{self, Cell, Report, Row};
use crate::workload::{Runtime, Scale, URING_BUILT_IN, Workload};

/// The rows that get the `corio-uring` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UringRows {
    /// None: no `corio-uring` column.
    Off,
    /// The socket and file rows ([`Workload::is_io`]), the default: the backend matters there,
    /// and they add little to a full run's time.
    Io,
    /// Every row (about a third more time).
    All,
}

impl UringRows {
    pub(crate) fn parse(s: &str) -> Result<UringRows, String> {
        match s {
            "off" => Ok(UringRows::Off),
            "io" => Ok(UringRows::Io),
            "all" => Ok(UringRows::All),
            other => Err(format!("--uring: `{other}` is not one of io, all, off")),
        }
    }

    pub(crate) fn covers(self, workload: Workload) -> bool {
        match self {
            UringRows::Off => false,
            UringRows::Io => workload.is_io(),
            UringRows::All => true,
        }
    }
}

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
    /// The rows that get the `corio-uring` column.
    pub(crate) uring: UringRows,
    /// The binary built with the `io-uring` feature that runs the `corio-uring` column; `None`
    /// means this binary if it has the feature, else no column (see [`uring_binary`]).
    pub(crate) uring_exe: Option<PathBuf>,
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
            uring: UringRows::Io,
            uring_exe: None,
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

/// The binary of the `corio-uring` column: `--uring-exe`, else this one if it has the
/// `io-uring` feature, else none; `None` too when the column is off.
pub(crate) fn uring_binary(
    uring: UringRows,
    asked: Option<&PathBuf>,
    this: &Path,
    this_has_uring: bool,
) -> Option<PathBuf> {
    match (uring, asked) {
        (UringRows::Off, _) => None,
        (_, Some(path)) => Some(path.clone()),
        (_, None) => this_has_uring.then(|| this.to_path_buf()),
    }
}

/// This binary, as a path that child processes can be started from for the whole run. On
/// Linux that is `/proc/self/exe`, which stays this process's binary even when a build replaces
/// the file on disk meanwhile (`cargo xtask bench` builds two variants into the same place);
/// elsewhere the path it was started from.
pub(crate) fn this_binary() -> Result<PathBuf, String> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe);
    }
    std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))
}

/// Runs the suite, prints the table, and writes the docs if asked.
pub(crate) fn run(opts: &Options) -> Result<(), String> {
    let exe = this_binary()?;
    let mut opts = opts.clone();
    opts.uring_exe = uring_binary(opts.uring, opts.uring_exe.as_ref(), &exe, URING_BUILT_IN);
    let opts = &opts;
    match (&opts.uring_exe, opts.uring) {
        (_, UringRows::Off) => {}
        (Some(path), _) if !path.is_file() => {
            return Err(format!("--uring-exe: no such binary: {}", path.display()));
        }
        (Some(path), _) => eprintln!(
            "corio-bench suite: the corio-uring column runs {} ({} rows)",
            path.display(),
            if opts.uring == UringRows::All {
                "all"
            } else {
                "the I/O"
            }
        ),
        (None, _) => eprintln!(
            "corio-bench suite: no corio-uring column: this binary was built without the \
             `io-uring` feature and no --uring-exe was given (`cargo xtask bench` builds one)"
        ),
    }
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
        .filter(|&r| {
            r != Runtime::CorioUring || (opts.uring_exe.is_some() && opts.uring.covers(workload))
        })
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
                "{:<20} {}w  round {}/{}  {:<11}",
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
                        "{label} {} {}  (peak RSS {:.1} MiB{})",
                        shown.join(" "),
                        workload.unit(),
                        child.peak_rss_kib as f64 / 1024.0,
                        child
                            .io_backend
                            .as_deref()
                            .map_or_else(String::new, |b| format!(", I/O on {b}"))
                    );
                    cell.samples.extend(child.samples);
                    cell.peak_rss_kib.push(child.peak_rss_kib);
                    if let Some(backend) = child.io_backend {
                        cell.backends.push(backend);
                    }
                    if cell.fallback.is_none() {
                        cell.fallback = child.io_fallback;
                    }
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

#[derive(Debug, Default, PartialEq)]
struct ChildResult {
    samples: Vec<f64>,
    peak_rss_kib: u64,
    /// corio's `RuntimeMetrics::io_backend` (corio children only).
    io_backend: Option<String>,
    /// Why corio's reactor is not on the ring, when it says so.
    io_fallback: Option<String>,
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
    let mut cmd = match runtime {
        Runtime::CorioUring => {
            let mut cmd = Command::new(opts.uring_exe.as_ref().unwrap_or(exe));
            // The column is the ring wherever the kernel allows it.
            cmd.env_remove("CORIO_IO");
            cmd
        }
        // This binary's corio would wait on the ring: keep the `corio` column on corio's
        // default reactor.
        Runtime::Corio if URING_BUILT_IN => {
            let mut cmd = Command::new(exe);
            cmd.env("CORIO_IO", "epoll");
            cmd
        }
        _ => Command::new(exe),
    };
    let mut child = cmd
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
    let result = parse_child_output(&out, iters)?;
    if runtime.is_corio() && result.io_backend.is_none() {
        return Err("the corio child did not report its I/O backend".into());
    }
    Ok(result)
}

/// A child's machine lines (`@sample`, `@peak_rss_kib`, `@io_backend`, `@io_fallback`); it must
/// report exactly `iters` samples.
fn parse_child_output(out: &str, iters: usize) -> Result<ChildResult, String> {
    let mut result = ChildResult::default();
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("@sample ") {
            result.samples.push(
                v.trim()
                    .parse()
                    .map_err(|e| format!("bad sample `{v}`: {e}"))?,
            );
        } else if let Some(v) = line.strip_prefix("@peak_rss_kib ") {
            result.peak_rss_kib = v
                .trim()
                .parse()
                .map_err(|e| format!("bad rss `{v}`: {e}"))?;
        } else if let Some(v) = line.strip_prefix("@io_backend ") {
            let v = v.trim();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(format!("bad I/O backend `{v}`"));
            }
            result.io_backend = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("@io_fallback ") {
            result.io_fallback = Some(v.trim().to_owned());
        }
    }
    if result.samples.len() != iters {
        return Err(format!(
            "expected {iters} samples, got {}",
            result.samples.len()
        ));
    }
    Ok(result)
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
    fn child_output_gives_samples_rss_and_backend() {
        let out = "noise\n@io_backend epoll\n@io_fallback io_uring unavailable: EPERM\n\
                   @sample 12.5\n@sample 13\n@peak_rss_kib 2048\n";
        let child = parse_child_output(out, 2).unwrap();
        assert_eq!(child.samples, vec![12.5, 13.0]);
        assert_eq!(child.peak_rss_kib, 2048);
        assert_eq!(child.io_backend.as_deref(), Some("epoll"));
        assert_eq!(
            child.io_fallback.as_deref(),
            Some("io_uring unavailable: EPERM")
        );
        // tokio, smol and the floor report no backend.
        let child = parse_child_output("@sample 1\n@peak_rss_kib 1\n", 1).unwrap();
        assert_eq!((child.io_backend, child.io_fallback), (None, None));
        for (bad, iters) in [
            ("@sample 1\n", 2),
            ("@sample x\n", 1),
            ("@sample 1\n@peak_rss_kib -3\n", 1),
            ("@sample 1\n@io_backend \n", 1),
            ("@sample 1\n@io_backend io uring\n", 1),
        ] {
            assert!(
                parse_child_output(bad, iters).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn uring_rows_parse_and_cover() {
        assert_eq!(UringRows::parse("io").unwrap(), UringRows::Io);
        assert_eq!(UringRows::parse("all").unwrap(), UringRows::All);
        assert_eq!(UringRows::parse("off").unwrap(), UringRows::Off);
        for bad in ["", "IO", "on", "yes"] {
            assert!(UringRows::parse(bad).is_err(), "{bad:?} was accepted");
        }
        for w in Workload::ALL {
            assert!(!UringRows::Off.covers(w));
            assert!(UringRows::All.covers(w));
            assert_eq!(UringRows::Io.covers(w), w.is_io());
        }
        for w in [
            Workload::TcpEcho,
            Workload::TcpConnections,
            Workload::FileIo,
        ] {
            assert!(UringRows::Io.covers(w), "{w}");
        }
        assert!(!UringRows::Io.covers(Workload::SpawnMany));
    }

    #[test]
    fn the_uring_binary_is_the_one_asked_for_else_this_one_if_it_has_the_feature() {
        let this = PathBuf::from("/bin/this");
        let other = PathBuf::from("/bin/uring");
        for has in [false, true] {
            assert_eq!(uring_binary(UringRows::Off, Some(&other), &this, has), None);
            assert_eq!(
                uring_binary(UringRows::Io, Some(&other), &this, has),
                Some(other.clone())
            );
        }
        assert_eq!(uring_binary(UringRows::All, None, &this, false), None);
        assert_eq!(
            uring_binary(UringRows::All, None, &this, true),
            Some(this.clone())
        );
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
