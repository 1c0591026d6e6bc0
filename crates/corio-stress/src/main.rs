//! corio's stress suite: bounded scenarios under load, faults and shutdown, each of which prints
//! a figure and PASS or FAIL (issue 10, `cargo xtask stress`).
//!
//! The driver runs every scenario in its own child process (a re-exec of this binary) under a
//! watchdog: a scenario that hangs is killed, with its whole process group, and reported as a
//! FAIL, never waited on. `docs/RELIABILITY.md` says what each scenario proves and records the
//! figures of the latest full run.
//!
//! ```text
//! corio-stress [--quick | --valgrind] [--filter <text>]... [--repeat <n>]   the suite
//! corio-stress list                                                      the scenarios
//! corio-stress run <scenario> [full|quick|valgrind]                      one, in this process
//! corio-stress echo-server                                               helper of `echo`
//! ```
//!
//! Linux only: the figures come from `/proc/self` and the limits from `RLIMIT_NOFILE`. Elsewhere
//! the binary builds but only says so and fails.
#![deny(unsafe_code)]

#[cfg(target_os = "linux")]
mod driver;
#[cfg(target_os = "linux")]
mod outcome;
#[cfg(target_os = "linux")]
mod scenarios;
#[cfg(target_os = "linux")]
mod sys;

use std::process::ExitCode;

#[cfg(target_os = "linux")]
use outcome::Size;

#[cfg(target_os = "linux")]
const HELP: &str = "\
corio-stress: corio under load, faults and shutdown

usage:
  corio-stress [options]                          run the suite, one child process per scenario
  corio-stress list                               list the scenarios
  corio-stress run <scenario> [full|quick|valgrind]
                                                  run one scenario in this process
  corio-stress echo-server                        the server half of `echo` (a helper)

options:
  --quick             smaller sizes, for CI (under a minute in all)
  --valgrind          the memory and teardown scenarios (park, echo, leaks, panic-storm,
                      shutdown, reentrancy), small, under valgrind --leak-check=full
                      --errors-for-leak-kinds=definite --error-exitcode=1 --fair-sched=yes:
                      zero definite leaks and zero memory errors required
  --filter <text>     only the scenarios whose name contains <text> (repeatable)
  --repeat <n>        run each selected scenario n times (a fresh process and seed each time)
  --verbose           also print each scenario's progress notes and stderr
  --self-test         run only a scenario that hangs on purpose (the watchdog must FAIL it)

environment:
  CORIO_STRESS_SEED   the seed of the randomised storms (each prints the one it used)
";

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run_one(&args[1..]),
        Some("echo-server") => scenarios::echo::server_main(),
        Some("list") => {
            for s in scenarios::ALL {
                let grind = if s.valgrind { " [valgrind]" } else { "" };
                println!("{:<18} {}{grind}", s.name, s.what);
            }
            Ok(())
        }
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            Ok(())
        }
        _ => driver::suite(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("corio-stress: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Off Linux there is no `/proc/self` and no `RLIMIT_NOFILE` to read the figures from.
#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!(
        "corio-stress: the stress suite needs Linux (it reads /proc/self and sets \
         RLIMIT_NOFILE); nothing was run"
    );
    ExitCode::FAILURE
}

/// `run <scenario> [size]`: one scenario in this process; the verdict is also the exit status.
#[cfg(target_os = "linux")]
fn run_one(args: &[String]) -> Result<(), String> {
    let name = args
        .first()
        .ok_or_else(|| format!("run: which scenario?\n\n{HELP}"))?;
    let scenario = scenarios::find(name).ok_or_else(|| format!("no scenario `{name}`"))?;
    let size = match args.get(1).map(String::as_str) {
        None | Some("full") => Size::Full,
        Some("quick") => Size::Quick,
        Some("valgrind") => Size::Valgrind,
        Some(other) => return Err(format!("run: unknown size `{other}`")),
    };
    let mut outcome = outcome::Outcome::new();
    (scenario.run)(size, &mut outcome);
    outcome.finish()
}
