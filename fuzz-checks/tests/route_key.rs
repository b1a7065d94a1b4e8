//! The router's `_route` key, from finding 3 of `docs/reliability.md`: the
//! `router` fuzz target's seed `fuzz/corpus/router/seed-routed-route-key`
//! (replayed by `fuzz_regressions.rs`) and this test both fail on the code
//! before its fix.

use amp_core::codec::decode_all;
use amp_core::{AmpBox, SendError};
use amp_router::{Route, RouteError, Router};
use bytes::Bytes;

/// The router owns `_route`: a box holding it is refused (`ReservedKey`)
/// on a route connected to a named remote route and on one connected to the
/// peer's default route alike. (The latter let it through, and the peer
/// then handed the box to the route it named: fixed in `Dispatcher`, which
/// reserves `_route` once it carries a route, whatever the remote name.)
#[test]
fn route_key_in_arguments_is_refused_on_a_route_to_the_default_route() {
    let args = AmpBox::from_pairs([("_route", "secret"), ("a", "1")]);
    let reserved = Err(RouteError::Send(SendError::ReservedKey(
        Bytes::from_static(b"_route"),
    )));

    // Connected to a name: refused, nothing sent.
    let mut r = Router::default();
    let named = r.bind_route();
    r.connect_to(&named, Some("0".into())).unwrap();
    assert_eq!(
        r.call_remote(&named, "Sum", &args, true).map(|_| ()),
        reserved
    );
    assert_eq!(r.send_box(&named, &args), reserved);
    assert!(r.take_transmit().is_empty());

    // Connected to the peer's default route: the same must hold.
    let mut r = Router::default();
    r.bind(Route::Default).unwrap();
    r.connect_to(&Route::Default, None).unwrap();
    let call = r.call_remote(&Route::Default, "Sum", &args, true);
    let sent = decode_all(r.take_transmit(), &Default::default()).unwrap();
    assert!(
        sent.iter().all(|b| !b.contains_key("_route")),
        "sent {sent:?}: the peer would route it to its route \"secret\""
    );
    assert_eq!(call.map(|_| ()), reserved);
    assert_eq!(r.send_box(&Route::Default, &args), reserved);
}
