//! The conformance suite (`amp-conformance`) on the futures-io binding,
//! with connection tasks spawned on async-std (feature `async-std`) and on
//! smol's executor (feature `smol`; `cargo test --all-features` runs both).

#![cfg(any(feature = "async-std", feature = "smol"))]

mod harness;

#[cfg(feature = "async-std")]
mod on_async_std {
    use super::harness::FuturesIo;
    amp_conformance::suite!(FuturesIo(amp_async_std::AsyncStd));
}

#[cfg(feature = "smol")]
mod on_smol {
    use super::harness::FuturesIo;
    amp_conformance::suite!(FuturesIo(amp_async_std::Smol));
}
