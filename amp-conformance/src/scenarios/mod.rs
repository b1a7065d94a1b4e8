//! The scenarios: each is what one behaviour of a binding must look like,
//! written against [`Runtime`] only.
//!
//! One file per topic: calls, answers and errors (`calls.rs`); how calls and
//! connections end (`lifetime.rs`); bounds and backpressure
//! (`backpressure.rs`); TCP servers (`servers.rs`); timeouts
//! (`timeouts.rs`). Every scenario is re-exported here, by the name
//! [`suite!`](crate::suite) runs it by.

mod backpressure;
mod calls;
mod lifetime;
mod servers;
mod timeouts;

pub use backpressure::{
    a_responder_calling_back_at_the_responder_bound_gets_its_answer,
    a_responder_calling_back_during_a_graceful_shutdown_gets_its_answer,
    callers_wait_when_the_outbound_buffer_is_full,
    dropped_calls_give_back_their_share_of_the_in_flight_budget,
    large_answers_through_small_buffers_do_not_deadlock, responders_in_flight_are_bounded,
};
pub use calls::{
    a_request_without_ask_that_fails_closes_the_connection_silently,
    a_responder_that_panics_is_an_undeclared_error,
    both_sides_call_at_once_and_responders_call_back, commands_without_answer_return_once_queued,
    fatal_and_undeclared_errors_close_the_connection_after_the_error,
    responders_run_concurrently_and_answer_in_the_order_they_finish,
    typed_calls_answers_and_declared_errors,
    unknown_commands_get_unhandled_and_the_connection_survives,
};
pub use lifetime::{
    a_stop_starts_when_asked_and_a_shorter_grace_wins,
    closed_reports_why_and_close_fails_pending_calls,
    connection_loss_fails_every_pending_call_with_the_reason,
    dropping_a_call_cancels_it_and_its_late_answer_is_ignored,
    dropping_the_last_handle_closes_the_connection, graceful_shutdown_of_one_peer,
};
pub use servers::{
    a_server_at_its_connection_limit_accepts_once_one_ends,
    tcp_server_with_per_connection_state_and_graceful_shutdown, twisted_conversations_over_tcp,
};
pub use timeouts::{
    a_box_left_unfinished_past_the_timeout_ends_the_connection,
    an_idle_connection_ends_after_the_idle_timeout_and_a_busy_one_does_not,
    the_unfinished_box_clock_stops_while_the_server_cannot_read,
};

use std::convert::Infallible;

use amp_core::CallError;

use crate::commands::{Empty, Probes, Sum, SumArgs, Wait};
use crate::{Peer, Runtime, Task, within};

fn sum(a: i64, b: i64) -> SumArgs {
    SumArgs {
        a: a.into(),
        b: b.into(),
    }
}

/// Calls `Sum(a, b)` on `client` (within the bound) and checks the total.
async fn sums<R: Runtime>(rt: &R, what: &str, client: &Peer, a: i64, b: i64) {
    let total = within(rt, what, client.call_as::<Sum>(&sum(a, b))).await;
    assert_eq!(total.unwrap().total, i128::from(a + b), "{what}");
}

/// Calls `Wait` on `peer` in the background and waits until the responder
/// has started (the first `Wait` counted by `probes`): the call is then in
/// flight, held at the gate.
async fn started_wait<R: Runtime>(
    rt: &R,
    peer: &Peer,
    probes: &Probes,
) -> Task<Result<Empty, CallError<Infallible>>> {
    let call = rt.spawn({
        let peer = peer.clone();
        async move { peer.call_as::<Wait>(&Empty {}).await }
    });
    within(
        rt,
        "the Wait responder to start",
        probes.entered.at_least(1),
    )
    .await;
    call
}
