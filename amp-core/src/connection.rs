//! [`Connection`]: one AMP connection, sans IO. A [`Decoder`] in front of a
//! [`Dispatcher`]: bytes go in, events and bytes come out.
//!
//! # Driving a connection
//!
//! A `Connection` does no IO, spawns nothing, blocks on nothing and reads no
//! clock. Whoever owns the socket drives it, round after round, in this
//! order:
//!
//! 1. **Bytes in.** Hand each chunk read from the socket to
//!    [`handle_input`](Connection::handle_input), or read straight into
//!    [`read_buffer`](Connection::read_buffer) to save a copy. Nothing is
//!    decoded yet.
//! 2. **Events out.** Call [`poll_event`](Connection::poll_event) until it
//!    returns `None`. Boxes are decoded lazily, one per event, so a
//!    protocol switch ([`switch_protocol`](Connection::switch_protocol),
//!    called right after the event that asks for it) takes the bytes that
//!    follow that box as they came. Handle each event as it comes:
//!    - [`Event::Request`]: the peer calls a command. If it has a tag,
//!      settle it with [`answer`](Connection::answer),
//!      [`fail`](Connection::fail) or [`respond`](Connection::respond), now
//!      or in a later round, in any order. One without a tag wants nothing
//!      back; hand its result to `respond` anyway: a failure closes the
//!      connection, as Twisted closes it.
//!    - [`Event::Answer`], [`Event::ErrorAnswer`], [`Event::CallFailed`]:
//!      one of this side's calls is settled
//!      ([`settles`](crate::event::settles) turns the event into the call's
//!      outcome).
//!    - [`Event::Box`]: a box that is neither request nor answer, delivered
//!      only when [`Config::raw_boxes`] is on.
//!    - [`Event::Closed`]: the connection has ended; it is the last event.
//! 3. **Bytes out.** Calls ([`call`](Connection::call),
//!    [`call_remote`](Connection::call_remote)), answers, errors and
//!    [`send_box`](Connection::send_box) only queue bytes: nothing reaches
//!    the peer until [`take_transmit`](Connection::take_transmit) hands them
//!    over and they are written. Take them after each round of events, and
//!    after a call or answer made between rounds
//!    ([`pending_transmit`](Connection::pending_transmit) says whether any
//!    are queued).
//! 4. **Waiting, and time.** Before waiting for the socket, call
//!    [`poll_timeout`](Connection::poll_timeout) with the current time. It
//!    returns the next deadline of the timeouts set in the [`Config`]
//!    ([`unfinished_box_timeout`](Config::unfinished_box_timeout),
//!    [`idle_timeout`](Config::idle_timeout)), or `None` when none runs.
//!    Wait for the socket until that deadline at most; if it passes first,
//!    call [`handle_timeout`](Connection::handle_timeout) with the time
//!    then and go back to step 2 (the connection may have ended). The
//!    connection reads no clock and bytes come without a time, so
//!    `poll_timeout` is also where it notes when what happened since the
//!    last call happened: call it every time before waiting, not only after
//!    a deadline. A driver that stops reading the socket for a while
//!    (backpressure: every responder slot busy) says so with
//!    [`pause_reading(true)`](Connection::pause_reading), then
//!    `pause_reading(false)` when it reads again: the unfinished-box clock
//!    does not run meanwhile. With no timeout set, `poll_timeout` returns
//!    `None` at no cost and the deadline can be left out.
//! 5. **The end.** When a read finds the end of the stream, call
//!    [`handle_eof`](Connection::handle_eof) and go on polling: the boxes
//!    already buffered come first, then the connection ends with
//!    [`ConnectionError::PeerClosed`], or with a
//!    [`CodecError::Truncated`](crate::CodecError::Truncated) protocol error
//!    if the stream stopped inside a box. When the socket fails, call
//!    [`connection_lost`](Connection::connection_lost) with the reason. To
//!    end it from this side, call [`close`](Connection::close).
//!
//! The connection also ends by itself: when the peer breaks the protocol
//! ([`ConnectionError::Protocol`]; no error box is sent for it), when a
//! responder fails fatally ([`ConnectionError::FatalError`], once its error
//! box is queued), and when `handle_timeout` finds a timeout passed
//! ([`ConnectionError::BoxTimeout`], [`ConnectionError::IdleTimeout`]; the
//! rules are in [`timeout`](crate::timeout)).
//!
//! # After the end
//!
//! However it ends, [`poll_event`](Connection::poll_event) then yields an
//! [`Event::CallFailed`] for each call still outstanding, in the order they
//! were made, then [`Event::Closed`] with the reason, then `None` for good.
//! From the moment it ends:
//!
//! - [`is_closed`](Connection::is_closed) is true and
//!   [`close_reason`](Connection::close_reason) gives the reason; closing
//!   again keeps the first one;
//! - [`handle_input`](Connection::handle_input) ignores its bytes, and no
//!   buffered box is decoded any more;
//! - [`call_remote`](Connection::call_remote),
//!   [`answer`](Connection::answer), [`fail`](Connection::fail),
//!   [`respond`](Connection::respond) and
//!   [`send_box`](Connection::send_box) queue nothing and return
//!   [`SendError::Closed`] with the reason; [`call`](Connection::call)
//!   returns [`CallError::Connection`];
//! - [`forget`](Connection::forget) returns false: no call is outstanding;
//! - [`poll_timeout`](Connection::poll_timeout) returns `None` and
//!   [`handle_timeout`](Connection::handle_timeout) does nothing;
//! - bytes queued before the end (a fatal error box, say) are still there:
//!   [`take_transmit`](Connection::take_transmit) returns them, then
//!   nothing. Write them, then close the socket.
//!
//! What `Connection` does not forward is on its
//! [`dispatcher`](Connection::dispatcher).
//!
//! # A complete driving loop
//!
//! A blocking one, over a socket whose reads can give up at a deadline (as
//! `std::net::TcpStream`'s can, with `set_read_timeout`); an async adapter
//! does the same with its own reads, writes and timers.
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::time::{Duration, Instant};
//!
//! use amp_core::{AmpBox, CallError, CallId, Config, Connection, ConnectionError, Event, ResponderError};
//! use amp_core::event::settles;
//!
//! /// A socket whose reads give up at a deadline.
//! trait Socket: Read + Write {
//!     /// Reads, or fails with `TimedOut` once `deadline` has passed.
//!     fn read_by(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize>;
//! }
//!
//! impl Socket for std::net::TcpStream {
//!     fn read_by(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
//!         let wait = deadline.map(|d| {
//!             d.saturating_duration_since(Instant::now()).max(Duration::from_micros(1))
//!         });
//!         self.set_read_timeout(wait)?;
//!         self.read(buf).map_err(|e| match e.kind() {
//!             io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
//!             _ => e,
//!         })
//!     }
//! }
//!
//! /// Serves `conn` over `socket` until it ends: why it ended, and the
//! /// outcome of each of this side's calls.
//! fn drive(
//!     conn: &mut Connection,
//!     socket: &mut impl Socket,
//! ) -> (ConnectionError, Vec<(CallId, Result<AmpBox, CallError>)>) {
//!     let mut settled = Vec::new();
//!     let mut buf = [0u8; 16 * 1024];
//!     loop {
//!         // Every event the bytes so far make.
//!         while let Some(event) = conn.poll_event() {
//!             match event {
//!                 Event::Request(req) => {
//!                     let result = match req.command_str() {
//!                         Some("Ping") => Ok(AmpBox::from_pairs([("pong", "yes")])),
//!                         _ => Err(ResponderError::unhandled(&req.command)),
//!                     };
//!                     // Refused only once the connection has ended, and
//!                     // then `Event::Closed` is on its way.
//!                     let _ = conn.respond(req.tag.as_deref(), result);
//!                 }
//!                 Event::Closed(reason) => {
//!                     // What was queued before the end still goes out.
//!                     let _ = socket.write_all(&conn.take_transmit());
//!                     return (reason, settled);
//!                 }
//!                 // Answers, error answers and failures of our calls.
//!                 other => settled.extend(settles(other)),
//!             }
//!         }
//!         // What the events (and any calls made before) queued.
//!         if let Err(e) = socket.write_all(&conn.take_transmit()) {
//!             conn.connection_lost(ConnectionError::Transport(e.to_string()));
//!             continue;
//!         }
//!         // More bytes, the end, or a deadline.
//!         let deadline = conn.poll_timeout(Instant::now());
//!         match socket.read_by(&mut buf, deadline) {
//!             Ok(0) => conn.handle_eof(),
//!             Ok(n) => conn.handle_input(&buf[..n]),
//!             Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
//!             Err(e) if e.kind() == io::ErrorKind::TimedOut => conn.handle_timeout(Instant::now()),
//!             Err(e) => conn.connection_lost(ConnectionError::Transport(e.to_string())),
//!         }
//!     }
//! }
//!
//! /// A socket's stand-in: what the peer sent (then it hangs up, or goes
//! /// quiet), and what it was sent.
//! struct Stream {
//!     from_peer: io::Cursor<Vec<u8>>,
//!     hangs_up: bool,
//!     to_peer: Vec<u8>,
//! }
//! impl Read for Stream {
//!     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
//!         self.from_peer.read(buf)
//!     }
//! }
//! impl Write for Stream {
//!     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
//!         self.to_peer.write(buf)
//!     }
//!     fn flush(&mut self) -> io::Result<()> {
//!         Ok(())
//!     }
//! }
//! impl Socket for Stream {
//!     fn read_by(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
//!         let n = self.read(buf)?;
//!         if n > 0 || self.hangs_up {
//!             return Ok(n);
//!         }
//!         // A quiet peer: nothing comes before the deadline.
//!         let deadline = deadline.expect("waiting for a peer that says nothing, forever");
//!         std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
//!         Err(io::ErrorKind::TimedOut.into())
//!     }
//! }
//!
//! // The peer asks for Ping, then hangs up without answering our Hello.
//! let ping = b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x04Ping\x00\x00";
//! let mut stream = Stream {
//!     from_peer: io::Cursor::new(ping.to_vec()),
//!     hangs_up: true,
//!     to_peer: Vec::new(),
//! };
//! let mut conn = Connection::default();
//! let hello = conn.call_remote("Hello", &AmpBox::new(), true).unwrap().unwrap();
//! let (reason, settled) = drive(&mut conn, &mut stream);
//!
//! assert_eq!(reason, ConnectionError::PeerClosed);
//! assert_eq!(settled, [(hello, Err(CallError::Connection(ConnectionError::PeerClosed)))]);
//! assert_eq!(
//!     stream.to_peer,
//!     b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x05Hello\x00\x00\
//!       \x00\x07_answer\x00\x011\x00\x04pong\x00\x03yes\x00\x00"
//! );
//! assert!(conn.is_closed() && conn.poll_event().is_none());
//!
//! // With an idle timeout, a peer that asks for Ping and then says nothing
//! // more is let go a whole timeout after the answer was taken.
//! let timeout = Duration::from_millis(20);
//! let mut stream = Stream {
//!     from_peer: io::Cursor::new(ping.to_vec()),
//!     hangs_up: false,
//!     to_peer: Vec::new(),
//! };
//! let mut conn = Connection::new(&Config::default().idle_timeout(timeout));
//! let started = Instant::now();
//! let (reason, settled) = drive(&mut conn, &mut stream);
//! assert_eq!(reason, ConnectionError::IdleTimeout { timeout });
//! assert!(started.elapsed() >= timeout && settled.is_empty());
//! assert_eq!(stream.to_peer, b"\x00\x07_answer\x00\x011\x00\x04pong\x00\x03yes\x00\x00");
//! ```

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::AmpBox;
use crate::codec::Decoder;
use crate::command::{CallError, Command, ResponderError};
use crate::config::Config;
use crate::dispatcher::Dispatcher;
use crate::error::{ConnectionError, ProtocolError, SendError};
use crate::event::{CallId, Event};
use crate::timeout::{Snapshot, Timers};
use crate::wire::Body;

