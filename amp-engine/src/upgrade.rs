//! Upgrading a live connection's transport in place (StartTLS): the
//! reader stops decoding right after the box after which the bytes are the
//! new transport's, the writer stops writing right after the last box that
//! must go out on the old one, both halves are handed to an [`Upgrader`]
//! (a TLS handshake, say), and the same state machine goes on over the
//! halves it gives back. Calls in flight, running responders, and boxes
//! queued meanwhile all carry on: nothing is lost or reordered.

use std::any::Any;
use std::fmt;
use std::future::Future;

use bytes::{Bytes, BytesMut};

use amp_core::{CallError, CallId, ConnectionError};

/// Why an upgrade happens: which side asked, and with what.
pub enum Upgrade {
    /// The peer asked (a request for one of [`Upgrader::commands`]) and
    /// this side answered it: the answer was the last box written on the
    /// old transport, the request the last box read from it.
    Answered {
        /// The command the peer called.
        command: Bytes,
    },
    /// This side asked ([`Peer::call_upgrading`](crate::Peer::call_upgrading))
    /// and the peer's answer came: the call was the last box written on the
    /// old transport, the answer the last box read from it. Carries what
    /// the caller gave (a TLS client configuration, say).
    Called(Box<dyn Any + Send>),
    /// The connection starts upgraded (TLS from the first byte): nothing
    /// was read or written yet. Carries what the binding gave.
    Start(Box<dyn Any + Send>),
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upgrade::Answered { command } => f
                .debug_struct("Answered")
                .field("command", command)
                .finish(),
            Upgrade::Called(_) => f.write_str("Called(..)"),
            Upgrade::Start(_) => f.write_str("Start(..)"),
        }
    }
}

/// The halves an [`Upgrader`] gives back, and what the new transport knows
/// of the peer.
#[derive(Debug)]
pub struct Upgraded<R, W> {
    /// The new receiving half.
    pub reader: R,
    /// The new sending half.
    pub writer: W,
    /// The certificate chain the peer presented and this side verified,
    /// leaf first, DER-encoded (none: the transport does not authenticate
    /// the peer). What [`Peer::peer_certificates`](crate::Peer::peer_certificates)
    /// gives from now on.
    pub peer_certificates: Option<Vec<Bytes>>,
}

/// How a connection's transport is upgraded in place: a binding's TLS, for
/// instance. Given to [`start_upgradable`](crate::start_upgradable).
///
/// ```
/// use amp_engine::{ReadHalf, Upgrade, Upgraded, Upgrader, WriteHalf};
/// use bytes::{Bytes, BytesMut};
///
/// /// Upgrades to the same halves: an upgrade that changes nothing.
/// struct Same;
/// impl<R: ReadHalf, W: WriteHalf> Upgrader<R, W> for Same {
///     fn commands(&self) -> Vec<Bytes> { vec![Bytes::from_static(b"Same")] }
///     async fn upgrade(&mut self, reader: R, writer: W, leftover: BytesMut, _how: Upgrade)
///         -> Result<Option<Upgraded<R, W>>, String>
///     {
///         if !leftover.is_empty() { return Err("bytes after the switch".into()); }
///         Ok(Some(Upgraded { reader, writer, peer_certificates: None }))
///     }
/// }
/// ```
pub trait Upgrader<R, W>: Send + 'static {
    /// The commands whose requests, once answered (without an error), make
    /// this side upgrade ([`Upgrade::Answered`]). Decoding stops after such
    /// a request until it has been answered: the bytes after it are the
    /// new transport's if the answer says yes.
    fn commands(&self) -> Vec<Bytes>;

    /// Upgrades the transport: `leftover` are the bytes read from `reader`
    /// past the last box (the new transport's first bytes). An error ends
    /// the connection with [`ConnectionError::UpgradeFailed`]. `Ok(None)`:
    /// the transport was handed to another protocol (Twisted's
    /// `ProtocolSwitchCommand`), and the AMP connection ends with
    /// [`ConnectionError::ProtocolSwitched`].
    fn upgrade(
        &mut self,
        reader: R,
        writer: W,
        leftover: BytesMut,
        how: Upgrade,
    ) -> impl Future<Output = Result<Option<Upgraded<R, W>>, String>> + Send;
}

