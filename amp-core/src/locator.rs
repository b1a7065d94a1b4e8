//! The responder locator: one place that maps command names to responders.
//!
//! Responders return futures, so the same locator serves a hand-written
//! sans-IO loop and every runtime adapter. A locator is generic over the
//! context each responder receives (an adapter passes a handle to the peer,
//! a hand-written loop whatever it likes).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::command::{Command, Failure, ResponderError};
use crate::{AmpBox, de, ser};

/// The future a responder returns, boxed: the answer's box or the error to
/// send back.
pub type ResponderFuture = Pin<Box<dyn Future<Output = Result<AmpBox, ResponderError>> + Send>>;

/// What [`Locator::dispatch_now`] gives: the answer itself, from a
/// responder that answers without waiting
/// ([`sync_responder`](Locator::sync_responder), a refusal of bad
/// arguments, `UNHANDLED`), or the responder's future, to be polled.
///
/// ```
/// use amp_core::locator::Dispatched;
/// let locator: amp_core::Locator<()> = amp_core::Locator::new();
/// let mut args = amp_core::AmpBox::new();
/// match locator.dispatch_now((), b"Nope", &mut args) {
///     Dispatched::Now(answer) => assert_eq!(answer.unwrap_err().code(), "UNHANDLED"),
///     Dispatched::Later(_) => unreachable!(),
/// }
/// ```
pub enum Dispatched {
    /// The answer's box, or the error to send back: no future was made.
    Now(Result<AmpBox, ResponderError>),
    /// The responder's future.
    Later(ResponderFuture),
}

impl Dispatched {
    /// As a future, whichever it is: [`Now`](Self::Now) becomes a ready
    /// one (boxed).
    ///
    /// ```
    /// use futures_util::FutureExt;
    /// let now = amp_core::locator::Dispatched::Now(Ok(amp_core::AmpBox::new()));
    /// assert!(now.into_future().now_or_never().unwrap().is_ok());
    /// ```
    pub fn into_future(self) -> ResponderFuture {
        match self {
            Dispatched::Now(result) => Box::pin(std::future::ready(result)),
            Dispatched::Later(fut) => fut,
        }
    }
}

impl fmt::Debug for Dispatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dispatched::Now(result) => f.debug_tuple("Now").field(result).finish(),
            Dispatched::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// Where a responder that answers at once puts its answer (see
/// [`Locator::dispatch_to`]).
///
/// ```
/// let mut answers = Vec::new();
/// let sink: amp_core::locator::AnswerSink<'_> = &mut |a| answers.push(a);
/// sink(Ok(amp_core::AmpBox::new()));
/// assert_eq!(answers.len(), 1);
/// ```
pub type AnswerSink<'a> = &'a mut dyn FnMut(Result<AmpBox, ResponderError>);

