//! The timeouts: an unfinished box, the unfinished-box clock while the
//! server cannot read, and an idle connection.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amp_core::{AmpBox, ConnectionError};

use crate::commands::{Empty, Probes, math};
use crate::{Factory, Options, Peer, Responders, Runtime, WAIT, blocking, within};

use super::{started_wait, sums};

/// With an unfinished-box timeout, a peer that sends part of a box and
/// stops loses its connection once a whole timeout passes with no box
/// completed, with a reason that says so; a slow peer whose boxes keep
/// completing, each in less than the timeout, keeps it.
pub async fn a_box_left_unfinished_past_the_timeout_ends_the_connection<R: Runtime>(rt: R) {
    use std::io::{Read, Write};
    const LIMIT: Duration = Duration::from_millis(300);
    // The server side's peers, kept by the responder, to see why each
    // connection ended.
    type Slot = Arc<std::sync::OnceLock<Peer>>;
    let peers = Arc::new(std::sync::Mutex::new(Vec::<Slot>::new()));
    let factory: Factory = Arc::new({
        let peers = peers.clone();
        move |_| {
            let slot = Slot::default();
            peers.lock().unwrap().push(slot.clone());
            Responders::new().raw_responder("Hello", move |ctx, args| {
                let _ = slot.set(ctx.peer);
                async move { Ok::<_, amp_core::ResponderError>(args) }
            })
        }
    });
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(factory, Options::default().unfinished_box_timeout(LIMIT)),
    )
    .await
    .unwrap();
    let addr = served.addr;
    let hello = |tag: String| {
        let mut b = AmpBox::from_pairs([("_command", "Hello"), ("x", "y")]);
        b.insert("_ask", tag);
        b.to_bytes().unwrap()
    };
    let answer_len = AmpBox::from_pairs([("_answer", "1"), ("x", "y")])
        .to_bytes()
        .unwrap()
        .len();

    // Slow but never late: every box arrives in two halves 200 ms apart,
    // the next box begun with the end of the last, for about 1.6 s.
    let slow = blocking({
        let boxes: Vec<_> = (1..=8).map(|i| hello(i.to_string())).collect();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            let half = boxes[0].len() / 2;
            s.write_all(&boxes[0][..half]).unwrap();
            for i in 0..boxes.len() {
                std::thread::sleep(Duration::from_millis(200));
                let mut next = boxes[i][half..].to_vec();
                if let Some(b) = boxes.get(i + 1) {
                    next.extend_from_slice(&b[..half]);
                }
                s.write_all(&next).unwrap();
            }
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut answers = vec![0u8; answer_len * boxes.len()];
            s.read_exact(&mut answers).map_err(|e| e.to_string())
        }
    });
    let r = within(&rt, "the slow peer's answers", slow).await;
    assert!(r.is_ok(), "the slow peer lost its connection: {r:?}");

    // Half a box after a whole one, then nothing: the connection ends.
    let stalled = blocking({
        let first = hello("1".into());
        let second = hello("2".into());
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&first).unwrap();
            s.write_all(&second[..5]).unwrap();
            let started = Instant::now();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut received = Vec::new();
            let end = s.read_to_end(&mut received).map(|_| ());
            (
                received.len(),
                end.map_err(|e| e.to_string()),
                started.elapsed(),
            )
        }
    });
    let (received, end, after) = within(&rt, "the stalled peer's connection to end", stalled).await;
    assert_eq!(received, answer_len, "the whole box was answered");
    assert!(
        end.is_ok() || after < WAIT,
        "the connection did not end: {end:?}"
    );
    assert!(after >= LIMIT, "closed after {after:?}, before the timeout");
    let (slow_peer, stalled_peer) = {
        let peers = peers.lock().unwrap();
        assert_eq!(peers.len(), 2, "one set of responders per connection");
        (peers[0].get().cloned(), peers[1].get().cloned())
    };
    assert_eq!(
        within(&rt, "the server side's end", stalled_peer.unwrap().closed()).await,
        ConnectionError::BoxTimeout {
            timeout: LIMIT,
            buffered: 5
        }
    );
    // The slow peer's connection ended only when its client closed.
    assert_eq!(
        within(&rt, "the slow peer's end", slow_peer.unwrap().closed()).await,
        ConnectionError::PeerClosed
    );
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// The unfinished-box clock runs only while the server reads: a peer whose
/// half box waits behind requests the server cannot take yet (every
/// responder slot busy) is not late, however long that lasts; once the
/// server reads again, the timeout applies.
pub async fn the_unfinished_box_clock_stops_while_the_server_cannot_read<R: Runtime>(rt: R) {
    use std::io::{Read, Write};
    const LIMIT: Duration = Duration::from_millis(300);
    let probes = Probes::default();
    let served = within(
        &rt,
        "the server to bind",
        rt.serve(
            Arc::new({
                let probes = probes.clone();
                move |_| math(&probes)
            }),
            Options::default()
                .max_responders(1)
                .unfinished_box_timeout(LIMIT),
        ),
    )
    .await
    .unwrap();
    let wait = |tag: &str| {
        let mut b = AmpBox::from_pairs([("_command", "Wait")]);
        b.insert("_ask", tag.to_owned());
        b.to_bytes().unwrap()
    };
    // One Wait runs, the second waits for the only slot (so the server
    // stops reading), then half a box.
    let mut bytes = wait("1").to_vec();
    bytes.extend_from_slice(&wait("2"));
    bytes.extend_from_slice(&wait("3")[..6]);
    let addr = served.addr;
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<Instant>();
    let peer = blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut received = Vec::new();
        let end = s.read_to_end(&mut received).map_err(|e| e.to_string());
        let opened = opened_rx.recv().unwrap();
        (received, end, opened.elapsed())
    });
    within(&rt, "the first Wait to start", probes.entered.at_least(1)).await;
    // Three timeouts with the half box waiting behind a full slot.
    rt.sleep(LIMIT * 3).await;
    opened_tx.send(Instant::now()).unwrap();
    probes.gate.open(2);
    let (received, end, since_open) = within(&rt, "the connection to end", peer).await;
    // Both Waits answered (`_answer` 1 and 2, nothing else), then the end.
    let answers =
        amp_core::codec::decode_all(bytes::Bytes::from(received), &amp_core::Limits::default())
            .unwrap();
    let tags: Vec<_> = answers.iter().map(|b| b.get_str("_answer")).collect();
    assert_eq!(tags, [Some("1"), Some("2")]);
    assert!(end.is_ok(), "{end:?}");
    assert!(
        since_open >= LIMIT,
        "ended {since_open:?} after the server could read again, before the timeout"
    );
    served.stop.shutdown(WAIT).await;
    within(&rt, "the server's run", served.running)
        .await
        .unwrap();
}

