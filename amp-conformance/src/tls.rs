//! TLS and Twisted's `StartTLS`, on every binding with a `tls` feature:
//! Rust with Rust, and Rust with real Twisted (`interop/tls_peer.py`) both
//! ways, with and without a client certificate. The certificates are made
//! by each test ([`Certs::generate`], rcgen), never committed.
//!
//! A binding implements [`TlsRuntime`] in its test harness and runs
//! [`tls_suite!`](crate::tls_suite).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use amp_core::{AmpBox, CallError, ConnectionError};
use amp_engine::tls::{ClientTls, ServerTls};
use amp_engine::{Peer, Responders, UpgradeError};
use bytes::Bytes;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::commands::{Sum, SumArgs};
use crate::interop::python::{PyServer, describe, python, run_to_end};
use crate::sync::Gate;
use crate::{BoxFuture, Connecting, Factory, Runtime, Served, within};

/// What a binding's TLS gives the suite.
pub trait TlsRuntime: Runtime {
    /// A server on 127.0.0.1 (a free port) whose connections are plain and
    /// answer `StartTLS` with `tls`.
    fn serve_start_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>>;
    /// A server whose connections are TLS from the first byte.
    fn serve_tls(&self, tls: ServerTls, factory: Factory) -> BoxFuture<io::Result<Served>>;
    /// A plain connection that can `StartTLS`.
    fn connect_upgradable(&self, addr: SocketAddr, responders: Responders) -> Connecting;
    /// A connection TLS from the first byte; resolves after the handshake.
    fn connect_tls(&self, addr: SocketAddr, tls: ClientTls, responders: Responders) -> Connecting;
}

/// The common name of the test client's certificate.
pub const CLIENT_NAME: &str = "amp-rs test client";

/// One PEM certificate and its key, as text and as files.
pub struct Pem {
    /// The certificate, PEM.
    pub cert: String,
    /// Its private key, PEM.
    pub key: String,
    /// The certificate, DER (what a peer sees).
    pub der: Bytes,
    /// Where the certificate's file is.
    pub cert_path: PathBuf,
    /// Where the key's file is.
    pub key_path: PathBuf,
}

/// A test authority and what it signed, written into a fresh directory
/// (removed when dropped).
pub struct Certs {
    dir: PathBuf,
    /// Whether the directory stays when dropped.
    keep: bool,
    /// The authority both sides trust.
    pub ca: Pem,
    /// The server's, for `localhost` and 127.0.0.1, signed by `ca`.
    pub server: Pem,
    /// The client's ([`CLIENT_NAME`]), signed by `ca`.
    pub client: Pem,
    /// Another authority, which signed nothing here.
    pub stranger: Pem,
    /// A server certificate signed by `stranger`.
    pub impostor: Pem,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

fn authority(dir: &Path, name: &str) -> (Pem, rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("authority params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("amp-rs test {name}"));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("a self-signed authority");
    let pem = Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: Bytes::copy_from_slice(cert.der()),
        cert_path: write(dir, &format!("{name}.pem"), &cert.pem()),
        key_path: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    };
    (pem, cert, key)
}

fn leaf(
    dir: &Path,
    name: &str,
    common_name: &str,
    names: &[&str],
    issuer: (&rcgen::Certificate, &KeyPair),
) -> Pem {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<String>>(),
    )
    .expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params
        .signed_by(&key, issuer.0, issuer.1)
        .expect("a signed certificate");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: Bytes::copy_from_slice(cert.der()),
        cert_path: write(dir, &format!("{name}.pem"), &cert.pem()),
        key_path: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    }
}

