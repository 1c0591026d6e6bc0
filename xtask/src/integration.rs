//! `cargo xtask integration`: the checks that need the outside world, which `ci` leaves out.
//!
//! 1. HTTP smoke test: the `http_server` example (hyper on corio) in `--requests` mode, asked
//!    three questions over a plain std socket, must answer them and exit by itself.
//! 2. PostgreSQL: installs the server from Debian's packages if `initdb`/`pg_ctl` are missing,
//!    starts a throwaway cluster in a temp directory on a free loopback port (as the `postgres`
//!    user when we are root: the server refuses to run as root), runs the `postgres` example and
//!    the `pg-integration` test against it, then stops it and removes the directory, on
//!    failure too.
//! 3. The examples: every example of `corio` (the tour first) and corio-compat's `http_client`
//!    and `https_fetch` (the batch fetch over HTTPS, against its own TLS server) run in release
//!    mode to completion, each under a time limit, and must exit with success and print their
//!    last line (`cargo xtask ci` only compiles them).
//! 4. Graceful shutdown: corio-compat's `graceful` example (release build) with 50 slow
//!    requests in flight gets SIGTERM; all 50 must get `200`, new connections must be refused,
//!    and the process must exit 0 within its deadline. Then the same with requests that outlast
//!    the deadline: they are cancelled, and the process still exits 0, on time.
//! 5. With `--wrk` (or `--wrk-only`, which skips 1-4): a load test of the same hyper server on
//!    corio and on tokio (installs wrk from Debian if missing): requests/s and the mean, p50,
//!    p90 and p99 latency at 100 and 1000 connections, over 3 interleaved rounds, medians
//!    written into the wrk section of `docs/BENCHMARKS.md` (about two and a half minutes).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::is_root;
use crate::util::{cargo, run, target_dir};

const HELP: &str = "\
cargo xtask integration [--wrk | --wrk-only]

  HTTP smoke test of the http_server example; every corio example, http_client and
  https_fetch run to completion; the graceful example drains 50 requests on SIGTERM;
  PostgreSQL example and test against a throwaway server (installed from Debian's packages if
  missing).
  --wrk        also load-test the hyper server on corio and on tokio with wrk (installed from
               Debian if missing): -t2 -d8s --latency at 100 and 1000 connections, 3 rounds
               (alternating which server goes first), a 2 s warm-up before each run;
               requests/s, mean and p50/p90/p99, min-median-max, recorded in docs/BENCHMARKS.md
               (about 2.5 minutes)
  --wrk-only   only the load test
";

/// How long any one step may take before we call it hung.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn integration(args: &[String]) -> Result<(), String> {
    let mut wrk = false;
    let mut wrk_only = false;
    for arg in args {
        match arg.as_str() {
            "--wrk" => wrk = true,
            "--wrk-only" => wrk_only = true,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("integration: unknown option `{other}`\n\n{HELP}")),
        }
    }
    if !cfg!(target_os = "linux") {
        return Err(
            "integration needs Linux (it installs PostgreSQL and wrk with apt-get and runs the \
             server as the `postgres` user); run it on a Linux machine"
                .into(),
        );
    }
    if wrk_only {
        return load_test();
    }
    run(
        "build examples",
        cargo().args(["build", "-p", "corio-compat", "--examples"]),
    )?;
    http_smoke()?;
    examples()?;
    graceful_drain()?;
    postgres()?;
    if wrk {
        load_test()?;
    }
    eprintln!("\nxtask integration: all checks passed");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn http_smoke() -> Result<(), String> {
    eprintln!("\n==> http smoke test: the http_server example in --requests mode");
    let server = Server::start(
        "http_server",
        cargo().args([
            "run",
            "--quiet",
            "-p",
            "corio-compat",
            "--example",
            "http_server",
            "--",
            "--port",
            "0",
            "--requests",
            "3",
        ]),
    )?;
    let addr = server.addr;

    let (status, body) = http_get(addr, "/hello")?;
    expect(
        status == 200 && body.starts_with("Hello, world!"),
        "GET /hello",
        status,
        &body,
    )?;
    let start = Instant::now();
    let (status, body) = http_get(addr, "/dashboard/42")?;
    let took = start.elapsed();
    expect(
        status == 200 && body.contains(r#""user": {"id": 42"#) && body.contains("recent_orders"),
        "GET /dashboard/42",
        status,
        &body,
    )?;
    eprintln!("GET /dashboard/42: {status} in {took:.0?}: {body}");
    let (status, body) = http_get(addr, "/dashboard/abc")?;
    expect(status == 422, "GET /dashboard/abc", status, &body)?;

    // Three requests served: the example must now stop by itself.
    let output = server.wait_for_exit()?;
    if !output.contains("served 3 requests") {
        return Err(format!(
            "http_server did not report 3 requests served; its output:\n{output}"
        ));
    }
    eprintln!("<== http smoke test: ok");
    Ok(())
}

fn expect(ok: bool, what: &str, status: u16, body: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: unexpected answer {status}: {body}"))
    }
}

