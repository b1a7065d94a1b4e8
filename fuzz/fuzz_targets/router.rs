//! A Router (routes keyed by `_route`) driven by arbitrary bytes and local actions.
//! The checks are in `amp_fuzz_checks::router`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::router(data));