impl Certs {
    /// Makes an authority, a server and a client certificate signed by it,
    /// and a stranger authority with an impostor server certificate.
    pub fn generate() -> Certs {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("amp-rs-tls-{}-{n}", std::process::id()));
        Certs::generate_in(dir, false)
    }

    /// [`generate`](Self::generate) into `dir` (`ca.pem`, `server.pem`,
    /// `server.key`, `client.pem`, `client.key`, ...), kept when dropped
    /// if `keep`.
    pub fn generate_in(dir: PathBuf, keep: bool) -> Certs {
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");
        let (ca, ca_cert, ca_key) = authority(&dir, "ca");
        let server = leaf(
            &dir,
            "server",
            "localhost",
            &["localhost", "127.0.0.1"],
            (&ca_cert, &ca_key),
        );
        let client = leaf(&dir, "client", CLIENT_NAME, &[], (&ca_cert, &ca_key));
        let (stranger, s_cert, s_key) = authority(&dir, "stranger");
        let impostor = leaf(
            &dir,
            "impostor",
            "localhost",
            &["localhost"],
            (&s_cert, &s_key),
        );
        Certs {
            dir,
            keep,
            ca,
            server,
            client,
            stranger,
            impostor,
        }
    }

    /// The server's TLS, asking clients for no certificate.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(self.server.cert.as_bytes(), self.server.key.as_bytes())
            .expect("server TLS")
    }

    /// The server's TLS, verifying clients' certificates against the
    /// authority (`required`: refusing a client without one).
    pub fn server_tls_verifying(&self, required: bool) -> ServerTls {
        ServerTls::from_pem_verifying_clients(
            self.server.cert.as_bytes(),
            self.server.key.as_bytes(),
            self.ca.cert.as_bytes(),
            required,
        )
        .expect("server TLS verifying clients")
    }

    /// A client trusting the authority, with or without its certificate.
    pub fn client_tls(&self, with_certificate: bool) -> ClientTls {
        if with_certificate {
            ClientTls::from_pem_with_certificate(
                self.ca.cert.as_bytes(),
                "localhost",
                self.client.cert.as_bytes(),
                self.client.key.as_bytes(),
            )
        } else {
            ClientTls::from_pem(self.ca.cert.as_bytes(), "localhost")
        }
        .expect("client TLS")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The responders of the suite's servers: `Sum`, `Hold` (answers once
/// `gate` lets it), and `PeerName`: [`CLIENT_NAME`] if the caller's
/// verified certificate is the test client's, "" without one.
pub fn responders(gate: Arc<Gate>, client_der: Bytes) -> Responders {
    Responders::new()
        .responder(Sum, |_, args: SumArgs| async move {
            Ok::<_, std::convert::Infallible>(crate::commands::Total {
                total: args.a + args.b,
            })
        })
        .raw_responder("Hold", move |_, _| {
            let gate = Arc::clone(&gate);
            async move {
                gate.pass().await;
                Ok(AmpBox::from_pairs([("held", "yes")]))
            }
        })
        .raw_responder("PeerName", move |ctx, _| {
            let name = match ctx.peer_certificate() {
                None => "",
                Some(der) if der == client_der => CLIENT_NAME,
                Some(_) => "someone else",
            };
            async move { Ok(AmpBox::from_pairs([("name", name)])) }
        })
}

fn factory(gate: &Arc<Gate>, certs: &Certs) -> Factory {
    let (gate, der) = (Arc::clone(gate), certs.client.der.clone());
    Arc::new(move |_| responders(Arc::clone(&gate), der.clone()))
}

async fn sum(peer: &Peer, a: i128, b: i128) -> i128 {
    peer.call_as::<Sum>(&SumArgs { a, b })
        .await
        .expect("Sum answered")
        .total
}

async fn peer_name(peer: &Peer) -> String {
    let answer = peer
        .call_remote("PeerName", AmpBox::new())
        .await
        .expect("PeerName answered");
    answer.get_str("name").unwrap_or("?").to_owned()
}

/// StartTLS between two Rust peers, mutual: a call in flight across the
/// switch (held by the server until after it) and calls queued right
/// after `StartTLS` are answered; each side sees the other's certificate.
pub async fn start_tls_rust_to_rust_mutual<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let served = rt
        .serve_start_tls(certs.server_tls_verifying(true), factory(&gate, &certs))
        .await
        .expect("serve");
    let client = within(
        &rt,
        "connect",
        rt.connect_upgradable(served.addr, Responders::new()),
    )
    .await
    .expect("connect");
    assert_eq!(sum(&client, 1, 2).await, 3);
    let held = client.call_remote("Hold", AmpBox::new());
    let tls = certs.client_tls(true);
    // The held call is answered once TLS is up: its answer crosses the
    // switch. The calls after StartTLS wait for TLS and go out over it.
    let upgrading = async {
        let upgraded = amp_engine::tls::start_tls(&client, &tls).await;
        gate.open(1);
        upgraded
    };
    let after = sum(&client, 40, 2);
    let name = peer_name(&client);
    let ((held, upgraded), (after, name)) = within(
        &rt,
        "the upgrade and the calls around it",
        futures_util::future::join(
            futures_util::future::join(held, upgrading),
            futures_util::future::join(after, name),
        ),
    )
    .await;
    upgraded.expect("StartTLS");
    assert_eq!(held.expect("Hold answered").get_str("held"), Some("yes"));
    assert_eq!(after, 42);
    assert_eq!(name, CLIENT_NAME);
    assert!(client.is_upgraded());
    assert_eq!(
        client.peer_certificates().and_then(|c| c.first().cloned()),
        Some(certs.server.der.clone())
    );
    // A second StartTLS is refused, and the connection goes on.
    let again = amp_engine::tls::start_tls(&client, &tls).await;
    assert!(
        matches!(&again, Err(UpgradeError::Call(CallError::Remote(e))) if e.code == amp_engine::tls::TLS_ERROR_CODE),
        "{again:?}"
    );
    assert_eq!(sum(&client, 5, 5).await, 10);
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// TLS from the first byte between two Rust peers.
pub async fn tls_from_the_first_byte_rust_to_rust<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let served = rt
        .serve_tls(certs.server_tls_verifying(false), factory(&gate, &certs))
        .await
        .expect("serve");
    let client = within(
        &rt,
        "connect",
        rt.connect_tls(served.addr, certs.client_tls(false), Responders::new()),
    )
    .await
    .expect("TLS connect");
    assert!(client.is_upgraded());
    assert_eq!(sum(&client, 2, 3).await, 5);
    // No client certificate: the server sees none.
    assert_eq!(peer_name(&client).await, "");
    assert_eq!(
        client.peer_certificates().and_then(|c| c.first().cloned()),
        Some(certs.server.der.clone())
    );
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// A server certificate from an authority the client does not trust ends
/// the connection with a typed error, on StartTLS and on TLS from the
/// first byte.
pub async fn a_refused_server_certificate_ends_the_connection<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let impostor = ServerTls::from_pem(
        certs.impostor.cert.as_bytes(),
        certs.impostor.key.as_bytes(),
    )
    .expect("impostor TLS");
    let served = rt
        .serve_start_tls(impostor.clone(), factory(&gate, &certs))
        .await
        .expect("serve");
    let client = within(
        &rt,
        "connect",
        rt.connect_upgradable(served.addr, Responders::new()),
    )
    .await
    .expect("connect");
    let refused = within(
        &rt,
        "StartTLS",
        amp_engine::tls::start_tls(&client, &certs.client_tls(false)),
    )
    .await;
    match &refused {
        Err(UpgradeError::Failed(ConnectionError::UpgradeFailed(why))) => {
            assert!(why.contains("UnknownIssuer"), "{why}")
        }
        other => panic!("not refused as it should be: {other:?}"),
    }
    assert!(matches!(
        within(&rt, "the end", client.closed()).await,
        ConnectionError::UpgradeFailed(_)
    ));
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;

    let served = rt
        .serve_tls(impostor, factory(&gate, &certs))
        .await
        .expect("serve");
    let refused = within(
        &rt,
        "TLS connect",
        rt.connect_tls(served.addr, certs.client_tls(false), Responders::new()),
    )
    .await;
    let e = refused.expect_err("the impostor is refused");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// A server that requires a client certificate refuses a client without
/// one: the connection ends on both sides, with a reason about the
/// certificate.
pub async fn a_client_without_a_required_certificate_is_refused<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let served = rt
        .serve_start_tls(certs.server_tls_verifying(true), factory(&gate, &certs))
        .await
        .expect("serve");
    let client = within(
        &rt,
        "connect",
        rt.connect_upgradable(served.addr, Responders::new()),
    )
    .await
    .expect("connect");
    // TLS 1.3: the client's side of the handshake may finish before the
    // server refuses; the refusal arrives as the server's alert.
    let _ = within(
        &rt,
        "StartTLS",
        amp_engine::tls::start_tls(&client, &certs.client_tls(false)),
    )
    .await;
    let call = within(
        &rt,
        "a call after",
        client.call_remote("Sum", AmpBox::new()),
    )
    .await;
    assert!(call.is_err(), "{call:?}");
    let reason = within(&rt, "the end", client.closed()).await;
    let text = reason.to_string();
    assert!(
        text.contains("Certificate") || text.contains("certificate"),
        "{reason:?}"
    );
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// A Rust client upgrades a plain connection to Twisted's server with
/// StartTLS (Twisted answers with its certificate, verifying the Rust
/// client's when `with_certificate`).
async fn rust_client_to_twisted<R: TlsRuntime>(rt: R, with_certificate: bool) {
    let certs = Certs::generate();
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "server".as_ref(),
        certs.server.cert_path.as_os_str(),
        certs.server.key_path.as_os_str(),
        certs.ca.cert_path.as_os_str(),
    ];
    if with_certificate {
        args.push("--require-client".as_ref());
    }
    let twisted = PyServer::start_args(python(), "tls_peer.py", &args);
    let client = within(
        &rt,
        "connect",
        rt.connect_upgradable(twisted.addr(), Responders::new()),
    )
    .await
    .expect("connect to Twisted");
    assert_eq!(sum(&client, 1, 2).await, 3);
    let across = sum(&client, 10, 20);
    let tls = certs.client_tls(with_certificate);
    let upgrading = amp_engine::tls::start_tls(&client, &tls);
    let after = sum(&client, 100, 200);
    let (across, upgraded, after) = within(
        &rt,
        "StartTLS with Twisted",
        futures_util::future::join3(across, upgrading, after),
    )
    .await;
    upgraded.expect("StartTLS with Twisted");
    assert_eq!((across, after), (30, 300));
    let expected = if with_certificate { CLIENT_NAME } else { "" };
    assert_eq!(peer_name(&client).await, expected);
    assert_eq!(
        client.peer_certificates().and_then(|c| c.first().cloned()),
        Some(certs.server.der.clone())
    );
    drop(twisted);
}

