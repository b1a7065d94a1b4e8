//! Arbitrary bytes fed to the box decoder in arbitrary chunks, with small random limits.
//! The checks are in `amp_fuzz_checks::decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::decoder(data));
