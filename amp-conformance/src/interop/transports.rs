//! The other ways Twisted carries AMP, against real Twisted (and ampoule)
//! on every binding: UNIX stream sockets both ways, a Twisted parent
//! spawning the binding's `ampserver stdio`, a Rust client spawning a
//! Twisted child on its standard input and output, the child's exit status
//! as the connection's end, and a real ampoule 24.10 process pool running
//! the Rust worker.
//!
//! A binding's test implements [`Transports`] (its UNIX connect and
//! server, its child spawning, the name of its `ampserver` example) and
//! expands [`transports_suite!`](crate::transports_suite). The Python
//! environment comes as for the rest of [`crate::interop`]; without it (or
//! without ampoule in it) the scenarios fail: they are never skipped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use amp_core::{AmpBox, CallError, ConnectionError};

use super::echo::check_every_echo_case;
use super::python::{PyServer, describe, python, python_importing, repo_root, run_to_end};
use super::{CLOSE_WITHIN, STEP};
use crate::catalogue::{self, Die, Divide, DivideArgs, DivideError, Sum, SumArgs};
use crate::commands::Empty;
use crate::howto::Shutdown;
use crate::{BoxFuture, Connecting, Factory, Peer, Responders, Runtime, blocking, within_for};

/// A UNIX socket server started by [`Transports::serve_unix`].
pub struct ServedUnix {
    /// Stops it gracefully.
    pub stop: crate::ShutdownHandle,
    /// Resolves with what the server's `run` returned.
    pub running: BoxFuture<std::io::Result<()>>,
}

/// What a binding gives the transports suite, beyond [`Runtime`].
pub trait Transports: Runtime {
    /// Connects to the UNIX socket at `path` (the binding's
    /// `unix::connect`).
    fn connect_unix(&self, path: PathBuf, responders: Responders) -> Connecting;

    /// Serves `factory` on a new UNIX socket at `path` with the binding's
    /// `unix::bind`, running it in the background.
    fn serve_unix(&self, path: PathBuf, factory: Factory) -> std::io::Result<ServedUnix>;

    /// Spawns `program` with `args` and speaks AMP over its pipes (the
    /// binding's `process::spawn`), its standard error inherited.
    fn spawn_child(
        &self,
        program: &Path,
        args: &[&str],
        responders: Responders,
    ) -> std::io::Result<Peer>;

    /// The binding's package and its `ampserver` example's name.
    fn ampserver_example(&self) -> (&'static str, &'static str);
}

/// A fresh directory for a test's files and UNIX sockets (socket paths must stay short:
/// about 100 bytes at most), removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(tag: &str) -> ScratchDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "amp-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the socket");
        ScratchDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("amp.sock")
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binding's `ampserver` example, built (once per test process) with
/// the cargo running the tests, in the tests' own target directory and
/// profile. Panics (fails the test) if it cannot be built.
pub fn example_binary(package: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let outcome = built
        .entry(format!("{package}/{name}"))
        .or_insert_with(|| build_example(package, name));
    match outcome {
        Ok(path) => path.clone(),
        Err(why) => panic!("cannot build the {name} example of {package}: {why}"),
    }
}

fn build_example(package: &str, name: &str) -> Result<PathBuf, String> {
    // The test binary is <target>/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let target = profile_dir
        .parent()
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "-p", package, "--example", name])
        .arg("--target-dir")
        .arg(target)
        .current_dir(repo_root());
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    let run = run_to_end(command, Duration::from_secs(900))
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !run.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "cargo build -p {package} --example {name}: {}\n{}",
            describe(run.status),
            run.stderr
        ));
    }
    let path = profile_dir.join("examples").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} was not built", path.display()))
    }
}

/// Runs a Python script of `interop/` with `args` to its end (at most
/// `limit`) and checks that it passed: status 0 and a last line
/// `N passed, 0 failed` with `N` = `checks`.
async fn python_script_passes(python: PathBuf, script: &str, args: Vec<String>, checks: usize) {
    let path = repo_root().join("interop").join(script);
    let mut command = Command::new(&python);
    command.arg(&path).args(&args).current_dir(repo_root());
    let ran = blocking(move || run_to_end(command, Duration::from_secs(90)))
        .await
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    let last = ran.stdout.lines().last().unwrap_or("");
    let want = format!("{checks} passed, 0 failed");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == want,
        "{script} {args:?}: {}, last line {last:?} (expected {want:?}); its output:\n{}\n{}",
        describe(ran.status),
        ran.stdout,
        ran.stderr
    );
    println!("{script} {args:?}:\n{}", ran.stdout);
}

