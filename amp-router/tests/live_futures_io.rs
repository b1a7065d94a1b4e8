//! Routes on live futures-io connections: async-std and smol.
#![cfg(feature = "futures-io")]

use std::convert::Infallible;

use amp_async_std::Split;
use amp_conformance::commands::{Sum, SumArgs, Total};
use amp_core::{CallError, Command};
use amp_engine::Responders;

struct Double;
impl Command for Double {
    const NAME: &'static str = "Double";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

/// Two routes, two command sets, calls in flight on both, over loopback TCP.
async fn two_protocols(spawner: impl Split<async_net::TcpStream>) {
    let listener = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = futures_util::future::join(
        amp_router::futures_io::connect(spawner.clone(), addr, Default::default()),
        listener.accept(),
    )
    .await;
    let client = client.unwrap();
    let server =
        amp_router::futures_io::from_stream(spawner, accepted.unwrap().0, Default::default());
    let s_sum = server.bind_route(
        Responders::new().responder(Sum, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total { total: a.a + a.b })
        }),
    );
    let s_double = server.bind_route(
        Responders::new().responder(Double, |_, a: SumArgs| async move {
            Ok::<_, Infallible>(Total { total: 2 * a.a })
        }),
    );
    let c_sum = client.bind_route(Responders::new());
    let c_double = client.bind_route(Responders::new());
    for (c, s) in [(&c_sum, &s_sum), (&c_double, &s_double)] {
        c.connect_to(s.route().name().cloned());
        s.connect_to(c.route().name().cloned());
    }
    let (sp, dp) = (c_sum.peer().unwrap(), c_double.peer().unwrap());
    let sums = futures_util::future::join_all(
        (0..100).map(|i| sp.call_as::<Sum>(&SumArgs { a: i, b: 1 })),
    );
    let doubles = futures_util::future::join_all(
        (0..100).map(|i| dp.call_as::<Double>(&SumArgs { a: i, b: 0 })),
    );
    let (sums, doubles) = futures_util::future::join(sums, doubles).await;
    for (i, (s, d)) in sums.into_iter().zip(doubles).enumerate() {
        assert_eq!(s.unwrap().total, i as i128 + 1);
        assert_eq!(d.unwrap().total, 2 * i as i128);
    }
    let e = sp
        .call_as::<Double>(&SumArgs { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(e, CallError::Remote(ref r) if r.code == "UNHANDLED"),
        "{e:?}"
    );
}

#[test]
fn two_protocols_on_async_std() {
    async_std::task::block_on(two_protocols(amp_async_std::AsyncStd));
}

#[test]
fn two_protocols_on_smol() {
    let spawn = |task: amp_async_std::Task| smol::spawn(task).detach();
    smol::block_on(two_protocols(amp_async_std::Spawner(spawn)));
}
