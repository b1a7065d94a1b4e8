//! The upgrades an upgradable connection answers and makes, for every
//! binding alike: Twisted's `ProtocolSwitchCommand` both ways and (feature
//! `tls`) `StartTLS` and TLS from the first byte. A binding implements
//! [`UpgradableStream`] once, for the stream its upgradable connections run
//! over (plain now, perhaps TLS later): how it is split into halves, joined
//! again, read from with bytes put back in front, and handed to its TLS.
//! What is switched, answered or refused, and when, is decided here.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_channel::oneshot;

use amp_core::{AmpBox, ConnectionError};

use crate::{Peer, ReadHalf, Responders, Upgrade, UpgradeError, Upgraded, Upgrader, WriteHalf};

/// A binding's stream under an upgradable connection: plain now, perhaps
/// TLS later (amp-tokio's and amp-async-std's `MaybeTls`).
///
/// ```
/// use amp_engine::upgradable::UpgradableStream;
/// use amp_engine::{ReadHalf, WriteHalf};
/// use bytes::BytesMut;
/// # struct R; impl ReadHalf for R { async fn read(&mut self, _: &mut BytesMut) -> std::io::Result<usize> { Ok(0) } }
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
///
/// /// A stream whose halves are independent things (a pipe pair, say).
/// struct Pair(R, W);
/// impl UpgradableStream for Pair {
///     type Reader = R;
///     type Writer = W;
///     type Rewound = (BytesMut, Pair);
///     fn split(self) -> (R, W) { (self.0, self.1) }
///     fn reunite(reader: R, writer: W) -> Result<Self, String> { Ok(Pair(reader, writer)) }
///     fn rewind(self, first: BytesMut) -> Self::Rewound { (first, self) }
///     // Without `handshake`: TLS is refused.
/// }
/// ```
pub trait UpgradableStream: Sized + Send + 'static {
    /// The connection's receiving half.
    type Reader: ReadHalf;
    /// The connection's sending half.
    type Writer: WriteHalf;
    /// The stream that reads given bytes first, then this stream: what
    /// [`Switched::into_stream`] gives.
    type Rewound;

    /// The halves the engine reads and writes.
    fn split(self) -> (Self::Reader, Self::Writer);

    /// The stream again, from the halves [`split`](Self::split) gave.
    fn reunite(reader: Self::Reader, writer: Self::Writer) -> Result<Self, String>;

    /// This stream, read after `first`.
    fn rewind(self, first: BytesMut) -> Self::Rewound;

    /// Runs a TLS handshake as `side` over this stream, reading `leftover`
    /// (bytes already read from it) first; gives the TLS stream and the
    /// peer's verified certificate chain, or why it failed (the stream is
    /// TLS already, the handshake failed). The default refuses: a binding
    /// built without TLS keeps it.
    #[cfg(feature = "tls")]
    fn handshake(
        self,
        leftover: BytesMut,
        side: crate::tls::Side,
    ) -> impl std::future::Future<Output = Result<(Self, Option<Vec<Bytes>>), String>> + Send {
        let _ = (leftover, side);
        std::future::ready(Err(NO_TLS.to_owned()))
    }
}

/// Why a TLS upgrade fails where the binding has no TLS.
const NO_TLS: &str = "nothing to upgrade to (built without the tls feature)";

/// A transport handed to another protocol by a switch: the stream, and
/// every byte read from it after the box that switched (to be read first).
///
/// ```
/// use amp_engine::upgradable::Switched;
/// let switched = Switched { stream: "the stream", leftover: "early".into() };
/// assert_eq!(&switched.leftover[..], b"early");
/// ```
#[derive(Debug)]
pub struct Switched<T> {
    /// The stream (plain, or TLS if it was upgraded before).
    pub stream: T,
    /// The bytes read after the switch.
    pub leftover: BytesMut,
}

impl<T: UpgradableStream> Switched<T> {
    /// The stream, reading the bytes read after the switch first.
    ///
    /// ```
    /// # use amp_engine::upgradable::{Switched, UpgradableStream};
    /// fn hand_over<T: UpgradableStream>(switched: Switched<T>) -> T::Rewound {
    ///     switched.into_stream()
    /// }
    /// ```
    pub fn into_stream(self) -> T::Rewound {
        self.stream.rewind(self.leftover)
    }
}

