//! The checks behind the fuzz targets of `fuzz/` (cargo-fuzz, nightly), on
//! plain byte slices: see `docs/reliability.md`.
//!
//! Each target in `fuzz/fuzz_targets/` is one line calling one of
//! [`decoder()`], [`values()`], [`serde_box()`], [`dispatcher()`] and
//! [`router()`]. This crate's tests (`tests/fuzz_regressions.rs`) run every
//! seed of `fuzz/corpus/<target>/` and every saved crash of
//! `fuzz/regressions/<target>/` through the same functions on stable Rust,
//! without libFuzzer. So the crate depends on no fuzzing crate: structured
//! inputs are read with [`input::Input`], a small byte reader, and a saved
//! input is read by the replay exactly as the fuzzer read it.
//!
//! A check that finds a bug panics with a message saying which invariant
//! broke.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checks;
pub mod input;
pub mod router_checks;
pub mod timeout_model;

pub use checks::{decoder, dispatcher, serde_box, values};
pub use router_checks::router;
