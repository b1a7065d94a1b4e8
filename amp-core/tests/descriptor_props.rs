//! Descriptor passing through two sans-IO connections, with the transport
//! simulated as Linux behaves (a `recvmsg` ends on the byte that carries
//! descriptors; anywhere else reads may be cut at will): whatever the
//! boxes and the cuts, and whether each box's descriptors ride its own
//! bytes (as this crate sends them) or all ride the first bytes of the
//! stream (as Twisted sends the boxes it writes in one go), each box
//! decodes with exactly the descriptors sent for it, numbered as Twisted
//! numbers them; and the rules for closing the ones no argument takes.

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
        twisted_batch in any::<bool>(),
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
        let mut queued = client.take_descriptors(from);
        if twisted_batch {
            // Twisted sends every queued descriptor with one of the first
            // bytes of its write: here all the boxes are one write.
            for (i, (at, _)) in queued.iter_mut().enumerate() {
                *at = i;
            }
        }
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
                    // Decoded as a command without descriptors: none taken.
                    decoded.push((amp_core::de::from_box::<Only>(&req.arguments).unwrap().n, [None; 3]));
                    continue;
                }
                let args: Args = amp_core::de::from_box(&req.arguments).unwrap();
                let raw = |d: &Option<Descriptor>| d.as_ref().map(|d| d.as_raw_fd());
                let got = [raw(&args.a), raw(&args.b), raw(&args.c)];
                if !twisted_batch {
                    // Each box carried exactly its own, and took them all.
                    prop_assert_eq!(req.arguments.descriptor_count(), 0);
                    prop_assert_eq!(got.iter().flatten().count(), held);
                }
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

/// A descriptor to pass, and the other end of its socket, which sees the
/// descriptor's last copy closed.
fn watched() -> (OwnedFd, std::os::unix::net::UnixStream) {
    let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    mine.set_nonblocking(true).unwrap();
    (OwnedFd::from(theirs), mine)
}

fn is_closed(watch: &std::os::unix::net::UnixStream) -> bool {
    use std::io::Read;
    match (&*watch).read(&mut [0u8; 1]) {
        Ok(0) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        other => panic!("{other:?}"),
    }
}

/// A request `Take` whose `fd` argument names `ordinal`.
fn take(ordinal: u64) -> Vec<u8> {
    amp_core::AmpBox::from_pairs([("_command", "Take".to_owned()), ("fd", ordinal.to_string())])
        .to_bytes()
        .unwrap()
        .to_vec()
}

fn next_request(c: &mut Connection) -> amp_core::AmpBox {
    match c.poll_event() {
        Some(Event::Request(req)) => req.arguments,
        other => panic!("{other:?}"),
    }
}

#[derive(Deserialize)]
struct TakeArgs {
    fd: Descriptor,
}

/// Twisted writes two boxes that carry descriptors in one go: both
/// descriptors come with the first box's bytes, and the second box takes
/// its own, even once the first box is dropped.
#[test]
fn a_later_box_takes_a_descriptor_that_came_with_an_earlier_one() {
    let mut c = Connection::default();
    c.pass_descriptors();
    let ((fd0, w0), (fd1, w1)) = (watched(), watched());
    let (raw0, raw1) = (fd0.as_raw_fd(), fd1.as_raw_fd());
    let (first, second) = (take(0), take(1));
    c.handle_input(&first[..1]);
    c.receive_descriptors([fd0]);
    c.handle_input(&first[1..2]);
    c.receive_descriptors([fd1]);
    c.handle_input(&first[2..]);
    let first = next_request(&mut c);
    assert_eq!(first.descriptor_count(), 2);
    let a: TakeArgs = amp_core::de::from_box(&first).unwrap();
    drop(first);
    assert!(!is_closed(&w1), "the second box's descriptor waits for it");
    c.handle_input(&second);
    let second = next_request(&mut c);
    assert_eq!(second.descriptor_count(), 0);
    let b: TakeArgs = amp_core::de::from_box(&second).unwrap();
    assert_eq!((a.fd.as_raw_fd(), b.fd.as_raw_fd()), (raw0, raw1));
    assert!(!is_closed(&w0) && !is_closed(&w1));
    drop((a, b));
    assert!(is_closed(&w0) && is_closed(&w1));
}