/// One HTTP/1.1 GET over a std socket, `Connection: close`: (status, body).
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let fail = |e: std::io::Error| format!("GET {path} from {addr}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(fail)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// An example server started as a child process; killed on drop if still running.
struct Server {
    name: &'static str,
    child: Child,
    /// Its stdout, line by line, from a reader thread (so that every wait can be bounded).
    lines: Receiver<String>,
    addr: SocketAddr,
    /// Everything it printed so far.
    output: String,
}

impl Server {
    /// Starts the command (its stdout piped) and waits for its `listening on http://ADDR` line.
    fn start(name: &'static str, cmd: &mut Command) -> Result<Server, String> {
        eprintln!("    starting {cmd:?}");
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        let stdout = child.stdout.take();
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Server {
            name,
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            output: String::new(),
        };
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match server.lines.recv_timeout(wait) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{name} did not listen within {STEP_TIMEOUT:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{name} exited before listening; its output:\n{}",
                        server.output
                    ));
                }
            };
            server.output.push_str(&line);
            server.output.push('\n');
            if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                let addr = rest.split_whitespace().next().unwrap_or(rest);
                server.addr = addr
                    .parse()
                    .map_err(|_| format!("{name}: bad address in {line:?}"))?;
                eprintln!("    {name} is listening on {}", server.addr);
                return Ok(server);
            }
        }
    }

    /// Waits (bounded) for the process to exit by itself; returns all it printed.
    fn wait_for_exit(mut self) -> Result<String, String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    return Err(format!(
                        "{} did not exit within {STEP_TIMEOUT:?}",
                        self.name
                    ));
                }
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        };
        // The reader thread ends at EOF; take what it still has.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.output.push_str(&line);
            self.output.push('\n');
        }
        if !status.success() {
            return Err(format!(
                "{} exited with {status}; its output:\n{}",
                self.name, self.output
            ));
        }
        Ok(std::mem::take(&mut self.output))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn postgres() -> Result<(), String> {
    let bin = postgres_bin_dir()?;
    let cluster = Cluster::start(&bin)?;
    let url = cluster.url.clone();
    let checks = (|| {
        run(
            "postgres example",
            cargo()
                .args(["run", "-p", "corio-compat", "--example", "postgres"])
                .env("DATABASE_URL", &url),
        )?;
        run(
            "postgres test",
            cargo()
                .args([
                    "test",
                    "-p",
                    "corio-compat",
                    "--features",
                    "pg-integration",
                    "--test",
                    "postgres",
                ])
                .env("DATABASE_URL", &url),
        )
    })();
    let stopped = cluster.stop();
    checks.and(stopped)
}

/// The directory holding `initdb` and `pg_ctl`, installing PostgreSQL first if there is none.
fn postgres_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = find_postgres() {
        return Ok(dir);
    }
    eprintln!("\n==> PostgreSQL not found: installing it from Debian's packages");
    install_postgres()?;
    find_postgres().ok_or_else(|| {
        "installed postgresql, but found no initdb and pg_ctl under /usr/lib/postgresql/*/bin"
            .to_string()
    })
}

/// Debian keeps the server's programs in `/usr/lib/postgresql/<version>/bin` (newest wins);
/// elsewhere they are usually on the PATH.
fn find_postgres() -> Option<PathBuf> {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_tools(dir))
}

