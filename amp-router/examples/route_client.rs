//! The client of epsilon's amprouter guide, in Rust: binds the default route,
//! creates three routes with `NewRoute`, calls `Count` several times on each,
//! prints each route's results, and exits 0 when all are in.
//!
//! `cargo run -p amp-router --features tokio --example route_client -- 127.0.0.1:7805`

mod common;

use std::process::ExitCode;
use std::time::Duration;

use amp_engine::Responders;
use amp_router::Route;
use common::{Count, Name, NewRoute, Nothing};

const ROUTES: usize = 3;
const COUNTS: usize = 4;

async fn run(addr: &str) -> Result<Vec<(String, Vec<i64>)>, String> {
    let router = amp_router::tokio::connect(addr, Default::default())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let default = router
        .bind(Route::Default, Responders::new())
        .map_err(|e| e.to_string())?;
    default.connect_to(None);
    let control = default.peer().map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for _ in 0..ROUTES {
        let route = router.bind_route(Responders::new());
        let mine = String::from_utf8_lossy(route.route().name().expect("named")).into_owned();
        let theirs = control
            .call_as::<NewRoute>(&Name { name: mine.clone() })
            .await
            .map_err(|e| format!("NewRoute: {e}"))?;
        route.connect_to(Some(theirs.name.into()));
        let peer = route.peer().map_err(|e| e.to_string())?;
        // All counts of a route in flight at once.
        let counts =
            futures_util::future::join_all((0..COUNTS).map(|_| peer.call_as::<Count>(&Nothing {})))
                .await
                .into_iter()
                .map(|r| r.map(|v| v.value).map_err(|e| format!("Count: {e}")))
                .collect::<Result<Vec<i64>, String>>()?;
        results.push((mine, counts));
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = common::address();
    match tokio::time::timeout(Duration::from_secs(20), run(&addr)).await {
        Ok(Ok(results)) => {
            for (route, mut counts) in results {
                counts.sort_unstable();
                println!("route {route}: {counts:?}");
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("failed: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("failed: not done within 20 s");
            ExitCode::FAILURE
        }
    }
}
