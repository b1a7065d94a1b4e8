//! The Python peers of `interop/`: finding the Python with Twisted (and
//! epsilon), running a script to its end, and keeping a server script
//! running for a test.
//!
//! The Python comes from `AMP_INTEROP_PYTHON`, or else from the last line
//! `scripts/python-env.sh` prints (it builds `.venv-interop` from PyPI on
//! first use). Without it the tests that need it fail: they are never
//! skipped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long a Python server may take to start listening, and a short
/// Python run (an import check, `--list`) to finish.
pub const PROCESS_LIMIT: Duration = Duration::from_secs(30);

/// The workspace's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("amp-conformance lives in the workspace")
        .to_path_buf()
}

/// The python with Twisted: `AMP_INTEROP_PYTHON`, or the last line that
/// `scripts/python-env.sh` prints. Panics (fails the test) when neither
/// works.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => path,
        Err(why) => panic!("no Python with Twisted for the interoperability tests: {why}"),
    }
}

/// [`python`], checked to import `module` as well (epsilon's
/// `epsilon.amprouter` for the route peers, say). Panics (fails the test)
/// when it cannot.
pub fn python_importing(module: &str) -> &'static Path {
    static CHECKED: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();
    let path = python();
    let mut checked = CHECKED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let outcome = checked.entry(module.to_owned()).or_insert_with(|| {
        let mut command = Command::new(path);
        command.args(["-c", &format!("import {module}")]);
        let run = run_to_end(command, PROCESS_LIMIT)
            .map_err(|e| format!("running {}: {e}", path.display()))?;
        if run.status.is_some_and(|s| s.success()) {
            Ok(())
        } else {
            Err(format!(
                "{} cannot import {module} ({}); install interop/requirements.txt\n{}",
                path.display(),
                describe(run.status),
                run.stderr
            ))
        }
    });
    match outcome {
        Ok(()) => path,
        Err(why) => panic!("no Python with {module} for the interoperability tests: {why}"),
    }
}

/// Where [`python`] finds it, or why it does not.
pub fn find_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("AMP_INTEROP_PYTHON").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!(
                "AMP_INTEROP_PYTHON={} does not exist",
                path.display()
            ))
        };
    }
    let script = repo_root().join("scripts/python-env.sh");
    let mut command = Command::new("bash");
    command.arg(&script).current_dir(repo_root());
    // Building the environment installs from PyPI: allow it some minutes.
    let run = run_to_end(command, Duration::from_secs(600))
        .map_err(|e| format!("running bash {}: {e}", script.display()))?;
    if !run.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "bash {} failed ({}); set AMP_INTEROP_PYTHON to a python with \
             interop/requirements.txt installed\n{}",
            script.display(),
            describe(run.status),
            run.stderr
        ));
    }
    let line = run.stdout.lines().last().unwrap_or("").trim();
    if line.is_empty() || !Path::new(line).exists() {
        return Err(format!(
            "bash {} printed no usable python path (last line {line:?})",
            script.display()
        ));
    }
    Ok(PathBuf::from(line))
}

/// What a finished (or timed out) process printed.
pub struct Run {
    /// `None` when the process was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// An exit status for messages; `None` is a kill at the deadline.
pub fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "killed at its deadline".into(), |s| s.to_string())
}

/// Runs `command` to its end, collecting both outputs, killing it at
/// `deadline`. Blocking: run it on a thread of its own
/// ([`crate::blocking`]).
pub fn run_to_end(mut command: Command, deadline: Duration) -> std::io::Result<Run> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let collect = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = from.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = collect(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Run {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// A Python server from `interop/` (`server.py`, `route_server.py`),
/// listening on a port of 127.0.0.1; killed when dropped. Its standard
/// input is a pipe kept open, so it also exits when this process dies.
pub struct PyServer {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The port it listens on (0 when it listens elsewhere).
    pub port: u16,
    /// Where it listens, as its `LISTENING` line says: the port, or
    /// `unix:PATH`.
    pub listening: String,
}

impl PyServer {
    /// Starts `interop/<script>` with [`python`] and waits (at most
    /// [`PROCESS_LIMIT`]) for its `LISTENING <port>` line. Blocking, for
    /// a moment.
    pub fn start(script: &str) -> PyServer {
        PyServer::start_with(python(), script)
    }

    /// [`start`](Self::start) with the python given.
    pub fn start_with(python: &Path, script: &str) -> PyServer {
        let mut server = PyServer::start_at(python, script, "127.0.0.1:0");
        server.port = server.listening.parse().unwrap_or_else(|_| {
            panic!(
                "{script} printed `LISTENING {}`, not a port",
                server.listening
            )
        });
        server
    }

    /// Starts `interop/<script> <address>` with `python` and waits (at most
    /// [`PROCESS_LIMIT`]) for its `LISTENING <where>` line, keeping
    /// `<where>` in [`listening`](Self::listening) (a UNIX server's
    /// `unix:PATH`, say); [`port`](Self::port) is 0 unless `<where>` is a
    /// port. Blocking, for a moment.
    pub fn start_at(python: &Path, script: &str, address: &str) -> PyServer {
        PyServer::start_args(python, script, &[address.as_ref()])
    }

    /// [`start_at`](Self::start_at) with these arguments instead of the
    /// address (a script that takes more, `tls_peer.py server ...`).
    pub fn start_args(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> PyServer {
        let path = repo_root().join("interop").join(script);
        let mut child = Command::new(python)
            .arg(&path)
            .args(args)
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = PyServer {
            child,
            stdin,
            port: 0,
            listening: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
            // Keep draining: the servers print a line per operation.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(PROCESS_LIMIT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading {script}'s standard output: {e}"),
            Err(_) => panic!("{script} printed no LISTENING line within {PROCESS_LIMIT:?}"),
        };
        server.listening = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("{script} printed {line:?}, not `LISTENING <where>`"))
            .to_owned();
        server.port = server.listening.parse().unwrap_or(0);
        server
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
