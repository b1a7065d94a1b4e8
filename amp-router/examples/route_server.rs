//! The server of epsilon's amprouter guide, in Rust: on each connection, the
//! default route answers `NewRoute` by binding a new route whose responder
//! counts `Count` calls (from 1, per route), connected to the caller's route.
//!
//! `cargo run -p amp-router --features tokio --example route_server -- 127.0.0.1:7805`

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use amp_engine::Responders;
use amp_router::Route;
use amp_router::live::RoutedPeer;
use common::{Count, Name, NewRoute, Nothing, Value};

/// A route's responders: its own counter.
fn counter() -> Responders {
    let count = Arc::new(AtomicI64::new(0));
    Responders::new().responder(Count, move |_, _: Nothing| {
        let value = count.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok::<_, Infallible>(Value { value }) }
    })
}

/// The default route's responders: `NewRoute` binds a counting route.
fn routing(router: RoutedPeer) -> Responders {
    Responders::new().responder(NewRoute, move |_, caller: Name| {
        let route = router.bind_route(counter());
        route.connect_to(Some(caller.name.clone().into()));
        let name = String::from_utf8_lossy(route.route().name().expect("named")).into_owned();
        println!("new route {name} for the caller's route {}", caller.name);
        async move { Ok::<_, Infallible>(Name { name }) }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(common::address()).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        // The default route is bound before the first byte is read.
        amp_router::tokio::from_stream_with(stream, Default::default(), |router| {
            let default = router
                .bind(Route::Default, routing(router.clone()))
                .expect("a fresh connection has no default route yet");
            default.connect_to(None);
        });
    }
}
