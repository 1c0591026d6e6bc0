//! The suite: every scenario in its own child process, under a watchdog.
//!
//! A child is a re-exec of this binary (`run <scenario> <size>`) in a process group of its own,
//! so that the watchdog can kill it together with any helper it started (the echo server). A
//! child that outlives its time limit is killed and reported as a FAIL with the last progress
//! note it printed: a hang is reported, never waited on.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::outcome::{Size, dur};
use crate::scenarios::{self, Scenario};
use crate::sys;

/// The valgrind command line of `--valgrind` (before `--log-file` and the program).
///
/// `--fair-sched=yes`: valgrind runs one thread at a time, and its default lock lets a thread
/// that never blocks (a task in a `yield_now` loop on a worker) starve the others; `shutdown`
/// then took 15 to 100 s instead of about one.
pub(crate) const VALGRIND_ARGS: [&str; 5] = [
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--error-exitcode=1",
    "--fair-sched=yes",
    "--num-callers=40",
];

struct Options {
    size: Size,
    filters: Vec<String>,
    verbose: bool,
    self_test: bool,
    repeat: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        size: Size::Full,
        filters: Vec::new(),
        verbose: false,
        self_test: false,
        repeat: 1,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" if options.size != Size::Valgrind => options.size = Size::Quick,
            "--valgrind" if options.size != Size::Quick => options.size = Size::Valgrind,
            "--quick" | "--valgrind" => {
                return Err("--quick and --valgrind exclude each other".into());
            }
            "--filter" => options
                .filters
                .push(args.next().ok_or("--filter needs a value")?.clone()),
            "--verbose" | "-v" => options.verbose = true,
            "--self-test" => options.self_test = true,
            "--repeat" => {
                options.repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--repeat needs a count of at least 1")?;
            }
            other => return Err(format!("unknown option `{other}` (see --help)")),
        }
    }
    Ok(options)
}

/// Runs the suite; `Err` if a scenario failed.
pub(crate) fn suite(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let size = options.size;
    let suite: &[Scenario] = if options.self_test {
        std::slice::from_ref(&scenarios::SELF_TEST)
    } else {
        scenarios::ALL
    };
    let selected: Vec<&Scenario> = suite
        .iter()
        .filter(|s| size != Size::Valgrind || s.valgrind)
        .filter(|s| {
            options.filters.is_empty()
                || options.filters.iter().any(|f| s.name.contains(f.as_str()))
        })
        .flat_map(|s| std::iter::repeat_n(s, options.repeat))
        .collect();
    if selected.is_empty() {
        return Err(format!("no scenario matches {:?}", options.filters));
    }
    if size == Size::Valgrind {
        check_valgrind()?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "corio-stress: {} scenario(s), {} sizes, {cores} core(s) (load average {load}), {} UTC; \
         one child process each, under a watchdog",
        selected.len(),
        size.as_str(),
        utc_now(),
    );
    let start = Instant::now();
    let mut results = Vec::new();
    for (i, scenario) in selected.iter().enumerate() {
        println!(
            "\n[{}/{}] {}: {}",
            i + 1,
            selected.len(),
            scenario.name,
            scenario.what
        );
        let result = run_child(&exe, scenario, size, options.verbose);
        for figure in &result.figures {
            println!("       {figure}");
        }
        for line in &result.valgrind {
            println!("       valgrind: {line}");
        }
        if !result.pass {
            for failure in &result.failures {
                println!("       FAIL: {failure}");
            }
            if !options.verbose {
                for note in result.notes.iter().rev().take(3).rev() {
                    println!("       note: {note}");
                }
                for line in result.stderr.iter().rev().take(12).rev() {
                    println!("       stderr: {line}");
                }
            }
        }
        println!("       {} in {}", verdict(result.pass), dur(result.wall));
        results.push((scenario.name, result));
    }
    let total = start.elapsed();
    let failed = results.iter().filter(|(_, r)| !r.pass).count();
    println!("\nsummary ({} sizes):", size.as_str());
    for (name, result) in &results {
        println!(
            "  {name:<18} {}  {:>9}",
            verdict(result.pass),
            dur(result.wall)
        );
    }
    println!(
        "{} scenario(s): {} PASS, {failed} FAIL, {} in all",
        results.len(),
        results.len() - failed,
        dur(total)
    );
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} scenario(s) failed"))
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