/// With an idle timeout, a connection with nothing received or sent and
/// nothing under way for a whole timeout ends with a reason that says so. A
/// responder running, a call waiting for its answer, or calls coming more
/// often than the timeout keep it open, on either side.
pub async fn an_idle_connection_ends_after_the_idle_timeout_and_a_busy_one_does_not<R: Runtime>(
    rt: R,
) {
    const LIMIT: Duration = Duration::from_millis(300);
    let idle = || Options::default().idle_timeout(LIMIT);
    for timed_side in ["server", "client"] {
        let probes = Probes::default();
        let (server_options, client_options) = if timed_side == "server" {
            (idle(), Options::default())
        } else {
            (Options::default(), idle())
        };
        let (server, client) = rt.pair_with(
            math(&probes),
            server_options,
            Responders::new(),
            client_options,
        );
        // A responder running (the server's side) and a call waiting for
        // its answer (the client's) for three timeouts: not idle.
        let waiting = started_wait(&rt, &client, &probes).await;
        rt.sleep(LIMIT * 3).await;
        assert!(
            !server.is_closed() && !client.is_closed(),
            "{timed_side}: closed while a call was under way"
        );
        probes.gate.open(1);
        let r = within(&rt, "the Wait call", waiting).await;
        assert!(matches!(r, Ok(Empty {})), "{timed_side}: {r:?}");
        // Calls every 100 ms for a second: not idle.
        let mut last_traffic = Instant::now();
        for i in 0..10 {
            // Both sides' last traffic (the request, the answer) comes after
            // this instant.
            last_traffic = Instant::now();
            sums(&rt, "Sum", &client, i, 1).await;
            rt.sleep(Duration::from_millis(100)).await;
        }
        assert!(
            !server.is_closed() && !client.is_closed(),
            "{timed_side}: closed while calls kept coming"
        );
        // Then nothing: the timed side ends the connection, a whole timeout
        // after its last traffic at the earliest. (Not measured from here:
        // the connection has been idle since the last answer, 100 ms ago,
        // and the rule may rightly fire less than a timeout from now.)
        let started = last_traffic;
        let (timed, other) = if timed_side == "server" {
            (&server, &client)
        } else {
            (&client, &server)
        };
        assert_eq!(
            within(&rt, "the idle timeout", timed.closed()).await,
            ConnectionError::IdleTimeout { timeout: LIMIT },
            "{timed_side}"
        );
        assert!(
            started.elapsed() >= LIMIT,
            "{timed_side}: closed before the timeout"
        );
        assert_eq!(
            within(&rt, "the other side's end", other.closed()).await,
            ConnectionError::PeerClosed,
            "{timed_side}"
        );
    }
}
