//! The checks behind the fuzz targets of `fuzz/` (cargo-fuzz, nightly), on
//! plain byte slices: see `docs/reliability.md`.
//!
//! Each target in `fuzz/fuzz_targets/` is one line calling one of
//! [`decoder()`], [`values()`], [`serde_box()`], [`dispatcher()`],
//! [`router()`], [`cli_decode()`] (the `amp decode` command),
//! [`cli_proxy()`] (what `amp proxy` makes of the bytes it forwards),
//! [`cli_pcap()`] (`amp decode` of packet captures), [`descriptors()`]
//! (descriptor passing: ordinals in boxes, descriptors among the bytes),
//! [`txampext()`] (nested boxes and constrained arguments), [`mux()`]
//! (multiplexed streams on a live connection) and [`switch()`] (a live
//! connection handing its transport over by `ProtocolSwitchCommand`), each
//! from
//! the module of the same name. This crate's tests
//! (`tests/fuzz_regressions.rs`) run every seed of `fuzz/corpus/<target>/`
//! and every saved crash of `fuzz/regressions/<target>/` through the same
//! functions on stable Rust, without libFuzzer. So the crate depends on no
//! fuzzing crate: structured inputs are read with [`input::Input`], a small
//! byte reader (zeros past the end, so every input is valid), and a saved
//! input is read by the replay exactly as the fuzzer read it.
//!
//! The `dispatcher` and `router` checks hold the timeouts to the model of
//! [`timeout_model`], and read the failures a responder may give with the
//! same code (`generate.rs`).
//!
//! A check that finds a bug panics with a message saying which invariant
//! broke.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli_decode;
pub mod cli_pcap;
pub mod cli_proxy;
pub mod decoder;
#[cfg(unix)]
pub mod descriptors;
pub mod dispatcher;
mod generate;
pub mod input;
pub mod mux;
pub mod router;
pub mod serde_box;
pub mod switch;
pub mod timeout_model;
pub mod txampext;
pub mod values;

pub use cli_decode::cli_decode;
pub use cli_pcap::cli_pcap;
pub use cli_proxy::cli_proxy;
pub use decoder::decoder;
#[cfg(unix)]
pub use descriptors::descriptors;
pub use dispatcher::dispatcher;
pub use mux::mux;
pub use router::router;
pub use serde_box::serde_box;
pub use switch::switch;
pub use txampext::txampext;
pub use values::values;
