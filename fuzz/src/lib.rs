//! Fuzz targets for amp-core and amp-router: see `fuzz_targets/` and
//! `docs/reliability.md`.
//!
//! The checks live in [`checks`] and [`router_checks`], modules the stable
//! tests `amp-core/tests/fuzz_regressions.rs` and
//! `amp-router/tests/fuzz_regressions.rs` also include (with [`input`], the
//! byte reader both read their inputs with, and [`timeout_model`], the model
//! of the timeouts' rules both hold the connection to), so saved crashes and
//! the seed corpus are replayed without nightly or libFuzzer.

pub mod checks;
pub mod input;
pub mod router_checks;
pub mod timeout_model;
