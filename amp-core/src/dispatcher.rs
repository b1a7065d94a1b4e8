//! [`Dispatcher`]: Twisted's `BoxDispatcher` as a sans-IO state machine.
//!
//! A dispatcher works on boxes: it allocates `_ask` tags, tracks outstanding
//! calls, turns received boxes into [`Event`]s and the user's calls, answers
//! and errors into bytes to send. It does no IO, spawns nothing, blocks on
//! nothing and reads no clock. [`Connection`] puts a
//! [`Decoder`](crate::Decoder) in front of one dispatcher, so bytes go in and
//! events and bytes come out.
//!
//! What a dispatcher deals in lives in modules of its own, and is re-exported
//! here too, where it used to be: [`Event`], [`Request`], [`CallId`] and
//! [`settles`] in [`event`](crate::event), [`Config`] in
//! [`config`](crate::config), [`ProtocolError`], [`ConnectionError`] and
//! [`SendError`] in [`error`](crate::error), the reserved keys and [`Body`]
//! in [`wire`](crate::wire), [`Connection`] in
//! [`connection`](crate::connection).

mod owed;

use std::collections::{HashSet, VecDeque};

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{check_pair, fill_pair, wire_keys};
use crate::command::{CallError, Command, RemoteError, ResponderError};
use crate::error::CodecError;
use crate::{AmpBox, ser};
use owed::OwedTags;

pub use crate::config::Config;
pub use crate::connection::Connection;
pub use crate::error::{ConnectionError, ProtocolError, SendError};
pub use crate::event::{CallId, CallIdHash, CallIdHasher, Event, Request, settles};
pub use crate::wire::{ANSWER, ASK, Body, COMMAND, ERROR, ERROR_CODE, ERROR_DESCRIPTION};

/// Whether a key is one the dispatcher writes itself.
fn is_reserved(key: &[u8], routed: bool) -> bool {
    key.first() == Some(&b'_')
        && matches!(
            key,
            b"_ask" | b"_answer" | b"_error" | b"_command" | b"_error_code" | b"_error_description"
        )
        || (routed && key == b"_route")
}

/// Writes one pair, checking the wire's length rules.
fn put_pair(out: &mut BytesMut, key: &[u8], value: &[u8]) -> Result<(), CodecError> {
    check_pair(key, value)?;
    out.reserve(4 + key.len() + value.len());
    out.put_u16(key.len() as u16);
    out.put_slice(key);
    out.put_u16(value.len() as u16);
    out.put_slice(value);
    Ok(())
}

/// Twisted's `BoxDispatcher` as a state machine, on boxes.
///
/// Most users want [`Connection`], which adds the byte codec; a router uses
/// one dispatcher per route over a shared codec.
///
/// ```
/// use amp_core::{AmpBox, Dispatcher, Event};
///
/// let mut d = Dispatcher::default();
/// let call = d.call_remote("Sum", &AmpBox::from_pairs([("a", "1"), ("b", "2")]), true)
///     .unwrap()
///     .unwrap();
/// assert_eq!(call.tag(), "1");
/// let sent = d.take_transmit();
/// assert!(!sent.is_empty());
/// d.receive_box(AmpBox::from_pairs([("_answer", "1"), ("total", "3")])).unwrap();
/// match d.poll_event() {
///     Some(Event::Answer { call: c, response }) => {
///         assert_eq!(c, call);
///         assert_eq!(response.get_str("total"), Some("3"));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Dispatcher {
    next_tag: u64,
    outstanding: HashSet<u64, CallIdHash>,
    forgotten: HashSet<u64, CallIdHash>,
    /// Tags of the peer's requests not answered yet.
    owed: OwedTags,
    events: VecDeque<Event>,
    out: BytesMut,
    /// Bytes taken out of `out` so far (see [`transmitted`](Self::transmitted)).
    transmitted: u64,
    route: Option<Bytes>,
    /// Whether this dispatcher carries one route of a routed connection
    /// (then `_route` is the router's, even when `route` is `None`).
    routed: bool,
    raw_boxes: bool,
    closed: Option<ConnectionError>,
    /// Descriptor passing, once turned on (see [`crate::descriptor`]).
    #[cfg(unix)]
    passing: Option<Box<crate::descriptor::Passing>>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new(&Config::default())
    }
}