/// One AMP connection, sans IO: a [`Decoder`] in front of a [`Dispatcher`].
///
/// Feed received bytes with [`handle_input`](Self::handle_input), take events
/// with [`poll_event`](Self::poll_event) (boxes are decoded lazily, one per
/// event, so a protocol switch can stop right after the box that asked for
/// it), queue calls and answers, and send what
/// [`take_transmit`](Self::take_transmit) returns. The
/// [module documentation](crate::connection) gives the order in full, and
/// what each method does once the connection has ended.
///
/// ```
/// use amp_core::{AmpBox, Connection, Event};
///
/// let mut client = Connection::default();
/// let mut server = Connection::default();
/// let call = client.call_remote("Sum", &AmpBox::from_pairs([("a", "13"), ("b", "81")]), true)
///     .unwrap()
///     .unwrap();
/// server.handle_input(&client.take_transmit());
/// let Some(Event::Request(req)) = server.poll_event() else { panic!() };
/// let a: i64 = req.arguments.get_str("a").unwrap().parse().unwrap();
/// let b: i64 = req.arguments.get_str("b").unwrap().parse().unwrap();
/// server.answer(req.tag.as_ref().unwrap(), &AmpBox::from_pairs([("total", (a + b).to_string())])).unwrap();
/// client.handle_input(&server.take_transmit());
/// assert_eq!(
///     client.poll_event(),
///     Some(Event::Answer { call, response: AmpBox::from_pairs([("total", "94")]) })
/// );
/// ```
#[derive(Debug)]
pub struct Connection {
    decoder: Decoder,
    dispatcher: Dispatcher,
    eof: bool,
    /// The timeouts' state.
    timers: Timers,
    /// Bytes received (decoded and buffered) when a poll for events last
    /// found no whole box: while no byte has come since, the buffer holds
    /// part of a box and nothing else.
    drained_at: u64,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new(&Config::default())
    }
}

