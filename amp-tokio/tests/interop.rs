//! Interoperability with real Twisted (amp-conformance's interop suite) on
//! tokio: a Rust client against Twisted's `server.py`, and Twisted's
//! `client.py` against `amp_tokio::Server`, both speaking the catalogue of
//! `interop/COMMANDS.md`.
//!
//! The Python environment comes from `AMP_INTEROP_PYTHON`, or else from
//! `scripts/python-env.sh` (which builds `.venv-interop` from PyPI on first
//! use). Without it these tests fail: they are never skipped.

mod harness;

use harness::Tokio;

amp_conformance::interop_suite!(Tokio { multi_thread: true });