/// Rust client → Twisted server, StartTLS without a client certificate.
pub async fn start_tls_rust_client_to_twisted<R: TlsRuntime>(rt: R) {
    rust_client_to_twisted(rt, false).await
}

/// Rust client → Twisted server, StartTLS with a client certificate that
/// Twisted requires and verifies.
pub async fn start_tls_rust_client_with_certificate_to_twisted<R: TlsRuntime>(rt: R) {
    rust_client_to_twisted(rt, true).await
}

/// Twisted's client upgrades a plain connection to a Rust server with
/// StartTLS, verifying the Rust server's certificate (and showing its own
/// when `with_certificate`).
async fn twisted_client_to_rust<R: TlsRuntime>(rt: R, with_certificate: bool) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let served = rt
        .serve_start_tls(certs.server_tls_verifying(false), factory(&gate, &certs))
        .await
        .expect("serve");
    let mut command = Command::new(python());
    command
        .arg(crate::interop::python::repo_root().join("interop/tls_peer.py"))
        .arg("client")
        .arg(served.addr.to_string())
        .arg(&certs.ca.cert_path)
        .current_dir(crate::interop::python::repo_root());
    if with_certificate {
        command
            .arg(&certs.client.cert_path)
            .arg(&certs.client.key_path);
    }
    let run = within(
        &rt,
        "Twisted's TLS client",
        crate::blocking(move || run_to_end(command, std::time::Duration::from_secs(60))),
    )
    .await
    .expect("run tls_peer.py client");
    assert!(
        run.status.is_some_and(|s| s.success()),
        "tls_peer.py client failed ({}):\n{}\n{}",
        describe(run.status),
        run.stdout,
        run.stderr
    );
    let seen: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!("tls_peer.py printed {:?}: {e}", run.stdout);
    });
    assert_eq!(seen["plain_sum"], 3, "{seen}");
    assert_eq!(seen["across_sum"], 30, "{seen}");
    assert_eq!(seen["after_sum"], 300, "{seen}");
    assert_eq!(seen["server_name"], "localhost", "{seen}");
    let expected = if with_certificate { CLIENT_NAME } else { "" };
    assert_eq!(seen["server_saw"], expected, "{seen}");
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// A Rust client connects with TLS from the first byte to Twisted's
/// `ssl:` server (listenSSL), which requires and verifies its certificate.
pub async fn tls_from_the_first_byte_rust_client_to_twisted<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let args: Vec<&std::ffi::OsStr> = vec![
        "ssl-server".as_ref(),
        certs.server.cert_path.as_os_str(),
        certs.server.key_path.as_os_str(),
        certs.ca.cert_path.as_os_str(),
        "--require-client".as_ref(),
    ];
    let twisted = PyServer::start_args(python(), "tls_peer.py", &args);
    let client = within(
        &rt,
        "TLS connect to Twisted",
        rt.connect_tls(twisted.addr(), certs.client_tls(true), Responders::new()),
    )
    .await
    .expect("TLS connect to Twisted");
    assert_eq!(sum(&client, 20, 22).await, 42);
    assert_eq!(peer_name(&client).await, CLIENT_NAME);
    assert_eq!(
        client.peer_certificates().and_then(|c| c.first().cloned()),
        Some(certs.server.der.clone())
    );
    drop(twisted);
}

