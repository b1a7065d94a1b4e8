//! Hostile peers and faults (amp-conformance's hostile suite) against
//! `amp_tokio::Server` on loopback TCP, on a two-thread runtime. Each case
//! prints one line, `ROW | case | expected | observed | memory |`, from
//! which `docs/reliability.md` takes its table:
//!
//! ```text
//! cargo test -p amp-tokio --test hostile -- --nocapture --test-threads=1 | grep -o 'ROW |.*'
//! ```
//!
//! Tokio counts its live tasks, so the leak cases check that they come
//! back to the baseline here; with the `tracing` feature
//! (`cargo test -p amp-tokio --features tracing --test hostile h29`) the
//! last one also counts the engine's "responder result dropped" events.

mod harness;

use harness::Tokio;

amp_conformance::hostile_suite!(Tokio { multi_thread: true });
