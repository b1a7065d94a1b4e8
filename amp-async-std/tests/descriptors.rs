//! Descriptor passing over UNIX sockets on the futures-io binding
//! (async-std and smol; amp-conformance's descriptors suite): between Rust
//! peers, against real Twisted both ways, and no descriptor leaked
//! (unclaimed, undecoded, held when a connection ends, too many). The
//! Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`; without it the interop scenarios fail: they are
//! never skipped.

#![cfg(all(unix, any(feature = "async-std", feature = "smol")))]

mod harness;

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::descriptors_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::descriptors_suite!(FuturesIo(amp_async_std::Smol));
}
