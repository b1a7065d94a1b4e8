//! Interoperability of the futures-io binding with real Twisted
//! (amp-conformance's interop suite), on async-std and on smol: a Rust
//! client against Twisted's `server.py`, and Twisted's `client.py` against
//! `amp_async_std::Server`, both speaking the catalogue of
//! `interop/COMMANDS.md`.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh`. Without it these tests fail: they are never
//! skipped.

#![cfg(any(feature = "async-std", feature = "smol"))]

mod harness;

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::interop_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::interop_suite!(FuturesIo(amp_async_std::Smol));
}