impl Dispatcher {
    /// A dispatcher with these settings.
    ///
    /// ```
    /// let d = amp_core::Dispatcher::new(&amp_core::Config::default());
    /// assert_eq!(d.outstanding_calls(), 0);
    /// ```
    pub fn new(config: &Config) -> Self {
        Dispatcher {
            next_tag: 1,
            outstanding: HashSet::default(),
            forgotten: HashSet::default(),
            owed: OwedTags::default(),
            events: VecDeque::new(),
            out: BytesMut::new(),
            transmitted: 0,
            route: None,
            routed: false,
            raw_boxes: config.raw_boxes,
            closed: None,
            #[cfg(unix)]
            passing: None,
        }
    }

    /// Turns the delivery of raw boxes on or off (see [`Config::raw_boxes`]).
    pub(crate) fn set_raw_boxes(&mut self, on: bool) {
        self.raw_boxes = on;
    }

    /// Sets the `_route` value written into every box this dispatcher sends
    /// from now on (`None`: no `_route` key, the peer's default route). Used
    /// by routers: once set, `_route` is reserved in what this dispatcher
    /// sends, whatever the value, so a box cannot pick another route.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.set_route(Some("7".into()));
    /// d.send_box(&amp_core::AmpBox::from_pairs([("k", "v")])).unwrap();
    /// let wire = d.take_transmit();
    /// let (b, _) = amp_core::codec::decode_one(&wire, &Default::default()).unwrap().unwrap();
    /// assert_eq!(b.get_str("_route"), Some("7"));
    /// ```
    pub fn set_route(&mut self, route: Option<Bytes>) {
        self.route = route;
        // From now on `_route` belongs to the router, whichever route.
        self.routed = true;
    }

    /// The `_route` value written into sent boxes.
    ///
    /// ```
    /// assert!(amp_core::Dispatcher::default().route().is_none());
    /// ```
    pub fn route(&self) -> Option<&Bytes> {
        self.route.as_ref()
    }

    /// Why the connection ended, once it has.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// assert!(d.close_reason().is_none());
    /// d.close(amp_core::ConnectionError::Closed);
    /// assert_eq!(d.close_reason(), Some(&amp_core::ConnectionError::Closed));
    /// ```
    pub fn close_reason(&self) -> Option<&ConnectionError> {
        self.closed.as_ref()
    }

    /// Whether the connection has ended.
    ///
    /// ```
    /// assert!(!amp_core::Dispatcher::default().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Calls still waiting for their answer.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.call_remote("X", &amp_core::AmpBox::new(), true).unwrap();
    /// assert_eq!(d.outstanding_calls(), 1);
    /// ```
    pub fn outstanding_calls(&self) -> usize {
        self.outstanding.len()
    }

    /// Requests from the peer still waiting for our answer.
    ///
    /// ```
    /// assert_eq!(amp_core::Dispatcher::default().owed_answers(), 0);
    /// ```
    pub fn owed_answers(&self) -> usize {
        self.owed.len()
    }

    fn check_open(&self) -> Result<(), SendError> {
        match &self.closed {
            Some(reason) => Err(SendError::Closed(reason.clone())),
            None => Ok(()),
        }
    }

    /// Writes a box made of `head` pairs, then `body`'s pairs, then `_route`
    /// if routed, then the terminator. On error nothing is written.
    fn write_box(&mut self, head: &[(&[u8], &[u8])], body: Body<'_>) -> Result<(), SendError> {
        #[cfg(unix)]
        if let Body::Box(b) = body
            && let Some(fds) = b.outgoing_descriptors()
        {
            let (plain, first) = self.number_descriptors(b, fds)?;
            let at = self.transmitted + self.out.len() as u64;
            self.write_box(head, Body::Box(&plain))?;
            self.queue_descriptors(at, first, fds);
            return Ok(());
        }
        let start = self.out.len();
        let result = self.write_box_inner(head, body);
        if result.is_err() {
            self.out.truncate(start);
        }
        result
    }

