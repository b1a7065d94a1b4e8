//! Twisted's `ProtocolSwitchCommand` on every binding: the catalogue's
//! `SwitchToEcho` (interop/COMMANDS.md) between Rust peers and with real
//! Twisted both ways (`interop/server.py`, `interop/switch_client.py`).
//! After the answer each side has the raw transport and every byte that
//! came after the answer (or the request), none lost or duplicated; while
//! the caller's switch is pending its other calls are refused.
//!
//! A binding implements [`SwitchRuntime`] in its test harness and runs
//! [`switch_suite!`](crate::switch_suite).

use std::io;
use std::net::SocketAddr;
use std::process::Command;

use amp_core::ConnectionError;

use crate::interop::python::{PyServer, describe, python, repo_root, run_to_end};
use crate::{BoxFuture, Runtime, Served, within};

/// What a Rust caller of `SwitchToEcho` saw.
#[derive(Debug)]
pub struct Switched {
    /// What came back through the echo for the bytes written after the
    /// answer.
    pub echoed: Vec<u8>,
    /// What a call made while the switch was pending failed with.
    pub refused_meanwhile: Option<ConnectionError>,
}

/// What a binding gives the suite.
pub trait SwitchRuntime: Runtime {
    /// A server on 127.0.0.1 (a free port) answering `SwitchToEcho`, then
    /// echoing.
    fn serve_switch_to_echo(&self) -> BoxFuture<io::Result<Served>>;
    /// Connects to `addr`, calls `SwitchToEcho` (and, while it is pending,
    /// another call), then writes `bytes` on the switched transport at
    /// once and reads as many back.
    fn switch_and_echo(&self, addr: SocketAddr, bytes: Vec<u8>) -> BoxFuture<io::Result<Switched>>;
}

fn payload() -> Vec<u8> {
    // Bytes that are not AMP (a key length with a high byte set), so that
    // any of them decoded as a box would end the connection.
    let mut bytes = b"\xff\xffnot a box, ".to_vec();
    bytes.extend((0..2000u32).map(|i| (i % 251) as u8));
    bytes
}

async fn check_caller<R: SwitchRuntime>(rt: &R, addr: SocketAddr) {
    let bytes = payload();
    let switched = within(
        rt,
        "the switch and the echo",
        rt.switch_and_echo(addr, bytes.clone()),
    )
    .await
    .expect("switch and echo");
    assert_eq!(
        switched.echoed, bytes,
        "the echo gave back every byte, once"
    );
    assert_eq!(
        switched.refused_meanwhile,
        Some(ConnectionError::ProtocolSwitched)
    );
}

/// A Rust caller switches a Rust server to echo.
pub async fn switch_to_echo_rust_to_rust<R: SwitchRuntime>(rt: R) {
    let served = rt.serve_switch_to_echo().await.expect("serve");
    check_caller(&rt, served.addr).await;
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// A Rust caller switches Twisted's server (`interop/server.py`) to echo.
pub async fn switch_to_echo_rust_client_to_twisted<R: SwitchRuntime>(rt: R) {
    let twisted = PyServer::start("server.py");
    check_caller(&rt, twisted.addr()).await;
    drop(twisted);
}

/// Twisted's caller (`interop/switch_client.py`) switches a Rust server to
/// echo, writing bytes right behind the request, before the answer: the
/// Rust server hands them to the echo with the transport.
pub async fn switch_to_echo_twisted_client_to_rust<R: SwitchRuntime>(rt: R) {
    let served = rt.serve_switch_to_echo().await.expect("serve");
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("interop/switch_client.py"))
        .arg(served.addr.to_string())
        .current_dir(repo_root());
    let run = within(
        &rt,
        "Twisted's switching client",
        crate::blocking(move || run_to_end(command, std::time::Duration::from_secs(60))),
    )
    .await
    .expect("run switch_client.py");
    assert!(
        run.status.is_some_and(|s| s.success()),
        "switch_client.py failed ({}):\n{}\n{}",
        describe(run.status),
        run.stdout,
        run.stderr
    );
    let seen: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("switch_client.py printed {:?}: {e}", run.stdout));
    assert_eq!(
        seen["echoed"], "sent right behind the request\nsent once switched\n",
        "{seen}"
    );
    assert_eq!(seen["refused_meanwhile"], "ProtocolSwitched", "{seen}");
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// The switching suite: one `#[test]` per scenario of this module.
///
/// ```text
/// amp_conformance::switch_suite!(Tokio { multi_thread: true });
/// ```
#[macro_export]
macro_rules! switch_suite {
    ($make:expr) => {
        $crate::switch_suite!(@tests $make;
            switch_to_echo_rust_to_rust,
            switch_to_echo_rust_client_to_twisted,
            switch_to_echo_twisted_client_to_rust,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run(stringify!($name), move || $make, $crate::switch::$name);
            }
        )*
    };
}
