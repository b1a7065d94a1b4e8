//! `amp decode` (the command-line tool) on capture files: pcap and pcapng
//! parsed, TCP streams reassembled and decoded, on arbitrary bytes.
//! The checks are in `amp_fuzz_checks::cli_pcap`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::cli_pcap(data));
