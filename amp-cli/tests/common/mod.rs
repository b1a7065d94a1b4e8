//! What the end-to-end tests of the `amp` command share: running it, its
//! outputs, the schema of the interoperability catalogue, and the Twisted
//! peers.

#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub use amp_conformance::interop::python::{PyServer, python, repo_root};

/// Runs `amp` with `args` to its end.
pub fn amp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amp"))
        .args(args)
        .output()
        .expect("amp runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

/// The schema of `interop/commands.py`.
pub fn schema() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/interop.toml")
        .display()
        .to_string()
}

/// `interop/server.py`: Twisted answering the catalogue.
pub fn twisted() -> PyServer {
    PyServer::start_with(python(), "server.py")
}

/// Whether `text` holds no terminal escape sequence.
pub fn plain(text: &str) -> bool {
    !text.contains('\u{1b}')
}

/// A long-running `amp` (serve, proxy), killed when dropped; its standard
/// output read line by line.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    /// Starts `amp` with `args`, standard output piped.
    pub fn start(args: &[&str]) -> Running {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_amp"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("amp starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The next line, waiting at most 10 s.
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a line from amp within 10 s")
    }

    /// Lines until one contains `needle` (that one included), waiting at
    /// most 10 s for each.
    pub fn lines_until(&self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            let done = line.contains(needle);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The port in the first line, `listening on HOST:PORT...`.
    pub fn listening_port(&self) -> u16 {
        let line = self.line();
        let rest = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
        let addr = rest.split([' ', ',']).next().unwrap().trim_end_matches(':');
        addr.rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `interop/` Python `script` (relative to the repository) with
/// `args` to its end (at most 60 s); its standard output.
pub fn run_python(script: &std::path::Path, args: &[&str]) -> String {
    let mut command = Command::new(python());
    command.arg(script).args(args).current_dir(repo_root());
    let run =
        amp_conformance::interop::python::run_to_end(command, std::time::Duration::from_secs(60))
            .expect("python runs");
    assert!(
        run.status.is_some_and(|s| s.success()),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        amp_conformance::interop::python::describe(run.status),
        run.stdout,
        run.stderr
    );
    run.stdout
}

/// A file of the tests' data directory.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}