fn install_postgres() -> Result<(), String> {
    if !is_root() {
        return Err(
            "PostgreSQL is not installed, and only root can install it here: \
                    run `apt-get install postgresql` first"
                .to_string(),
        );
    }
    // The package would start its default cluster as a service; a policy-rc.d that says no
    // (as Docker images have) keeps it from doing so. Ours goes away after the install.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        write_policy(policy)?;
    }
    let installed = run("apt-get update", Command::new("apt-get").arg("update")).and_then(|()| {
        run(
            "apt-get install postgresql",
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "postgresql"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    });
    if own_policy {
        let _ = fs::remove_file(policy);
    }
    installed
}

#[cfg(unix)]
fn write_policy(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, "#!/bin/sh\nexit 101\n")
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Never called off Linux (`integration` refuses to start there); the policy must be executable.
#[cfg(not(unix))]
fn write_policy(path: &Path) -> Result<(), String> {
    Err(format!(
        "writing {}: an executable policy-rc.d needs Unix permissions",
        path.display()
    ))
}

/// A throwaway PostgreSQL cluster: stopped and deleted on drop.
struct Cluster {
    bin: PathBuf,
    /// The temp directory: the data directory, the log and the Unix socket live here.
    dir: PathBuf,
    /// The user the server runs as when we are root.
    run_as: Option<String>,
    running: bool,
    url: String,
}

impl Cluster {
    fn start(bin: &Path) -> Result<Cluster, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("corio-pg-{}-{nanos}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            run_as: None,
            running: false,
            url: String::new(),
        };
        // From here on, dropping `cluster` cleans up whatever was done.
        if is_root() {
            let user = server_user()?;
            run(
                "chown cluster dir",
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(&cluster.dir),
            )?;
            cluster.run_as = Some(user);
        }
        let data = cluster.dir.join("data");
        run(
            "initdb",
            cluster
                .tool("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
                .stdout(Stdio::null()),
        )?;
        let port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log");
        let started = run(
            "pg_ctl start",
            cluster
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"]),
        );
        // pg_ctl may have started the server even if it then failed waiting for it.
        cluster.running = true;
        if let Err(e) = started {
            let log = fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{e}; the server's log:\n{log}"));
        }
        cluster.url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
        eprintln!("    PostgreSQL is up: {}", cluster.url);
        Ok(cluster)
    }

    /// A PostgreSQL program, run as the server's user if we are root.
    fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(exe);
                cmd
            }
            None => Command::new(exe),
        };
        // The server's user may not be allowed into the caller's directory.
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Stops the server and deletes the directory, reporting what failed.
    fn stop(mut self) -> Result<(), String> {
        let stopped = self.stop_server();
        let removed = fs::remove_dir_all(&self.dir)
            .map_err(|e| format!("removing {}: {e}", self.dir.display()));
        stopped.and(removed)
    }

    fn stop_server(&mut self) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let data = self.dir.join("data");
        run(
            "pg_ctl stop",
            self.tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop_server() {
            eprintln!("xtask: {e}");
        }
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The user to run the server as: `postgres` (the Debian package creates it), created if absent.
fn server_user() -> Result<String, String> {
    let user = "postgres";
    let exists = Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !exists {
        run(
            "useradd postgres",
            Command::new("useradd").args(["--system", "--no-create-home", user]),
        )?;
    }
    Ok(user.to_string())
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Examples

/// The examples to run, with a line each must print (its last words, so a run that stopped
/// half-way fails). The tour is the README's main command and must finish in under 30 s; it is
/// given far more here, since a loaded CI machine is slower, and its own time is printed.
const EXAMPLES: [(&str, &str, &str); 8] = [
    ("corio", "tour", "tour finished in"),
    ("corio", "batch_fetch", "unlimited"),
    ("corio", "pitfalls", "pitfall 5"),
    ("corio", "queue_pipeline", "items handled in"),
    ("corio", "task_group", "with join_all"),
    ("corio", "to_thread", "batch vs one by one"),
    ("corio-compat", "http_client", "unlimited"),
    ("corio-compat", "https_fetch", "https_fetch: done"),
];

/// How long one example may run before it counts as hung.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(180);

fn examples() -> Result<(), String> {
    run(
        "build examples (release)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "corio",
            "-p",
            "corio-compat",
            "--examples",
        ]),
    )?;
    let dir = target_dir().join("release/examples");
    let logs = std::env::temp_dir().join(format!("corio-examples-{}", std::process::id()));
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    for (package, name, last_words) in EXAMPLES {
        eprintln!("\n==> example {name} ({package})");
        let log = logs.join(format!("{name}.log"));
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let start = Instant::now();
        let mut child = Command::new(dir.join(name))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting example {name}: {e}"))?;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > EXAMPLE_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "example {name} still ran after {EXAMPLE_TIMEOUT:?}; its output is in {}",
                        log.display()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for example {name}: {e}")),
            }
        };
        let took = start.elapsed();
        let output = fs::read_to_string(&log).unwrap_or_default();
        if !status.success() || !output.contains(last_words) {
            return Err(format!(
                "example {name} failed ({status}, expected to print {last_words:?}); its \
                 output:\n{output}"
            ));
        }
        let last = output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        eprintln!(
            "<== example {name}: ok in {took:.1?}; last line: {}",
            last.trim()
        );
    }
    let _ = fs::remove_dir_all(&logs);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

