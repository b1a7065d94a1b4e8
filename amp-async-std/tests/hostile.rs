//! Hostile peers and faults (amp-conformance's hostile suite) against
//! `amp_async_std::Server` on loopback TCP, with connection tasks spawned
//! on async-std (feature `async-std`) and on smol's executor (feature
//! `smol`). Each case prints its `ROW | case | expected | observed | memory
//! |` line:
//!
//! ```text
//! cargo test -p amp-async-std --all-features --test hostile -- --nocapture --test-threads=1 | grep -o 'ROW |.*'
//! ```
//!
//! Neither executor counts its live tasks: the leak cases check everything
//! else (every call failed, no responder left running, no panic).

#![cfg(any(feature = "async-std", feature = "smol"))]

mod harness;

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::hostile_suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::hostile_suite!(FuturesIo(amp_async_std::Smol));
}