    fn write_box_inner(
        &mut self,
        head: &[(&[u8], &[u8])],
        body: Body<'_>,
    ) -> Result<(), SendError> {
        let routed = self.routed;
        // Everything is checked first, then the box is written in one go
        // into room made for it: one size check and plain copies, not a
        // buffer call per piece.
        let mut len = 2;
        for (k, v) in head {
            check_pair(k, v)?;
            len += 4 + k.len() + v.len();
        }
        let head_len = len - 2;
        let body = match body {
            Body::Box(b) => b.wire_form().map_or(body, Body::Wire),
            wire => wire,
        };
        match body {
            Body::Wire(wire) => {
                // Lengths checked when it was written: one copy.
                if let Some(k) = wire_keys(wire).find(|k| is_reserved(k, routed)) {
                    return Err(SendError::ReservedKey(Bytes::copy_from_slice(k)));
                }
                len += wire.len();
            }
            Body::Box(b) => {
                for (k, v) in b.iter() {
                    if is_reserved(k, routed) {
                        return Err(SendError::ReservedKey(Bytes::copy_from_slice(k)));
                    }
                    check_pair(k, v)?;
                    len += 4 + k.len() + v.len();
                }
            }
        }
        if let Some(route) = &self.route {
            check_pair(b"_route", route)?;
            len += 4 + b"_route".len() + route.len();
        }
        let start = self.out.len();
        // Zeroed room for the whole box (the last two bytes are the
        // terminator), filled with plain copies; except that a large body
        // already in wire form (a stream's bytes, say) is appended as it is
        // after the head, not copied into zeroed room: zeroing cost as much
        // as the copy.
        let appended = match body {
            Body::Wire(wire) if wire.len() > ZEROED_BODY => Some(wire),
            _ => None,
        };
        if appended.is_some() {
            self.out.reserve(len);
            self.out.resize(start + head_len, 0);
        } else {
            self.out.resize(start + len, 0);
        }
        let mut room = &mut self.out[start..];
        for (k, v) in head {
            room = fill_pair(room, k, v);
        }
        let mut room = match (appended, body) {
            (Some(wire), _) => {
                self.out.extend_from_slice(wire);
                let tail = self.out.len();
                self.out.resize(start + len, 0);
                &mut self.out[tail..]
            }
            (None, Body::Wire(wire)) => {
                let (dst, rest) = room.split_at_mut(wire.len());
                dst.copy_from_slice(wire);
                rest
            }
            (None, Body::Box(b)) => {
                for (k, v) in b.iter() {
                    room = fill_pair(room, k, v);
                }
                room
            }
        };
        if let Some(route) = &self.route {
            room = fill_pair(room, b"_route", route);
        }
        debug_assert_eq!(room, [0, 0]);
        Ok(())
    }

    /// Calls `command` with a raw argument box (Twisted's
    /// `callRemoteString`). With `requires_answer` the box carries a fresh
    /// `_ask` tag and the call's id is returned; without, no tag is sent and
    /// nothing will answer.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// let none = d.call_remote("Notify", &amp_core::AmpBox::from_pairs([("text", "hi")]), false).unwrap();
    /// assert!(none.is_none());
    /// assert_eq!(d.outstanding_calls(), 0);
    /// ```
    pub fn call_remote(
        &mut self,
        command: &str,
        arguments: &AmpBox,
        requires_answer: bool,
    ) -> Result<Option<CallId>, SendError> {
        self.call_body(command, Body::Box(arguments), requires_answer)
    }

    /// [`call_remote`](Self::call_remote) with the arguments as a [`Body`].
    ///
    /// ```
    /// use amp_core::{Dispatcher, dispatcher::Body};
    /// let mut d = Dispatcher::default();
    /// let wire = amp_core::ser::to_wire(&std::collections::BTreeMap::from([("a", 1)])).unwrap();
    /// assert!(d.call_body("Sum", Body::Wire(&wire), true).unwrap().is_some());
    /// ```
    pub fn call_body(
        &mut self,
        command: &str,
        arguments: Body<'_>,
        requires_answer: bool,
    ) -> Result<Option<CallId>, SendError> {
        self.check_open()?;
        if !requires_answer {
            self.write_box(&[(COMMAND.as_bytes(), command.as_bytes())], arguments)?;
            return Ok(None);
        }
        let id = CallId(self.next_tag);
        let mut buf = [0u8; 16];
        let tag = id.write_tag(&mut buf);
        self.write_box(
            &[
                (ASK.as_bytes(), tag),
                (COMMAND.as_bytes(), command.as_bytes()),
            ],
            arguments,
        )?;
        self.next_tag += 1;
        self.outstanding.insert(id.0);
        Ok(Some(id))
    }

    /// Calls the command whose arguments `arguments` are (one declared with
    /// [`command!`](crate::command!)); otherwise as
    /// [`call_as`](Self::call_as).
    ///
    /// ```
    /// amp_core::command! { pub struct Ping {} -> () }
    /// let mut d = amp_core::Dispatcher::default();
    /// assert_eq!(d.call(Ping {}).unwrap().map(|i| i.get()), Some(1));
    /// ```
    pub fn call<C: Command<Arguments = C>>(
        &mut self,
        arguments: C,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.call_as::<C>(&arguments)
    }

