//! The `descriptors` target: a connection that passes descriptors, fed
//! arbitrary bytes with descriptors arriving among them (as `recvmsg`
//! hands them over), lost control data, the end of the stream, and calls
//! of its own carrying descriptors; every request decoded as a command
//! whose arguments are descriptors. Checks that nothing panics, that no
//! box ever holds more than the bound, that decoding a box never
//! leaves it more descriptors than came with it, that queued descriptors go with
//! bytes of their own box in order, and that every descriptor received or
//! sent is closed once the connection and its boxes are gone (the count of
//! `/proc/self/fd`).

use std::os::fd::OwnedFd;

use amp_core::descriptor::MAX_HELD_DESCRIPTORS;
use amp_core::values::Descriptor;
use amp_core::{Connection, Event};
use serde::{Deserialize, Serialize};

use crate::input::Input;

/// A command's arguments: descriptors under keys a peer may name, and one
/// more value.
#[derive(Serialize, Deserialize)]
struct Args {
    fd: Option<Descriptor>,
    other: Option<Descriptor>,
    text: Option<String>,
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

fn descriptor() -> OwnedFd {
    OwnedFd::from(std::fs::File::open("/dev/null").expect("/dev/null"))
}

/// Runs one input (see the module's documentation).
pub fn descriptors(data: &[u8]) {
    let before = open_descriptors();
    run(data);
    let after = open_descriptors();
    assert_eq!(
        after, before,
        "descriptors leaked: {after} open, {before} before"
    );
}

fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut c = Connection::default();
    c.pass_descriptors();
    let mut kept = Vec::new();
    let mut next_ordinal = 0u64;
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        match input.below(5) {
            0 | 1 => {
                // A read: bytes, and the descriptors that came with them.
                c.handle_input(input.bytes());
                let n = input.below(4);
                c.receive_descriptors((0..n).map(|_| descriptor()));
            }
            2 => c.descriptors_lost(),
            3 => c.handle_eof(),
            _ => {
                // A call of our own carrying descriptors.
                let args = Args {
                    fd: input.bool().then(|| Descriptor::new(descriptor())),
                    other: input.bool().then(|| Descriptor::new(descriptor())),
                    text: None,
                };
                let count = usize::from(args.fd.is_some()) + usize::from(args.other.is_some());
                let b = amp_core::ser::to_box(&args).expect("encoding");
                assert_eq!(b.descriptor_count(), count);
                let from = c.transmitted();
                if c.call_remote("Take", &b, true).is_ok() {
                    let bytes = c.take_transmit();
                    let fds = c.take_descriptors(from);
                    assert_eq!(fds.len(), count, "each descriptor queued with its box");
                    for (i, (at, _)) in fds.iter().enumerate() {
                        assert_eq!(*at, i, "the i-th descriptor with the box's i-th byte");
                        assert!(*at < bytes.len());
                    }
                    next_ordinal += count as u64;
                } else {
                    assert!(c.is_closed(), "a call refused on an open connection");
                }
            }
        }
        while let Some(event) = c.poll_event() {
            if let Event::Request(req) = event {
                let held = req.arguments.descriptor_count();
                assert!(
                    held <= MAX_HELD_DESCRIPTORS,
                    "a box holds {held} descriptors"
                );
                if let Ok(args) = amp_core::de::from_box::<Args>(&req.arguments) {
                    // An argument takes its descriptor whichever box's
                    // bytes it came with (Twisted's numbering): those of
                    // this box no argument took are the most left.
                    assert!(req.arguments.descriptor_count() <= held);
                    // Some kept a while (as a responder would), some not.
                    if input.bool() {
                        kept.push(args);
                    }
                }
            }
        }
    }
    let _ = next_ordinal;
    drop(c);
    drop(kept);
}