/// A responder behind its command's name. It gets the arguments by
/// reference (a typed responder only reads them; a raw one takes them), so
/// a request's box is not moved into it; it hands an answer it has at once
/// to the sink (no future), or returns its future.
type Handler<Ctx> =
    Arc<dyn Fn(Ctx, &mut AmpBox, AnswerSink<'_>) -> Option<ResponderFuture> + Send + Sync>;

/// Where boxes that are neither requests nor answers go (Twisted's
/// `IBoxReceiver.ampBoxReceived`).
type BoxReceiver<Ctx> = Arc<dyn Fn(Ctx, AmpBox) + Send + Sync>;

/// The responder of commands no other responder takes: the context, the
/// command's name and its arguments.
type Fallback<Ctx> = Arc<dyn Fn(Ctx, Bytes, AmpBox) -> ResponderFuture + Send + Sync>;

/// Maps command names to responders.
///
/// ```
/// use amp_core::{Command, Locator};
/// use futures_util::FutureExt;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
/// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
///
/// let locator = Locator::<()>::new()
///     .responder(Sum, |_ctx, args: SumArgs| async move { Ok::<_, std::convert::Infallible>(Total { total: args.a + args.b }) });
/// let answer = locator
///     .dispatch((), b"Sum", amp_core::AmpBox::from_pairs([("a", "13"), ("b", "81")]))
///     .now_or_never()
///     .unwrap()
///     .unwrap();
/// assert_eq!(answer.get_str("total"), Some("94"));
/// ```
///
/// A locator is shared, not copied, when cloned (one reference count): a
/// live connection hands its responders to each of them
/// (txampext's `EXPOSED_RESPONDER_LOCATOR`) at that cost. Adding to a
/// clone copies its table first, leaving the others as they were.
pub struct Locator<Ctx> {
    inner: Arc<Inner<Ctx>>,
}

struct Inner<Ctx> {
    handlers: HashMap<Bytes, Handler<Ctx>, foldhash::fast::RandomState>,
    boxes: Option<BoxReceiver<Ctx>>,
    fallback: Option<Fallback<Ctx>>,
}

impl<Ctx> Clone for Inner<Ctx> {
    fn clone(&self) -> Self {
        Inner {
            handlers: self.handlers.clone(),
            boxes: self.boxes.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<Ctx> Clone for Locator<Ctx> {
    fn clone(&self) -> Self {
        Locator {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Ctx> Default for Locator<Ctx> {
    fn default() -> Self {
        Locator {
            inner: Arc::new(Inner {
                handlers: HashMap::default(),
                boxes: None,
                fallback: None,
            }),
        }
    }
}

/// Why [`Locator::include`] (or [`Locator::compose`]) refused a locator:
/// two of them answer the same thing.
///
/// ```
/// use amp_core::locator::ComposeError;
/// let e = ComposeError::DuplicateCommand { command: bytes::Bytes::from_static(b"Sum") };
/// assert_eq!(e.to_string(), "two composed locators both answer the command \"Sum\"");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComposeError {
    /// Both have a responder for this command.
    DuplicateCommand {
        /// The command's name.
        command: Bytes,
    },
    /// Both have a [`fallback`](Locator::fallback).
    DuplicateFallback,
    /// Both have a [`box_receiver`](Locator::box_receiver).
    DuplicateBoxReceiver,
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::DuplicateCommand { command } => write!(
                f,
                "two composed locators both answer the command \"{}\"",
                command.escape_ascii()
            ),
            ComposeError::DuplicateFallback => {
                f.write_str("two composed locators both have a fallback responder")
            }
            ComposeError::DuplicateBoxReceiver => {
                f.write_str("two composed locators both have a box receiver")
            }
        }
    }
}

impl std::error::Error for ComposeError {}

impl<Ctx> fmt::Debug for Locator<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self
            .inner
            .handlers
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        names.sort();
        f.debug_struct("Locator")
            .field("commands", &names)
            .field("receives_boxes", &self.inner.boxes.is_some())
            .field("fallback", &self.inner.fallback.is_some())
            .finish()
    }
}

impl<Ctx: Send + 'static> Locator<Ctx> {
    /// A locator with no responders: every command is answered `UNHANDLED`.
    ///
    /// ```
    /// assert_eq!(amp_core::Locator::<()>::new().commands().count(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a typed responder for `command`: an async closure from the
    /// context and the decoded arguments to the response or an error.
    ///
    /// Arguments that do not decode, and a response that does not encode,
    /// are undeclared failures (`UNKNOWN`, and the connection closes), as
    /// they are in Twisted. A declared error is sent with its code; a fatal
    /// one closes the connection.
    ///
    /// ```
    /// # use amp_core::{Command, Locator};
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct A { a: i64 }
    /// # struct Echo; impl Command for Echo { const NAME: &'static str = "Echo"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
    /// let l = Locator::<()>::new().responder(Echo, |_, a: A| async move { Ok::<_, std::convert::Infallible>(a) });
    /// assert!(l.handles(b"Echo"));
    /// ```
    pub fn responder<C, F, Fut, E>(mut self, command: C, f: F) -> Self
    where
        C: Command,
        F: Fn(Ctx, C::Arguments) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Response, E>> + Send + 'static,
        E: Into<Failure<C::Error>>,
    {
        self.add_responder(command, f);
        self
    }

    /// [`responder`](Self::responder) on a `&mut` locator.
    ///
    /// ```
    /// # use amp_core::{Command, Locator};
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct A { a: i64 }
    /// # struct Echo; impl Command for Echo { const NAME: &'static str = "Echo"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
    /// let mut l = Locator::<()>::new();
    /// l.add_responder(Echo, |_, a: A| async move { Ok::<_, std::convert::Infallible>(a) });
    /// assert!(l.handles(b"Echo"));
    /// ```
    pub fn add_responder<C, F, Fut, E>(&mut self, _command: C, f: F) -> &mut Self
    where
        C: Command,
        F: Fn(Ctx, C::Arguments) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Response, E>> + Send + 'static,
        E: Into<Failure<C::Error>>,
    {
        let handler: Handler<Ctx> =
            Arc::new(move |ctx, arguments: &mut AmpBox, now: AnswerSink| {
                let args = match typed_arguments::<C>(arguments) {
                    Ok(args) => args,
                    Err(refused) => {
                        now(Err(refused));
                        return None;
                    }
                };
                let fut = f(ctx, args);
                Some(Box::pin(async move { typed_answer::<C, E>(fut.await) }) as ResponderFuture)
            });
        self.inner_mut()
            .handlers
            .insert(Bytes::from_static(C::NAME.as_bytes()), handler);
        self
    }

    /// Adds a typed responder for `command` that answers without waiting:
    /// a plain closure from the context and the decoded arguments to the
    /// response or an error, as a Twisted responder that returns a value
    /// rather than a `Deferred`. It is run as the request is taken, and its
    /// answer is queued at once: no future is made or allocated for it.
    /// Everything else is as for [`responder`](Self::responder). It must
    /// not block: the connection reads nothing while it runs. A responder
    /// that waits (for a call back, a timer, a database) is an
    /// [`responder`](Self::responder).
    ///
    /// ```
    /// # use amp_core::{Command, Locator};
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct SumArgs { a: i64, b: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Total { total: i64 }
    /// # struct Sum; impl Command for Sum { const NAME: &'static str = "Sum"; type Arguments = SumArgs; type Response = Total; type Error = std::convert::Infallible; }
    /// use amp_core::locator::Dispatched;
    /// let l = Locator::<()>::new().sync_responder(Sum, |_, a: SumArgs| {
    ///     Ok::<_, std::convert::Infallible>(Total { total: a.a + a.b })
    /// });
    /// let mut args = amp_core::AmpBox::from_pairs([("a", "13"), ("b", "81")]);
    /// let Dispatched::Now(Ok(answer)) = l.dispatch_now((), b"Sum", &mut args) else { panic!() };
    /// assert_eq!(answer.get_str("total"), Some("94"));
    /// ```
    pub fn sync_responder<C, F, E>(mut self, _command: C, f: F) -> Self
    where
        C: Command,
        F: Fn(Ctx, C::Arguments) -> Result<C::Response, E> + Send + Sync + 'static,
        E: Into<Failure<C::Error>>,
    {
        let handler: Handler<Ctx> =
            Arc::new(move |ctx, arguments: &mut AmpBox, now: AnswerSink| {
                now(match typed_arguments::<C>(arguments) {
                    Ok(args) => typed_answer::<C, E>(f(ctx, args)),
                    Err(refused) => Err(refused),
                });
                None
            });
        self.inner_mut()
            .handlers
            .insert(Bytes::from_static(C::NAME.as_bytes()), handler);
        self
    }

    /// [`sync_responder`](Self::sync_responder) for a command declared with
    /// [`command!`](crate::command!), as [`on`](Self::on) is for
    /// [`responder`](Self::responder).
    ///
    /// ```
    /// use amp_core::Locator;
    /// amp_core::command! {
    ///     pub struct Echo { pub text: String } -> pub struct Echoed { pub text: String }
    /// }
    /// let l = Locator::<()>::new().on_sync(|_, Echo { text }| Ok(Echoed { text }));
    /// assert!(l.handles(b"Echo"));
    /// ```
    pub fn on_sync<C, F>(self, f: F) -> Self
    where
        C: Command<Arguments = C>,
        F: Fn(Ctx, C) -> Result<C::Response, Failure<C::Error>> + Send + Sync + 'static,
    {
        self.sync_responder(Of::<C>(std::marker::PhantomData), f)
    }

    /// Adds a typed responder that is a method of a state object shared by
    /// the responders of one connection (as the methods of a Twisted protocol
    /// instance are).
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicI64, Ordering}};
    /// # use amp_core::{Command, Locator};
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Add { n: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Sum { total: i64 }
    /// # struct Accumulate; impl Command for Accumulate { const NAME: &'static str = "Accumulate"; type Arguments = Add; type Response = Sum; type Error = std::convert::Infallible; }
    /// struct Counter { total: AtomicI64 }
    /// impl Counter {
    ///     async fn accumulate(self: Arc<Self>, _ctx: (), add: Add) -> Result<Sum, std::convert::Infallible> {
    ///         Ok(Sum { total: self.total.fetch_add(add.n, Ordering::SeqCst) + add.n })
    ///     }
    /// }
    /// let state = Arc::new(Counter { total: AtomicI64::new(0) });
    /// let l = Locator::<()>::new().method(Accumulate, &state, Counter::accumulate);
    /// assert!(l.handles(b"Accumulate"));
    /// ```
    pub fn method<C, S, F, Fut, E>(self, command: C, state: &Arc<S>, f: F) -> Self
    where
        C: Command,
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, Ctx, C::Arguments) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Response, E>> + Send + 'static,
        E: Into<Failure<C::Error>>,
    {
        let state = Arc::clone(state);
        self.responder(command, move |ctx, args| f(Arc::clone(&state), ctx, args))
    }

    /// Adds the responder of a command declared with
    /// [`command!`](crate::command!) (or any whose arguments struct is the
    /// command): the command is the type of the closure's second argument,
    /// and the closure answers `Ok(response)` or fails with a
    /// [`Failure`], so `Ok(x)` needs no annotation and `?` works on the
    /// command's declared errors, on calls made from the responder and on
    /// anything with a `From` conversion into `Failure`.
    ///
    /// ```
    /// use amp_core::Locator;
    /// amp_core::command! {
    ///     pub struct Echo { pub text: String } -> pub struct Echoed { pub text: String }
    /// }
    /// let l = Locator::<()>::new().on(|_, Echo { text }| async move { Ok(Echoed { text }) });
    /// assert!(l.handles(b"Echo"));
    /// ```
    pub fn on<C, F, Fut>(self, f: F) -> Self
    where
        C: Command<Arguments = C>,
        F: Fn(Ctx, C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Response, Failure<C::Error>>> + Send + 'static,
    {
        self.responder(Of::<C>(std::marker::PhantomData), f)
    }

    /// Adds the responder of a command declared with
    /// [`command!`](crate::command!) that is a method of a state object
    /// shared by the responders (as the methods of a Twisted protocol
    /// instance are), taking no context: [`on`](Self::on) for methods.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicI64, Ordering}};
    /// use amp_core::{Failure, Locator};
    /// amp_core::command! {
    ///     pub struct Add { pub n: i64 } -> pub struct Total { pub total: i64 }
    /// }
    /// struct Counter { total: AtomicI64 }
    /// impl Counter {
    ///     async fn add(self: Arc<Self>, Add { n }: Add) -> Result<Total, Failure> {
    ///         Ok(Total { total: self.total.fetch_add(n, Ordering::SeqCst) + n })
    ///     }
    /// }
    /// let state = Arc::new(Counter { total: AtomicI64::new(0) });
    /// let l = Locator::<()>::new().on_method(&state, Counter::add);
    /// assert!(l.handles(b"Add"));
    /// ```
    pub fn on_method<C, S, F, Fut>(self, state: &Arc<S>, f: F) -> Self
    where
        C: Command<Arguments = C>,
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, C) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C::Response, Failure<C::Error>>> + Send + 'static,
    {
        let state = Arc::clone(state);
        self.on(move |_ctx: Ctx, args: C| f(Arc::clone(&state), args))
    }

    /// Adds a responder working on raw boxes, for a command known only by
    /// name. It receives the request's arguments (`_ask` and `_command`
    /// removed) and returns the answer's box or the error to send.
    ///
    /// ```
    /// use amp_core::{AmpBox, Locator, ResponderError};
    /// let l = Locator::<()>::new().raw_responder("Echo", |_, args: AmpBox| async move {
    ///     Ok::<_, ResponderError>(args)
    /// });
    /// assert!(l.handles(b"Echo"));
    /// ```
    pub fn raw_responder<F, Fut>(mut self, command: &str, f: F) -> Self
    where
        F: Fn(Ctx, AmpBox) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AmpBox, ResponderError>> + Send + 'static,
    {
        let name = Bytes::copy_from_slice(command.as_bytes());
        #[cfg(feature = "tracing")]
        let handler: Handler<Ctx> = {
            let name = name.clone();
            Arc::new(move |ctx, args: &mut AmpBox, _: AnswerSink| {
                let fut = f(ctx, std::mem::take(args));
                let name = name.clone();
                Some(Box::pin(async move {
                    let result = fut.await;
                    log_failure(&name, &result);
                    result
                }) as ResponderFuture)
            })
        };
        #[cfg(not(feature = "tracing"))]
        let handler: Handler<Ctx> = Arc::new(move |ctx, args: &mut AmpBox, _: AnswerSink| {
            Some(Box::pin(f(ctx, std::mem::take(args))) as ResponderFuture)
        });
        self.inner_mut().handlers.insert(name, handler);
        self
    }

    /// Sets where boxes that are neither requests nor answers go, with the
    /// context of the connection they came on: Twisted's `IBoxReceiver` on
    /// a connection that also answers commands. A live engine delivers such
    /// boxes here (and turns [`Config::raw_boxes`](crate::Config::raw_boxes)
    /// on for the connection) instead of closing the connection with
    /// [`ProtocolError::NotAmp`](crate::ProtocolError::NotAmp).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use amp_core::{AmpBox, Locator};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let keep = Arc::clone(&seen);
    /// let l = Locator::<()>::new().box_receiver(move |_ctx, b: AmpBox| keep.lock().unwrap().push(b));
    /// assert!(l.receives_boxes());
    /// assert!(l.receive_box((), AmpBox::from_pairs([("hello", "world")])));
    /// assert_eq!(seen.lock().unwrap()[0].get_str("hello"), Some("world"));
    /// ```
    pub fn box_receiver(mut self, receiver: impl Fn(Ctx, AmpBox) + Send + Sync + 'static) -> Self {
        self.inner_mut().boxes = Some(Arc::new(receiver));
        self
    }

    /// Whether a [`box_receiver`](Self::box_receiver) is set.
    ///
    /// ```
    /// assert!(!amp_core::Locator::<()>::new().receives_boxes());
    /// ```
    pub fn receives_boxes(&self) -> bool {
        self.inner.boxes.is_some()
    }

    /// Hands `b` to the [`box_receiver`](Self::box_receiver); returns
    /// whether there was one (without one the box is dropped).
    ///
    /// ```
    /// assert!(!amp_core::Locator::<()>::new().receive_box((), amp_core::AmpBox::new()));
    /// ```
    pub fn receive_box(&self, ctx: Ctx, b: AmpBox) -> bool {
        match &self.inner.boxes {
            Some(receiver) => {
                receiver(ctx, b);
                true
            }
            None => false,
        }
    }

    /// Whether a responder is registered for `command`.
    ///
    /// ```
    /// assert!(!amp_core::Locator::<()>::new().handles(b"Sum"));
    /// ```
    pub fn handles(&self, command: &[u8]) -> bool {
        self.inner.handlers.contains_key(command)
    }

    /// The names of the commands with a responder.
    ///
    /// ```
    /// assert!(amp_core::Locator::<()>::new().commands().next().is_none());
    /// ```
    pub fn commands(&self) -> impl Iterator<Item = &[u8]> {
        self.inner.handlers.keys().map(|k| &k[..])
    }

    /// Runs the responder for `command`, or the [`fallback`](Self::fallback)
    /// when there is none, or answers `UNHANDLED` (not fatal) when there is
    /// no fallback either.
    ///
    /// ```
    /// use futures_util::FutureExt;
    /// let e = amp_core::Locator::<()>::new()
    ///     .dispatch((), b"Nope", amp_core::AmpBox::new())
    ///     .now_or_never()
    ///     .unwrap()
    ///     .unwrap_err();
    /// assert_eq!(e.code(), "UNHANDLED");
    /// ```
    pub fn dispatch(&self, ctx: Ctx, command: &[u8], mut arguments: AmpBox) -> ResponderFuture {
        self.dispatch_in_place(ctx, command, &mut arguments)
    }

    /// [`dispatch`](Self::dispatch) with the arguments left where they
    /// are: a raw responder takes them (leaving an empty box), a typed one
    /// only reads them.
    ///
    /// ```
    /// let locator: amp_core::Locator<()> = amp_core::Locator::new();
    /// let mut args = amp_core::AmpBox::new();
    /// let answer = locator.dispatch_in_place((), b"Nope", &mut args);
    /// # drop(answer);
    /// ```
    pub fn dispatch_in_place(
        &self,
        ctx: Ctx,
        command: &[u8],
        arguments: &mut AmpBox,
    ) -> ResponderFuture {
        self.dispatch_now(ctx, command, arguments).into_future()
    }

    /// [`dispatch_in_place`](Self::dispatch_in_place) without a future
    /// where none is needed: a [`sync_responder`](Self::sync_responder)
    /// is run now and its answer returned
    /// ([`Dispatched::Now`]), as are the refusal of arguments that do not
    /// decode and `UNHANDLED`; any other responder gives its future
    /// ([`Dispatched::Later`]). What a live connection calls for each
    /// request.
    ///
    /// ```
    /// use amp_core::locator::Dispatched;
    /// let locator: amp_core::Locator<()> = amp_core::Locator::new();
    /// let answer = locator.dispatch_now((), b"Nope", &mut amp_core::AmpBox::new());
    /// assert!(matches!(answer, Dispatched::Now(Err(_))));
    /// ```
    pub fn dispatch_now(&self, ctx: Ctx, command: &[u8], arguments: &mut AmpBox) -> Dispatched {
        let mut answer = None;
        match self.dispatch_to(ctx, command, arguments, &mut |result| answer = Some(result)) {
            Some(fut) => Dispatched::Later(fut),
            None => Dispatched::Now(answer.unwrap_or_else(|| {
                Err(ResponderError::undeclared("the responder gave no answer"))
            })),
        }
    }

    /// [`dispatch_now`](Self::dispatch_now) with an answer given at once
    /// handed to `now` rather than returned (then it returns `None`), so
    /// that the answer's box goes straight where the caller keeps answers
    /// instead of being moved out through the return value; otherwise it
    /// returns the responder's future. What a live connection calls for
    /// each request.
    ///
    /// ```
    /// let locator: amp_core::Locator<()> = amp_core::Locator::new();
    /// let mut answers = Vec::new();
    /// let later = locator.dispatch_to((), b"Nope", &mut amp_core::AmpBox::new(), &mut |a| answers.push(a));
    /// assert!(later.is_none());
    /// assert_eq!(answers[0].as_ref().unwrap_err().code(), "UNHANDLED");
    /// ```
    pub fn dispatch_to(
        &self,
        ctx: Ctx,
        command: &[u8],
        arguments: &mut AmpBox,
        now: AnswerSink<'_>,
    ) -> Option<ResponderFuture> {
        match self.inner.handlers.get(command) {
            Some(handler) => handler(ctx, arguments, now),
            None => match &self.inner.fallback {
                Some(fallback) => Some(fallback(
                    ctx,
                    Bytes::copy_from_slice(command),
                    std::mem::take(arguments),
                )),
                None => {
                    now(Err(ResponderError::unhandled(command)));
                    None
                }
            },
        }
    }

    /// Sets the responder of every command that has no responder of its
    /// own (a catch-all): it gets the context, the command's name and its
    /// raw arguments (`_ask` and `_command` removed), and answers as a
    /// [`raw_responder`](Self::raw_responder) does. Without one such
    /// commands are answered `UNHANDLED`.
    ///
    /// ```
    /// use amp_core::{AmpBox, Locator, ResponderError};
    /// use futures_util::FutureExt;
    /// let l = Locator::<()>::new().fallback(|_, command, args: AmpBox| async move {
    ///     let mut answer = args;
    ///     answer.insert("seen", command);
    ///     Ok::<_, ResponderError>(answer)
    /// });
    /// assert!(l.has_fallback() && !l.handles(b"Anything"));
    /// let answer = l
    ///     .dispatch((), b"Anything", AmpBox::from_pairs([("a", "1")]))
    ///     .now_or_never()
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!((answer.get_str("a"), answer.get_str("seen")), (Some("1"), Some("Anything")));
    /// ```
    pub fn fallback<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Ctx, Bytes, AmpBox) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AmpBox, ResponderError>> + Send + 'static,
    {
        let fallback: Fallback<Ctx> = Arc::new(move |ctx, command: Bytes, args| {
            #[cfg(feature = "tracing")]
            {
                let fut = f(ctx, command.clone(), args);
                Box::pin(async move {
                    let result = fut.await;
                    log_failure(&command, &result);
                    result
                }) as ResponderFuture
            }
            #[cfg(not(feature = "tracing"))]
            {
                Box::pin(f(ctx, command, args)) as ResponderFuture
            }
        });
        self.inner_mut().fallback = Some(fallback);
        self
    }

    /// Whether a [`fallback`](Self::fallback) is set.
    ///
    /// ```
    /// assert!(!amp_core::Locator::<()>::new().has_fallback());
    /// ```
    pub fn has_fallback(&self) -> bool {
        self.inner.fallback.is_some()
    }

    /// Adds every responder of `other` to this locator (txampext's
    /// `ComposedLocator`). A command both answer is an error, and so are
    /// two [`fallback`](Self::fallback)s or two
    /// [`box_receiver`](Self::box_receiver)s: each command has one
    /// responder, whichever locator it came from. A command is looked up
    /// among all the named responders first, and goes to the fallback
    /// only when none of them answers it (txampext's `ComposedLocator`
    /// asks its locators in order, so there a catch-all shadows the
    /// locators after it; here it never shadows a named responder).
    ///
    /// ```
    /// use amp_core::{AmpBox, Locator, ResponderError};
    /// use amp_core::locator::ComposeError;
    /// let echo = |_, b: AmpBox| async move { Ok::<_, ResponderError>(b) };
    /// let first = Locator::<()>::new().raw_responder("A", echo);
    /// let second = Locator::<()>::new().raw_responder("B", echo);
    /// let both = first.clone().include(second).unwrap();
    /// assert!(both.handles(b"A") && both.handles(b"B"));
    /// let again = Locator::<()>::new().raw_responder("A", echo);
    /// assert_eq!(
    ///     both.include(again).unwrap_err(),
    ///     ComposeError::DuplicateCommand { command: bytes::Bytes::from_static(b"A") },
    /// );
    /// ```
    pub fn include(mut self, other: Locator<Ctx>) -> Result<Self, ComposeError> {
        if let Some(command) = other
            .inner
            .handlers
            .keys()
            .find(|name| self.inner.handlers.contains_key(*name))
        {
            return Err(ComposeError::DuplicateCommand {
                command: command.clone(),
            });
        }
        if self.inner.fallback.is_some() && other.inner.fallback.is_some() {
            return Err(ComposeError::DuplicateFallback);
        }
        if self.inner.boxes.is_some() && other.inner.boxes.is_some() {
            return Err(ComposeError::DuplicateBoxReceiver);
        }
        let other = Arc::unwrap_or_clone(other.inner);
        let inner = self.inner_mut();
        inner.handlers.extend(other.handlers);
        if other.fallback.is_some() {
            inner.fallback = other.fallback;
        }
        if other.boxes.is_some() {
            inner.boxes = other.boxes;
        }
        Ok(self)
    }

    /// One locator of all of `locators`' responders, as
    /// [`include`](Self::include) joins two.
    ///
    /// ```
    /// use amp_core::{AmpBox, Locator, ResponderError};
    /// let echo = |_, b: AmpBox| async move { Ok::<_, ResponderError>(b) };
    /// let all = Locator::<()>::compose([
    ///     Locator::new().raw_responder("A", echo),
    ///     Locator::new().raw_responder("B", echo),
    ///     Locator::new().fallback(|_, _, b| async move { Ok::<_, ResponderError>(b) }),
    /// ])
    /// .unwrap();
    /// assert!(all.handles(b"A") && all.handles(b"B") && all.has_fallback());
    /// ```
    pub fn compose(locators: impl IntoIterator<Item = Locator<Ctx>>) -> Result<Self, ComposeError> {
        locators.into_iter().try_fold(Self::new(), Self::include)
    }

    /// The table, copied first if a clone shares it.
    fn inner_mut(&mut self) -> &mut Inner<Ctx> {
        Arc::make_mut(&mut self.inner)
    }
}

