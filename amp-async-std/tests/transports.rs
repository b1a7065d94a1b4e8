//! The other ways Twisted carries AMP, on the futures-io binding (async-std
//! and smol), against real Twisted and ampoule (amp-conformance's
//! transports suite): UNIX sockets both ways, a Twisted parent spawning
//! `ampserver_async_std stdio`, a Rust client spawning a Twisted child, a
//! child's exit status as the end of the connection, and an ampoule 24.10
//! process pool running the Rust worker.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it (or without ampoule in it) these
//! tests fail: they are never skipped.

#![cfg(all(unix, any(feature = "async-std", feature = "smol")))]

mod harness;

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::transports_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::transports_suite!(FuturesIo(amp_async_std::Smol));
}
