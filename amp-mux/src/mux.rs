//! [`Mux`]: the streams of one AMP connection, both sides of them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use amp_core::CallError;
use amp_engine::{Context, Peer, Responders};
use bytes::Bytes;

use crate::stream::{MuxStream, Shared};
use crate::{
    Connect, ConnectArgs, ConnectError, Connected, ConnectionId, Disconnect, DisconnectArgs,
    StreamError, Transmit, TransmitArgs,
};

/// Bytes a stream's writer may have sent without their `Transmit` being
/// answered, unless [`Mux::with_window`] says otherwise: 256 KiB.
pub const DEFAULT_WINDOW: usize = 256 * 1024;

/// Streams a [`Mux`] may have open at once (opened by either side) before
/// the peer's `Connect` is refused (`CONNECTION_REFUSED`), unless
/// [`Mux::set_max_streams`] says otherwise: 1024. So a peer cannot make
/// this side hold streams without bound.
pub const DEFAULT_MAX_STREAMS: usize = 1024;

/// Why a factory did not take a stream: the peer's `Connect` is answered
/// `CONNECTION_REFUSED` with this description.
///
/// ```
/// let r = amp_mux::Refused("too many streams".into());
/// assert_eq!(r.to_string(), "refused: too many streams");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

type Factory = Arc<dyn Fn(MuxStream) -> Result<(), Refused> + Send + Sync>;
type AnyFactory = Arc<dyn Fn(&[u8], MuxStream) -> Result<(), ConnectError> + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) streams: Mutex<HashMap<Bytes, Arc<Shared>>>,
    factories: Mutex<HashMap<Bytes, Factory>>,
    any: Mutex<Option<AnyFactory>>,
    max_streams: AtomicUsize,
    /// Locked before `streams` wherever both are.
    opening: Mutex<Opening>,
    pub(crate) window: usize,
}

/// Streams being opened by this side: the peer may write on a stream before
/// its answer to `Connect` arrives (txampext's factories do, when their
/// protocol writes first), so while an `open` waits, bytes for identifiers
/// not known yet are kept (each under the window, as any stream's), for
/// the stream the answer names.
#[derive(Default)]
struct Opening {
    /// `open`s waiting for their answer.
    count: usize,
    /// Streams written to before their answer arrived.
    early: HashMap<Bytes, Arc<Shared>>,
}

/// Identifiers not known yet whose bytes are kept, per `open` waiting.
const EARLY_PER_OPEN: usize = 2;

impl Inner {
    fn opening(&self) -> MutexGuard<'_, Opening> {
        self.opening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream `id` names: an open one, or one not known yet while an
    /// `open` waits for its answer.
    fn stream_for_transmit(&self, id: &Bytes) -> Option<Arc<Shared>> {
        let mut opening = self.opening();
        if let Some(stream) = self.streams().get(id) {
            return Some(Arc::clone(stream));
        }
        if opening.count == 0 {
            return None;
        }
        let limit = opening.count.saturating_mul(EARLY_PER_OPEN);
        if let Some(stream) = opening.early.get(id) {
            return Some(Arc::clone(stream));
        }
        if opening.early.len() >= limit {
            return None;
        }
        let stream = Arc::new(Shared::new(id.clone()));
        opening.early.insert(id.clone(), Arc::clone(&stream));
        Some(stream)
    }

    /// The peer ended stream `id`: forgotten if open; if not known yet, its
    /// stream will read what came, then the end.
    fn disconnected(&self, id: &Bytes) -> bool {
        let opening = self.opening();
        let stream = self.streams().remove(id);
        match stream.or_else(|| opening.early.get(id).cloned()) {
            Some(stream) => {
                stream.remote_closed();
                true
            }
            None => false,
        }
    }