fn check_valgrind() -> Result<(), String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(
            "valgrind is not installed: `apt-get install valgrind` (Debian/Ubuntu), or run \
                  `cargo xtask stress --valgrind`, which installs it where it can"
                .into(),
        ),
    }
}

/// What one child reported.
#[derive(Debug, Default)]
struct ChildResult {
    pass: bool,
    wall: Duration,
    figures: Vec<String>,
    notes: Vec<String>,
    failures: Vec<String>,
    stderr: Vec<String>,
    valgrind: Vec<String>,
}

#[derive(Debug, Default)]
struct Lines {
    figures: Vec<String>,
    notes: Vec<String>,
    failures: Vec<String>,
    verdict: Option<String>,
}

fn run_child(exe: &Path, scenario: &Scenario, size: Size, verbose: bool) -> ChildResult {
    let limit = Duration::from_secs(match size {
        Size::Full => scenario.limit_secs[0],
        Size::Quick => scenario.limit_secs[1],
        Size::Valgrind => scenario.limit_secs[2],
    });
    let valgrind_log = (size == Size::Valgrind).then(|| {
        std::env::temp_dir().join(format!(
            "corio-stress-valgrind-{}-{}.log",
            scenario.name,
            std::process::id()
        ))
    });
    let mut cmd = match &valgrind_log {
        Some(log) => {
            let mut cmd = Command::new("valgrind");
            cmd.args(VALGRIND_ARGS)
                .arg(format!("--log-file={}", log.display()))
                .arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args(["run", scenario.name, size.as_str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ChildResult {
                failures: vec![format!("could not start {cmd:?}: {e}")],
                ..ChildResult::default()
            };
        }
    };
    let pid = child.id();
    let lines = Arc::new(Mutex::new(Lines::default()));
    let stdout = child.stdout.take().map(|out| {
        let lines = lines.clone();
        thread::spawn(move || read_tagged(out, &lines, verbose))
    });
    let stderr = child
        .stderr
        .take()
        .map(|err| thread::spawn(move || read_stderr(err, verbose)));

    // The watchdog.
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= limit => {
                sys::kill_group(pid);
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => {
                sys::kill_group(pid);
                let _ = child.wait();
                break None;
            }
        }
    };
    let wall = start.elapsed();
    // Helpers (the echo server) go with their scenario, whatever its end.
    sys::kill_group(pid);
    if let Some(t) = stdout {
        let _ = t.join();
    }
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));

    let mut result = ChildResult {
        wall,
        figures: lines.figures,
        notes: lines.notes,
        failures: lines.failures,
        stderr,
        ..ChildResult::default()
    };
    match status {
        None => result.failures.push(format!(
            "hung: killed by the watchdog after {} (last note: {})",
            dur(limit),
            result.notes.last().map_or("none", String::as_str)
        )),
        Some(status) if !status.success() && result.failures.is_empty() => {
            result
                .failures
                .push(format!("the scenario process ended with {status}"));
        }
        Some(_) => {}
    }
    if let Some(log) = &valgrind_log {
        match std::fs::read_to_string(log) {
            Ok(text) => {
                let summary = valgrind_summary(&text);
                if !summary
                    .iter()
                    .any(|l| l.starts_with("definitely lost: 0 bytes"))
                    && !summary
                        .iter()
                        .any(|l| l.starts_with("All heap blocks were freed"))
                {
                    result.failures.push(format!(
                        "valgrind found definite leaks or did not finish; see {}",
                        log.display()
                    ));
                }
                if summary.iter().any(|l| {
                    l.starts_with("ERROR SUMMARY") && !l.starts_with("ERROR SUMMARY: 0 errors")
                }) {
                    result
                        .failures
                        .push(format!("valgrind reported errors; see {}", log.display()));
                }
                result.valgrind = summary;
                if result.failures.is_empty() {
                    let _ = std::fs::remove_file(log);
                } else {
                    result
                        .valgrind
                        .push(format!("full log kept at {}", log.display()));
                }
            }
            Err(e) => result
                .failures
                .push(format!("no valgrind log at {}: {e}", log.display())),
        }
    }
    result.pass = status.is_some_and(|s| s.success())
        && result.failures.is_empty()
        && lines.verdict.as_deref() == Some("PASS");
    if result.pass || !result.failures.is_empty() {
        return result;
    }
    result
        .failures
        .push("the scenario printed no PASS verdict".to_owned());
    result
}