    /// Calls a typed command. Returns the call's id, or `None` for a command
    /// that wants no answer; turn the answer into the response with
    /// [`command::decode_outcome`](crate::command::decode_outcome).
    ///
    /// ```
    /// # use amp_core::Command;
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// let mut d = amp_core::Dispatcher::default();
    /// let id = d.call_as::<Sum>(&SumArgs { a: 13, b: 81 }).unwrap();
    /// assert_eq!(id.map(|i| i.get()), Some(1));
    /// ```
    pub fn call_as<C: Command>(
        &mut self,
        arguments: &C::Arguments,
    ) -> Result<Option<CallId>, CallError<C::Error>> {
        self.check_open()?;
        let wire = match ser::to_wire(arguments) {
            Ok(wire) => wire,
            // Descriptors go with a box.
            Err(e) if e.needs_box() => {
                let b = ser::to_box(arguments).map_err(CallError::Value)?;
                return Ok(self.call_body(C::NAME, Body::Box(&b), C::REQUIRES_ANSWER)?);
            }
            Err(e) => return Err(CallError::Value(e)),
        };
        Ok(self.call_body(C::NAME, Body::Wire(&wire), C::REQUIRES_ANSWER)?)
    }

    /// Forgets an outstanding call (its caller gave up): a late answer or
    /// error for it is then dropped quietly. Returns whether it was
    /// outstanding.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// let id = d.call_remote("X", &amp_core::AmpBox::new(), true).unwrap().unwrap();
    /// assert!(d.forget(id));
    /// d.receive_box(amp_core::AmpBox::from_pairs([("_answer", "1")])).unwrap();
    /// assert!(d.poll_event().is_none());
    /// ```
    pub fn forget(&mut self, call: CallId) -> bool {
        if self.outstanding.remove(&call.0) {
            self.forgotten.insert(call.0);
            true
        } else {
            false
        }
    }

    /// Answers the peer's request `tag` with `response`.
    ///
    /// ```
    /// use amp_core::{AmpBox, Dispatcher, Event};
    /// let mut d = Dispatcher::default();
    /// d.receive_box(AmpBox::from_pairs([("_ask", "a1"), ("_command", "Ping")])).unwrap();
    /// let Some(Event::Request(req)) = d.poll_event() else { panic!() };
    /// d.answer(req.tag.as_ref().unwrap(), &AmpBox::from_pairs([("pong", "1")])).unwrap();
    /// assert!(d.answer(b"a1", &AmpBox::new()).is_err(), "answered twice");
    /// ```
    pub fn answer(&mut self, tag: &[u8], response: &AmpBox) -> Result<(), SendError> {
        self.write_owed(tag, &[(ANSWER.as_bytes(), tag)], Body::Box(response))
    }

    /// Writes the box that settles the peer's request `tag`: takes the tag
    /// out of the requests owed an answer (one lookup), or says why it
    /// cannot be answered; if the box cannot be written, the request is
    /// still owed.
    fn write_owed(
        &mut self,
        tag: &[u8],
        head: &[(&[u8], &[u8])],
        body: Body<'_>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let owed = self
            .owed
            .take(tag)
            .ok_or_else(|| SendError::NotAsked(Bytes::copy_from_slice(tag)))?;
        let written = self.write_box(head, body);
        if written.is_err() {
            self.owed.restore(owed);
        }
        written
    }

    /// Answers the peer's request `tag` with an error; a fatal one closes
    /// the connection after the error box.
    ///
    /// ```
    /// use amp_core::{AmpBox, Dispatcher, ResponderError};
    /// let mut d = Dispatcher::default();
    /// d.receive_box(AmpBox::from_pairs([("_ask", "1"), ("_command", "Boom")])).unwrap();
    /// d.fail(b"1", &ResponderError::undeclared("kaboom")).unwrap();
    /// assert!(d.is_closed());
    /// ```
    pub fn fail(&mut self, tag: &[u8], error: &ResponderError) -> Result<(), SendError> {
        let description = error.description();
        self.write_owed(
            tag,
            &[
                (ERROR.as_bytes(), tag),
                (ERROR_CODE.as_bytes(), error.code().as_bytes()),
                (ERROR_DESCRIPTION.as_bytes(), description.as_bytes()),
            ],
            Body::Box(&AmpBox::new()),
        )?;
        if error.is_fatal() {
            self.close(ConnectionError::FatalError {
                code: error.code().to_owned(),
                description: description.into_owned(),
            });
        }
        Ok(())
    }

