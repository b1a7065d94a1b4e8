//! The write loop: takes what the state machine queued and writes it.

use std::future::poll_fn;
use std::sync::Arc;

use amp_core::ConnectionError;
use futures_channel::oneshot;

use crate::WriteHalf;
use crate::shared::Shared;

pub(crate) async fn write_loop<W: WriteHalf>(
    shared: Arc<Shared>,
    mut writer: W,
    handback: Option<oneshot::Sender<W>>,
) {
    loop {
        let (bytes, closed) = {
            let mut state = shared.lock();
            let bytes = state.machine.take_transmit();
            (bytes, state.machine.is_closed())
        };
        if !bytes.is_empty() {
            // Room again: wake callers waiting for space, and the reader if
            // a full outbound buffer may have kept it from starting
            // responders (waking it otherwise costs a read that finds
            // nothing on runtimes that do not remember an empty socket).
            shared.space.notify(1);
            if bytes.len() >= shared.options.max_outbound_bytes {
                shared.wake_reader.notify();
            }
            if let Err(e) = writer.write_all(&bytes).await {
                shared.end(crate::end_reason(e));
                return;
            }
            continue;
        }
        if closed {
            // Taken apart: everything queued is written, and the half goes
            // back unclosed to whoever takes the transport over.
            if let Some(handback) = handback
                && shared.close_reason() == Some(ConnectionError::ProtocolSwitched)
            {
                let _ = handback.send(writer);
                return;
            }
            let _ = writer.close().await;
            return;
        }
        // A signal sent since the bytes were taken is kept: not lost.
        poll_fn(|cx| shared.write_ready.poll_take(cx)).await;
    }
}
