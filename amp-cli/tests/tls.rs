//! `tls:HOST:PORT` addresses: `amp call` and `amp bench` over TLS from the
//! first byte to a Rust server (amp-tokio's TLS listener, serving the
//! documented example's `Sum`), verified with `--ca`; a wrong authority
//! and a missing `--ca` refused with one line. Certificates are made here,
//! at test time.

mod common;

use std::path::PathBuf;

use common::{amp, stderr, stdout};

/// A self-signed certificate for `localhost`: (certificate, key) in PEM.
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (made.cert.pem(), made.key_pair.serialize_pem())
}

/// Writes `text` to a file of this test's own.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("amp-cli-tls-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// Serves the documented example over TLS with this certificate, on a
/// runtime of its own; returns the port.
fn tls_server(cert: &str, key: &str) -> u16 {
    let tls = amp_tokio::tls::ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let server =
                amp_tokio::tls::bind("127.0.0.1:0", tls, |_| amp_conformance::howto::responders())
                    .await
                    .unwrap();
            tx.send(server.local_addr().unwrap().port()).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[test]
fn call_and_bench_over_tls_verify_the_server() {
    let (cert, key) = certificate();
    let port = tls_server(&cert, &key);
    let ca = file("ca.pem", &cert);
    let ca = ca.to_str().unwrap();
    let address = format!("tls:127.0.0.1:{port}");

    let output = amp(&[
        "call",
        &address,
        "--ca",
        ca,
        "--server-name",
        "localhost",
        "Sum",
        "a=13",
        "b=81",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "total: 94\n");

    let output = amp(&[
        "bench",
        &address,
        "Sum",
        "a=1",
        "b=2",
        "-c",
        "8",
        "-n",
        "100",
        "--json",
        "--ca",
        ca,
        "--server-name",
        "localhost",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["ok"], 100, "{report}");
}

#[test]
fn a_server_the_authority_did_not_sign_is_refused() {
    let (cert, key) = certificate();
    let port = tls_server(&cert, &key);
    let (other, _) = certificate();
    let ca = file("other.pem", &other);
    let address = format!("tls:127.0.0.1:{port}");
    let output = amp(&[
        "call",
        &address,
        "--ca",
        ca.to_str().unwrap(),
        "--server-name",
        "localhost",
        "Sum",
        "a=1",
        "b=2",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn a_tls_address_needs_its_authorities() {
    let output = amp(&["call", "tls:127.0.0.1:1", "Sum", "a=1", "b=2"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--ca"), "{err}");
}

#[test]
fn serve_and_proxy_refuse_tls_addresses() {
    let output = amp(&["proxy", "127.0.0.1:0", "tls:127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("tls:"), "{}", stderr(&output));
}

#[test]
fn serve_answers_over_tls() {
    let (cert, key) = certificate();
    let (cert_file, key_file) = (file("serve.pem", &cert), file("serve.key", &key));
    let server = common::Running::start(&[
        "serve",
        "tls:127.0.0.1:0",
        "--schema",
        &common::schema(),
        "--cert",
        cert_file.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    let first = server.line();
    let address = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split(": ").next())
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_owned();
    assert!(address.starts_with("tls:127.0.0.1:"), "{first}");
    let output = amp(&[
        "call",
        &address,
        "--ca",
        cert_file.to_str().unwrap(),
        "--server-name",
        "localhost",
        "Sum",
        "a=13",
        "b=81",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Without an answers file, a command is answered with its arguments.
    assert_eq!(stdout(&output), "a: 13\nb: 81\n");
    let output = amp(&["serve", "tls:127.0.0.1:0", "--schema", &common::schema()]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "no --cert: {}",
        stderr(&output)
    );
}
