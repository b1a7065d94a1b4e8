//! `amp decode` (the command-line tool) on arbitrary bytes, read in
//! arbitrary pieces, with small random limits and either output.
//! The checks are in `amp_fuzz_checks::cli_decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::cli_decode(data));