/// A descriptor no argument takes stays open while its box is alive, and
/// is closed once the box is dropped and a later descriptor is taken.
#[test]
fn an_unclaimed_descriptor_closes_once_a_later_one_is_taken() {
    #[derive(Deserialize)]
    struct Nothing {}
    let mut c = Connection::default();
    c.pass_descriptors();
    let ((fd0, w0), (fd1, _w1)) = (watched(), watched());
    c.handle_input(&take(0));
    c.receive_descriptors([fd0]);
    let ignored = next_request(&mut c);
    let _: Nothing = amp_core::de::from_box(&ignored).unwrap();
    assert_eq!(ignored.descriptor_count(), 1);
    drop(ignored);
    assert!(!is_closed(&w0), "a later box might still name it");
    c.handle_input(&take(1));
    c.receive_descriptors([fd1]);
    let taken: TakeArgs = amp_core::de::from_box(&next_request(&mut c)).unwrap();
    assert!(is_closed(&w0), "no box names an earlier descriptor");
    // Taking one twice: a decode error naming it.
    let again = take(1);
    c.handle_input(&again);
    let e = amp_core::de::from_box::<TakeArgs>(&next_request(&mut c))
        .err()
        .expect("descriptor 1 was taken already");
    assert!(
        e.to_string().contains("no descriptor 1 was received"),
        "{e}"
    );
    drop(taken);
}

/// When the connection ends, descriptors no box can take are closed; one
/// a box still alive may take stays until that box is dropped.
#[test]
fn the_end_closes_what_no_box_can_take() {
    let mut c = Connection::default();
    c.pass_descriptors();
    let ((fd0, w0), (fd1, w1), (fd2, w2)) = (watched(), watched(), watched());
    // Descriptors 0 and 1 with the first box (Twisted's batching), 2 with
    // the start of a box that never ends.
    let first = take(0);
    c.handle_input(&first[..1]);
    c.receive_descriptors([fd0, fd1]);
    c.handle_input(&first[1..]);
    let first = next_request(&mut c);
    c.handle_input(&take(1));
    let second = next_request(&mut c);
    c.handle_input(b"\x00");
    c.receive_descriptors([fd2]);
    c.close();
    assert!(is_closed(&w2), "waiting for a box that never comes");
    assert!(!is_closed(&w0) && !is_closed(&w1));
    drop(first);
    // The second box is alive: it may still take descriptor 1 (or 0).
    assert!(!is_closed(&w0) && !is_closed(&w1));
    let b: TakeArgs = amp_core::de::from_box(&second).unwrap();
    drop(second);
    assert!(is_closed(&w0), "no box left to take it");
    assert!(!is_closed(&w1));
    drop(b);
    assert!(is_closed(&w1));
}

/// Past the bound, the oldest descriptor whose box is dropped makes room:
/// a peer that sends descriptors nobody names does not end the connection,
/// and holds at most the bound.
#[test]
fn the_oldest_dropped_descriptor_makes_room() {
    use amp_core::descriptor::MAX_HELD_DESCRIPTORS;
    #[derive(Deserialize)]
    struct Nothing {}
    let mut c = Connection::default();
    c.pass_descriptors();
    let mut watches = Vec::new();
    for i in 0..MAX_HELD_DESCRIPTORS + 3 {
        let (fd, w) = watched();
        watches.push(w);
        c.handle_input(&take(i as u64));
        c.receive_descriptors([fd]);
        let b = next_request(&mut c);
        let _: Nothing = amp_core::de::from_box(&b).unwrap();
    }
    assert!(!c.is_closed());
    let closed: Vec<bool> = watches.iter().map(is_closed).collect();
    assert_eq!(closed[..3], [true; 3]);
    assert!(closed[3..].iter().all(|c| !c));
}
