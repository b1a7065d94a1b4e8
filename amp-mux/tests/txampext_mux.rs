//! The multiplexing commands against txampext's own
//! `MultiplexingCommandLocator` (the Python 3 port in
//! `interop/txampext/multiplexing.py`) on real Twisted, with an echo
//! factory: a stream opened with `Connect`, fed with `Transmit` and echoed
//! back with `Transmit` calls from the Twisted side, ended with
//! `Disconnect`; every declared error, by its txampext code.
//!
//! The Python comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it these tests fail: they are never
//! skipped.

use std::time::Duration;

use amp_conformance::interop::python::PyServer;
use amp_core::CallError;
use amp_mux::{
    Connect, ConnectArgs, ConnectError, ConnectionId, Disconnect, DisconnectArgs, StreamError,
    Transmit, TransmitArgs,
};
use amp_tokio::{Context, Responders};
use bytes::Bytes;
use tokio::sync::mpsc;

async fn start() -> (
    PyServer,
    amp_tokio::Peer,
    mpsc::UnboundedReceiver<TransmitArgs>,
) {
    let server = tokio::task::spawn_blocking(|| PyServer::start("txampext_mux_server.py"))
        .await
        .expect("starting txampext_mux_server.py");
    let (tx, rx) = mpsc::unbounded_channel();
    // The connecting side answers Transmit: the bytes the echo writes back.
    let responders =
        Responders::new().responder(Transmit, move |_ctx: Context, t: TransmitArgs| {
            let sent = tx.send(t).is_ok();
            async move {
                if sent {
                    Ok(())
                } else {
                    Err(StreamError::NoSuchConnection("no reader".into()))
                }
            }
        });
    let peer = amp_tokio::connect(server.addr(), responders)
        .await
        .expect("connect to the multiplexing server");
    (server, peer, rx)
}

