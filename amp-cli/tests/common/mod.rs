//! What the end-to-end tests of the `amp` command share: running it, its
//! outputs, the schema of the interoperability catalogue, and the Twisted
//! peers.

#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub use amp_conformance::interop::python::{PyServer, python, repo_root};

/// Runs `amp` with `args` to its end.
pub fn amp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amp"))
        .args(args)
        .output()
        .expect("amp runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

/// The schema of `interop/commands.py`.
pub fn schema() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/interop.toml")
        .display()
        .to_string()
}

/// `interop/server.py`: Twisted answering the catalogue.
pub fn twisted() -> PyServer {
    PyServer::start_with(python(), "server.py")
}

/// Whether `text` holds no terminal escape sequence.
pub fn plain(text: &str) -> bool {
    !text.contains('\u{1b}')
}