/// What takes over the transport after this side answered a switch.
type Handler<T> = Arc<dyn Fn(Switched<T>) + Send + Sync>;

/// What this side's switch call carries: where the transport goes (a
/// `oneshot::Sender<Switched<T>>`), and the name of the `T` it expects, so
/// that a call made for another stream type than the connection's is told
/// apart from an upgrade of another kind.
struct SwitchTo {
    to: Box<dyn Any + Send>,
    expects: &'static str,
}

/// The engine's [`Upgrader`] for an upgradable stream `T`: the protocol
/// switches this side answers and (feature `tls`) the `StartTLS` it
/// answers; this side's own [`switch_protocol`] and `start_tls` calls, and
/// TLS from the first byte, need nothing registered.
///
/// ```
/// use amp_engine::upgradable::{Switched, UpgradableStream, Upgrades};
/// fn upgrades<T: UpgradableStream>() -> Upgrades<T> {
///     Upgrades::new().switch("SwitchToEcho", |switched: Switched<T>| {
///         let _stream = switched.into_stream(); // the next protocol's now
///     })
/// }
/// ```
pub struct Upgrades<T> {
    #[cfg(feature = "tls")]
    answer_tls: Option<crate::tls::ServerTls>,
    switches: HashMap<Bytes, Handler<T>>,
}

impl<T> Clone for Upgrades<T> {
    fn clone(&self) -> Self {
        Upgrades {
            #[cfg(feature = "tls")]
            answer_tls: self.answer_tls.clone(),
            switches: self.switches.clone(),
        }
    }
}

impl<T> Default for Upgrades<T> {
    fn default() -> Self {
        Upgrades {
            #[cfg(feature = "tls")]
            answer_tls: None,
            switches: HashMap::new(),
        }
    }
}

impl<T> fmt::Debug for Upgrades<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrades")
            .field("switches", &self.switches.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<T> Upgrades<T> {
    /// No switch answered (and no `StartTLS`); this side may still call
    /// [`switch_protocol`] (and, with TLS, `start_tls`).
    ///
    /// ```
    /// # fn f<T: amp_engine::upgradable::UpgradableStream>() {
    /// let upgrades = amp_engine::upgradable::Upgrades::<T>::new();
    /// assert!(!upgrades.answers_start_tls());
    /// # }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers requests for `command` as Twisted's `ProtocolSwitchCommand`:
    /// once the connection's responder for `command` has answered without
    /// an error, `take_over` gets the transport and every byte read after
    /// the request (the AMP connection ends with
    /// [`ConnectionError::ProtocolSwitched`]). The responder itself is
    /// registered as any other.
    ///
    /// ```
    /// # fn f<T: amp_engine::upgradable::UpgradableStream>() {
    /// let upgrades = amp_engine::upgradable::Upgrades::<T>::new()
    ///     .switch("SwitchToEcho", |switched| drop(switched));
    /// # }
    /// ```
    pub fn switch(
        mut self,
        command: &str,
        take_over: impl Fn(Switched<T>) + Send + Sync + 'static,
    ) -> Self {
        self.switches.insert(
            Bytes::copy_from_slice(command.as_bytes()),
            Arc::new(take_over),
        );
        self
    }

    /// Also answers Twisted's `StartTLS` with `tls`'s certificate. The
    /// bindings' upgradable connections and servers add the `StartTLS`
    /// responder themselves (see [`responders`](Self::responders)).
    ///
    /// ```
    /// # fn f<T: amp_engine::upgradable::UpgradableStream>() {
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let tls = amp_engine::tls::ServerTls::from_pem(ca.cert.pem().as_bytes(), ca.key_pair.serialize_pem().as_bytes()).unwrap();
    /// let upgrades = amp_engine::upgradable::Upgrades::<T>::new().answer_start_tls(tls);
    /// assert!(upgrades.answers_start_tls());
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn answer_start_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.answer_tls = Some(tls);
        self
    }

    /// Whether these upgrades answer `StartTLS`.
    ///
    /// ```
    /// # fn f<T: amp_engine::upgradable::UpgradableStream>() {
    /// assert!(!amp_engine::upgradable::Upgrades::<T>::new().answers_start_tls());
    /// # }
    /// ```
    pub fn answers_start_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.answer_tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// `responders`, with Twisted's `StartTLS` responder added when these
    /// upgrades answer it and `responders` has none of its own.
    ///
    /// ```
    /// # fn f<T: amp_engine::upgradable::UpgradableStream>() {
    /// let upgrades = amp_engine::upgradable::Upgrades::<T>::new();
    /// let responders = upgrades.responders(amp_engine::Responders::new());
    /// # }
    /// ```
    pub fn responders(&self, responders: Responders) -> Responders {
        #[cfg(feature = "tls")]
        if self.answers_start_tls() && !responders.handles(crate::tls::START_TLS.as_bytes()) {
            return crate::tls::answer_start_tls(responders);
        }
        responders
    }
}

