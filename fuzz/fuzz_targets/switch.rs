//! A live connection handing its transport over by Twisted's
//! `ProtocolSwitchCommand`, on the answering or the calling side, with the
//! next protocol's bytes in any read. The checks are in
//! `amp_fuzz_checks::switch`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::switch(data));
