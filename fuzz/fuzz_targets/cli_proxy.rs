//! What `amp proxy` (the command-line tool) makes of the bytes it forwards:
//! both directions of a connection, in arbitrary pieces, decoded and paired,
//! values decoded by a schema or not, under small random limits.
//! The checks are in `amp_fuzz_checks::cli_proxy`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::cli_proxy(data));