/// Twisted's `ssl:` client (connectSSL) connects with TLS from the first
/// byte to a Rust server, showing its certificate, which the Rust server
/// verifies and its responders see.
pub async fn tls_from_the_first_byte_twisted_client_to_rust<R: TlsRuntime>(rt: R) {
    let certs = Certs::generate();
    let gate = Arc::new(Gate::default());
    let served = rt
        .serve_tls(certs.server_tls_verifying(true), factory(&gate, &certs))
        .await
        .expect("serve");
    let mut command = Command::new(python());
    command
        .arg(crate::interop::python::repo_root().join("interop/tls_peer.py"))
        .arg("ssl-client")
        .arg(served.addr.to_string())
        .arg(&certs.ca.cert_path)
        .arg(&certs.client.cert_path)
        .arg(&certs.client.key_path)
        .current_dir(crate::interop::python::repo_root());
    let run = within(
        &rt,
        "Twisted's ssl: client",
        crate::blocking(move || run_to_end(command, std::time::Duration::from_secs(60))),
    )
    .await
    .expect("run tls_peer.py ssl-client");
    assert!(
        run.status.is_some_and(|s| s.success()),
        "tls_peer.py ssl-client failed ({}):\n{}\n{}",
        describe(run.status),
        run.stdout,
        run.stderr
    );
    let seen: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("tls_peer.py printed {:?}: {e}", run.stdout));
    assert_eq!(seen["sum"], 3, "{seen}");
    assert_eq!(seen["server_saw"], CLIENT_NAME, "{seen}");
    assert_eq!(seen["server_name"], "localhost", "{seen}");
    within(
        &rt,
        "the server to stop",
        served.stop.shutdown(std::time::Duration::from_secs(1)),
    )
    .await;
}