    pub(crate) fn streams(&self) -> MutexGuard<'_, HashMap<Bytes, Arc<Shared>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn factories(&self) -> MutexGuard<'_, HashMap<Bytes, Factory>> {
        self.factories.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The multiplexed streams of one AMP connection (txampext's
/// `MultiplexingCommandLocator` and `ProxyingAMPLocator` in one): named
/// factories that the peer's `Connect` starts streams with, streams this
/// side opens on the peer's factories, and the responders (`Connect`,
/// `Transmit`, `Disconnect`) that carry their bytes.
///
/// Give the connection [`responders`](Self::responders) (composed with its
/// others), then [`open`](Self::open) streams on its peer, or let the peer
/// open them on the factories [`listen`](Self::listen) names. A stream is a
/// [`MuxStream`], `AsyncRead + AsyncWrite` (features `tokio`,
/// `futures-io`).
///
/// Flow control that txampext lacks: a stream's writer has at most the
/// window's bytes sent without their `Transmit` answered, and a stream's
/// `Transmit` is answered once its reader has taken the stream's buffered
/// bytes under the window, so neither side holds more than about two
/// windows of a stream, whatever the writer does. Each `Transmit` carries
/// at most 65535 bytes, one AMP value.
///
/// ```
/// let mux = amp_mux::Mux::new();
/// mux.listen("discard", |stream| { drop(stream); Ok(()) });
/// let responders = mux.responders();
/// assert!(responders.handles(b"Connect") && responders.handles(b"Transmit"));
/// ```
#[derive(Clone)]
pub struct Mux {
    inner: Arc<Inner>,
}

impl Default for Mux {
    fn default() -> Self {
        Self::with_window(DEFAULT_WINDOW)
    }
}

impl fmt::Debug for Mux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mux")
            .field("streams", &self.inner.streams().len())
            .field("window", &self.inner.window)
            .finish()
    }
}

impl Mux {
    /// No streams, no factories, the [`DEFAULT_WINDOW`].
    ///
    /// ```
    /// assert_eq!(amp_mux::Mux::new().streams(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// With `window` bytes per stream in flight each way (at least 1).
    ///
    /// ```
    /// let mux = amp_mux::Mux::with_window(64 * 1024);
    /// # assert_eq!(mux.streams(), 0);
    /// ```
    pub fn with_window(window: usize) -> Self {
        Mux {
            inner: Arc::new(Inner {
                streams: Mutex::default(),
                factories: Mutex::default(),
                any: Mutex::default(),
                max_streams: AtomicUsize::new(DEFAULT_MAX_STREAMS),
                opening: Mutex::default(),
                window: window.max(1),
            }),
        }
    }

    /// Names a factory the peer may `Connect` to: each stream it opens is
    /// handed to `factory` (which typically spawns a task to serve it), or
    /// refused with [`Refused`] (`CONNECTION_REFUSED`). A name given again
    /// replaces the factory.
    ///
    /// ```
    /// let mux = amp_mux::Mux::new();
    /// mux.listen("busy", |_stream| Err(amp_mux::Refused("busy".into())));
    /// ```
    pub fn listen(
        &self,
        name: impl Into<Bytes>,
        factory: impl Fn(MuxStream) -> Result<(), Refused> + Send + Sync + 'static,
    ) {
        self.inner
            .factories()
            .insert(name.into(), Arc::new(factory));
    }

    /// Takes the peer's `Connect`s to names no [`listen`](Self::listen)
    /// gave: `factory` gets the name and the new stream, and may refuse it
    /// as no such factory or as refused (a factory per name family, such
    /// as `forward:HOST:PORT`).
    ///
    /// ```
    /// use amp_mux::ConnectError;
    /// let mux = amp_mux::Mux::new();
    /// mux.listen_any(|name, _stream| match name.strip_prefix(b"forward:") {
    ///     Some(_target) => Ok(()),
    ///     None => Err(ConnectError::NoSuchFactory("unknown".into())),
    /// });
    /// ```
    pub fn listen_any(
        &self,
        factory: impl Fn(&[u8], MuxStream) -> Result<(), ConnectError> + Send + Sync + 'static,
    ) {
        *self.inner.any.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(factory));
    }

    /// Sets how many streams may be open at once before the peer's
    /// `Connect` is refused ([`DEFAULT_MAX_STREAMS`] until set).
    ///
    /// ```
    /// let mux = amp_mux::Mux::new();
    /// mux.set_max_streams(16);
    /// ```
    pub fn set_max_streams(&self, max: usize) {
        self.inner.max_streams.store(max, Ordering::Relaxed);
    }

    /// How many streams are open.
    ///
    /// ```
    /// assert_eq!(amp_mux::Mux::new().streams(), 0);
    /// ```
    pub fn streams(&self) -> usize {
        self.inner.streams().len()
    }

    /// Opens a stream on the peer's factory `factory` (txampext's
    /// `Connect`).
    ///
    /// ```no_run
    /// # async fn f(peer: amp_engine::Peer, mux: amp_mux::Mux) {
    /// let stream = mux.open(&peer, "echo").await.unwrap();
    /// # }
    /// ```
    pub async fn open(
        &self,
        peer: &Peer,
        factory: impl Into<Bytes>,
    ) -> Result<MuxStream, CallError<ConnectError>> {
        let call = peer.call_as::<Connect>(&ConnectArgs {
            factory: factory.into(),
        });
        let waiting = Waiting::new(&self.inner);
        let connected = call.await?;
        let shared = {
            let mut opening = self.inner.opening();
            let early = opening.early.remove(&connected.connection);
            let shared =
                early.unwrap_or_else(|| Arc::new(Shared::new(connected.connection.clone())));
            self.inner
                .streams()
                .insert(connected.connection, Arc::clone(&shared));
            shared
        };
        drop(waiting);
        Ok(MuxStream::new(
            shared,
            peer.clone(),
            Arc::downgrade(&self.inner),
            self.inner.window,
        ))
    }

