//! A connection that passes descriptors, fed bytes with descriptors among
//! them, lost control data and calls of its own: nothing panics, nothing
//! leaks. The checks are in `amp_fuzz_checks::descriptors`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::descriptors(data));