impl Connection {
    /// A connection with these settings.
    ///
    /// ```
    /// let c = amp_core::Connection::new(&amp_core::Config::default());
    /// assert!(!c.is_closed());
    /// ```
    pub fn new(config: &Config) -> Self {
        Connection {
            decoder: Decoder::new(config.limits),
            dispatcher: Dispatcher::new(config),
            eof: false,
            timers: Timers::new(config.timeouts),
            drained_at: 0,
        }
    }

    /// Feeds received bytes. They are decoded by [`poll_event`](Self::poll_event).
    /// Bytes received after the connection ended are ignored.
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.handle_input(b"\x00\x08_command\x00\x04Ping\x00\x00");
    /// assert!(matches!(c.poll_event(), Some(amp_core::Event::Request(_))));
    /// ```
    pub fn handle_input(&mut self, data: &[u8]) {
        if !self.is_closed() {
            // The decoder only refuses input after it failed, and then the
            // connection is already closed.
            let _ = self.decoder.feed(data);
        }
    }

    /// The receive buffer, for reading from a socket without a copy; bytes
    /// appended are decoded by [`poll_event`](Self::poll_event).
    ///
    /// ```
    /// use bytes::BufMut;
    /// let mut c = amp_core::Connection::default();
    /// c.read_buffer().put_slice(b"\x00\x08_command\x00\x04Ping\x00\x00");
    /// assert!(c.poll_event().is_some());
    /// ```
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        self.decoder.buffer_mut()
    }

    /// Received bytes not yet decoded.
    ///
    /// ```
    /// assert_eq!(amp_core::Connection::default().buffered(), 0);
    /// ```
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// The peer closed its side. Once the buffered boxes are handled, the
    /// connection ends: [`ConnectionError::PeerClosed`] if the stream ended
    /// between boxes, a [`CodecError::Truncated`](crate::CodecError::Truncated)
    /// protocol error if it ended inside one.
    ///
    /// ```
    /// use amp_core::{Connection, ConnectionError, Event};
    /// let mut c = Connection::default();
    /// c.handle_eof();
    /// assert_eq!(c.poll_event(), Some(Event::Closed(ConnectionError::PeerClosed)));
    /// ```
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// The transport failed: the connection ends with this reason.
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.connection_lost(amp_core::ConnectionError::Transport("reset".into()));
    /// assert!(c.is_closed());
    /// ```
    pub fn connection_lost(&mut self, reason: ConnectionError) {
        self.dispatcher.close(reason);
    }

    /// Closes the connection from this side: outstanding calls fail with
    /// [`ConnectionError::Closed`]; queued bytes can still be sent.
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.close();
    /// assert_eq!(c.close_reason(), Some(&amp_core::ConnectionError::Closed));
    /// ```
    pub fn close(&mut self) {
        self.dispatcher.close(ConnectionError::Closed);
    }

    /// The next event: queued ones first, then the next received box.
    ///
    /// ```
    /// assert!(amp_core::Connection::default().poll_event().is_none());
    /// ```
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.dispatcher.poll_event() {
                return Some(event);
            }
            if self.dispatcher.is_closed() {
                return None;
            }
            match self.decoder.decode() {
                Ok(Some(b)) => {
                    match self.dispatcher.receive(
                        b,
                        #[cfg(unix)]
                        Some(self.decoder.consumed()),
                    ) {
                        // Nothing is queued (checked above): this is the next
                        // event.
                        Ok(Some(event)) => return Some(event),
                        Ok(None) => {}
                        Err(e) => self.dispatcher.close(ConnectionError::Protocol(e)),
                    }
                }
                Ok(None) => {
                    if !self.eof {
                        self.drained_at = self.decoder.consumed() + self.decoder.buffered() as u64;
                        return None;
                    }
                    let reason = match self.decoder.finish() {
                        Ok(()) => ConnectionError::PeerClosed,
                        Err(e) => ConnectionError::Protocol(ProtocolError::Codec(e)),
                    };
                    self.dispatcher.close(reason);
                }
                Err(e) => self
                    .dispatcher
                    .close(ConnectionError::Protocol(ProtocolError::Codec(e))),
            }
        }
    }

    /// The next deadline of the timeouts set in [`Config`]
    /// ([`unfinished_box_timeout`](Config::unfinished_box_timeout),
    /// [`idle_timeout`](Config::idle_timeout)), or `None` when no timer
    /// runs (neither is set, or the connection has ended). It looks at the
    /// connection as it is at `now` and arms what needs arming then (the
    /// connection reads no clock, and bytes arrive without a time), so call
    /// it each time before waiting, after the round's events are polled and
    /// its bytes taken; wait for more bytes until the deadline at most, then
    /// call [`handle_timeout`](Self::handle_timeout). The rules are in
    /// [`timeout`](crate::timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::{Config, Connection};
    /// let mut c = Connection::new(&Config::default().idle_timeout(Duration::from_secs(60)));
    /// let now = Instant::now();
    /// assert_eq!(c.poll_timeout(now), Some(now + Duration::from_secs(60)));
    /// assert_eq!(Connection::default().poll_timeout(now), None);
    /// ```
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        if self.timers.timeouts().is_off() || self.is_closed() {
            return None;
        }
        let snapshot = self.snapshot();
        self.timers.poll_timeout(now, &snapshot)
    }

    /// A deadline [`poll_timeout`](Self::poll_timeout) returned has passed:
    /// if a rule says so at `now`, the connection ends with
    /// [`ConnectionError::BoxTimeout`] or [`ConnectionError::IdleTimeout`],
    /// and [`poll_event`](Self::poll_event) then yields the failed calls and
    /// [`Event::Closed`] as for any end. It decides from `now`, so calling
    /// it early (nothing happens) or late is harmless.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::{Config, Connection, ConnectionError, Event};
    /// let timeout = Duration::from_secs(60);
    /// let mut c = Connection::new(&Config::default().idle_timeout(timeout));
    /// let t0 = Instant::now();
    /// let deadline = c.poll_timeout(t0).unwrap();
    /// c.handle_timeout(deadline - Duration::from_nanos(1));
    /// assert!(!c.is_closed());
    /// c.handle_timeout(deadline);
    /// assert_eq!(c.poll_event(), Some(Event::Closed(ConnectionError::IdleTimeout { timeout })));
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.timeouts().is_off() || self.is_closed() {
            return;
        }
        let snapshot = self.snapshot();
        if let Some(reason) = self.timers.handle_timeout(now, &snapshot) {
            self.dispatcher.close(reason);
        }
    }

    /// The driver has stopped reading (`true`: backpressure, say, with every
    /// responder slot busy) or reads again (`false`). While reading is
    /// paused, the unfinished-box clock stops: a half box waiting behind
    /// bytes this side will not read yet is not late; once reading resumes,
    /// the clock starts again from zero.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use amp_core::{Config, Connection};
    /// let mut c = Connection::new(&Config::default().unfinished_box_timeout(Duration::from_secs(1)));
    /// c.handle_input(b"\x00\x01k");
    /// assert!(c.poll_event().is_none());
    /// c.pause_reading(true);
    /// assert_eq!(c.poll_timeout(Instant::now()), None);
    /// c.pause_reading(false);
    /// assert!(c.poll_timeout(Instant::now()).is_some());
    /// ```
    pub fn pause_reading(&mut self, paused: bool) {
        self.timers.pause_reading(paused);
    }

    /// What the timeouts look at, now.
    fn snapshot(&self) -> Snapshot {
        let decoded = self.decoder.consumed();
        let buffered = self.decoder.buffered();
        let d = &self.dispatcher;
        Snapshot {
            decoded,
            buffered,
            drained: decoded + buffered as u64 == self.drained_at,
            transmitted: d.transmitted(),
            busy: buffered > 0
                || d.pending_transmit() > 0
                || d.outstanding_calls() > 0
                || d.owed_answers() > 0,
        }
    }

    /// Takes every byte received after the last box handled and ends the
    /// connection with [`ConnectionError::ProtocolSwitched`]: the protocol
    /// switch point. Call it right after the event that switches; later
    /// bytes belong to the new protocol.
    ///
    /// ```
    /// use amp_core::{Connection, Event};
    /// let mut c = Connection::default();
    /// c.handle_input(b"\x00\x08_command\x00\x06Switch\x00\x00\x16\x03\x01TLS...");
    /// assert!(matches!(c.poll_event(), Some(Event::Request(_))));
    /// assert_eq!(&c.switch_protocol()[..], b"\x16\x03\x01TLS...");
    /// ```
    pub fn switch_protocol(&mut self) -> BytesMut {
        self.dispatcher.close(ConnectionError::ProtocolSwitched);
        self.decoder.take_remaining()
    }

    /// Takes every byte received after the last box handled, undecoded,
    /// and goes on: the point where the transport under the connection
    /// changes (StartTLS), after which the same conversation continues over
    /// the new transport. Call it right after the event after which the
    /// bytes are the new transport's; later input is the new transport's
    /// plain text.
    ///
    /// ```
    /// use amp_core::{Connection, Event};
    /// let mut c = Connection::default();
    /// c.handle_input(b"\x00\x08_command\x00\x08StartTLS\x00\x04_ask\x00\x011\x00\x00\x16\x03\x01");
    /// assert!(matches!(c.poll_event(), Some(Event::Request(_))));
    /// assert_eq!(&c.take_unread()[..], b"\x16\x03\x01");
    /// assert!(!c.is_closed());
    /// ```
    pub fn take_unread(&mut self) -> BytesMut {
        self.decoder.take_remaining()
    }

    /// The dispatcher, for what [`Connection`] does not forward.
    ///
    /// ```
    /// assert_eq!(amp_core::Connection::default().dispatcher().outstanding_calls(), 0);
    /// ```
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The dispatcher, mutably.
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.dispatcher_mut().take_transmit().is_empty());
    /// ```
    pub fn dispatcher_mut(&mut self) -> &mut Dispatcher {
        &mut self.dispatcher
    }

    /// See [`Dispatcher::call`]: the arguments of a command declared with
    /// [`command!`](crate::command!) are the call.
    ///
    /// ```
    /// amp_core::command! { pub struct Ping {} -> () }
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.call(Ping {}).unwrap().is_some());
    /// ```
    pub fn call<C: Command<Arguments = C>>(
        &mut self,
        arguments: C,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.dispatcher.call_as::<C>(&arguments)
    }

    /// See [`Dispatcher::call_as`].
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct A { a: i64 }
    /// # struct C; impl Command for C { const NAME: &'static str = "C"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.call_as::<C>(&A { a: 1 }).unwrap().is_some());
    /// ```
    pub fn call_as<C: Command>(
        &mut self,
        arguments: &C::Arguments,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.dispatcher.call_as::<C>(arguments)
    }

    /// See [`Dispatcher::call_remote`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.call_remote("X", &amp_core::AmpBox::new(), true).unwrap().is_some());
    /// ```
    pub fn call_remote(
        &mut self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<CallId>, SendError> {
        self.dispatcher
            .call_remote(command, arguments, requires_answer)
    }

    /// See [`Dispatcher::call_body`].
    ///
    /// ```
    /// use amp_core::{Connection, dispatcher::Body};
    /// let mut conn = Connection::default();
    /// let args = amp_core::AmpBox::from_pairs([("a", "1")]);
    /// assert!(conn.call_body("Sum", Body::Box(&args), true).unwrap().is_some());
    /// ```
    pub fn call_body(
        &mut self,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, SendError> {
        self.dispatcher
            .call_body(command, arguments, requires_answer)
    }

    /// See [`Dispatcher::forget`].
    ///
    /// ```
    /// assert!(!amp_core::Connection::default().forget(amp_core::CallId::new(1)));
    /// ```
    pub fn forget(&mut self, call: CallId) -> bool {
        self.dispatcher.forget(call)
    }

    /// See [`Dispatcher::answer`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.answer(b"1", &amp_core::AmpBox::new()).is_err());
    /// ```
    pub fn answer(&mut self, tag: &[u8], response: &AmpBox) -> Result<(), SendError> {
        self.dispatcher.answer(tag, response)
    }

    /// See [`Dispatcher::fail`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.fail(b"1", &amp_core::ResponderError::undeclared("x")).is_err());
    /// ```
    pub fn fail(&mut self, tag: &[u8], error: &ResponderError) -> Result<(), SendError> {
        self.dispatcher.fail(tag, error)
    }

    /// See [`Dispatcher::respond`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.respond(None, Ok(amp_core::AmpBox::new())).is_ok());
    /// ```
    pub fn respond(
        &mut self,
        tag: Option<&[u8]>,
        result: Result<AmpBox, ResponderError>,
    ) -> Result<(), SendError> {
        self.dispatcher.respond(tag, result)
    }

    /// See [`Dispatcher::respond_ref`].
    ///
    /// ```
    /// use amp_core::{AmpBox, Connection, Event};
    /// let mut conn = Connection::default();
    /// conn.handle_input(b"\x00\x04_ask\x00\x011\x00\x08_command\x00\x03Sum\x00\x00");
    /// let Some(Event::Request(req)) = conn.poll_event() else { unreachable!() };
    /// conn.respond_ref(req.tag.as_deref(), Ok(&AmpBox::new())).unwrap();
    /// assert!(!conn.take_transmit().is_empty());
    /// ```
    pub fn respond_ref(
        &mut self,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), SendError> {
        self.dispatcher.respond_ref(tag, result)
    }

    /// See [`Dispatcher::send_box`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.send_box(&amp_core::AmpBox::new()).unwrap();
    /// assert_eq!(c.pending_transmit(), 2);
    /// ```
    pub fn send_box(&mut self, b: &AmpBox) -> Result<(), SendError> {
        self.dispatcher.send_box(b)
    }

    /// See [`Dispatcher::take_transmit`].
    ///
    /// ```
    /// assert!(amp_core::Connection::default().take_transmit().is_empty());
    /// ```
    pub fn take_transmit(&mut self) -> Bytes {
        self.dispatcher.take_transmit()
    }

    /// See [`Dispatcher::transmit_into`]: the queued bytes onto the end of
    /// `dst`, without a copy or an allocation when `dst` is empty.
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.send_box(&amp_core::AmpBox::new()).unwrap();
    /// let mut out = bytes::BytesMut::new();
    /// c.transmit_into(&mut out);
    /// assert_eq!(&out[..], b"\x00\x00");
    /// assert_eq!(c.pending_transmit(), 0);
    /// ```
    pub fn transmit_into(&mut self, dst: &mut BytesMut) {
        self.dispatcher.transmit_into(dst)
    }

    /// See [`Dispatcher::pending_transmit`].
    ///
    /// ```
    /// assert_eq!(amp_core::Connection::default().pending_transmit(), 0);
    /// ```
    pub fn pending_transmit(&self) -> usize {
        self.dispatcher.pending_transmit()
    }

    /// See [`Dispatcher::is_closed`].
    ///
    /// ```
    /// assert!(!amp_core::Connection::default().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.dispatcher.is_closed()
    }

    /// See [`Dispatcher::close_reason`].
    ///
    /// ```
    /// assert!(amp_core::Connection::default().close_reason().is_none());
    /// ```
    pub fn close_reason(&self) -> Option<&ConnectionError> {
        self.dispatcher.close_reason()
    }
}

