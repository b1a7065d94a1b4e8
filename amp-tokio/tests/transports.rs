//! The other ways Twisted carries AMP, on tokio, against real Twisted and
//! ampoule (amp-conformance's transports suite): UNIX sockets both ways,
//! a Twisted parent spawning `ampserver stdio`, a Rust client spawning a
//! Twisted child, a child's exit status as the end of the connection, and
//! an ampoule 24.10 process pool running the Rust worker.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it (or without ampoule in it) these
//! tests fail: they are never skipped.

#![cfg(unix)]

mod harness;

use harness::Tokio;

amp_conformance::transports_suite!(Tokio { multi_thread: true });

mod current_thread {
    use super::harness::Tokio;
    amp_conformance::transports_suite!(Tokio {
        multi_thread: false
    });
}