/// Sum, the declared `ZERO_DIVISION`, and an unknown command, on `peer`.
async fn arithmetic<R: Runtime>(rt: &R, peer: &Peer) {
    let total = within_for(
        rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs { a: 13, b: 81 }),
    )
    .await
    .expect("Sum");
    assert_eq!(total.total, 94);
    let big = within_for(
        rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs {
            a: 1 << 64,
            b: 10i128.pow(30),
        }),
    )
    .await
    .expect("Sum beyond 64 bits");
    assert_eq!(big.total, (1i128 << 64) + 10i128.pow(30));
    let divided = within_for(
        rt,
        STEP,
        "Divide",
        peer.call_as::<Divide>(&DivideArgs {
            numerator: 1234,
            denominator: 0,
        }),
    )
    .await;
    assert!(
        matches!(
            divided,
            Err(CallError::Declared(DivideError::ZeroDivision(_)))
        ),
        "Divide(1234, 0): {divided:?}"
    );
    let unknown = within_for(
        rt,
        STEP,
        "an unknown command",
        peer.call_remote("NoSuchCommand", AmpBox::new()),
    )
    .await;
    assert!(
        matches!(&unknown, Err(CallError::Remote(e)) if e.code == "UNHANDLED"),
        "an unknown command: {unknown:?}"
    );
}

fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(code << 8)
}

// -- UNIX sockets ----------------------------------------------------------------

/// A Rust client on Twisted's server listening on a UNIX socket: every
/// echo case, arithmetic and errors; the peer has no IP address.
pub async fn rust_client_to_twisted_over_a_unix_socket<R: Transports>(rt: R) {
    let dir = ScratchDir::new("py-unix");
    let address = format!("unix:{}", dir.socket().display());
    let python = python().to_path_buf();
    let server = blocking(move || PyServer::start_at(&python, "server.py", &address)).await;
    assert_eq!(server.listening, format!("unix:{}", dir.socket().display()));
    let peer = within_for(
        &rt,
        STEP,
        "connecting over the UNIX socket",
        rt.connect_unix(dir.socket(), catalogue::responders()),
    )
    .await
    .expect("connecting to Twisted's UNIX socket");
    assert_eq!(peer.peer_addr(), None);
    arithmetic(&rt, &peer).await;
    let (problems, handled, total) = within_for(
        &rt,
        Duration::from_secs(60),
        "the echo cases",
        check_every_echo_case(&peer),
    )
    .await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(handled, total);
    // Twisted's Die aborts the connection: the end reaches us.
    let died = within_for(&rt, CLOSE_WITHIN, "Die", peer.call_as::<Die>(&Empty {})).await;
    assert!(died.is_err(), "Die was answered: {died:?}");
    let reason = within_for(&rt, CLOSE_WITHIN, "the end", peer.closed()).await;
    assert_eq!(reason, ConnectionError::PeerClosed);
    drop(server);
}

/// Every scenario of Twisted's `client.py`, over a UNIX socket, against
/// the binding's UNIX server; the server's factory gets no address.
pub async fn twisted_client_to_rust_over_a_unix_socket<R: Transports>(rt: R) {
    let dir = ScratchDir::new("rs-unix");
    let addresses = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&addresses);
    let server = rt
        .serve_unix(
            dir.socket(),
            Arc::new(move |addr| {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(addr);
                catalogue::responders()
            }),
        )
        .expect("serving on a UNIX socket");

    let python = python().to_path_buf();
    let client = repo_root().join("interop/client.py");
    let mut list = Command::new(&python);
    list.arg(&client).arg("--list").current_dir(repo_root());
    let listed = blocking(move || run_to_end(list, STEP))
        .await
        .expect("client.py --list");
    let scenarios = listed
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(scenarios > 0, "client.py --list printed no scenario");
    let mut run = Command::new(&python);
    run.arg(&client)
        .arg(format!("unix:{}", dir.socket().display()))
        .current_dir(repo_root());
    let ran = blocking(move || run_to_end(run, Duration::from_secs(150)))
        .await
        .expect("running client.py");
    let last = ran.stdout.lines().last().unwrap_or("");
    let want = format!("{scenarios} passed, 0 failed");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == want,
        "client.py over the UNIX socket: {}, last line {last:?} (expected {want:?}); its output:\n{}\n{}",
        describe(ran.status),
        ran.stdout,
        ran.stderr
    );
    let addresses = addresses.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!addresses.is_empty(), "the factory never ran");
    assert!(
        addresses.iter().all(Option::is_none),
        "a UNIX peer had an address: {addresses:?}"
    );
    within_for(&rt, STEP, "shutting down", server.stop.shutdown(STEP)).await;
    within_for(&rt, STEP, "the server stopping", server.running)
        .await
        .expect("the UNIX server's run");
}