/// Descriptor passing (see [`crate::descriptor`]).
#[cfg(unix)]
impl Connection {
    /// Turns descriptor passing on (the transport is a UNIX socket that
    /// carries them): see [`Dispatcher::pass_descriptors`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.pass_descriptors();
    /// assert!(c.passes_descriptors());
    /// ```
    pub fn pass_descriptors(&mut self) {
        self.dispatcher.pass_descriptors();
    }

    /// Whether descriptor passing is on.
    ///
    /// ```
    /// assert!(!amp_core::Connection::default().passes_descriptors());
    /// ```
    pub fn passes_descriptors(&self) -> bool {
        self.dispatcher.passes_descriptors()
    }

    /// Descriptors that came with the bytes just fed (one `recvmsg`'s):
    /// each gets the next received ordinal, and is handed over with the
    /// box that holds the last of those bytes, for an argument of that box
    /// or a later one to take (see [`crate::descriptor`]). Closed at once
    /// if passing is off, the connection has ended, or no byte came with
    /// them. Past
    /// [`MAX_HELD_DESCRIPTORS`](crate::descriptor::MAX_HELD_DESCRIPTORS)
    /// held and not taken by an argument, the oldest whose box is dropped
    /// is closed; if there is none (all wait for their box or are in boxes
    /// not dropped yet), the connection ends
    /// ([`DescriptorError::TooMany`](crate::descriptor::DescriptorError::TooMany)).
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use amp_core::{Connection, Event};
    /// #[derive(serde::Deserialize)]
    /// struct Args { fd: amp_core::values::Descriptor }
    ///
    /// let mut c = Connection::default();
    /// c.pass_descriptors();
    /// let (received, _other) = std::os::unix::net::UnixStream::pair().unwrap();
    /// c.handle_input(b"\x00\x08_command\x00\x04Take\x00\x02fd\x00\x010\x00\x00");
    /// c.receive_descriptors([OwnedFd::from(received)]);
    /// let Some(Event::Request(req)) = c.poll_event() else { panic!() };
    /// assert_eq!(req.arguments.descriptor_count(), 1);
    /// let args: Args = amp_core::de::from_box(&req.arguments).unwrap();
    /// assert_eq!(req.arguments.descriptor_count(), 0); // the argument took it
    /// # drop(args);
    /// ```
    pub fn receive_descriptors(&mut self, fds: impl IntoIterator<Item = std::os::fd::OwnedFd>) {
        use crate::descriptor::{DescriptorError, MAX_HELD_DESCRIPTORS};
        let end = self.decoder.consumed() + self.decoder.buffered() as u64;
        if self.dispatcher.is_closed() || end == 0 {
            return;
        }
        let Some(passing) = self.dispatcher.passing_mut() else {
            return;
        };
        let mut too_many = false;
        for fd in fds {
            if !passing.make_room() {
                too_many = true;
                drop(fd);
                continue;
            }
            passing
                .incoming
                .push_back((end - 1, passing.next_received, fd));
            passing.next_received += 1;
        }
        if too_many {
            self.dispatcher
                .close(ConnectionError::Protocol(ProtocolError::Descriptors(
                    DescriptorError::TooMany {
                        limit: MAX_HELD_DESCRIPTORS,
                    },
                )));
        }
    }

