//! txampext's `Connect`, `Transmit` and `Disconnect`, as typed commands.

use amp_core::{Command, command_errors};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

command_errors! {
    /// What [`Connect`] declares: txampext's `NoSuchFactory.asAMP()` and
    /// `ConnectionRefused.asAMP()`.
    ///
    /// ```
    /// use amp_core::CommandError;
    /// let e = amp_mux::ConnectError::ConnectionRefused("busy".into());
    /// assert_eq!((e.code(), e.is_fatal()), ("CONNECTION_REFUSED", false));
    /// ```
    #[derive(Clone, PartialEq, Eq)]
    pub enum ConnectError {
        /// No factory by that name (`NO_SUCH_FACTORY`).
        NoSuchFactory,
        /// The factory would not make a stream (`CONNECTION_REFUSED`).
        ConnectionRefused,
    }
}

command_errors! {
    /// What [`Transmit`] and [`Disconnect`] declare: txampext's
    /// `NoSuchConnection.asAMP()`.
    ///
    /// ```
    /// use amp_core::CommandError;
    /// let e = amp_mux::StreamError::NoSuchConnection(String::new());
    /// assert_eq!(e.code(), "NO_SUCH_CONNECTION");
    /// ```
    #[derive(Clone, PartialEq, Eq)]
    pub enum StreamError {
        /// No stream by that identifier (`NO_SUCH_CONNECTION`).
        NoSuchConnection,
    }
}

/// [`Connect`]'s arguments: the name of the factory to start a stream with.
///
/// ```
/// let args = amp_mux::ConnectArgs { factory: "echo".into() };
/// assert_eq!(&args.factory[..], b"echo");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectArgs {
    /// The factory's name (an AMP `String`: bytes).
    pub factory: Bytes,
}

/// [`Connect`]'s response: the new stream's identifier.
///
/// ```
/// let c = amp_mux::Connected { connection: "0123456789abcdef0123456789abcdef".into() };
/// assert!(amp_mux::ConnectionId::parse(&c.connection).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// The identifier, as txampext makes it: 32 lower-case hexadecimal
    /// digits ([`ConnectionId`](crate::ConnectionId)).
    pub connection: Bytes,
}

/// [`Transmit`]'s arguments: bytes of one stream.
///
/// ```
/// let t = amp_mux::TransmitArgs { connection: "x".into(), data: "hi".into() };
/// assert_eq!(amp_core::ser::to_box(&t).unwrap().get_str("data"), Some("hi"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransmitArgs {
    /// The stream's identifier.
    pub connection: Bytes,
    /// The bytes (at most 65535: one AMP value).
    pub data: Bytes,
}

/// [`Disconnect`]'s arguments: the stream to end.
///
/// ```
/// let d = amp_mux::DisconnectArgs { connection: "x".into() };
/// assert_eq!(amp_core::ser::to_box(&d).unwrap().len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectArgs {
    /// The stream's identifier.
    pub connection: Bytes,
}

/// Starts a stream with one of the peer's named factories (txampext's
/// `Connect`).
///
/// ```
/// use amp_core::Command;
/// assert_eq!(amp_mux::Connect::NAME, "Connect");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Connect;
impl Command for Connect {
    const NAME: &'static str = "Connect";
    type Arguments = ConnectArgs;
    type Response = Connected;
    type Error = ConnectError;
}

/// Carries bytes of a stream to the other side (txampext's `Transmit`).
///
/// ```
/// use amp_core::Command;
/// assert_eq!(amp_mux::Transmit::NAME, "Transmit");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Transmit;
impl Command for Transmit {
    const NAME: &'static str = "Transmit";
    type Arguments = TransmitArgs;
    type Response = ();
    type Error = StreamError;
}

/// Ends a stream, both ways (txampext's `Disconnect`).
///
/// ```
/// use amp_core::Command;
/// assert_eq!(amp_mux::Disconnect::NAME, "Disconnect");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Disconnect;
impl Command for Disconnect {
    const NAME: &'static str = "Disconnect";
    type Arguments = DisconnectArgs;
    type Response = ();
    type Error = StreamError;
}
