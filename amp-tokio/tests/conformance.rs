//! The conformance suite (`amp-conformance`) on tokio, on a multi-threaded
//! runtime and on a current-thread one.

mod harness;

mod multi_thread {
    use super::harness::Tokio;
    amp_conformance::suite!(Tokio { multi_thread: true });
}

mod current_thread {
    use super::harness::Tokio;
    amp_conformance::suite!(Tokio {
        multi_thread: false
    });
}
