//! Replays the fuzz targets' inputs on stable Rust, through the very checks
//! the fuzzers run (this crate's): every seed in `fuzz/corpus/<target>/` and
//! every saved crash in `fuzz/regressions/<target>/`, for every target. A
//! crash the fuzzers find is saved there and stays checked here, without
//! nightly or libFuzzer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use amp_fuzz_checks::input::Input;
use amp_fuzz_checks::values::VALUE_TYPES;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of `target` under `fuzz/<dir>/`, sorted.
fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading the fuzz directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` over every seed and saved crash of `target`; fails naming
/// each input that breaks it.
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    let crashes = inputs("regressions", target);
    assert!(
        !seeds.is_empty(),
        "no seeds in fuzz/corpus/{target}: run python3 fuzz/seeds.py"
    );
    let mut failed = Vec::new();
    for path in seeds.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("reading a fuzz input");
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    println!(
        "{target}: {} seeds, {} saved crashes replayed",
        seeds.len(),
        crashes.len()
    );
    assert!(failed.is_empty(), "{target}: failing inputs: {failed:#?}");
}

#[test]
fn decoder() {
    replay("decoder", amp_fuzz_checks::decoder);
}

// `descriptors` is replayed by tests/descriptors_replay.rs, alone in its
// process: its check counts the process's open descriptors.

#[test]
fn values() {
    replay("values", amp_fuzz_checks::values);
}

#[test]
fn serde_box() {
    replay("serde_box", amp_fuzz_checks::serde_box);
}

#[test]
fn dispatcher() {
    replay("dispatcher", amp_fuzz_checks::dispatcher);
}

#[test]
fn router() {
    replay("router", amp_fuzz_checks::router);
}

#[test]
fn txampext() {
    replay("txampext", amp_fuzz_checks::txampext);
}

#[test]
fn mux() {
    replay("mux", amp_fuzz_checks::mux);
}

#[test]
fn switch() {
    replay("switch", amp_fuzz_checks::switch);
}

#[test]
fn cli_decode() {
    replay("cli_decode", amp_fuzz_checks::cli_decode);
}

#[test]
fn cli_proxy() {
    replay("cli_proxy", amp_fuzz_checks::cli_proxy);
}

#[test]
fn cli_pcap() {
    replay("cli_pcap", amp_fuzz_checks::cli_pcap);
}

/// The readers the targets share read past the end as zeros, so any input,
/// even empty, is a valid one.
#[test]
fn short_inputs() {
    for data in [&b""[..], b"\x00", b"\xff", b"\x01\x00\x00\x00\x01\x00\x00"] {
        amp_fuzz_checks::decoder(data);
        amp_fuzz_checks::values(data);
        amp_fuzz_checks::serde_box(data);
        amp_fuzz_checks::dispatcher(data);
        amp_fuzz_checks::cli_decode(data);
        amp_fuzz_checks::cli_proxy(data);
        amp_fuzz_checks::cli_pcap(data);
        amp_fuzz_checks::txampext(data);
        amp_fuzz_checks::mux(data);
        amp_fuzz_checks::switch(data);
    }
    for data in [&b""[..], b"\x00", b"\xff", b"\x04\x05\x00\x01\x00\x00\x0c"] {
        amp_fuzz_checks::router(data);
    }
    assert!(!VALUE_TYPES.is_empty());
    let mut input = Input::new(b"\x01\x02\x03");
    assert_eq!(input.u16(), 0x0102);
    assert_eq!(input.rest(), b"\x03");
}
