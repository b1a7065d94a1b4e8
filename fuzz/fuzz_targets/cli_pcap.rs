//! `amp decode` (the command-line tool) on arbitrary packet captures: pcap
//! and pcapng reading, packet headers, TCP reassembly under small random
//! limits, and the decoding of each stream.
//! The checks are in `amp_fuzz_checks::cli_pcap`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| amp_fuzz_checks::cli_pcap(data));
