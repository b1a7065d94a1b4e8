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
        .call::<Connect>(&ConnectArgs {
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
        peer.call::<Transmit>(&TransmitArgs {
            connection: id.to_bytes(),
            data: data.clone(),
        })
        .await
        .unwrap();
        let (connection, got) = echoed(&mut rx, data.len()).await;
        assert_eq!(connection, id.to_bytes());
        assert_eq!(got, data);
    }

    peer.call::<Disconnect>(&DisconnectArgs {
        connection: id.to_bytes(),
    })
    .await
    .unwrap();
    let after = peer
        .call::<Transmit>(&TransmitArgs {
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
        .call::<Connect>(&ConnectArgs {
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
        .call::<Connect>(&ConnectArgs {
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
        .call::<Transmit>(&TransmitArgs {
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
        .call::<Connect>(&ConnectArgs {
            factory: "echo".into(),
        })
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}