/// Why [`Peer::call_upgrading`](crate::Peer::call_upgrading) did not
/// upgrade.
#[derive(Debug)]
pub enum UpgradeError {
    /// The connection was not started upgradable
    /// ([`start_upgradable`](crate::start_upgradable)), or is a route.
    NotUpgradable,
    /// Another upgrade is under way.
    InProgress,
    /// The call failed (an error answer, the connection ended before the
    /// answer): the connection goes on, not upgraded, if it has not ended.
    Call(CallError),
    /// The answer came, and the upgrade itself failed: the connection has
    /// ended with this reason.
    Failed(ConnectionError),
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::NotUpgradable => {
                f.write_str("this connection's transport cannot be upgraded")
            }
            UpgradeError::InProgress => f.write_str("an upgrade is already under way"),
            UpgradeError::Call(e) => write!(f, "the upgrade call failed: {e}"),
            UpgradeError::Failed(e) => write!(f, "the upgrade failed: {e}"),
        }
    }
}

impl std::error::Error for UpgradeError {}

/// Where a connection is in an upgrade.
pub(crate) enum Upgrading {
    /// This side's upgrade call waits for its answer.
    Called {
        call: CallId,
        how: Option<Box<dyn Any + Send>>,
    },
    /// The peer's upgrade request waits for this side's answer; nothing
    /// after it is decoded meanwhile.
    Asked { tag: Bytes, command: Bytes },
    /// Decided: the halves go to the upgrader once everything before the
    /// switch is written.
    Ready(Upgrade),
    /// The writer is upgrading.
    Switching,
}

/// What a connection knows of its upgrades.
#[derive(Default)]
pub(crate) struct Upgrades {
    /// The connection was started upgradable.
    pub(crate) enabled: bool,
    /// The commands whose answered requests upgrade.
    pub(crate) commands: Vec<Bytes>,
    pub(crate) now: Option<Upgrading>,
    /// Nothing is decoded until the upgrade is decided or done.
    pub(crate) hold_decoding: bool,
    /// Bytes the writer may still write on the current transport before
    /// it holds the rest for the upgraded one; `None`: no limit.
    pub(crate) write_limit: Option<usize>,
    /// The verified certificate chain of the peer, once known.
    pub(crate) peer_certificates: Option<std::sync::Arc<[Bytes]>>,
    /// Upgrades done.
    pub(crate) done: u32,
    /// A protocol switch was asked for by this side: no box may be queued
    /// until it is refused (then the connection goes on) or done (then it
    /// has ended), as Twisted's `_lockForSwitch`.
    pub(crate) locked: bool,
}

impl Upgrades {
    /// Whether `command` asks for an upgrade once answered.
    pub(crate) fn upgrades_on(&self, command: &[u8]) -> bool {
        self.commands.iter().any(|c| c[..] == *command)
    }

    /// Whether an upgrade is under way: asked, called or answered, or the
    /// writer held back at the switch point.
    pub(crate) fn under_way(&self) -> bool {
        self.now.is_some() || self.write_limit.is_some()
    }

    /// Whether the transport waits to be handed to the upgrader.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.now, Some(Upgrading::Ready(_)))
    }

    /// The upgrade call `id` failed: the writer goes on on the old
    /// transport.
    pub(crate) fn call_failed(&mut self, id: CallId) {
        if let Some(Upgrading::Called { call, .. }) = &self.now
            && *call == id
        {
            self.now = None;
            self.write_limit = None;
            self.locked = false;
        }
    }
}

/// The upgrader of a connection that is never upgraded.
pub(crate) struct NoUpgrade;

impl<R: Send + 'static, W: Send + 'static> Upgrader<R, W> for NoUpgrade {
    fn commands(&self) -> Vec<Bytes> {
        Vec::new()
    }

    async fn upgrade(
        &mut self,
        _reader: R,
        _writer: W,
        _leftover: BytesMut,
        _how: Upgrade,
    ) -> Result<Option<Upgraded<R, W>>, String> {
        Err("this connection cannot be upgraded".to_owned())
    }
}
