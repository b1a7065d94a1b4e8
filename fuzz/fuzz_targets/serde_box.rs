//! A decoded box read into typical command argument structs; what reads must round-trip.
//! The checks are in `amp_fuzz_checks::serde_box`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::serde_box(data));
