//! A connection started with `upgradable::from_stream` whose upgrades
//! answer `StartTLS` answers it, its responder added without being asked;
//! a `StartTLS` responder of the caller's own is kept.

use amp_async_std::tls::{ClientTls, ServerTls};
use amp_async_std::upgradable::{self, Upgrades};
use amp_async_std::{AsyncStd, Responders};
use amp_core::{AmpBox, CallError, ResponderError};
use amp_engine::UpgradeError;

/// A server over one end of a pipe, answering `StartTLS` through its
/// `Upgrades` with `responders` of its own, and a plain client on the
/// other end; with the client's TLS settings.
fn connected(responders: Responders) -> (amp_async_std::Peer, amp_async_std::Peer, ClientTls) {
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
    let server_tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let client_tls = ClientTls::from_pem(cert.as_bytes(), "localhost").unwrap();
    let (a, b) = amp_async_std::pipe();
    let upgrades = Upgrades::new().answer_start_tls(server_tls);
    let server =
        upgradable::from_stream(AsyncStd, a, None, responders, Default::default(), upgrades);
    let client = upgradable::from_stream(
        AsyncStd,
        b,
        None,
        Responders::new(),
        Default::default(),
        Upgrades::new(),
    );
    (server, client, client_tls)
}

#[async_std::test]
async fn from_stream_answers_start_tls_when_its_upgrades_do() {
    let responders = Responders::new().raw_responder("Echo", |_, args| async move { Ok(args) });
    let (_server, client, client_tls) = connected(responders);
    amp_async_std::tls::start_tls(&client, &client_tls)
        .await
        .expect("StartTLS answered");
    assert!(client.peer_certificates().is_some());
    let echoed = client
        .call_remote("Echo", AmpBox::from_pairs([("x", "1")]))
        .await
        .unwrap();
    assert_eq!(echoed.get_str("x"), Some("1"));
}

#[async_std::test]
async fn a_start_tls_responder_of_ones_own_is_kept() {
    let responders = Responders::new().raw_responder("StartTLS", |_, _| async {
        Err::<AmpBox, _>(ResponderError::Declared {
            code: "NOT_NOW".into(),
            description: "maintenance".into(),
            fatal: false,
        })
    });
    let (_server, client, client_tls) = connected(responders);
    let refused = amp_async_std::tls::start_tls(&client, &client_tls).await;
    assert!(
        matches!(&refused, Err(UpgradeError::Call(CallError::Remote(e))) if e.code == "NOT_NOW"),
        "{refused:?}"
    );
    assert!(!client.is_upgraded());
}
