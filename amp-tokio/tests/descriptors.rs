//! Descriptor passing over UNIX sockets on tokio (amp-conformance's
//! descriptors suite): between Rust peers, against real Twisted both ways,
//! and no descriptor leaked (unclaimed, undecoded, held when a connection
//! ends, too many). The Python environment comes from `AMP_INTEROP_PYTHON`,
//! or else from `scripts/python-env.sh`; without it the interop scenarios
//! fail: they are never skipped.

#![cfg(unix)]

mod harness;

use harness::Tokio;

amp_conformance::descriptors_suite!(Tokio { multi_thread: true });

mod current_thread {
    use super::harness::Tokio;
    amp_conformance::descriptors_suite!(Tokio {
        multi_thread: false
    });
}
