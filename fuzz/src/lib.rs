//! Fuzz targets for amp-core: see `fuzz_targets/` and `docs/reliability.md`.
//!
//! The checks live in [`checks`], a module the stable test
//! `amp-core/tests/fuzz_regressions.rs` also includes, so saved crashes and
//! the seed corpus are replayed without nightly or libFuzzer.

pub mod checks;
