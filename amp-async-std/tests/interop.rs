//! Interoperability of the futures-io adapter with real Twisted (26.10.0,
//! from `interop/`), on async-std and on smol: every echo case, Sum and
//! Divide, declared, fatal and undeclared errors and unknown commands with a
//! Rust client against Twisted's `server.py`; and Twisted's `client.py`
//! (every scenario of the catalogue) against a Rust server.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it these tests fail: they are never
//! skipped.

// Not every command of the catalogue is called from here.
#[allow(dead_code)]
#[path = "../../amp-tokio/tests/catalogue/mod.rs"]
mod catalogue;

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use amp_async_std::{Peer, Runtime};
use amp_core::{AmpBox, CallError, CallFailure, ConnectionError};
use catalogue::twisted::*;
use catalogue::*;
use futures_util::future::{Either, select};

const STEP: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than `limit`.
async fn within<F: Future>(limit: Duration, what: &str, future: F) -> F::Output {
    match select(Box::pin(future), async_io::Timer::after(limit)).await {
        Either::Left((output, _)) => output,
        Either::Right(_) => panic!("{what}: no result within {limit:?}"),
    }
}

async fn connect(spawner: impl Runtime, server: &PyServer) -> Peer {
    within(
        STEP,
        "connecting",
        amp_async_std::connect(spawner, server.addr(), responders()),
    )
    .await
    .unwrap_or_else(|e| panic!("connecting to {}: {e}", server.addr()))
}

async fn echo_cases(spawner: impl Runtime) {
    let server = PyServer::start("server.py");
    let peer = connect(spawner, &server).await;
    let (problems, handled, total) = within(
        Duration::from_secs(60),
        "the echo cases",
        check_every_echo_case(&peer),
    )
    .await;
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(handled, total);
}

async fn arithmetic_and_errors(spawner: impl Runtime) {
    let server = PyServer::start("server.py");
    let peer = connect(spawner.clone(), &server).await;
    let total = within(STEP, "Sum", peer.call::<Sum>(&SumArgs { a: 13, b: 81 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total.total, 94);
    let q = within(
        STEP,
        "Divide",
        peer.call::<Divide>(&DivideArgs {
            numerator: 10,
            denominator: 4,
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(q.result, 2.5);
    let e = within(
        STEP,
        "Divide by zero",
        peer.call::<Divide>(&DivideArgs {
            numerator: 1,
            denominator: 0,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(DivideError::ZeroDivision(ref d)) if d == "float division by zero"),
        "{e:?}"
    );
    match within(
        STEP,
        "NoSuchCommand",
        peer.call_remote("NoSuchCommand", AmpBox::new()),
    )
    .await
    {
        Err(CallFailure::Remote(e)) => {
            assert_eq!(e.code, "UNHANDLED");
            assert_eq!(e.description, "Unhandled Command: b'NoSuchCommand'");
        }
        other => panic!("{other:?}"),
    }
    // Declared and unknown-command errors leave the connection usable.
    let total = within(STEP, "Sum", peer.call::<Sum>(&SumArgs { a: 1, b: 2 }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total.total, 3);

    let fatal = connect(spawner.clone(), &server).await;
    let e = within(STEP, "Fatal", fatal.call::<Fatal>(&Empty {}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Declared(FatalError::Key(ref d)) if d == "'x'"),
        "{e:?}"
    );
    assert_eq!(
        within(STEP, "Twisted closing", fatal.closed()).await,
        ConnectionError::PeerClosed
    );

    let boom = connect(spawner, &server).await;
    let e = within(STEP, "Boom", boom.call::<Boom>(&Empty {}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNKNOWN" && r.description == "Unknown Error"),
        "{e:?}"
    );
    assert_eq!(
        within(STEP, "Twisted closing", boom.closed()).await,
        ConnectionError::PeerClosed
    );
}

async fn twisted_client_against_rust_server(spawner: impl Runtime) {
    let python = python().to_path_buf();
    let client = repo_root().join("interop/client.py");
    let server = amp_async_std::bind(spawner.clone(), "127.0.0.1:0", |_| responders())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let (done_tx, done_rx) = futures_channel::oneshot::channel();
    spawner.spawn(Box::pin(async move {
        let _ = done_tx.send(server.run().await);
    }));
    let mut list = Command::new(&python);
    list.arg(&client).arg("--list").current_dir(repo_root());
    let listed = smol::unblock(move || run_to_end(list, STEP))
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
        .arg(addr.to_string())
        .current_dir(repo_root());
    let ran = smol::unblock(move || run_to_end(run, Duration::from_secs(150)))
        .await
        .expect("running client.py");
    let last = ran.stdout.lines().last().unwrap_or("");
    let want = format!("{scenarios} passed, 0 failed");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == want,
        "client.py against the Rust server: {}, last line {last:?} (expected {want:?}); its output:\n{}",
        describe(ran.status),
        ran.stdout
    );
    within(STEP, "shutting the server down", stop.shutdown(STEP)).await;
    within(STEP, "the server stopping", done_rx)
        .await
        .unwrap()
        .unwrap();
}

mod on_async_std {
    use super::*;
    use amp_async_std::AsyncStd;

    #[test]
    fn every_echo_case_round_trips_through_twisted() {
        async_std::task::block_on(echo_cases(AsyncStd));
    }

    #[test]
    fn arithmetic_declared_fatal_undeclared_and_unknown() {
        async_std::task::block_on(arithmetic_and_errors(AsyncStd));
    }

    #[test]
    fn twisted_client_scenarios_against_rust_server() {
        async_std::task::block_on(twisted_client_against_rust_server(AsyncStd));
    }
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::*;
    use amp_async_std::Smol;

    #[test]
    fn every_echo_case_round_trips_through_twisted() {
        smol::block_on(echo_cases(Smol));
    }

    #[test]
    fn arithmetic_declared_fatal_undeclared_and_unknown() {
        smol::block_on(arithmetic_and_errors(Smol));
    }

    #[test]
    fn twisted_client_scenarios_against_rust_server() {
        smol::block_on(twisted_client_against_rust_server(Smol));
    }
}
