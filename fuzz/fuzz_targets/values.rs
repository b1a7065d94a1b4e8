//! Every argument type's decoder on arbitrary wire bytes; what decodes must round-trip.
//! The checks are in `amp_fuzz_checks::values`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::values(data));
