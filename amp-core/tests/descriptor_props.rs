//! Descriptor passing through two sans-IO connections, with the transport
//! simulated as Linux behaves (a `recvmsg` ends on the byte that carries
//! descriptors; anywhere else reads may be cut at will): whatever the
//! boxes and the cuts, each box decodes with exactly the descriptors sent
//! with it, numbered as Twisted numbers them, and the ones no argument
//! takes are closed with their box.

#![cfg(unix)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use amp_core::values::Descriptor;
use amp_core::{Connection, Event};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Args {
    n: u32,
    a: Option<Descriptor>,
    b: Option<Descriptor>,
    c: Option<Descriptor>,
}

fn descriptor() -> OwnedFd {
    OwnedFd::from(std::os::unix::net::UnixStream::pair().unwrap().0)
}

/// `(n, which of a, b, c)` per box.
fn boxes() -> impl Strategy<Value = Vec<(u32, [bool; 3])>> {
    prop::collection::vec((any::<u32>(), any::<[bool; 3]>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn each_box_decodes_with_its_own_descriptors(
        sent in boxes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        unclaimed in any::<bool>(),
    ) {
        let mut client = Connection::default();
        client.pass_descriptors();
        let mut expected: Vec<(u32, [Option<RawFd>; 3])> = Vec::new();
        for (n, which) in &sent {
            let mut raw = [None; 3];
            let mut fds = [None, None, None];
            for i in 0..3 {
                if which[i] {
                    let fd = descriptor();
                    raw[i] = Some(fd.as_raw_fd());
                    fds[i] = Some(Descriptor::new(fd));
                }
            }
            let [a, b, c] = fds;
            let args = amp_core::ser::to_box(&Args { n: *n, a, b, c }).unwrap();
            client.call_remote("Take", &args, true).unwrap();
            expected.push((*n, raw));
        }
        let from = client.transmitted();
        let stream = client.take_transmit();
        let queued = client.take_descriptors(from);
        // Twisted's numbering: ordinals in the order the boxes were queued.
        let count = expected.iter().flat_map(|(_, r)| r.iter().flatten()).count();
        prop_assert_eq!(queued.len(), count);

        // Reads: cut after each descriptor's byte (where recvmsg stops),
        // and wherever the strategy says.
        let mut ends: Vec<usize> = queued.iter().map(|(at, _)| at + 1).collect();
        ends.extend(cuts.iter().map(|i| i.index(stream.len()) + 1));
        ends.push(stream.len());
        ends.sort_unstable();
        ends.dedup();
        let mut fds: Vec<(usize, OwnedFd)> = queued
            .into_iter()
            .map(|(at, fd)| (at, Arc::try_unwrap(fd).expect("only the queue holds it")))
            .collect();
        fds.reverse();

        let mut server = Connection::default();
        server.pass_descriptors();
        let mut start = 0;
        let mut decoded = Vec::new();
        for end in ends {
            server.handle_input(&stream[start..end]);
            let mut came = Vec::new();
            while fds.last().is_some_and(|(at, _)| *at < end) {
                came.push(fds.pop().unwrap().1);
            }
            server.receive_descriptors(came);
            start = end;
            while let Some(event) = server.poll_event() {
                let Event::Request(req) = event else { panic!("{event:?}") };
                let held = req.arguments.descriptor_count();
                if unclaimed {
                    // Decoded as a command without descriptors: all closed
                    // with the box.
                    decoded.push((amp_core::de::from_box::<Only>(&req.arguments).unwrap().n, [None; 3]));
                    continue;
                }
                let args: Args = amp_core::de::from_box(&req.arguments).unwrap();
                prop_assert_eq!(req.arguments.descriptor_count(), 0);
                let raw = |d: &Option<Descriptor>| d.as_ref().map(|d| d.as_raw_fd());
                let got = [raw(&args.a), raw(&args.b), raw(&args.c)];
                prop_assert_eq!(got.iter().flatten().count(), held);
                decoded.push((args.n, got));
            }
        }
        if unclaimed {
            let ns: Vec<u32> = expected.iter().map(|(n, _)| *n).collect();
            let got: Vec<u32> = decoded.iter().map(|(n, _)| *n).collect();
            prop_assert_eq!(got, ns);
        } else {
            prop_assert_eq!(decoded, expected);
        }
    }
}

#[derive(Deserialize)]
struct Only {
    n: u32,
}

/// The bound counts every received descriptor not taken by an argument:
/// those waiting for their box and those in boxes not dropped yet. Taking
/// one, or dropping its box, makes room again.
#[test]
fn descriptors_held_in_boxes_count_towards_the_bound() {
    use amp_core::descriptor::{DescriptorError, MAX_HELD_DESCRIPTORS};
    use amp_core::{ConnectionError, ProtocolError};
    let request = b"\x00\x08_command\x00\x04Take\x00\x00";
    let mut c = Connection::default();
    c.pass_descriptors();
    let mut kept = Vec::new();
    for _ in 0..MAX_HELD_DESCRIPTORS {
        c.handle_input(request);
        c.receive_descriptors([descriptor()]);
        let Some(Event::Request(req)) = c.poll_event() else {
            panic!()
        };
        assert_eq!(req.arguments.descriptor_count(), 1);
        kept.push(req);
    }
    // Dropping a box frees its descriptor's place; one more fills it.
    kept.pop();
    c.handle_input(request);
    c.receive_descriptors([descriptor()]);
    let Some(Event::Request(req)) = c.poll_event() else {
        panic!()
    };
    kept.push(req);
    assert!(!c.is_closed());
    // One more than the bound ends the connection.
    c.handle_input(request);
    c.receive_descriptors([descriptor()]);
    assert_eq!(
        c.close_reason(),
        Some(&ConnectionError::Protocol(ProtocolError::Descriptors(
            DescriptorError::TooMany {
                limit: MAX_HELD_DESCRIPTORS
            }
        )))
    );
}