// -- stdio and child processes --------------------------------------------------------

/// A Twisted parent (`interop/spawn_worker.py`, spawnProcess with AMP)
/// spawns the binding's `ampserver stdio`: calls answered, nothing but AMP
/// on its standard output, and an exit with status 0 once its input is
/// closed.
pub async fn twisted_parent_spawns_the_rust_stdio_server<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let python = python().to_path_buf();
    let args = vec![worker.display().to_string(), "stdio".into()];
    python_script_passes(python, "spawn_worker.py", args, 5).await;
}

/// A real ampoule 24.10 process pool (`interop/ampoule_pool.py`) runs the
/// binding's `ampserver stdio` as its workers: work done, ampoule's
/// `Shutdown` answered and followed by an exit with status 0, the pool's
/// stop ending every worker with status 0.
pub async fn ampoule_pool_runs_the_rust_worker<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let python = python_importing("ampoule").to_path_buf();
    let args = vec![worker.display().to_string(), "stdio".into()];
    python_script_passes(python, "ampoule_pool.py", args, 3).await;
}

/// The binding's `ampserver stdio` exits with status 0 when its input
/// ends, having written nothing (no box was asked of it, and nothing but
/// AMP goes to its standard output).
pub async fn the_rust_stdio_server_exits_when_its_input_ends<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let (status, output) = blocking(move || {
        let mut child = Command::new(&worker)
            .arg("stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning ampserver stdio");
        drop(child.stdin.take());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the worker") {
                break Some(status);
            }
            if started.elapsed() > CLOSE_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut output = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut output);
        }
        (status, output)
    })
    .await;
    assert!(
        status.is_some_and(|s| s.success()),
        "ampserver stdio with its input closed: {}",
        describe(status)
    );
    assert!(
        output.is_empty(),
        "it wrote {output:?} on its standard output"
    );
}

/// A garbage byte on the Rust stdio server's input is a protocol error: it
/// exits with status 1 (and says why on standard error), writing nothing
/// but AMP.
pub async fn the_rust_stdio_server_refuses_bytes_that_are_not_amp<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let (status, output) = blocking(move || {
        let mut child = Command::new(&worker)
            .arg("stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning ampserver stdio");
        let mut input = child.stdin.take().expect("piped");
        // A key length whose high byte is not zero: not AMP.
        let _ = input.write_all(b"\x01\x00garbage");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the worker") {
                break Some(status);
            }
            if started.elapsed() > CLOSE_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(input);
        let mut output = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut output);
        }
        (status, output)
    })
    .await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "{}",
        describe(status)
    );
    assert!(
        output.is_empty(),
        "it wrote {output:?} on its standard output"
    );
}