/// Requests in flight when SIGTERM comes.
const DRAIN_REQUESTS: usize = 50;
/// How long each of them takes: long enough that all are still running when the signal comes,
/// far shorter than the deadline.
const DRAIN_SLOW_MS: u64 = 2_000;
/// The example's `--deadline-ms` in the drain test.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// What the exit may take beyond the deadline (process teardown on a loaded machine).
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The SIGTERM drain test, then the deadline test, on the release build of `graceful`.
pub(crate) fn graceful_drain() -> Result<(), String> {
    run(
        "build graceful (release)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "corio-compat",
            "--example",
            "graceful",
        ]),
    )?;
    let exe = target_dir().join("release/examples/graceful");

    eprintln!(
        "\n==> graceful drain: {DRAIN_REQUESTS} requests of {DRAIN_SLOW_MS} ms in flight, \
         then SIGTERM"
    );
    let drained =
        sigterm_with_requests_in_flight(&exe, DRAIN_REQUESTS, DRAIN_SLOW_MS, DRAIN_DEADLINE)?;
    let ok = drained.statuses.iter().filter(|s| **s == Some(200)).count();
    eprintln!(
        "    {ok}/{DRAIN_REQUESTS} requests got 200; SIGTERM to exit: {} ms (deadline \
         {DRAIN_DEADLINE:?}); exit status 0; a connection after SIGTERM was refused",
        drained.signal_to_exit.as_millis()
    );
    if ok != DRAIN_REQUESTS {
        return Err(format!(
            "graceful drain: only {ok} of {DRAIN_REQUESTS} in-flight requests got 200 \
             (statuses: {:?}); its output:\n{}",
            drained.statuses, drained.output
        ));
    }
    if !drained.output.contains("drained: every request finished")
        || !drained.output.contains("no tokio runtime in any handler")
    {
        return Err(format!(
            "graceful drain: the example did not report a full drain; its output:\n{}",
            drained.output
        ));
    }
    eprintln!("<== graceful drain: ok");

    let deadline = Duration::from_millis(300);
    eprintln!(
        "\n==> graceful deadline: 5 requests of 30 s in flight, --deadline-ms {}, then SIGTERM",
        deadline.as_millis()
    );
    let cut = sigterm_with_requests_in_flight(&exe, 5, 30_000, deadline)?;
    let answered = cut.statuses.iter().filter(|s| s.is_some()).count();
    eprintln!(
        "    {answered}/5 answered (none should be); SIGTERM to exit: {} ms (deadline \
         {deadline:?}); exit status 0",
        cut.signal_to_exit.as_millis()
    );
    if answered != 0
        || !cut
            .output
            .contains("cancelled the 5 requests still in flight")
    {
        return Err(format!(
            "graceful deadline: the requests past the deadline were not cancelled (statuses: \
             {:?}); its output:\n{}",
            cut.statuses, cut.output
        ));
    }
    if cut.signal_to_exit < deadline {
        return Err(format!(
            "graceful deadline: exited {:.0?} after SIGTERM, before its {deadline:?} deadline",
            cut.signal_to_exit
        ));
    }
    eprintln!("<== graceful deadline: ok");
    Ok(())
}

/// What one run of the graceful example did.
struct Drained {
    /// Each request's HTTP status, or `None` if the connection ended without an answer.
    statuses: Vec<Option<u16>>,
    /// From sending SIGTERM to seeing the process gone.
    signal_to_exit: Duration,
    output: String,
}