    /// The transport lost descriptors the peer sent (truncated control
    /// data): the numbering is off, so the connection ends
    /// ([`DescriptorError::Truncated`](crate::descriptor::DescriptorError::Truncated)).
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// c.descriptors_lost();
    /// assert!(c.is_closed());
    /// ```
    pub fn descriptors_lost(&mut self) {
        self.dispatcher
            .close(ConnectionError::Protocol(ProtocolError::Descriptors(
                crate::descriptor::DescriptorError::Truncated,
            )));
    }

    /// Bytes taken for sending so far (see [`Dispatcher::transmitted`]).
    ///
    /// ```
    /// assert_eq!(amp_core::Connection::default().transmitted(), 0);
    /// ```
    pub fn transmitted(&self) -> u64 {
        self.dispatcher.transmitted()
    }

    /// See [`Dispatcher::take_descriptors`].
    ///
    /// ```
    /// let mut c = amp_core::Connection::default();
    /// let from = c.transmitted();
    /// let _bytes = c.take_transmit();
    /// assert!(c.take_descriptors(from).is_empty());
    /// ```
    pub fn take_descriptors(&mut self, taken_from: u64) -> crate::descriptor::Outgoing {
        self.dispatcher.take_descriptors(taken_from)
    }

    /// See [`Dispatcher::drop_outgoing_descriptors`].
    ///
    /// ```
    /// amp_core::Connection::default().drop_outgoing_descriptors();
    /// ```
    pub fn drop_outgoing_descriptors(&mut self) {
        self.dispatcher.drop_outgoing_descriptors();
    }
}
