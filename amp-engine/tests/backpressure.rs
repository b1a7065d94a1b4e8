//! Callers waiting for outbound room: freed room wakes them one at a time,
//! each passing the wake-up on while room is left, and none is forgotten.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use amp_conformance::commands::{Notify, Text};
use amp_core::Command;
use amp_engine::{Options, ReadHalf, Responders, WriteHalf, start};
use bytes::BytesMut;

struct Silent;
impl ReadHalf for Silent {
    async fn read(&mut self, _: &mut BytesMut) -> io::Result<usize> {
        std::future::pending().await
    }
}

/// Takes whatever it is given at once.
struct Sink;
impl WriteHalf for Sink {
    async fn write_all(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// `calls` callers wait behind a full buffer; `fit` calls fit in the
/// budget. Each time the writer empties the buffer, exactly the callers
/// that fit are woken (the last one finding it full again), never all.
fn wake_one_at_a_time(fit: usize, calls: usize) {
    let text = "x".repeat(100);
    // The bytes one call takes in the outbound buffer, as the engine writes
    // it: `fit` of them fill the budget exactly.
    let call_size = {
        let mut d = amp_core::Dispatcher::default();
        let args = amp_core::ser::to_box(&Text { text: text.clone() }).unwrap();
        d.call_remote(Notify::NAME, &args, false).unwrap();
        d.take_transmit().len()
    };
    let options = Options::default().max_outbound_bytes(fit * call_size);
    let (peer, _reading, writing) = start(Silent, Sink, None, Responders::new(), options);
    let mut writing = Box::pin(writing);
    let noop = Waker::noop();

    // Fill the buffer without any caller waiting.
    for _ in 0..fit {
        let mut first = Box::pin(peer.notify_as::<Notify>(&Text { text: text.clone() }));
        assert!(matches!(poll(&mut first, noop), Poll::Ready(Ok(()))));
    }

    let counts: Vec<Arc<Count>> = (0..calls).map(|_| Arc::default()).collect();
    let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(Arc::clone(c))).collect();
    let mut waiting: Vec<_> = (0..calls)
        .map(|_| {
            Some(Box::pin(
                peer.notify_as::<Notify>(&Text { text: text.clone() }),
            ))
        })
        .collect();
    for (call, waker) in waiting.iter_mut().zip(&wakers) {
        assert!(
            poll(call.as_mut().unwrap(), waker).is_pending(),
            "a call went through a full buffer"
        );
    }
    let woken = || {
        counts
            .iter()
            .map(|c| c.0.load(Ordering::SeqCst))
            .sum::<usize>()
    };

    let mut done = 0;
    while done < calls {
        // The writer takes everything queued and goes back to waiting.
        assert!(poll(&mut writing, noop).is_pending());
        let before = woken();
        // Let every woken caller run, in turn, until nobody new was woken.
        let mut went = 0;
        loop {
            let mut progressed = false;
            for (i, call) in waiting.iter_mut().enumerate() {
                let Some(f) = call else { continue };
                if counts[i].0.load(Ordering::SeqCst) > 0 {
                    counts[i].0.store(0, Ordering::SeqCst);
                    match poll(f, &wakers[i]) {
                        Poll::Ready(r) => {
                            assert!(matches!(r, Ok(())));
                            *call = None;
                            went += 1;
                            progressed = true;
                        }
                        Poll::Pending => {}
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        let expected = fit.min(calls - done);
        assert_eq!(
            went, expected,
            "after the buffer emptied, {went} callers went through instead of {expected}"
        );
        assert!(
            before <= 1,
            "emptying the buffer woke {before} callers at once"
        );
        done += went;
        // Callers still waiting were not woken for nothing.
        assert_eq!(woken(), 0, "callers were woken to find the buffer full");
    }
}

#[test]
fn freed_room_wakes_a_single_caller_when_one_fits() {
    wake_one_at_a_time(1, 6);
}

#[test]
fn freed_room_is_passed_on_while_it_lasts() {
    wake_one_at_a_time(3, 10);
}

/// A caller woken for freed room that gives up before it runs hands the
/// wake-up to the next waiting caller: nobody is left waiting on room that
/// is there.
#[test]
fn a_woken_caller_that_gives_up_passes_the_room_on() {
    let text = "x".repeat(100);
    let args = || Text { text: text.clone() };
    let (peer, _reading, writing) = start(
        Silent,
        Sink,
        None,
        Responders::new(),
        Options::default().max_outbound_bytes(1),
    );
    let mut writing = Box::pin(writing);
    let noop = Waker::noop();
    let mut first = Box::pin(peer.notify_as::<Notify>(&args()));
    assert!(matches!(poll(&mut first, noop), Poll::Ready(Ok(()))));

    let counts: [Arc<Count>; 2] = Default::default();
    let wakers = counts.clone().map(Waker::from);
    let mut a = Box::pin(peer.notify_as::<Notify>(&args()));
    let mut b = Box::pin(peer.notify_as::<Notify>(&args()));
    assert!(poll(&mut a, &wakers[0]).is_pending());
    assert!(poll(&mut b, &wakers[1]).is_pending());

    assert!(poll(&mut writing, noop).is_pending());
    let woken = |i: usize| counts[i].0.load(Ordering::SeqCst);
    assert_eq!(
        (woken(0), woken(1)),
        (1, 0),
        "the first waiting caller first"
    );
    drop(a);
    assert_eq!(woken(1), 1, "the wake-up was not passed on");
    assert!(matches!(poll(&mut b, &wakers[1]), Poll::Ready(Ok(()))));
}