    /// Sends a responder's result for a request: the answer, or the error
    /// box. A request without a tag gets nothing back; if it failed, in any
    /// way (declared, undeclared or unknown command), the connection closes
    /// without a word, as Twisted closes it.
    ///
    /// ```
    /// use amp_core::{AmpBox, Dispatcher, ResponderError};
    /// let mut d = Dispatcher::default();
    /// d.respond(None, Ok(AmpBox::new())).unwrap();
    /// assert!(!d.is_closed());
    /// d.respond(None, Err(ResponderError::unhandled(b"Nope"))).unwrap();
    /// assert!(d.is_closed());
    /// assert!(d.take_transmit().is_empty());
    /// ```
    pub fn respond(
        &mut self,
        tag: Option<&[u8]>,
        result: Result<AmpBox, ResponderError>,
    ) -> Result<(), SendError> {
        self.respond_ref(tag, result.as_ref())
    }

    /// [`respond`](Self::respond) with the result borrowed: a result that
    /// waits in a list is answered from where it is, not moved out first.
    ///
    /// ```
    /// use amp_core::{AmpBox, Dispatcher, Event};
    /// let mut d = Dispatcher::default();
    /// d.receive_box(AmpBox::from_pairs([("_ask", "1"), ("_command", "Sum")])).unwrap();
    /// let Some(Event::Request(req)) = d.poll_event() else { unreachable!() };
    /// d.respond_ref(req.tag.as_deref(), Ok(&AmpBox::new())).unwrap();
    /// assert!(!d.take_transmit().is_empty());
    /// ```
    pub fn respond_ref(
        &mut self,
        tag: Option<&[u8]>,
        result: Result<&AmpBox, &ResponderError>,
    ) -> Result<(), SendError> {
        match (tag, result) {
            (Some(tag), result) => {
                let sent = match result {
                    Ok(response) => self.answer(tag, response),
                    Err(e) => self.fail(tag, e),
                };
                match sent {
                    // An answer that cannot be encoded is an undeclared
                    // failure, as an exception while serializing is in
                    // Twisted: the peer is told UNKNOWN and the reason is
                    // logged here (with the `tracing` feature).
                    Err(
                        e @ (SendError::Codec(_)
                        | SendError::ReservedKey(_)
                        | SendError::Descriptors(_)),
                    ) => {
                        #[cfg(feature = "tracing")]
                        tracing::error!(
                            tag = %String::from_utf8_lossy(tag),
                            error = %e,
                            "an answer could not be encoded: the peer is told UNKNOWN and the connection closes"
                        );
                        self.fail(tag, &ResponderError::undeclared(e))
                    }
                    other => other,
                }
            }
            (None, Ok(_)) => self.check_open(),
            (None, Err(e)) => {
                // Nobody waits for this error, so it cannot be sent: as in
                // Twisted, an unanswerable failure closes the connection,
                // whatever its kind (even `UNHANDLED`).
                self.check_open()?;
                self.close(ConnectionError::FatalError {
                    code: e.code().to_owned(),
                    description: e.description().into_owned(),
                });
                Ok(())
            }
        }
    }

    /// Sends any box as it is (plus `_route` when routed).
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.send_box(&amp_core::AmpBox::from_pairs([("hello", "world")])).unwrap();
    /// assert_eq!(&d.take_transmit()[..], b"\x00\x05hello\x00\x05world\x00\x00");
    /// ```
    pub fn send_box(&mut self, b: &AmpBox) -> Result<(), SendError> {
        self.check_open()?;
        #[cfg(unix)]
        if let Some(fds) = b.outgoing_descriptors() {
            let (plain, first) = self.number_descriptors(b, fds)?;
            let at = self.transmitted + self.out.len() as u64;
            self.send_box(&plain)?;
            self.queue_descriptors(at, first, fds);
            return Ok(());
        }
        if self.routed && b.contains_key("_route") {
            return Err(SendError::ReservedKey(Bytes::from_static(b"_route")));
        }
        let start = self.out.len();
        let result = b
            .encode(&mut self.out)
            .map_err(SendError::from)
            .and_then(|()| {
                if let Some(route) = &self.route {
                    // Put `_route` before the terminator just written.
                    self.out.truncate(self.out.len() - 2);
                    put_pair(&mut self.out, b"_route", route)?;
                    self.out.put_u16(0);
                }
                Ok(())
            });
        if result.is_err() {
            self.out.truncate(start);
        }
        result
    }