async fn echoed(rx: &mut mpsc::UnboundedReceiver<TransmitArgs>, want: usize) -> (Bytes, Vec<u8>) {
    let mut got = Vec::new();
    let mut connection = Bytes::new();
    while got.len() < want {
        let t = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the echo writes back within 10 s")
            .expect("the connection is open");
        connection = t.connection;
        got.extend_from_slice(&t.data);
    }
    (connection, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_to_txampexts_echo_factory() {
    let (_server, peer, mut rx) = start().await;
    let connected = peer
        .call_as::<Connect>(&ConnectArgs {
            factory: "echo".into(),
        })
        .await
        .unwrap();
    let id = ConnectionId::parse(&connected.connection)
        .expect("txampext's identifier is 32 lower-case hexadecimal digits");

    for data in [
        Bytes::from_static(b"hello"),
        Bytes::from(vec![0u8; 1]),
        Bytes::from((0..=255u8).cycle().take(65535).collect::<Vec<u8>>()),
    ] {
        peer.call_as::<Transmit>(&TransmitArgs {
            connection: id.to_bytes(),
            data: data.clone(),
        })
        .await
        .unwrap();
        let (connection, got) = echoed(&mut rx, data.len()).await;
        assert_eq!(connection, id.to_bytes());
        assert_eq!(got, data);
    }

    peer.call_as::<Disconnect>(&DisconnectArgs {
        connection: id.to_bytes(),
    })
    .await
    .unwrap();
    let after = peer
        .call_as::<Transmit>(&TransmitArgs {
            connection: id.to_bytes(),
            data: "late".into(),
        })
        .await;
    assert!(
        matches!(
            after,
            Err(CallError::Declared(StreamError::NoSuchConnection(_)))
        ),
        "{after:?}"
    );
    assert!(!peer.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txampexts_error_codes_arrive_as_declared_errors() {
    let (_server, peer, _rx) = start().await;
    let nope = peer
        .call_as::<Connect>(&ConnectArgs {
            factory: "nope".into(),
        })
        .await;
    assert!(
        matches!(
            nope,
            Err(CallError::Declared(ConnectError::NoSuchFactory(_)))
        ),
        "{nope:?}"
    );
    let refused = peer
        .call_as::<Connect>(&ConnectArgs {
            factory: "refuse".into(),
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(CallError::Declared(ConnectError::ConnectionRefused(_)))
        ),
        "{refused:?}"
    );
    let unknown = peer
        .call_as::<Transmit>(&TransmitArgs {
            connection: ConnectionId::new().to_bytes(),
            data: "x".into(),
        })
        .await;
    assert!(
        matches!(
            unknown,
            Err(CallError::Declared(StreamError::NoSuchConnection(_)))
        ),
        "{unknown:?}"
    );
    // Declared errors are not fatal: the connection goes on.
    let ok = peer
        .call_as::<Connect>(&ConnectArgs {
            factory: "echo".into(),
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

/// A stream of this crate on txampext's echo factory: what is written comes
/// back, through txampext's own `Transmit` calls, to the stream's reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mux_stream_on_txampexts_echo_factory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = tokio::task::spawn_blocking(|| PyServer::start("txampext_mux_server.py"))
        .await
        .expect("starting txampext_mux_server.py");
    let mux = amp_mux::Mux::with_window(32 * 1024);
    let peer = amp_tokio::connect(server.addr(), mux.responders())
        .await
        .unwrap();
    let mut stream = mux.open(&peer, "echo").await.unwrap();
    assert!(ConnectionId::parse(stream.connection()).is_ok());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let (mut r, mut w) = tokio::io::split(stream);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.flush().await.unwrap();
        w
    });
    let mut got = vec![0u8; data.len()];
    tokio::time::timeout(Duration::from_secs(30), r.read_exact(&mut got))
        .await
        .expect("the echo within 30 s")
        .unwrap();
    assert!(got == data, "the echo differs");
    stream = r.unsplit(writer.await.unwrap());
    stream.shutdown().await.unwrap();
    assert_eq!(mux.streams(), 0);
}

/// A Python process of `interop/`, given its arguments, until it prints
/// `LISTENING <port>`; killed when dropped.
struct PyProcess {
    child: std::process::Child,
    port: u16,
}

impl PyProcess {
    fn start(script: &str, args: &[&str]) -> PyProcess {
        use std::io::BufRead;
        let root = amp_conformance::interop::python::repo_root();
        let mut child = std::process::Command::new(amp_conformance::interop::python::python())
            .arg(root.join("interop").join(script))
            .args(args)
            .current_dir(&root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(amp_conformance::interop::python::PROCESS_LIMIT)
            .unwrap_or_else(|_| panic!("{script} printed no LISTENING line"))
            .expect("reading its standard output");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} printed {line:?}"));
        PyProcess { child, port }
    }
}

impl Drop for PyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// txampext's ProxyingFactory forwarding local TCP connections over AMP to
/// this crate's listening side: each accepted connection is a stream on the
/// Rust `echo` factory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txampexts_proxying_factory_to_a_rust_mux_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mux = amp_mux::Mux::new();
    mux.listen("echo", |stream| {
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(stream);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
        Ok(())
    });
    let responders = mux.responders();
    let server = amp_tokio::bind("127.0.0.1:0", move |_| responders.clone())
        .await
        .unwrap();
    let amp_addr = server.local_addr().unwrap().to_string();
    let serving = tokio::spawn(server.run());
    let proxy = tokio::task::spawn_blocking(move || {
        PyProcess::start("txampext_proxy.py", &[&amp_addr, "echo"])
    })
    .await
    .unwrap();

    for round in 0..3u8 {
        let mut local = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port))
            .await
            .unwrap();
        // Under one AMP value in all: txampext's ProxyingProtocol sends
        // each local read as one Transmit without splitting it, and
        // Twisted refuses a value over 65535 bytes (TooLong).
        let data: Vec<u8> = (0..60_000u32)
            .map(|i| (i as u8).wrapping_add(round))
            .collect();
        local.write_all(&data).await.unwrap();
        let mut got = vec![0u8; data.len()];
        tokio::time::timeout(Duration::from_secs(30), local.read_exact(&mut got))
            .await
            .expect("the echo through the proxy within 30 s")
            .unwrap();
        assert!(got == data, "round {round}: the echo differs");
    }
    assert!(mux.streams() >= 3, "each local connection was a stream");
    drop(proxy);
    serving.abort();
}