    fn register(&self, peer: Peer, connection: Bytes) -> MuxStream {
        let shared = Arc::new(Shared::new(connection.clone()));
        self.inner.streams().insert(connection, Arc::clone(&shared));
        MuxStream::new(shared, peer, Arc::downgrade(&self.inner), self.inner.window)
    }

    /// The responders of the streams: `Connect` (the factories), `Transmit`
    /// and `Disconnect` (the streams of both sides). Compose them with the
    /// connection's others ([`amp_core::Locator::include`]).
    ///
    /// ```
    /// let mux = amp_mux::Mux::new();
    /// let all = amp_engine::Responders::new().include(mux.responders()).unwrap();
    /// assert!(all.handles(b"Disconnect"));
    /// ```
    pub fn responders(&self) -> Responders {
        let connect: Weak<Inner> = Arc::downgrade(&self.inner);
        let transmit = connect.clone();
        let disconnect = connect.clone();
        Responders::new()
            .responder(Connect, move |ctx: Context, args: ConnectArgs| {
                let result = match connect.upgrade() {
                    None => Err(ConnectError::NoSuchFactory("no factories any more".into())),
                    Some(inner) => Mux { inner }.connect(ctx.peer, args.factory),
                };
                std::future::ready(result)
            })
            .responder(Transmit, move |_ctx: Context, args: TransmitArgs| {
                let inner = transmit.upgrade();
                let window = inner.as_ref().map_or(1, |inner| inner.window);
                let stream = inner.and_then(|inner| inner.stream_for_transmit(&args.connection));
                // Taken now, as the request is dispatched (in the order the
                // requests came), not when the answer is worked out.
                if let Some(stream) = &stream {
                    stream.received(args.data);
                }
                async move {
                    let Some(stream) = stream else {
                        return Err(no_such_connection(&args.connection));
                    };
                    // Answered once the reader has taken the stream's bytes
                    // under the window: the writer's window then bounds
                    // what this side holds.
                    stream.space(window).await;
                    if stream.orphaned() {
                        // Kept for an answer to Connect that never named it.
                        return Err(no_such_connection(&args.connection));
                    }
                    Ok(())
                }
            })
            .responder(Disconnect, move |_ctx: Context, args: DisconnectArgs| {
                let known = disconnect
                    .upgrade()
                    .is_some_and(|inner| inner.disconnected(&args.connection));
                std::future::ready(if known {
                    Ok(())
                } else {
                    Err(no_such_connection(&args.connection))
                })
            })
    }

    fn connect(&self, peer: Peer, name: Bytes) -> Result<Connected, ConnectError> {
        let factory = self.inner.factories().get(&name).cloned();
        let any = match factory {
            Some(_) => None,
            None => self
                .inner
                .any
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        if factory.is_none() && any.is_none() {
            return Err(ConnectError::NoSuchFactory(format!(
                "no factory {}",
                name.escape_ascii()
            )));
        }
        let open = self.inner.streams().len();
        if open >= self.inner.max_streams.load(Ordering::Relaxed) {
            return Err(ConnectError::ConnectionRefused(format!(
                "{open} streams open: no more"
            )));
        }
        let id = ConnectionId::new().to_bytes();
        let stream = self.register(peer, id.clone());
        let taken = match (factory, any) {
            (Some(factory), _) => {
                factory(stream).map_err(|Refused(why)| ConnectError::ConnectionRefused(why))
            }
            (None, Some(any)) => any(&name, stream),
            (None, None) => Err(ConnectError::NoSuchFactory(String::new())),
        };
        match taken {
            Ok(()) => Ok(Connected { connection: id }),
            Err(e) => {
                self.inner.streams().remove(&id);
                Err(e)
            }
        }
    }
}

/// One `open` waiting for its answer; when the last one is done, the bytes
/// kept for identifiers no answer named are dropped (their `Transmit`s are
/// answered `NO_SUCH_CONNECTION`).
struct Waiting<'a>(&'a Inner);

impl<'a> Waiting<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.opening().count += 1;
        Waiting(inner)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let orphans: Vec<Arc<Shared>> = {
            let mut opening = self.0.opening();
            opening.count = opening.count.saturating_sub(1);
            if opening.count > 0 {
                return;
            }
            opening.early.drain().map(|(_, stream)| stream).collect()
        };
        orphans.iter().for_each(|stream| stream.orphan());
    }
}

fn no_such_connection(connection: &[u8]) -> StreamError {
    StreamError::NoSuchConnection(format!("no stream {}", connection.escape_ascii()))
}