    /// Handles one received box (without `_route`, for a router).
    ///
    /// On a protocol error the box is refused and the error returned; the
    /// caller closes the connection (a [`Connection`] does so itself).
    ///
    /// ```
    /// use amp_core::{AmpBox, Dispatcher, ProtocolError};
    /// let mut d = Dispatcher::default();
    /// let e = d.receive_box(AmpBox::from_pairs([("_answer", "9")])).unwrap_err();
    /// assert!(matches!(e, ProtocolError::UnknownTag { .. }));
    /// ```
    pub fn receive_box(&mut self, b: AmpBox) -> Result<(), ProtocolError> {
        if let Some(event) = self.receive(
            b,
            #[cfg(unix)]
            None,
        )? {
            self.events.push_back(event);
        }
        Ok(())
    }

    /// [`receive_box`](Self::receive_box) handing the event back instead of
    /// queueing it (a [`Connection`] returns it at once when nothing is
    /// queued before it: no trip through the queue). `end`: where the box
    /// ended in the stream, for a connection that passes descriptors (the
    /// box takes those that came with its bytes; see
    /// [`crate::descriptor`]).
    pub(crate) fn receive(
        &mut self,
        mut b: AmpBox,
        #[cfg(unix)] end: Option<u64>,
    ) -> Result<Option<Event>, ProtocolError> {
        #[cfg(unix)]
        if let Some(end) = end
            && let Some(passing) = self.passing.as_deref_mut()
            && let Some(attached) = passing.for_box(end)
        {
            b.attach_received(attached);
        }
        if self.closed.is_some() {
            return Ok(None);
        }
        // One pass finds every key that decides what the box is.
        let [answer, error, command, ask] = b.positions([ANSWER, ERROR, COMMAND, ASK]);
        let event = match (answer, error, command) {
            (Some(i), None, None) => {
                // The tag is only read: no reference to the buffer is taken.
                let Some(call) = self.resolve(ANSWER, b.value_at(i))? else {
                    return Ok(None);
                };
                b.remove_at(i);
                Event::Answer { call, response: b }
            }
            (None, Some(i), None) => {
                let tag = b.take_at(i);
                let code = b.remove(ERROR_CODE).ok_or(ProtocolError::MalformedError {
                    missing: ERROR_CODE,
                })?;
                let description =
                    b.remove(ERROR_DESCRIPTION)
                        .ok_or(ProtocolError::MalformedError {
                            missing: ERROR_DESCRIPTION,
                        })?;
                let Some(call) = self.resolve(ERROR, &tag)? else {
                    return Ok(None);
                };
                Event::ErrorAnswer {
                    call,
                    error: RemoteError {
                        code: String::from_utf8_lossy(&code).into_owned(),
                        description: String::from_utf8_lossy(&description).into_owned(),
                    },
                }
            }
            (None, None, Some(i)) => {
                // The later pair first, so the earlier index stays right.
                let (command, tag) = match ask {
                    Some(k) if k > i => {
                        let tag = b.take_at(k);
                        (b.take_at(i), Some(tag))
                    }
                    Some(k) => {
                        let command = b.take_at(i);
                        (command, Some(b.take_at(k)))
                    }
                    None => (b.take_at(i), None),
                };
                if let Some(tag) = &tag
                    && !self.owed.insert(tag)
                {
                    return Err(ProtocolError::DuplicateAsk { tag: tag.clone() });
                }
                Event::Request(Request {
                    tag,
                    command,
                    arguments: b,
                })
            }
            (None, None, None) => {
                if self.raw_boxes {
                    Event::Box(b)
                } else {
                    return Err(ProtocolError::NotAmp {
                        keys: b.keys().map(Bytes::copy_from_slice).collect(),
                    });
                }
            }
            (a, e, c) => {
                let keys = [
                    (ANSWER, a.is_some()),
                    (ERROR, e.is_some()),
                    (COMMAND, c.is_some()),
                ]
                .into_iter()
                .filter_map(|(k, present)| present.then_some(k))
                .collect();
                return Err(ProtocolError::Ambiguous { keys });
            }
        };
        Ok(Some(event))
    }

    /// Finds the outstanding call a received tag answers: `Ok(None)` for a
    /// forgotten call (dropped quietly), an error for any other tag.
    fn resolve(&mut self, key: &'static str, tag: &[u8]) -> Result<Option<CallId>, ProtocolError> {
        if let Some(id) = CallId::parse(tag) {
            if self.outstanding.remove(&id.0) {
                return Ok(Some(id));
            }
            if self.forgotten.remove(&id.0) {
                return Ok(None);
            }
        }
        Err(ProtocolError::UnknownTag {
            key,
            tag: Bytes::copy_from_slice(tag),
        })
    }