/// Logs why a responder failed when the peer is told only `UNKNOWN` (an
/// undeclared failure), as Twisted logs the responder's traceback: an
/// `error` event naming the command, with the `tracing` feature; nothing
/// without it. The reason never goes on the wire.
fn log_failure(_command: &[u8], _result: &Result<AmpBox, ResponderError>) {
    #[cfg(feature = "tracing")]
    if let Err(ResponderError::Undeclared { reason }) = _result {
        tracing::error!(
            command = %String::from_utf8_lossy(_command),
            reason = %reason,
            "responder failed: the peer is told UNKNOWN and the connection closes"
        );
    }
}

/// A typed responder's arguments, decoded; arguments that do not decode
/// are an undeclared failure (`UNKNOWN`, and the connection closes), as in
/// Twisted.
#[inline(always)]
fn typed_arguments<C: Command>(arguments: &AmpBox) -> Result<C::Arguments, ResponderError> {
    de::from_box(arguments).map_err(refused::<C>)
}

/// Arguments that do not decode: an undeclared failure, logged.
#[cold]
fn refused<C: Command>(e: crate::ValueError) -> ResponderError {
    let refused = ResponderError::undeclared(format_args!("bad arguments for {}: {e}", C::NAME));
    #[cfg(feature = "tracing")]
    log_failure(C::NAME.as_bytes(), &Err(refused.clone()));
    refused
}

/// A typed responder's outcome as the answer's box or the error to send:
/// a response that does not encode is an undeclared failure.
#[inline(always)]
fn typed_answer<C: Command, E: Into<Failure<C::Error>>>(
    outcome: Result<C::Response, E>,
) -> Result<AmpBox, ResponderError> {
    let result = match outcome {
        Ok(response) => ser::to_box(&response).map_err(|e| {
            ResponderError::undeclared(format_args!(
                "response of {} cannot be encoded: {e}",
                C::NAME
            ))
        }),
        Err(e) => Err(ResponderError::from(e.into())),
    };
    log_failure(C::NAME.as_bytes(), &result);
    result
}

/// A command named by its type alone, for [`Locator::on`].
struct Of<C>(std::marker::PhantomData<C>);

impl<C: Command> Command for Of<C> {
    const NAME: &'static str = C::NAME;
    const REQUIRES_ANSWER: bool = C::REQUIRES_ANSWER;
    type Arguments = C::Arguments;
    type Response = C::Response;
    type Error = C::Error;
}