/// The binding's `ampserver stdio` with regular files for standard input
/// and output (which no reactor can wait on: read and written on blocking
/// threads): it answers the request the file holds, byte for byte as
/// Twisted encodes the answer, and exits 0 at the file's end.
pub async fn the_rust_stdio_server_serves_regular_files<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let dir = ScratchDir::new("stdio-files");
    let (request, answer) = (dir.0.join("request.bin"), dir.0.join("answer.bin"));
    // Sum(13, 81), asked with tag 1.
    std::fs::write(
        &request,
        b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x03Sum\x00\x01a\x00\x0213\x00\x01b\x00\x0281\x00\x00",
    )
    .expect("writing the request");
    let (input, output) = (request.clone(), answer.clone());
    let status = blocking(move || {
        let mut child = Command::new(&worker)
            .arg("stdio")
            .stdin(std::fs::File::open(&input).expect("the request"))
            .stdout(std::fs::File::create(&output).expect("the answer"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning ampserver stdio");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the worker") {
                break Some(status);
            }
            if started.elapsed() > CLOSE_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
    .await;
    assert!(status.is_some_and(|s| s.success()), "{}", describe(status));
    let written = std::fs::read(&answer).expect("reading the answer");
    assert_eq!(
        written, b"\x00\x07_answer\x00\x011\x00\x05total\x00\x0294\x00\x00",
        "the answer file holds {written:?}"
    );
}

/// A Rust client spawns Twisted's server on its standard input and output
/// (`interop/server.py stdio`): every echo case, arithmetic and errors;
/// Twisted's Die then ends the connection, the child exits 0, and that
/// exit status is the connection's end.
pub async fn rust_client_spawns_a_twisted_child<R: Transports>(rt: R) {
    let python = python().to_path_buf();
    let script = repo_root().join("interop/server.py");
    let script = script.to_str().expect("a UTF-8 path");
    let peer = rt
        .spawn_child(&python, &[script, "stdio"], catalogue::responders())
        .expect("spawning server.py stdio");
    assert_eq!(peer.peer_addr(), None);
    arithmetic(&rt, &peer).await;
    let (problems, handled, total) = within_for(
        &rt,
        Duration::from_secs(60),
        "the echo cases",
        check_every_echo_case(&peer),
    )
    .await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(handled, total);
    let died = within_for(&rt, CLOSE_WITHIN, "Die", peer.call_as::<Die>(&Empty {})).await;
    assert!(
        matches!(died, Err(CallError::Connection(ConnectionError::ProcessExited(s))) if s.success()),
        "Die: {died:?}"
    );
    let reason = within_for(&rt, CLOSE_WITHIN, "the end", peer.closed()).await;
    assert_eq!(reason, ConnectionError::ProcessExited(exit_status(0)));
}

/// A Rust client spawns the binding's own `ampserver stdio`: calls, then
/// ampoule's `Shutdown`, answered, after which the worker exits 0 by
/// itself and its status ends the connection.
pub async fn rust_client_spawns_the_rust_stdio_server<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let worker = blocking(move || example_binary(package, name)).await;
    let peer = rt
        .spawn_child(&worker, &["stdio"], Responders::new())
        .expect("spawning ampserver stdio");
    let total = within_for(
        &rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 }),
    )
    .await
    .expect("Sum");
    assert_eq!(total.total, 3);
    let answer = within_for(&rt, STEP, "Shutdown", peer.call_as::<Shutdown>(&Empty {})).await;
    assert_eq!(answer, Ok(Empty {}));
    let reason = within_for(&rt, CLOSE_WITHIN, "the worker's exit", peer.closed()).await;
    assert_eq!(reason, ConnectionError::ProcessExited(exit_status(0)));
}

/// A child that exits with status 3 before a word of AMP: the connection
/// ends with that status, and a call in flight fails with it.
pub async fn a_child_exit_status_is_the_end_of_the_connection<R: Transports>(rt: R) {
    let python = python().to_path_buf();
    let peer = rt
        .spawn_child(
            &python,
            &["-c", "import sys, time; sys.stdin.read(1); sys.exit(3)"],
            Responders::new(),
        )
        .expect("spawning python");
    let call = within_for(
        &rt,
        STEP,
        "Sum",
        peer.call_as::<Sum>(&SumArgs { a: 1, b: 2 }),
    )
    .await;
    assert_eq!(
        call.map(|t| t.total),
        Err(CallError::Connection(ConnectionError::ProcessExited(
            exit_status(3)
        )))
    );
    let reason = within_for(&rt, CLOSE_WITHIN, "the end", peer.closed()).await;
    assert_eq!(reason, ConnectionError::ProcessExited(exit_status(3)));
    assert_eq!(
        reason.to_string(),
        "the child process exited: exit status: 3"
    );
}

/// Expands to one `#[test]` per scenario of this module, each running on
/// the runtime `$make` evaluates to (a [`Transports`]), with
/// [`DEADLINE`](super::DEADLINE) for each.
///
/// ```text
/// amp_conformance::transports_suite!(MyRuntime::default());
/// ```
#[macro_export]
macro_rules! transports_suite {
    ($make:expr) => {
        $crate::transports_suite!(@tests $make;
            rust_client_to_twisted_over_a_unix_socket,
            twisted_client_to_rust_over_a_unix_socket,
            twisted_parent_spawns_the_rust_stdio_server,
            ampoule_pool_runs_the_rust_worker,
            the_rust_stdio_server_exits_when_its_input_ends,
            the_rust_stdio_server_refuses_bytes_that_are_not_amp,
            the_rust_stdio_server_serves_regular_files,
            rust_client_spawns_a_twisted_child,
            rust_client_spawns_the_rust_stdio_server,
            a_child_exit_status_is_the_end_of_the_connection,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run_within(
                    stringify!($name),
                    $crate::interop::DEADLINE,
                    move || $make,
                    $crate::interop::transports::$name,
                );
            }
        )*
    };
}