    /// Ends the connection: every outstanding call fails with `reason`
    /// ([`Event::CallFailed`]), then [`Event::Closed`]. Later calls, answers
    /// and boxes are refused; bytes already queued can still be taken.
    /// Closing twice keeps the first reason.
    ///
    /// ```
    /// use amp_core::{AmpBox, ConnectionError, Dispatcher, Event};
    /// let mut d = Dispatcher::default();
    /// let id = d.call_remote("X", &AmpBox::new(), true).unwrap().unwrap();
    /// d.close(ConnectionError::PeerClosed);
    /// assert_eq!(d.poll_event(), Some(Event::CallFailed { call: id, reason: ConnectionError::PeerClosed }));
    /// assert_eq!(d.poll_event(), Some(Event::Closed(ConnectionError::PeerClosed)));
    /// assert!(d.call_remote("X", &AmpBox::new(), true).is_err());
    /// ```
    pub fn close(&mut self, reason: ConnectionError) {
        if self.closed.is_some() {
            return;
        }
        let mut calls: Vec<u64> = self.outstanding.drain().collect();
        calls.sort_unstable();
        for call in calls {
            self.events.push_back(Event::CallFailed {
                call: CallId(call),
                reason: reason.clone(),
            });
        }
        self.forgotten.clear();
        self.owed.clear();
        // Received descriptors waiting for the rest of their box never get
        // one: closed now; those handed over once no box can take them.
        // (Queued ones go when the writer is done.)
        #[cfg(unix)]
        if let Some(passing) = &mut self.passing {
            passing.end();
        }
        self.events.push_back(Event::Closed(reason.clone()));
        self.closed = Some(reason);
    }

    /// The next event, if any.
    ///
    /// ```
    /// assert!(amp_core::Dispatcher::default().poll_event().is_none());
    /// ```
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes every byte queued for sending.
    ///
    /// ```
    /// assert!(amp_core::Dispatcher::default().take_transmit().is_empty());
    /// ```
    pub fn take_transmit(&mut self) -> Bytes {
        self.transmitted += self.out.len() as u64;
        self.out.split().freeze()
    }

    /// Bytes queued for sending.
    ///
    /// ```
    /// assert_eq!(amp_core::Dispatcher::default().pending_transmit(), 0);
    /// ```
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Bytes taken for sending so far, by [`take_transmit`](Self::take_transmit)
    /// and [`transmit_into`](Self::transmit_into) (the idle timeout counts
    /// them as traffic).
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.send_box(&amp_core::AmpBox::new()).unwrap();
    /// assert_eq!(d.transmitted(), 0);
    /// d.take_transmit();
    /// assert_eq!(d.transmitted(), 2);
    /// ```
    pub fn transmitted(&self) -> u64 {
        self.transmitted
    }

    /// Moves the queued bytes onto the end of `dst`: for a caller that
    /// gathers several sources into one write, or that writes from a buffer
    /// of its own and clears it afterwards. When `dst` is empty the two
    /// buffers trade places: nothing is copied or allocated, and the room
    /// `dst` had becomes the room of the queue (a writer that keeps one
    /// buffer and clears it after each write allocates nothing once both
    /// buffers have grown to its writes' size).
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.send_box(&amp_core::AmpBox::new()).unwrap();
    /// let mut dst = bytes::BytesMut::with_capacity(64);
    /// d.transmit_into(&mut dst);
    /// assert_eq!(&dst[..], b"\x00\x00");
    /// assert_eq!(d.pending_transmit(), 0);
    /// dst.clear();
    /// d.send_box(&amp_core::AmpBox::new()).unwrap();
    /// d.transmit_into(&mut dst);
    /// assert_eq!(&dst[..], b"\x00\x00");
    /// assert_eq!(d.transmitted(), 4);
    /// ```
    pub fn transmit_into(&mut self, dst: &mut BytesMut) {
        self.transmitted += self.out.len() as u64;
        move_onto(&mut self.out, dst);
    }
}

/// Moves the bytes of `queue` onto the end of `dst`, leaving `queue` empty.
/// An empty `dst` has nothing to keep: the two buffers trade places, and
/// `dst`'s room becomes the queue's.
pub(crate) fn move_onto(queue: &mut BytesMut, dst: &mut BytesMut) {
    if dst.is_empty() {
        std::mem::swap(queue, dst);
    } else {
        dst.extend_from_slice(queue);
        queue.clear();
    }
}

/// Descriptor passing (see [`crate::descriptor`]).
#[cfg(unix)]
impl Dispatcher {
    /// Turns descriptor passing on: the transport is a UNIX socket that
    /// sends and receives them. Until then a box carrying a descriptor is
    /// refused ([`SendError::Descriptors`]) and received ones are closed.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// assert!(!d.passes_descriptors());
    /// d.pass_descriptors();
    /// assert!(d.passes_descriptors());
    /// ```
    pub fn pass_descriptors(&mut self) {
        if self.passing.is_none() {
            self.passing = Some(Box::default());
        }
    }

