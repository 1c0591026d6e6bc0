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
//! 5. With `--wrk`: a short load test of the same hyper server on corio and on tokio (installs
//!    wrk from Debian if missing), printing both request rates and writing them into the wrk
//!    section of `docs/BENCHMARKS.md`.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::util::{cargo, run};

const HELP: &str = "\
cargo xtask integration [--wrk]

  HTTP smoke test of the http_server example; every corio example, http_client and
  https_fetch run to completion; the graceful example drains 50 requests on SIGTERM;
  PostgreSQL example and test against a throwaway server (installed from Debian's packages if
  missing).
  --wrk   also load-test the hyper server on corio and on tokio with wrk (-t2 -c50 -d10s),
          and record both rates in docs/BENCHMARKS.md
";

/// How long any one step may take before we call it hung.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn integration(args: &[String]) -> Result<(), String> {
    let mut wrk = false;
    for arg in args {
        match arg.as_str() {
            "--wrk" => wrk = true,
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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
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
    let dir = crate::util::root().join("target/release/examples");
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
    let exe = crate::util::root().join("target/release/examples/graceful");

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

fn load_test() -> Result<(), String> {
    let wrk = ensure_wrk()?;
    run(
        "build examples (release)",
        cargo().args(["build", "--release", "-p", "corio-compat", "--examples"]),
    )?;
    let mut rates = Vec::new();
    for (name, example) in [("corio", "http_server"), ("tokio", "http_server_tokio")] {
        let server = Server::start(
            example,
            cargo().args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "corio-compat",
                "--example",
                example,
                "--",
                "--port",
                &free_port()?.to_string(),
            ]),
        )?;
        let url = format!("http://{}/hello", server.addr);
        eprintln!("\n==> wrk -t2 -c50 -d10s {url}  ({name})");
        let output = Command::new(&wrk)
            .args(["-t2", "-c50", "-d10s", &url])
            .output()
            .map_err(|e| format!("running wrk: {e}"))?;
        drop(server);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        eprint!("{text}");
        if !output.status.success() {
            return Err(format!(
                "wrk failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let field = |prefix: &str| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        };
        let rate = field("Requests/sec:").ok_or("wrk printed no Requests/sec")?;
        let latency = field("Latency").unwrap_or_else(|| "?".into());
        rates.push((name, rate, latency));
    }
    eprintln!("\nwrk -t2 -c50 -d10s, GET /hello, hyper 1.x http1:");
    for (name, rate, latency) in &rates {
        eprintln!("  {name:>6}: {rate} requests/s, mean latency {latency}");
    }
    record_wrk(&rates)
}

/// The markers around the section of docs/BENCHMARKS.md that this load test owns; corio-bench's
/// report keeps that section when it rewrites the file (the same two strings are in
/// `crates/corio-bench/src/report.rs`).
const WRK_BEGIN: &str = "<!-- wrk:begin (written by `cargo xtask integration --wrk`) -->";
const WRK_END: &str = "<!-- wrk:end -->";

/// Writes the measured rates into docs/BENCHMARKS.md, replacing the previous wrk section.
fn record_wrk(rates: &[(&str, String, String)]) -> Result<(), String> {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown date".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mut section = format!(
        "{WRK_BEGIN}\n## HTTP load (wrk)\n\n\
         The same hyper 1.x HTTP/1 server (`GET /hello`, a fixed short body) on corio \
         (`crates/corio-compat/examples/http_server.rs`, through corio-compat's adapters) and on \
         tokio (`http_server_tokio.rs`, hyper-util's `TokioIo`), each with its runtime's default \
         worker count, loaded by `wrk -t2 -c50 -d10s` on the same {cores}-core machine \
         ({cpu}). wrk shares the cores with the server, and this machine is noisy: one run \
         each, read it as a rough comparison.\n\n\
         Run: {date}, by `cargo xtask integration --wrk`.\n\n\
         | server | requests/s | mean latency |\n|---|---:|---:|\n"
    );
    for (name, rate, latency) in rates {
        section.push_str(&format!("| hyper on {name} | {rate} | {latency} |\n"));
    }
    section.push_str(WRK_END);
    section.push('\n');
    let path = crate::util::root().join("docs/BENCHMARKS.md");
    let old = fs::read_to_string(&path).unwrap_or_default();
    let new = match (old.find(WRK_BEGIN), old.find(WRK_END)) {
        (Some(start), Some(end)) if end > start => {
            let mut end = end + WRK_END.len();
            if old[end..].starts_with('\n') {
                end += 1;
            }
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        _ => format!("{old}\n{section}"),
    };
    fs::write(&path, new).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote the wrk section of {}", path.display());
    Ok(())
}

fn ensure_wrk() -> Result<PathBuf, String> {
    let find = || {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("wrk"))
            .find(|exe| exe.is_file())
    };
    if let Some(wrk) = find() {
        return Ok(wrk);
    }
    if !is_root() {
        return Err(
            "wrk is not installed, and only root can install it: apt-get install wrk".into(),
        );
    }
    run("apt-get update", Command::new("apt-get").arg("update"))?;
    run(
        "apt-get install wrk",
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    find().ok_or_else(|| "installed wrk, but it is not on the PATH".to_string())
}
