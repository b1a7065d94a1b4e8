//! A live connection serving multiplexed streams (amp_mux::Mux), fed by a
//! peer that opens, feeds and ends streams and sends raw bytes.
//! The checks are in `amp_fuzz_checks::mux`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::mux(data));