fn read_tagged(out: impl Read, lines: &Mutex<Lines>, verbose: bool) {
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        let (tag, text) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
        match tag {
            "@figure" => lines.figures.push(text.to_owned()),
            "@note" => {
                if verbose {
                    println!("       note: {text}");
                }
                lines.notes.push(text.to_owned());
            }
            "@fail" => lines.failures.push(text.to_owned()),
            "@verdict" => lines.verdict = Some(text.to_owned()),
            _ => {
                if verbose {
                    println!("       stdout: {line}");
                }
            }
        }
    }
}

/// The child's stderr, kept to the last 200 lines (a panic storm may print a lot).
fn read_stderr(err: impl Read, verbose: bool) -> Vec<String> {
    let mut kept = std::collections::VecDeque::new();
    for line in BufReader::new(err).lines() {
        let Ok(line) = line else { break };
        if verbose {
            println!("       stderr: {line}");
        }
        if kept.len() == 200 {
            kept.pop_front();
        }
        kept.push_back(line);
    }
    kept.into()
}

/// The summary lines of a valgrind log, without the `==pid==` prefixes.
fn valgrind_summary(log: &str) -> Vec<String> {
    const KEYS: [&str; 7] = [
        "definitely lost:",
        "indirectly lost:",
        "possibly lost:",
        "still reachable:",
        "suppressed:",
        "All heap blocks were freed",
        "ERROR SUMMARY:",
    ];
    log.lines()
        .map(|line| match line.strip_prefix("==") {
            Some(rest) => rest.split_once("== ").map_or(rest, |(_, text)| text).trim(),
            None => line.trim(),
        })
        .filter(|text| KEYS.iter().any(|k| text.starts_with(k)))
        .map(str::to_owned)
        .collect()
}

/// Now as `YYYY-MM-DD HH:MM` in UTC: xtask's `utc.rs` (std has no calendar).
#[path = "../../../xtask/src/utc.rs"]
mod utc;
use utc::utc_now;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valgrind_summaries_lose_their_prefix() {
        let log = "==42== Memcheck, a memory error detector\n\
                   ==42== LEAK SUMMARY:\n\
                   ==42==    definitely lost: 0 bytes in 0 blocks\n\
                   ==42==    indirectly lost: 0 bytes in 0 blocks\n\
                   ==42==      possibly lost: 1,200 bytes in 4 blocks\n\
                   ==42==    still reachable: 9 bytes in 1 blocks\n\
                   ==42== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)\n";
        assert_eq!(
            valgrind_summary(log),
            [
                "definitely lost: 0 bytes in 0 blocks",
                "indirectly lost: 0 bytes in 0 blocks",
                "possibly lost: 1,200 bytes in 4 blocks",
                "still reachable: 9 bytes in 1 blocks",
                "ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)",
            ]
        );
    }

    #[test]
    fn options_parse() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = parse(&args("--quick --filter echo --filter park")).unwrap();
        assert_eq!(o.size, Size::Quick);
        assert_eq!(o.filters, ["echo", "park"]);
        assert!(parse(&args("--quick --valgrind")).is_err());
        assert!(parse(&args("--filter")).is_err());
        assert!(parse(&args("--nope")).is_err());
    }

    #[test]
    fn the_date_is_civil() {
        let now = utc_now();
        assert_eq!(now.len(), "2026-01-01 00:00".len(), "{now}");
        assert!(now.starts_with("20"), "{now}");
    }
}