impl<T: UpgradableStream> Upgrader<T::Reader, T::Writer> for Upgrades<T> {
    fn commands(&self) -> Vec<Bytes> {
        #[allow(unused_mut)]
        let mut commands: Vec<Bytes> = self.switches.keys().cloned().collect();
        #[cfg(feature = "tls")]
        if self.answer_tls.is_some() {
            commands.push(Bytes::from_static(crate::tls::START_TLS.as_bytes()));
        }
        commands
    }

    async fn upgrade(
        &mut self,
        reader: T::Reader,
        writer: T::Writer,
        leftover: BytesMut,
        how: Upgrade,
    ) -> Result<Option<Upgraded<T::Reader, T::Writer>>, String> {
        let how = match how {
            Upgrade::Answered { command } if self.switches.contains_key(&command) => {
                let stream = T::reunite(reader, writer)?;
                (self.switches[&command])(Switched { stream, leftover });
                return Ok(None);
            }
            Upgrade::Called(how) => match how.downcast::<SwitchTo>() {
                Ok(switch) => {
                    let Ok(to) = switch.to.downcast::<oneshot::Sender<Switched<T>>>() else {
                        return Err(format!(
                            "the switch asked for the transport as a {}, but it is a {}",
                            switch.expects,
                            std::any::type_name::<T>(),
                        ));
                    };
                    let stream = T::reunite(reader, writer)?;
                    let _ = to.send(Switched { stream, leftover });
                    return Ok(None);
                }
                Err(how) => Upgrade::Called(how),
            },
            how => how,
        };
        #[cfg(feature = "tls")]
        {
            let side = crate::tls::Side::of(how, self.answer_tls.as_ref())?;
            let stream = T::reunite(reader, writer)?;
            let (stream, peer_certificates) = stream.handshake(leftover, side).await?;
            let (reader, writer) = stream.split();
            Ok(Some(Upgraded {
                reader,
                writer,
                peer_certificates,
            }))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (reader, writer, leftover, how);
            Err(NO_TLS.to_owned())
        }
    }
}

/// Calls `command` as Twisted's `ProtocolSwitchCommand` on a connection
/// started upgradable over the stream `T`: while it is pending no other
/// call or box may be queued (they fail with
/// [`ConnectionError::ProtocolSwitched`]); an error answer lifts that
/// ([`UpgradeError::Call`]); once the answer comes, returns it with the
/// transport and every byte read after the answer, even those read with
/// it. The AMP connection has ended then.
///
/// ```no_run
/// # async fn f<T: amp_engine::upgradable::UpgradableStream>(peer: amp_engine::Peer) -> Result<(), amp_engine::UpgradeError> {
/// let (_answer, switched) = amp_engine::upgradable::switch_protocol::<T>(
///     &peer, "SwitchToEcho", amp_core::AmpBox::new(),
/// ).await?;
/// # Ok(()) }
/// ```
pub async fn switch_protocol<T: Send + 'static>(
    peer: &Peer,
    command: &str,
    arguments: AmpBox,
) -> Result<(AmpBox, Switched<T>), UpgradeError> {
    let (to, switched) = oneshot::channel::<Switched<T>>();
    let how = SwitchTo {
        to: Box::new(to),
        expects: std::any::type_name::<T>(),
    };
    let answer = peer
        .call_switching(command, arguments, Box::new(how))
        .await?;
    match switched.await {
        Ok(switched) => Ok((answer, switched)),
        // Another upgrader than this module's took the transport.
        Err(_) => Err(UpgradeError::Failed(ConnectionError::UpgradeFailed(
            "the connection's upgrader did not hand the transport over".to_owned(),
        ))),
    }
}
