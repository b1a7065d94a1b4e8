//! Hostile peers and faults against a server on loopback TCP, for every
//! runtime binding.
//!
//! Each scenario attacks the binding's `Server` (started through
//! [`Runtime::serve_with`], whose
//! `on_connection` hook hands the scenario each server-side `Peer`, so it
//! learns why the server ended each connection) with a raw socket (bytes no
//! AMP peer would send, or a peer that misbehaves in time: trickling, never
//! reading, flooding) while a second, well-behaved client keeps calling
//! `Sum` on the same server ([`bystander`]). Each checks that the offending
//! connection ends with the typed error expected (seen from the server's
//! side) and is closed (the raw socket reads end-of-stream or a reset), that
//! the other client's calls keep answering, quickly, and that the process's
//! memory (VmRSS) stays bounded. The rest are faults and load: connections
//! reset or closed with calls in flight in both directions (every pending
//! call must fail promptly), two peers flooding each other with large calls
//! (every call must be answered: no deadlock), a graceful shutdown of a
//! server with calls in flight (every one answered, later ones refused with
//! a precise error), and many connections reset, closed, or ended by their
//! own responder, after which no responder may be left running (drop guards
//! count them), nothing may have panicked (a panic hook counts) and the
//! runtime's live tasks must be back where they were.
//!
//! | file | cases |
//! |---|---|
//! | [`malformed`] | boxes too big to hold: a million keys, a box past 1 MiB (memory) |
//! | [`slow`] | slow peers and timeouts: trickling, an unfinished box, an idle peer |
//! | [`floods`] | floods and memory: a peer that never reads, a request flood, many connections, large calls both ways |
//! | [`faults`] | connections reset or closed with calls in flight both ways |
//! | [`shutdown`] | a graceful shutdown of a server under load |
//! | [`leaks`] | what ended connections leave behind: tasks, responders, panics, results |
//! | [`harness`], [`bystander`], [`report`] | the server under attack, the well-behaved client, the ROW lines |
//!
//! Cases that only ask which error a byte sequence gets are not here: they
//! are byte-level tests of the state machine (`amp-core/tests/malformed_input.rs`),
//! which need no connection. What stays here needs a live server: memory,
//! the other connections, timing.
//!
//! The raw sockets are `async-net`'s, whose reactor (`async-io`) runs on a
//! thread of its own: they work on any runtime, and they add no task to the
//! runtime under test. Their resets (`SO_LINGER` 0) are set with `socket2`.
//!
//! **What only tokio measures.** The leak cases compare the runtime's live
//! tasks before and after ([`Runtime::live_tasks`]):
//! tokio counts them (`Handle::metrics().num_alive_tasks()`, stable tokio);
//! async-std and smol have no such count, so on them those cases check
//! everything else (every call failed with a connection error, no responder
//! left running, no panic, the results dropped) and their ROW says the tasks
//! were not counted. With the binding's `tracing` feature
//! ([`Runtime::engine_logs`]) the last leak case
//! also counts the engine's "responder result dropped" events with a
//! subscriber of its own: one per result. Memory (VmRSS from
//! `/proc/self/status`) is the process's, measured the same on every
//! runtime.
//!
//! Every scenario prints one line, `ROW | case | expected | observed |
//! memory |`, from which `docs/reliability.md` takes its table:
//!
//! ```text
//! cargo test -p amp-tokio --test hostile -- --nocapture --test-threads=1 | grep -o 'ROW |.*'
//! ```
//!
//! Full-size runs (see `docs/reliability.md`): `AMP_HOSTILE_CONNECTIONS`
//! (default 500; 10000 for the full run, with `ulimit -n` raised) and
//! `AMP_HOSTILE_SLOW_SECONDS` (default 4: how long the trickling peer sends
//! one byte per second).
//!
//! The scenarios run one at a time ([`run`] holds a lock), as they measure
//! the process's memory; waits are generous ([`crate::WAIT`], 30 s), for a
//! loaded two-core machine.

pub mod bystander;
pub mod faults;
pub mod floods;
pub mod harness;
pub mod leaks;
pub mod malformed;
pub mod report;
pub mod shutdown;
pub mod slow;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use crate::Runtime;

pub use faults::{h23_reset_with_calls_in_flight, h24_client_drops_with_calls_in_flight};
pub use floods::{
    h20_peer_that_never_reads, h21_flood_faster_than_responders, h22_many_concurrent_connections,
    h25_large_calls_both_ways,
};
pub use leaks::{
    h27_no_task_left_after_resets, h28_no_task_left_after_closes,
    h29_result_dropped_when_its_connection_ended,
};
pub use malformed::{h04_a_million_tiny_keys, h05_box_over_the_size_limit};
pub use shutdown::h26_graceful_shutdown_under_load;
pub use slow::{
    h19_one_byte_per_second, h19b_one_byte_every_300_ms_against_an_unfinished_box_timeout,
    h19c_a_peer_that_connects_and_says_nothing_against_an_idle_timeout,
};

/// Most the process's memory may grow during one case.
pub const MAX_GROWTH_KIB: u64 = 64 * 1024;

/// Slowest answer the well-behaved client may see while a hostile peer is
/// at work (it is usually a few milliseconds).
pub const MAX_LATENCY: Duration = Duration::from_secs(2);

/// How long one hostile scenario may take (a full-size run trickles for 37
/// s and opens 10,000 connections).
pub const DEADLINE: Duration = Duration::from_secs(900);

/// Runs one scenario as a test, as [`crate::run`] does, but one at a time
/// (they measure the process's memory) and with [`DEADLINE`].
pub fn run<R, M, S, Fut>(name: &str, make: M, scenario: S)
where
    R: Runtime,
    M: FnOnce() -> R + Send + 'static,
    S: FnOnce(R) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    crate::run_within(name, DEADLINE, make, scenario);
}

/// Expands to one `#[test]` per scenario of [`crate::hostile`], each running
/// on the runtime `$make` evaluates to, one at a time ([`run`]).
///
/// ```text
/// amp_conformance::hostile_suite!(MyRuntime::default());
/// ```
#[macro_export]
macro_rules! hostile_suite {
    ($make:expr) => {
        $crate::hostile_suite!(@tests $make;
            h04_a_million_tiny_keys,
            h05_box_over_the_size_limit,
            h19_one_byte_per_second,
            h19b_one_byte_every_300_ms_against_an_unfinished_box_timeout,
            h19c_a_peer_that_connects_and_says_nothing_against_an_idle_timeout,
            h20_peer_that_never_reads,
            h21_flood_faster_than_responders,
            h22_many_concurrent_connections,
            h23_reset_with_calls_in_flight,
            h24_client_drops_with_calls_in_flight,
            h25_large_calls_both_ways,
            h26_graceful_shutdown_under_load,
            h27_no_task_left_after_resets,
            h28_no_task_left_after_closes,
            h29_result_dropped_when_its_connection_ended,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::hostile::run(stringify!($name), move || $make, $crate::hostile::$name);
            }
        )*
    };
}