/// Starts `graceful --deadline-ms DEADLINE`, puts `requests` requests of `slow_ms` in flight
/// (plain std sockets, one thread each), waits until the server counts all of them, sends
/// SIGTERM, checks that new connections are refused once it says it stopped accepting, and
/// waits for every request and for the exit, which must be 0 and within the deadline.
fn sigterm_with_requests_in_flight(
    exe: &Path,
    requests: usize,
    slow_ms: u64,
    deadline: Duration,
) -> Result<Drained, String> {
    let mut server = Server::start(
        "graceful",
        Command::new(exe).args([
            "--port",
            "0",
            "--deadline-ms",
            &deadline.as_millis().to_string(),
        ]),
    )?;
    let addr = server.addr;
    let clients: Vec<_> = (0..requests)
        .map(|_| {
            std::thread::spawn(move || -> Result<Option<u16>, String> {
                let fail = |e: std::io::Error| format!("GET /slow from {addr}: {e}");
                let mut stream =
                    TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(fail)?;
                stream.set_read_timeout(Some(STEP_TIMEOUT)).map_err(fail)?;
                write!(
                    stream,
                    "GET /slow?ms={slow_ms} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
                )
                .map_err(fail)?;
                // The server closes the connection after its answer (it is shutting down), or
                // without one (the request was cancelled): read to the end either way.
                let mut response = Vec::new();
                let _ = stream.read_to_end(&mut response);
                let response = String::from_utf8_lossy(&response);
                Ok(response
                    .strip_prefix("HTTP/1.1 ")
                    .and_then(|rest| rest.get(..3))
                    .and_then(|code| code.parse().ok()))
            })
        })
        .collect();

    // Causality, not sleeps: the signal goes out once the server counts every request.
    let start = Instant::now();
    loop {
        let (status, body) = http_get(addr, "/inflight")?;
        if status == 200 && body.trim().parse::<usize>() == Ok(requests) {
            break;
        }
        if start.elapsed() > STEP_TIMEOUT {
            return Err(format!(
                "graceful: {requests} requests never were in flight at once (last count: \
                 {status} {body:?})"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let signalled = Instant::now();
    run(
        "kill -TERM",
        Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .stdout(Stdio::null()),
    )?;
    server.wait_for_line("stopped accepting")?;
    if let Ok(still) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        drop(still);
        return Err(format!(
            "graceful: a new connection to {addr} was accepted after \"stopped accepting\""
        ));
    }

    let limit = deadline + EXIT_GRACE;
    let signal_to_exit = loop {
        match server.child.try_wait() {
            Ok(Some(_)) => break signalled.elapsed(),
            Ok(None) if signalled.elapsed() > limit => {
                return Err(format!(
                    "graceful: still running {limit:?} after SIGTERM (deadline {deadline:?}); \
                     its output so far:\n{}",
                    server.output
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("graceful: {e}")),
        }
    };
    let output = server.wait_for_exit()?; // fails unless the exit status is 0
    let mut statuses = Vec::with_capacity(requests);
    for client in clients {
        statuses.push(
            client
                .join()
                .map_err(|_| "graceful: a client thread panicked".to_string())??,
        );
    }
    Ok(Drained {
        statuses,
        signal_to_exit,
        output,
    })
}

impl Server {
    /// Reads the server's output (bounded) until a line contains `needle`.
    fn wait_for_line(&mut self, needle: &str) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok(line) => {
                    self.output.push_str(&line);
                    self.output.push('\n');
                    if line.contains(needle) {
                        return Ok(());
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "{} never printed {needle:?}; its output:\n{}",
                        self.name, self.output
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// wrk

/// The two servers of the load test: (runtime, example).
const WRK_SERVERS: [(&str, &str); 2] = [("corio", "http_server"), ("tokio", "http_server_tokio")];
/// Open connections of the measured runs.
const WRK_CONNECTIONS: [u32; 2] = [100, 1000];
/// Rounds; each round runs every server once, the first server alternating between rounds.
const WRK_ROUNDS: usize = 3;
/// wrk's threads (it shares the machine with the server under test).
const WRK_THREADS: u32 = 2;
/// The measured run, and the warm-up run before it (same connections; its numbers are dropped).
const WRK_SECONDS: u32 = 8;
const WRK_WARMUP_SECONDS: u32 = 2;

/// Runs a program with its soft RLIMIT_NOFILE raised to the hard limit (xtask has no libc, so
/// the shell's `ulimit` does it): 1000 connections need more than a soft limit of 1024.
fn with_open_file_limit(program: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@""#,
    ])
    .arg(program);
    cmd
}

/// What one measured wrk run reported.
#[derive(Clone, Copy, Debug)]
struct WrkRun {
    requests_per_sec: f64,
    /// The mean latency and the latency percentiles, in microseconds.
    mean_us: f64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
    errors: u64,
}

/// The load test: `WRK_ROUNDS` rounds, each starting the corio server and the tokio server in
/// turn (corio first in odd rounds, tokio first in even ones); each server gets, per connection
/// count, a warm-up run (dropped) and a measured run. Prints the median table and records it.
fn load_test() -> Result<(), String> {
    let wrk = ensure_wrk()?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "corio-compat"]);
    for (_, example) in WRK_SERVERS {
        build.args(["--example", example]);
    }
    run("build the wrk servers (release)", &mut build)?;
    let examples = target_dir().join("release/examples");
    let started = Instant::now();
    // runs[server][connections]: one WrkRun per round.
    let mut runs = vec![vec![Vec::new(); WRK_CONNECTIONS.len()]; WRK_SERVERS.len()];
    let mut backlogs: Vec<Option<u32>> = vec![None; WRK_SERVERS.len()];
    for round in 0..WRK_ROUNDS {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..WRK_SERVERS.len()).collect()
        } else {
            (0..WRK_SERVERS.len()).rev().collect()
        };
        for s in order {
            let (name, example) = WRK_SERVERS[s];
            let mut cmd = with_open_file_limit(&examples.join(example));
            cmd.args(["--port", "0"]);
            let server = Server::start(example, &mut cmd)?;
            backlogs[s] = listen_backlog(server.addr.port());
            let url = format!("http://{}/hello", server.addr);
            for (c, &connections) in WRK_CONNECTIONS.iter().enumerate() {
                let label = format!(
                    "round {}/{WRK_ROUNDS} {name:<5} c{connections:<4}",
                    round + 1
                );
                run_wrk(&wrk, connections, WRK_WARMUP_SECONDS, &url)
                    .map_err(|e| format!("{label} warm-up: {e}"))?;
                let measured = run_wrk(&wrk, connections, WRK_SECONDS, &url)
                    .map_err(|e| format!("{label}: {e}"))?;
                eprintln!(
                    "    {label}: {:>9.0} requests/s  mean {:>8}  p50 {:>8}  p90 {:>8}  p99 {:>8}  \
                     errors {}",
                    measured.requests_per_sec,
                    latency(measured.mean_us),
                    latency(measured.p50_us),
                    latency(measured.p90_us),
                    latency(measured.p99_us),
                    measured.errors
                );
                runs[s][c].push(measured);
            }
            drop(server);
        }
    }
    for (s, backlog) in backlogs.iter().enumerate() {
        let name = WRK_SERVERS[s].0;
        match backlog {
            Some(b) if *b < 1000 => eprintln!(
                "xtask: warning: the {name} server listens with a backlog of {b}: a burst of \
                 1000 connects may overflow it"
            ),
            Some(b) => eprintln!("    the {name} server's listen backlog: {b}"),
            None => eprintln!("    the {name} server's listen backlog: unknown (no `ss`)"),
        }
    }
    let section = wrk_section(&runs, &backlogs);
    eprintln!(
        "\nwrk load test done in {:.0?}:\n{section}",
        started.elapsed()
    );
    record_wrk(&section)
}

/// The backlog of the socket listening on `port`: for a listener, `ss` prints it as Send-Q.
fn listen_backlog(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
    text.lines()
        .find_map(|line| line.split_whitespace().nth(2)?.parse().ok())
}

/// One wrk run with `--latency`, parsed.
fn run_wrk(wrk: &Path, connections: u32, seconds: u32, url: &str) -> Result<WrkRun, String> {
    let output = with_open_file_limit(wrk)
        .args([
            &format!("-t{WRK_THREADS}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            url,
        ])
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{text}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_wrk(&text).map_err(|e| format!("{e}; wrk printed:\n{text}"))
}

/// Reads requests/s, the mean latency, the 50%, 90% and 99% latencies and the error counts out
/// of wrk's report.
fn parse_wrk(text: &str) -> Result<WrkRun, String> {
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
    };
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or("wrk printed no Requests/sec")?;
    let percentile = |p: &str| {
        field(p)
            .and_then(parse_latency)
            .ok_or_else(|| format!("wrk printed no {p} latency (was --latency given?)"))
    };
    // "Latency   652.38us  300.33us  10.63ms   85.48%": the mean is the first column.
    let mean_us = field("Latency ")
        .and_then(parse_latency)
        .ok_or("wrk printed no mean latency")?;
    let p50_us = percentile("50%")?;
    let p90_us = percentile("90%")?;
    let p99_us = percentile("99%")?;
    // "Socket errors: connect 0, read 0, write 0, timeout 0" and
    // "Non-2xx or 3xx responses: N" appear only when there are some.
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok(WrkRun {
        requests_per_sec,
        mean_us,
        p50_us,
        p90_us,
        p99_us,
        errors,
    })
}

/// A wrk duration ("607.00us", "1.60ms", "2.01s", "1.00m") in microseconds.
fn parse_latency(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// Microseconds as wrk would print them.
fn latency(us: f64) -> String {
    if us < 1e3 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Min, median and max (the samples are few: sort and pick).
fn min_median_max(values: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    let median = match v.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        n => v[n / 2],
    };
    (
        v.first().copied().unwrap_or(f64::NAN),
        median,
        v.last().copied().unwrap_or(f64::NAN),
    )
}

/// The markdown of the wrk section, markers included.
fn wrk_section(runs: &[Vec<Vec<WrkRun>>], backlogs: &[Option<u32>]) -> String {
    let date = format!("{} UTC", crate::utc::utc_now());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let somaxconn = fs::read_to_string("/proc/sys/net/core/somaxconn")
        .map_or_else(|_| "?".into(), |s| s.trim().to_string());
    let backlog_text: Vec<String> = WRK_SERVERS
        .iter()
        .zip(backlogs)
        .map(|((name, _), b)| match b {
            Some(b) => format!("{name} {b}"),
            None => format!("{name} unknown"),
        })
        .collect();
    let connections: Vec<String> = WRK_CONNECTIONS.iter().map(u32::to_string).collect();
    let mut md = format!(
        "{WRK_BEGIN}\n## HTTP load (wrk)\n\n\
         The same hyper 1.x HTTP/1 server (`GET /hello`, a fixed short body) on corio \
         (`crates/corio-compat/examples/http_server.rs`, through corio-compat's adapters) and on \
         tokio (`http_server_tokio.rs`, hyper-util's `TokioIo`), each with its runtime's default \
         worker count, loaded by `wrk -t{WRK_THREADS} -c<connections> -d{WRK_SECONDS}s \
         --latency` at {} connections on the same {cores}-core machine ({cpu}).\n\n\
         Method: {WRK_ROUNDS} rounds; each round starts each server once (corio first in odd \
         rounds, tokio first in even ones, so neither always runs first) and, for each \
         connection count, runs a {WRK_WARMUP_SECONDS} s wrk warm-up (its numbers dropped) and \
         then the measured {WRK_SECONDS} s run. Cells are min–**median**–max over the \
         {WRK_ROUNDS} measured runs; the mean, p50, p90 and p99 are wrk's latencies (request \
         sent to response read, per connection). With every connection always waiting for its \
         answer, the mean latency is the connection count over the request rate (Little's law); \
         how it spreads out is the servers' order of service: a server that serves connections \
         more evenly has a higher p50 and a lower p90 for the same mean. Servers and wrk run with RLIMIT_NOFILE raised to the \
         hard limit; listen backlogs (`ss`): {} (the kernel caps them at somaxconn = \
         {somaxconn}). wrk shares the cores with the server, and this machine is noisy: read \
         the spread.\n\n\
         Run: {date}, by `cargo xtask integration --wrk` (`--wrk-only` runs just this).\n\n\
         | connections | server | requests/s | mean latency | p50 latency | p90 latency | p99 latency | errors |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|\n",
        connections.join(" and "),
        backlog_text.join(", "),
    );
    let cell = |s: usize, c: usize, f: fn(&WrkRun) -> f64, show: fn(f64) -> String| {
        let (min, median, max) = min_median_max(runs[s][c].iter().map(f));
        format!("{}–**{}**–{}", show(min), show(median), show(max))
    };
    let rate = |v: f64| format!("{v:.0}");
    for (c, connections) in WRK_CONNECTIONS.iter().enumerate() {
        for (s, (name, _)) in WRK_SERVERS.iter().enumerate() {
            let errors: u64 = runs[s][c].iter().map(|r| r.errors).sum();
            md.push_str(&format!(
                "| {connections} | hyper on {name} | {} | {} | {} | {} | {} | {errors} |\n",
                cell(s, c, |r| r.requests_per_sec, rate),
                cell(s, c, |r| r.mean_us, latency),
                cell(s, c, |r| r.p50_us, latency),
                cell(s, c, |r| r.p90_us, latency),
                cell(s, c, |r| r.p99_us, latency),
            ));
        }
    }
    md.push_str(
        "\ncorio / tokio, medians (requests/s: above 1.00, corio serves more; latency: below \
         1.00, corio answers sooner):\n\n\
         | connections | requests/s | mean latency | p50 latency | p90 latency | p99 latency |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    let median =
        |s: usize, c: usize, f: fn(&WrkRun) -> f64| min_median_max(runs[s][c].iter().map(f)).1;
    for (c, connections) in WRK_CONNECTIONS.iter().enumerate() {
        let ratio = |f: fn(&WrkRun) -> f64| median(0, c, f) / median(1, c, f);
        md.push_str(&format!(
            "| {connections} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            ratio(|r| r.requests_per_sec),
            ratio(|r| r.mean_us),
            ratio(|r| r.p50_us),
            ratio(|r| r.p90_us),
            ratio(|r| r.p99_us),
        ));
    }
    md.push_str(WRK_END);
    md.push('\n');
    md
}

/// The markers around the section of docs/BENCHMARKS.md that this load test owns; corio-bench's
/// report keeps that section when it rewrites the file (the same two strings are in
/// `crates/corio-bench/src/report.rs`).
const WRK_BEGIN: &str = "<!-- wrk:begin (written by `cargo xtask integration --wrk`) -->";
const WRK_END: &str = "<!-- wrk:end -->";

/// Writes the section into docs/BENCHMARKS.md, replacing the previous wrk section.
fn record_wrk(section: &str) -> Result<(), String> {
    crate::util::record_section(WRK_BEGIN, WRK_END, section)
}

fn ensure_wrk() -> Result<PathBuf, String> {
    crate::util::ensure_debian_tool("wrk", "wrk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_latency_report() {
        let text = "\
Running 8s test @ http://127.0.0.1:8000/hello
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   652.38us  300.33us  10.63ms   85.48%
    Req/Sec    76.97k     5.23k   87.04k    72.50%
  Latency Distribution
     50%  607.00us
     75%  776.00us
     90%    0.97ms
     99%    1.60ms
  1226167 requests in 8.00s, 124.14MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec: 153215.63
Transfer/sec:     15.51MB
";
        let run = parse_wrk(text).unwrap();
        assert_eq!(run.requests_per_sec, 153215.63);
        assert!((run.mean_us - 652.38).abs() < 1e-9);
        assert_eq!(run.p50_us, 607.0);
        assert!((run.p90_us - 970.0).abs() < 1e-9);
        assert!((run.p99_us - 1600.0).abs() < 1e-9);
        assert_eq!(run.errors, 20);
        assert!(parse_wrk("Requests/sec: 1.0\n").is_err());
    }

    #[test]
    fn latency_units() {
        assert_eq!(parse_latency("12.50us"), Some(12.5));
        assert_eq!(parse_latency("2.00ms"), Some(2000.0));
        assert_eq!(parse_latency("1.50s"), Some(1.5e6));
        assert_eq!(parse_latency("1.00m"), Some(60e6));
        assert_eq!(parse_latency("7"), None);
        assert_eq!(parse_latency("3.0xs"), None);
        assert_eq!(latency(607.0), "607us");
        assert_eq!(latency(1600.0), "1.60ms");
        assert_eq!(latency(2.5e6), "2.50s");
    }

    #[test]
    fn medians() {
        let (min, median, max) = min_median_max([3.0, 1.0, 2.0].into_iter());
        assert_eq!((min, median, max), (1.0, 2.0, 3.0));
        assert_eq!(min_median_max([4.0, 1.0].into_iter()).1, 2.5);
    }
}