    /// Whether descriptor passing is on.
    ///
    /// ```
    /// assert!(!amp_core::Dispatcher::default().passes_descriptors());
    /// ```
    pub fn passes_descriptors(&self) -> bool {
        self.passing.is_some()
    }

    pub(crate) fn passing_mut(&mut self) -> Option<&mut crate::descriptor::Passing> {
        self.passing.as_deref_mut()
    }

    /// The box with its descriptors' ordinals in place of their values,
    /// and the first ordinal; or why they cannot be sent.
    fn number_descriptors(
        &self,
        b: &AmpBox,
        fds: &[(Bytes, std::sync::Arc<std::os::fd::OwnedFd>)],
    ) -> Result<(AmpBox, u64), SendError> {
        use crate::descriptor::{DescriptorError, MAX_HELD_DESCRIPTORS};
        let Some(passing) = self.passing.as_deref() else {
            return Err(SendError::Descriptors(DescriptorError::Unsupported));
        };
        if passing.outgoing.len() + fds.len() > MAX_HELD_DESCRIPTORS {
            return Err(SendError::Descriptors(DescriptorError::TooMany {
                limit: MAX_HELD_DESCRIPTORS,
            }));
        }
        let first = passing.next_send;
        let mut plain = b.without_descriptors();
        for (ordinal, (key, _)) in (first..).zip(fds) {
            plain.insert(key.clone(), ordinal.to_string());
        }
        Ok((plain, first))
    }

    /// Queues a written box's descriptors: the `i`-th goes out with the
    /// box's `i`-th byte (the box starts at stream position `at`).
    fn queue_descriptors(
        &mut self,
        at: u64,
        first: u64,
        fds: &[(Bytes, std::sync::Arc<std::os::fd::OwnedFd>)],
    ) {
        if let Some(passing) = self.passing.as_deref_mut() {
            passing.next_send = first + fds.len() as u64;
            for (i, (_, fd)) in fds.iter().enumerate() {
                passing
                    .outgoing
                    .push_back((at + i as u64, std::sync::Arc::clone(fd)));
            }
        }
    }

    /// The descriptors to send with bytes already taken for sending
    /// ([`take_transmit`](Self::take_transmit)), each with the position of
    /// its byte counted from `taken_from`, the
    /// [`transmitted`](Self::transmitted) count before those bytes were
    /// taken. Each is sent with that one byte, in a `sendmsg` of its own.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// #[derive(serde::Serialize)]
    /// struct Args { fd: amp_core::values::Descriptor }
    ///
    /// let mut d = amp_core::Dispatcher::default();
    /// d.pass_descriptors();
    /// let (mine, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let b = amp_core::ser::to_box(&Args { fd: OwnedFd::from(mine).into() }).unwrap();
    /// d.send_box(&b).unwrap();
    /// let from = d.transmitted();
    /// let bytes = d.take_transmit();
    /// assert_eq!(&bytes[..], b"\x00\x02fd\x00\x010\x00\x00"); // ordinal 0
    /// let fds = d.take_descriptors(from);
    /// assert_eq!(fds.len(), 1);
    /// assert_eq!(fds[0].0, 0); // with the box's first byte
    /// ```
    pub fn take_descriptors(&mut self, taken_from: u64) -> crate::descriptor::Outgoing {
        let Some(passing) = self.passing.as_deref_mut() else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        while let Some((at, _)) = passing.outgoing.front()
            && *at < self.transmitted
        {
            let Some((at, fd)) = passing.outgoing.pop_front() else {
                break;
            };
            taken.push((at.saturating_sub(taken_from) as usize, fd));
        }
        taken
    }

    /// Drops every descriptor queued for sending (closing those nothing
    /// else holds): for a writer that stops.
    ///
    /// ```
    /// let mut d = amp_core::Dispatcher::default();
    /// d.drop_outgoing_descriptors();
    /// ```
    pub fn drop_outgoing_descriptors(&mut self) {
        if let Some(passing) = self.passing.as_deref_mut() {
            passing.outgoing.clear();
        }
    }
}

/// Bodies in wire form up to this many bytes are copied into zeroed room
/// made for the whole box in one step (the fastest for the small boxes of
/// calls and answers); larger ones are appended as they are.
const ZEROED_BODY: usize = 1024;
