//! Replays the `descriptors` fuzz target's seeds and saved crashes on
//! stable Rust, in a test process of its own: its check counts the
//! process's open descriptors, which other tests running alongside would
//! change.

#![cfg(unix)]

use std::path::Path;

#[test]
fn descriptors() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("descriptors")) {
            inputs.extend(entries.map(|e| e.expect("reading the fuzz directory").path()));
        }
    }
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no seeds in fuzz/corpus/descriptors: run python3 fuzz/seeds.py"
    );
    for path in inputs {
        let data = std::fs::read(&path).expect("reading a fuzz input");
        amp_fuzz_checks::descriptors(&data);
    }
}
