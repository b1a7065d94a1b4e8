//! The runtime-independent half of the interoperability tests: finding the
//! Python with Twisted, running the Python peers of `interop/`, and the echo
//! cases of `interop/echo_cases.json` checked on any connected peer.

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use amp_core::values::{decode_value, encode_value};
use amp_engine::Peer;
use serde::Deserialize;

use super::*;

// -- Python processes ----------------------------------------------------------------

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("amp-tokio lives in the workspace")
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
            "bash {} failed ({}); set AMP_INTEROP_PYTHON to a python with Twisted 26.10.0",
            script.display(),
            describe(run.status)
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
    pub stdout: String,
}

pub fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "killed at its deadline".into(), |s| s.to_string())
}

/// Runs `command` to its end (standard error inherited, standard output
/// collected), killing it at `deadline`.
pub fn run_to_end(mut command: Command, deadline: Duration) -> std::io::Result<Run> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
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
    let stdout = reader.join().unwrap_or_default();
    Ok(Run { status, stdout })
}

/// A Python server from `interop/`, listening on a port of 127.0.0.1; killed
/// when dropped. Its standard input is a pipe kept open, so it also exits
/// when this process dies.
pub struct PyServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
}

impl PyServer {
    pub fn start(script: &str) -> PyServer {
        let path = repo_root().join("interop").join(script);
        let mut child = Command::new(python())
            .arg(&path)
            .arg("127.0.0.1:0")
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
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
            // Keep draining: ampserver.py prints a line per operation.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading {script}'s standard output: {e}"),
            Err(_) => panic!("{script} printed no LISTENING line within 30 s"),
        };
        server.port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} printed {line:?}, not `LISTENING <port>`"));
        server
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// -- Echo cases ----------------------------------------------------------------------

/// One case of `interop/echo_cases.json`.
#[derive(Deserialize, Debug)]
pub struct Case {
    pub command: String,
    /// Python's repr of the value sent (for messages).
    value: String,
    /// The value's wire bytes as Twisted sends them; `None`: the key is absent.
    sent_hex: Option<String>,
    /// The wire bytes the echo must carry.
    echoed_hex: Option<String>,
    repr: String,
}

