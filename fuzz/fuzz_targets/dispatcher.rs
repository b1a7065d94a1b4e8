//! A Connection driven by an arbitrary sequence of peer boxes, calls, answers and closes.
//! The checks are in `amp_fuzz_checks::dispatcher`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::dispatcher(data));
