//! [`Connection`]: one AMP connection, sans IO. A [`Decoder`] in front of a
//! [`Dispatcher`]: bytes go in, events and bytes come out.

use bytes::{Bytes, BytesMut};

use crate::AmpBox;
use crate::codec::Decoder;
use crate::command::{CallError, Command, ResponderError};
use crate::config::Config;
use crate::dispatcher::Dispatcher;
use crate::error::{ConnectionError, ProtocolError, SendError};
use crate::event::{CallId, Event};
use crate::wire::Body;

/// One AMP connection, sans IO: a [`Decoder`] in front of a [`Dispatcher`].
///
/// Feed received bytes with [`handle_input`](Self::handle_input), take events
/// with [`poll_event`](Self::poll_event) (boxes are decoded lazily, one per
/// event, so a protocol switch can stop right after the box that asked for
/// it), queue calls and answers, and send what
/// [`take_transmit`](Self::take_transmit) returns.
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
                Ok(Some(b)) => match self.dispatcher.receive(b) {
                    // Nothing is queued (checked above): this is the next
                    // event.
                    Ok(Some(event)) => return Some(event),
                    Ok(None) => {}
                    Err(e) => self.dispatcher.close(ConnectionError::Protocol(e)),
                },
                Ok(None) => {
                    if !self.eof {
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

    /// See [`Dispatcher::call`].
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct A { a: i64 }
    /// # struct C; impl Command for C { const NAME: &'static str = "C"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
    /// let mut c = amp_core::Connection::default();
    /// assert!(c.call::<C>(&A { a: 1 }).unwrap().is_some());
    /// ```
    pub fn call<C: Command>(
        &mut self,
        arguments: &C::Arguments,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.dispatcher.call::<C>(arguments)
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
