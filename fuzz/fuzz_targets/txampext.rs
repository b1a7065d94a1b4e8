//! A decoded box read as txampext's nested boxes and constrained arguments,
//! and dispatched as a request with constrained arguments.
//! The checks are in `amp_fuzz_checks::txampext`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::txampext(data));
