//! Replays the `router` fuzz target's inputs on stable Rust, through the
//! very checks the fuzzer runs (`fuzz/src/router_checks.rs`, included here):
//! every seed in `fuzz/corpus/router/` and every saved crash in
//! `fuzz/regressions/router/`. (amp-core's test of the same name replays the
//! other targets; it cannot depend on this crate.)

#[path = "../../fuzz/src/input.rs"]
mod input;
#[path = "../../fuzz/src/router_checks.rs"]
mod router_checks;
#[path = "../../fuzz/src/timeout_model.rs"]
mod timeout_model;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use amp_core::codec::decode_all;
use amp_core::{AmpBox, SendError};
use amp_router::{Route, RouteError, Router};
use bytes::Bytes;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of the router target under `fuzz/<dir>/`, sorted.
fn inputs(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join("router")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading the fuzz directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn router() {
    let seeds = inputs("corpus");
    let crashes = inputs("regressions");
    assert!(
        !seeds.is_empty(),
        "no seeds in fuzz/corpus/router: run python3 fuzz/seeds.py"
    );
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("reading a fuzz input");
        if catch_unwind(AssertUnwindSafe(|| router_checks::router(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    println!(
        "router: {} seeds, {} saved crashes replayed",
        seeds.len(),
        crashes.len()
    );
    assert!(failed.is_empty(), "router: failing inputs: {failed:#?}");
}

/// The reader reads past the end as zeros, so any input, even empty, is a
/// valid one.
#[test]
fn short_inputs() {
    for data in [&b""[..], b"\x00", b"\xff", b"\x04\x05\x00\x01\x00\x00\x0c"] {
        router_checks::router(data);
    }
    let mut input = input::Input::new(b"\x01\x02\x03");
    assert_eq!(input.u16(), 0x0102);
    assert_eq!(input.rest(), b"\x03");
}

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