pub fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// `text` cut to 60 characters, for messages.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.into(),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one echo case of command `C` on `peer`; returns what went wrong.
pub async fn check_echo<C: Echo>(peer: &Peer, case: &Case) -> Vec<String>
where
    C::Value: Debug,
{
    let name = format!("{} {}", C::NAME, short(&case.value));
    let (Some(sent_hex), Some(echoed_hex)) = (&case.sent_hex, &case.echoed_hex) else {
        return vec![format!("{name}: the case has no bytes")];
    };
    let (sent, echoed) = (unhex(sent_hex), unhex(echoed_hex));
    let mut problems = Vec::new();
    let value: C::Value = match decode_value(&sent) {
        Ok(value) => value,
        Err(e) => {
            return vec![format!(
                "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
            )];
        }
    };
    match encode_value(&value) {
        Ok(ours) if ours[..] == echoed[..] => {}
        Ok(ours) => problems.push(format!(
            "{name}: we encode {value:?} as {}, Twisted as {echoed_hex}",
            hex(&ours)
        )),
        Err(e) => problems.push(format!("{name}: {value:?} does not encode: {e}")),
    }
    let ours = value.py_repr();
    if ours != case.repr {
        problems.push(format!(
            "{name}: our repr {ours:?}, Twisted's {:?}",
            case.repr
        ));
    }
    let args = EchoArgs { value };
    match peer.call::<C>(&args).await {
        Ok(Some(answer)) => {
            if !answer.value.same(&args.value) {
                problems.push(format!(
                    "{name}: sent {:?}, echoed {:?}",
                    args.value, answer.value
                ));
            }
            match encode_value(&answer.value) {
                Ok(again) if again[..] == echoed[..] => {}
                Ok(again) => problems.push(format!(
                    "{name}: the echo re-encodes as {}, not {echoed_hex}",
                    hex(&again)
                )),
                Err(e) => problems.push(format!("{name}: the echo does not re-encode: {e}")),
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Ok(None) => problems.push(format!("{name}: no answer")),
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

/// Checks one EchoOptional case (`sent_hex` null: no `value` key).
pub async fn check_optional(peer: &Peer, case: &Case) -> Vec<String> {
    let name = format!("EchoOptional {}", short(&case.value));
    let mut problems = Vec::new();
    let value: Option<String> = match &case.sent_hex {
        None => None,
        Some(sent_hex) => match decode_value(&unhex(sent_hex)) {
            Ok(value) => Some(value),
            Err(e) => {
                return vec![format!(
                    "{name}: Twisted's bytes {sent_hex} do not decode: {e}"
                )];
            }
        },
    };
    let echoed = case.echoed_hex.as_deref().map(unhex);
    if value.py_repr() != case.repr {
        problems.push(format!(
            "{name}: our repr {:?}, Twisted's {:?}",
            value.py_repr(),
            case.repr
        ));
    }
    let args = OptionalArgs { value };
    match peer.call::<EchoOptional>(&args).await {
        Ok(Some(answer)) => {
            if answer.present != args.value.is_some() {
                problems.push(format!("{name}: present = {}", answer.present));
            }
            if !answer.value.same(&args.value) {
                problems.push(format!("{name}: echoed {:?}", answer.value));
            }
            let again = answer
                .value
                .as_ref()
                .map(|v| encode_value(v).unwrap().to_vec());
            if again != echoed {
                problems.push(format!(
                    "{name}: the echo re-encodes as {again:?}, not {echoed:?}"
                ));
            }
            if answer.repr != case.repr {
                problems.push(format!(
                    "{name}: Twisted read our bytes as {:?}, expected {:?}",
                    answer.repr, case.repr
                ));
            }
        }
        Ok(None) => problems.push(format!("{name}: no answer")),
        Err(e) => problems.push(format!("{name}: the call failed: {e}")),
    }
    problems
}

/// Every case of `interop/echo_cases.json`, checked on `peer`: returns the
/// problems found, the cases handled and the cases in the file.
pub async fn check_every_echo_case(peer: &Peer) -> (Vec<String>, usize, usize) {
    let text = std::fs::read_to_string(repo_root().join("interop/echo_cases.json"))
        .expect("interop/echo_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("echo_cases.json parses");
    assert!(!cases.is_empty());
    let mut problems = Vec::new();
    let mut handled = 0;
    for case in &cases {
        let found = match case.command.as_str() {
            "EchoInteger" => check_echo::<EchoInteger>(peer, case).await,
            "EchoString" => check_echo::<EchoString>(peer, case).await,
            "EchoUnicode" => check_echo::<EchoUnicode>(peer, case).await,
            "EchoBoolean" => check_echo::<EchoBoolean>(peer, case).await,
            "EchoFloat" => check_echo::<EchoFloat>(peer, case).await,
            "EchoDecimal" => check_echo::<EchoDecimal>(peer, case).await,
            "EchoDateTime" => check_echo::<EchoDateTime>(peer, case).await,
            "EchoListOfInteger" => check_echo::<EchoListOfInteger>(peer, case).await,
            "EchoListOfUnicode" => check_echo::<EchoListOfUnicode>(peer, case).await,
            "EchoListOfString" => check_echo::<EchoListOfString>(peer, case).await,
            "EchoListOfBoolean" => check_echo::<EchoListOfBoolean>(peer, case).await,
            "EchoAmpList" => check_echo::<EchoAmpList>(peer, case).await,
            "EchoPath" => check_echo::<EchoPath>(peer, case).await,
            "EchoOptional" => check_optional(peer, case).await,
            other => vec![format!("unknown echo command {other}")],
        };
        handled += 1;
        problems.extend(found);
    }
    (problems, handled, cases.len())
}