/// Twisted client → Rust server, StartTLS without a client certificate.
pub async fn start_tls_twisted_client_to_rust<R: TlsRuntime>(rt: R) {
    twisted_client_to_rust(rt, false).await
}

/// Twisted client → Rust server, StartTLS with a client certificate the
/// Rust server verifies and its responders see.
pub async fn start_tls_twisted_client_with_certificate_to_rust<R: TlsRuntime>(rt: R) {
    twisted_client_to_rust(rt, true).await
}

/// The TLS suite: one `#[test]` per scenario of this module, on the
/// runtime `$make` builds.
///
/// ```text
/// amp_conformance::tls_suite!(Tokio { multi_thread: true });
/// ```
#[macro_export]
macro_rules! tls_suite {
    ($make:expr) => {
        $crate::tls_suite!(@tests $make;
            start_tls_rust_to_rust_mutual,
            tls_from_the_first_byte_rust_to_rust,
            a_refused_server_certificate_ends_the_connection,
            a_client_without_a_required_certificate_is_refused,
            start_tls_rust_client_to_twisted,
            start_tls_rust_client_with_certificate_to_twisted,
            start_tls_twisted_client_to_rust,
            start_tls_twisted_client_with_certificate_to_rust,
            tls_from_the_first_byte_rust_client_to_twisted,
            tls_from_the_first_byte_twisted_client_to_rust,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::run(stringify!($name), move || $make, $crate::tls::$name);
            }
        )*
    };
}
