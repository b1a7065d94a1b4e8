//! Typed commands: a command's wire name, argument and response types, the
//! errors it declares and whether it wants an answer.
//!
//! ```
//! use amp_core::{Command, command_errors};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct DivideArgs { pub numerator: i64, pub denominator: i64 }
//! #[derive(Serialize, Deserialize)]
//! pub struct Quotient { pub result: f64 }
//!
//! command_errors! {
//!     /// What `Divide` may fail with.
//!     pub enum DivideError {
//!         /// The denominator was zero.
//!         ZeroDivision => "ZERO_DIVISION",
//!     }
//! }
//!
//! pub struct Divide;
//! impl Command for Divide {
//!     const NAME: &'static str = "Divide";
//!     type Arguments = DivideArgs;
//!     type Response = Quotient;
//!     type Error = DivideError;
//! }
//! # assert_eq!(Divide::NAME, "Divide");
//! ```

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::values::ValueError;
use crate::{AmpBox, de, ser};

/// An AMP command, as Twisted's `amp.Command` subclasses are.
///
/// The implementing type is a marker (usually a unit struct); the command's
/// shape lives in its associated items. Arguments and responses are serde
/// structs whose fields are the box's keys (`#[serde(rename = "...")]` gives a
/// wire name that is not a Rust identifier); `()` or a unit struct is a
/// command without arguments or without a response (an empty box).
///
/// ```
/// use amp_core::Command;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct SumArgs { pub a: i64, pub b: i64 }
/// #[derive(Serialize, Deserialize)]
/// pub struct Total { pub total: i64 }
///
/// pub struct Sum;
/// impl Command for Sum {
///     const NAME: &'static str = "Sum";
///     type Arguments = SumArgs;
///     type Response = Total;
///     type Error = std::convert::Infallible;
/// }
/// # assert!(Sum::REQUIRES_ANSWER);
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Pong;
///
/// pub struct Ping;
/// impl Command for Ping {
///     const NAME: &'static str = "Ping";
///     type Arguments = ();
///     type Response = Pong;
///     type Error = std::convert::Infallible;
/// }
/// # assert!(amp_core::ser::to_box(&()).unwrap().is_empty());
/// ```
pub trait Command: Send + Sync + 'static {
    /// The command's name on the wire (the `_command` value).
    const NAME: &'static str;
    /// Whether the caller waits for an answer. A command that does not is
    /// sent without an `_ask` tag and never answered (Twisted's
    /// `requiresAnswer = False`).
    const REQUIRES_ANSWER: bool = true;
    /// The arguments, one box key per field.
    type Arguments: Serialize + DeserializeOwned + Send + 'static;
    /// The response, one box key per field.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// The errors this command declares. `std::convert::Infallible` declares
    /// none.
    type Error: CommandError;
}

/// The errors a command declares, each with its code on the wire.
///
/// [`command_errors!`](crate::command_errors!) writes an implementation for an enum; implement it by
/// hand for richer error types.
///
/// ```
/// use amp_core::CommandError;
///
/// #[derive(Debug)]
/// struct Overdrawn { by: u64 }
///
/// impl CommandError for Overdrawn {
///     fn code(&self) -> &str { "OVERDRAWN" }
///     fn description(&self) -> String { self.by.to_string() }
///     fn from_remote(code: &str, description: &str) -> Option<Self> {
///         (code == "OVERDRAWN").then(|| Overdrawn { by: description.parse().unwrap_or(0) })
///     }
/// }
/// let e = Overdrawn::from_remote("OVERDRAWN", "12").unwrap();
/// assert_eq!(e.by, 12);
/// assert!(!e.is_fatal());
/// ```
pub trait CommandError: fmt::Debug + Send + 'static {
    /// The error code written as `_error_code`.
    fn code(&self) -> &str;
    /// The text written as `_error_description`.
    fn description(&self) -> String;
    /// Whether the connection closes after this error is sent (Twisted's
    /// `fatalErrors`).
    fn is_fatal(&self) -> bool {
        false
    }
    /// The declared error a received code stands for, or `None` if the
    /// command does not declare it.
    fn from_remote(code: &str, description: &str) -> Option<Self>
    where
        Self: Sized;
}

/// A command that declares no errors.
impl CommandError for Infallible {
    fn code(&self) -> &str {
        match *self {}
    }
    fn description(&self) -> String {
        match *self {}
    }
    fn from_remote(_: &str, _: &str) -> Option<Self> {
        None
    }
}

/// Declares an error enum for commands: each variant names its wire code and
/// carries the description text; a variant marked `(fatal)` closes the
/// connection after it is sent.
///
/// A variant without `=> "CODE"` takes its code from its name, as
/// txampext's `Error.asAMP()` makes one from an exception class's name
/// ([`error_code!`](crate::error_code!)): `NoSuchFactory` is
/// `NO_SUCH_FACTORY`, so a declaration matches a txampext one without
/// writing the code out.
///
/// ```
/// amp_core::command_errors! {
///     /// What txampext's multiplexing `Connect` declares.
///     #[derive(PartialEq)]
///     pub enum ConnectError {
///         /// No factory by that name.
///         NoSuchFactory,
///         /// The factory refused.
///         ConnectionRefused,
///         /// An explicit code still works beside derived ones.
///         Gone => "GONE" (fatal),
///     }
/// }
/// use amp_core::CommandError;
/// assert_eq!(ConnectError::NoSuchFactory(String::new()).code(), "NO_SUCH_FACTORY");
/// assert_eq!(
///     ConnectError::from_remote("CONNECTION_REFUSED", "no"),
///     Some(ConnectError::ConnectionRefused("no".into())),
/// );
/// assert!(ConnectError::Gone(String::new()).is_fatal());
/// ```
///
/// ```
/// amp_core::command_errors! {
///     /// Errors of a bank transfer.
///     #[derive(Clone, PartialEq)]
///     pub enum TransferError {
///         /// Not enough money.
///         Overdrawn => "OVERDRAWN",
///         /// The account store is broken: stop talking.
///         Corrupt => "CORRUPT" (fatal),
///     }
/// }
/// use amp_core::CommandError;
/// let e = TransferError::Overdrawn("short by 3".into());
/// assert_eq!(e.code(), "OVERDRAWN");
/// assert_eq!(e.description(), "short by 3");
/// assert!(!e.is_fatal());
/// assert!(TransferError::Corrupt(String::new()).is_fatal());
/// assert_eq!(TransferError::from_remote("CORRUPT", "x"), Some(TransferError::Corrupt("x".into())));
/// assert_eq!(TransferError::from_remote("OTHER", "x"), None);
/// assert_eq!(e.to_string(), "OVERDRAWN: short by 3");
/// ```
#[macro_export]
macro_rules! command_errors {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $(=> $code:literal)? $(($fatal:ident))?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant(::std::string::String),
            )*
        }

        impl $crate::CommandError for $name {
            fn code(&self) -> &str {
                match self { $( Self::$variant(_) => $crate::command_errors!(@code $variant $($code)?), )* }
            }
            fn description(&self) -> ::std::string::String {
                match self { $( Self::$variant(d) => d.clone(), )* }
            }
            fn is_fatal(&self) -> bool {
                match self { $( Self::$variant(_) => $crate::command_errors!(@fatal $($fatal)?), )* }
            }
            fn from_remote(code: &str, description: &str) -> ::std::option::Option<Self> {
                $(
                    if code == $crate::command_errors!(@code $variant $($code)?) {
                        return ::std::option::Option::Some(Self::$variant(description.into()));
                    }
                )*
                ::std::option::Option::None
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                use $crate::CommandError as _;
                write!(f, "{}: {}", self.code(), self.description())
            }
        }

        impl ::std::error::Error for $name {}
    };
    (@fatal fatal) => { true };
    (@fatal) => { false };
    (@code $variant:ident $code:literal) => { $code };
    (@code $variant:ident) => { $crate::error_code!($variant) };
}

/// The error code txampext's `Error.asAMP()` makes of a type's name, as a
/// `&'static str` computed at compile time: the name's words, upper-cased
/// and joined by `_` ([`error_code`] at run time, which says how words
/// are found).
///
/// Takes an identifier or a constant `&str` expression.
///
/// ```
/// const CODE: &str = amp_core::error_code!(NoSuchFactory);
/// assert_eq!(CODE, "NO_SUCH_FACTORY");
/// assert_eq!(amp_core::error_code!("AMPException"), "AMP_EXCEPTION");
/// struct ExceptionWithAMPThere;
/// let name = stringify!(ExceptionWithAMPThere);
/// assert_eq!(amp_core::error_code!(ExceptionWithAMPThere), amp_core::command::error_code(name));
/// ```
#[macro_export]
macro_rules! error_code {
    ($name:ident) => {
        $crate::error_code!(::core::stringify!($name))
    };
    ($name:expr) => {{
        const NAME: &str = $name;
        const LEN: usize = $crate::command::error_code_len(NAME);
        const BYTES: [u8; LEN] = $crate::command::error_code_bytes::<LEN>(NAME);
        const CODE: &str = match ::core::str::from_utf8(&BYTES) {
            ::core::result::Result::Ok(code) => code,
            // Not reached: the code is ASCII capitals and underscores.
            ::core::result::Result::Err(_) => ::core::panic!("an error code is ASCII"),
        };
        CODE
    }};
}

/// The next word of a type name, txampext's `groupByUpperCase`
/// (`re.findall(r"[A-Z]+(?=[A-Z]|$)|[A-Z][a-z]*", name)`): from `from`,
/// the word's start and end and where to look next, or `None` when no
/// word is left. Only ASCII letters count; everything else (digits, `_`,
/// lower-case letters before a capital, non-ASCII) is skipped.
const fn next_word(name: &[u8], from: usize) -> Option<(usize, usize)> {
    let len = name.len();
    let mut start = from;
    while start < len && !name[start].is_ascii_uppercase() {
        start += 1;
    }
    if start == len {
        return None;
    }
    let mut run = start;
    while run < len && name[run].is_ascii_uppercase() {
        run += 1;
    }
    // Python's `$`: the end, or just before a newline that ends the text.
    let at_end = run == len || (run + 1 == len && name[run] == b'\n');
    if at_end {
        // `[A-Z]+(?=$)`: the whole run of capitals.
        Some((start, run))
    } else if run - start >= 2 {
        // `[A-Z]+(?=[A-Z])`: the run but its last capital, which starts
        // the next word.
        Some((start, run - 1))
    } else {
        // `[A-Z][a-z]*`: one capital and the lower-case letters after it.
        let mut end = run;
        while end < len && name[end].is_ascii_lowercase() {
            end += 1;
        }
        Some((start, end))
    }
}

/// The length of [`error_code`]`(type_name)`, at compile time (for
/// [`error_code!`](crate::error_code!)).
///
/// ```
/// assert_eq!(amp_core::command::error_code_len("NoSuchFactory"), "NO_SUCH_FACTORY".len());
/// ```
pub const fn error_code_len(type_name: &str) -> usize {
    let name = type_name.as_bytes();
    let mut len = 0;
    let mut words = 0;
    let mut at = 0;
    while let Some((start, end)) = next_word(name, at) {
        len += end - start;
        words += 1;
        at = end;
    }
    if words > 0 { len + words - 1 } else { 0 }
}

/// [`error_code`]`(type_name)` as `N` bytes, at compile time (for
/// [`error_code!`](crate::error_code!)); `N` is
/// [`error_code_len`]`(type_name)`. Fails to compile (panics, at run time)
/// when `N` is not that length.
///
/// ```
/// const NAME: &str = "HTTPError";
/// const CODE: [u8; amp_core::command::error_code_len(NAME)] =
///     amp_core::command::error_code_bytes(NAME);
/// assert_eq!(&CODE, b"HTTP_ERROR");
/// ```
pub const fn error_code_bytes<const N: usize>(type_name: &str) -> [u8; N] {
    assert!(
        error_code_len(type_name) == N,
        "N must be error_code_len(type_name)"
    );
    let name = type_name.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    let mut at = 0;
    while let Some((start, end)) = next_word(name, at) {
        if i > 0 {
            out[i] = b'_';
            i += 1;
        }
        let mut c = start;
        while c < end {
            out[i] = name[c].to_ascii_uppercase();
            i += 1;
            c += 1;
        }
        at = end;
    }
    out
}

/// The error code txampext's `Error.asAMP()` makes of an exception class's
/// name: its words upper-cased and joined by `_`, a word being a run of
/// capitals followed by another capital or the end (`AMP` in
/// `AMPException`), or a capital and the lower-case letters after it.
/// Only ASCII letters take part: digits, underscores, non-ASCII letters and
/// lower-case letters before the first capital are dropped, exactly as
/// txampext's regular expression drops them.
///
/// ```
/// use amp_core::command::error_code;
/// assert_eq!(error_code("NoSuchFactory"), "NO_SUCH_FACTORY");
/// assert_eq!(error_code("AMPException"), "AMP_EXCEPTION");
/// assert_eq!(error_code("ExceptionWithAMPThere"), "EXCEPTION_WITH_AMP_THERE");
/// assert_eq!(error_code("X509Error"), "X_ERROR");
/// assert_eq!(error_code("lowercase"), "");
/// ```
pub fn error_code(type_name: &str) -> String {
    let name = type_name.as_bytes();
    let mut code = String::with_capacity(error_code_len(type_name));
    let mut at = 0;
    while let Some((start, end)) = next_word(name, at) {
        if !code.is_empty() {
            code.push('_');
        }
        code.extend(
            name[start..end]
                .iter()
                .map(|c| char::from(c.to_ascii_uppercase())),
        );
        at = end;
    }
    code
}

/// An error answer whose code the command does not declare (or that came
/// back for a raw call): the code and description as received.
///
/// ```
/// let e = amp_core::RemoteError::new("UNKNOWN", "Unknown Error");
/// assert_eq!(e.to_string(), "remote error UNKNOWN: Unknown Error");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    /// The `_error_code` value.
    pub code: String,
    /// The `_error_description` value.
    pub description: String,
}

impl RemoteError {
    /// A remote error with this code and description.
    ///
    /// ```
    /// assert_eq!(amp_core::RemoteError::new("C", "d").code, "C");
    /// ```
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        RemoteError {
            code: code.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote error {}: {}", self.code, self.description)
    }
}

impl std::error::Error for RemoteError {}

/// Error code Twisted answers an unknown command with.
pub const UNHANDLED_ERROR_CODE: &str = "UNHANDLED";
/// Error code Twisted answers an undeclared responder failure with.
pub const UNKNOWN_ERROR_CODE: &str = "UNKNOWN";
/// Description that goes with [`UNKNOWN_ERROR_CODE`].
pub const UNKNOWN_ERROR_DESCRIPTION: &str = "Unknown Error";

/// Why a responder did not produce an answer; decides the error box sent back.
///
/// ```
/// use amp_core::ResponderError;
/// let e = ResponderError::unhandled(b"NoSuchCommand");
/// assert_eq!(e.code(), "UNHANDLED");
/// assert_eq!(e.description(), "Unhandled Command: b'NoSuchCommand'");
/// assert!(!e.is_fatal());
/// let e = ResponderError::undeclared("disk on fire");
/// assert_eq!((e.code(), e.description().as_ref()), ("UNKNOWN", "Unknown Error"));
/// assert!(e.is_fatal());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderError {
    /// An error the command declares: sent with its code and description,
    /// then the connection closes if it is fatal.
    Declared {
        /// `_error_code`.
        code: String,
        /// `_error_description`.
        description: String,
        /// Whether the connection closes after it is sent.
        fatal: bool,
    },
    /// No responder for the command: `UNHANDLED`, not fatal.
    Unhandled {
        /// The command's name as received.
        command: bytes::Bytes,
    },
    /// A failure the command does not declare: `UNKNOWN` / `Unknown Error`
    /// is sent and the connection closes, as in Twisted. The reason never
    /// goes on the wire: a [`Locator`](crate::Locator)'s responder logs it
    /// locally (an `error` event naming the command, with the `tracing`
    /// feature), as Twisted logs the responder's traceback.
    Undeclared {
        /// What went wrong, for the local log.
        reason: String,
    },
}

impl ResponderError {
    /// A declared error from a command's error type.
    ///
    /// ```
    /// amp_core::command_errors! { enum E { Bad => "BAD" } }
    /// let e = amp_core::ResponderError::declared(&E::Bad("why".into()));
    /// assert_eq!(e.code(), "BAD");
    /// ```
    pub fn declared<E: CommandError + ?Sized>(e: &E) -> Self {
        ResponderError::Declared {
            code: e.code().to_owned(),
            description: e.description(),
            fatal: e.is_fatal(),
        }
    }

    /// The answer to an unknown command.
    ///
    /// ```
    /// assert!(!amp_core::ResponderError::unhandled(b"X").is_fatal());
    /// ```
    pub fn unhandled(command: &[u8]) -> Self {
        ResponderError::Unhandled {
            command: bytes::Bytes::copy_from_slice(command),
        }
    }

    /// An undeclared failure, with a reason for the local log.
    ///
    /// ```
    /// assert!(amp_core::ResponderError::undeclared("oops").is_fatal());
    /// ```
    pub fn undeclared(reason: impl fmt::Display) -> Self {
        ResponderError::Undeclared {
            reason: reason.to_string(),
        }
    }

    /// The `_error_code` this error is sent with.
    ///
    /// ```
    /// assert_eq!(amp_core::ResponderError::undeclared("x").code(), "UNKNOWN");
    /// ```
    pub fn code(&self) -> &str {
        match self {
            ResponderError::Declared { code, .. } => code,
            ResponderError::Unhandled { .. } => UNHANDLED_ERROR_CODE,
            ResponderError::Undeclared { .. } => UNKNOWN_ERROR_CODE,
        }
    }

    /// The `_error_description` this error is sent with. For an unknown
    /// command it is Twisted's `Unhandled Command: b'Name'` (Python's repr of
    /// the name's bytes).
    ///
    /// ```
    /// let e = amp_core::ResponderError::unhandled(b"it's");
    /// assert_eq!(e.description(), "Unhandled Command: b\"it's\"");
    /// ```
    pub fn description(&self) -> Cow<'_, str> {
        match self {
            ResponderError::Declared { description, .. } => Cow::Borrowed(description),
            ResponderError::Unhandled { command } => {
                Cow::Owned(format!("Unhandled Command: {}", python_bytes_repr(command)))
            }
            ResponderError::Undeclared { .. } => Cow::Borrowed(UNKNOWN_ERROR_DESCRIPTION),
        }
    }

    /// Whether the connection closes after this error is sent.
    ///
    /// ```
    /// assert!(!amp_core::ResponderError::unhandled(b"X").is_fatal());
    /// ```
    pub fn is_fatal(&self) -> bool {
        match self {
            ResponderError::Declared { fatal, .. } => *fatal,
            ResponderError::Unhandled { .. } => false,
            ResponderError::Undeclared { .. } => true,
        }
    }
}

impl fmt::Display for ResponderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponderError::Undeclared { reason } => {
                write!(f, "undeclared responder failure: {reason}")
            }
            other => write!(f, "{}: {}", other.code(), other.description()),
        }
    }
}

impl std::error::Error for ResponderError {}

/// Python's `repr()` of a byte string, as Twisted puts it in `UNHANDLED`
/// descriptions.
pub(crate) fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut s = String::with_capacity(b.len() + 3);
    s.push('b');
    s.push(quote as char);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c == quote => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote as char);
    s
}

/// What a typed responder may fail with: one of the command's declared
/// errors, or a failure the command does not declare (answered `UNKNOWN`,
/// and the connection closes, as in Twisted).
///
/// A responder returning `Result<Response, C::Error>` converts on its own;
/// return `Failure::undeclared(..)` for the other case.
///
/// ```
/// use amp_core::{Failure, ResponderError};
/// amp_core::command_errors! { enum E { Bad => "BAD" } }
/// let f: Failure<E> = E::Bad("x".into()).into();
/// assert_eq!(ResponderError::from(f).code(), "BAD");
/// let f: Failure<E> = Failure::undeclared("database gone");
/// assert_eq!(ResponderError::from(f).code(), "UNKNOWN");
/// ```
#[derive(Debug)]
pub enum Failure<E = Infallible> {
    /// A declared error.
    Declared(E),
    /// An undeclared failure, with a reason for the local log.
    Undeclared(String),
}

impl<E> Failure<E> {
    /// An undeclared failure.
    ///
    /// ```
    /// let f = amp_core::Failure::<std::convert::Infallible>::undeclared("x");
    /// assert!(matches!(f, amp_core::Failure::Undeclared(_)));
    /// ```
    pub fn undeclared(reason: impl fmt::Display) -> Self {
        Failure::Undeclared(reason.to_string())
    }
}

impl<E> Failure<E> {
    /// An undeclared failure caused by `error`: its reason is the error and
    /// each of its sources in turn (`reading the store: disk full: ...`),
    /// as the local log shows it.
    ///
    /// ```
    /// use amp_core::Failure;
    /// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
    /// let Failure::Undeclared(reason) = Failure::<std::convert::Infallible>::error(&io) else { unreachable!() };
    /// assert_eq!(reason, "disk full");
    /// ```
    pub fn error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut reason = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure::Undeclared(reason)
    }
}

/// `?` on an IO error inside a responder: an undeclared failure whose
/// logged reason is the error and its sources.
///
/// ```
/// fn read() -> Result<(), amp_core::Failure> {
///     std::fs::read("/nonexistent/amp/file")?;
///     Ok(())
/// }
/// assert!(matches!(read(), Err(amp_core::Failure::Undeclared(_))));
/// ```
impl<E> From<std::io::Error> for Failure<E> {
    fn from(e: std::io::Error) -> Self {
        Failure::error(&e)
    }
}

/// `?` on a value that does not encode or decode inside a responder.
///
/// ```
/// fn parse(wire: &[u8]) -> Result<i64, amp_core::Failure> {
///     Ok(amp_core::values::decode_value::<i64>(wire)?)
/// }
/// assert_eq!(parse(b"12").unwrap(), 12);
/// assert!(matches!(parse(b"x"), Err(amp_core::Failure::Undeclared(_))));
/// ```
impl<E> From<ValueError> for Failure<E> {
    fn from(e: ValueError) -> Self {
        Failure::error(&e)
    }
}

/// `?` on any boxed error inside a responder (so `?` works on an error of
/// any type after `.map_err(Into::into)`, or on a function that returns
/// `Box<dyn Error>`): an undeclared failure whose logged reason is the error
/// and its sources.
///
/// ```
/// fn work() -> Result<(), Box<dyn std::error::Error + Send + Sync>> { Err("no".into()) }
/// fn responder() -> Result<(), amp_core::Failure> { Ok(work()?) }
/// let Err(amp_core::Failure::Undeclared(reason)) = responder() else { unreachable!() };
/// assert_eq!(reason, "no");
/// ```
impl<E> From<Box<dyn std::error::Error + Send + Sync>> for Failure<E> {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Failure::error(&*e)
    }
}

impl<E: CommandError> From<E> for Failure<E> {
    fn from(e: E) -> Self {
        Failure::Declared(e)
    }
}

/// `?` on a call made inside a responder: a call that failed is an
/// undeclared failure of the responder (answered `UNKNOWN`, and logged with
/// the call's error as the reason), as an exception from a `callRemote`
/// inside a Twisted responder is. Map it first to answer with a declared
/// error instead.
///
/// ```
/// use amp_core::{CallError, Failure, RemoteError, ResponderError};
/// amp_core::command_errors! { enum E { Bad => "BAD" } }
/// fn answer(call: Result<u32, CallError>) -> Result<u32, Failure<E>> {
///     Ok(call? + 1)
/// }
/// let failed = answer(Err(CallError::Remote(RemoteError::new("NOPE", "no"))));
/// let Err(Failure::Undeclared(reason)) = failed else { unreachable!() };
/// assert!(reason.contains("NOPE"), "{reason}");
/// assert_eq!(ResponderError::from(Failure::<E>::Undeclared(reason)).code(), "UNKNOWN");
/// ```
impl<E, F: fmt::Display> From<CallError<F>> for Failure<E> {
    fn from(e: CallError<F>) -> Self {
        Failure::Undeclared(format!("a call made by the responder failed: {e}"))
    }
}

impl<E: CommandError> From<Failure<E>> for ResponderError {
    fn from(f: Failure<E>) -> Self {
        match f {
            Failure::Declared(e) => ResponderError::declared(&e),
            Failure::Undeclared(reason) => ResponderError::Undeclared { reason },
        }
    }
}

/// Why a call did not produce its response.
///
/// ```
/// use amp_core::{CallError, RemoteError};
/// let e: CallError<std::convert::Infallible> = CallError::Remote(RemoteError::new("UNKNOWN", "Unknown Error"));
/// assert_eq!(e.to_string(), "remote error UNKNOWN: Unknown Error");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum CallError<E = Infallible> {
    /// One of the command's declared errors.
    Declared(E),
    /// An error answer with a code the command does not declare (including
    /// `UNKNOWN` and `UNHANDLED`).
    Remote(RemoteError),
    /// The arguments could not be encoded, or the response could not be
    /// decoded into the command's response type.
    Value(ValueError),
    /// The connection ended (or was never usable) before the answer came.
    Connection(crate::ConnectionError),
    /// The call could not be queued (its box cannot be encoded).
    Send(crate::SendError),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Declared(e) => write!(f, "declared error: {e}"),
            CallError::Remote(e) => e.fmt(f),
            CallError::Value(e) => write!(f, "bad value: {e}"),
            CallError::Connection(e) => write!(f, "connection error: {e}"),
            CallError::Send(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CallError<E> {}

impl<E> From<crate::ConnectionError> for CallError<E> {
    fn from(e: crate::ConnectionError) -> Self {
        CallError::Connection(e)
    }
}

/// How a call ended, before its response is turned into a typed value: the
/// answer box, an error answer, or the connection's end (a [`CallError`]
/// with no declared errors: those are the command's to recognise).
pub type CallOutcome = Result<AmpBox, CallError>;

impl CallError {
    /// This error as a call of a command with declared errors `E` sees it
    /// (none of them: this one was not recognised as declared).
    ///
    /// ```
    /// use amp_core::{CallError, RemoteError};
    /// let e: CallError<std::fmt::Error> = CallError::Remote(RemoteError::new("X", "y")).typed();
    /// assert!(matches!(e, CallError::Remote(_)));
    /// ```
    pub fn typed<E>(self) -> CallError<E> {
        match self {
            CallError::Declared(never) => match never {},
            CallError::Remote(e) => CallError::Remote(e),
            CallError::Value(e) => CallError::Value(e),
            CallError::Connection(e) => CallError::Connection(e),
            CallError::Send(e) => CallError::Send(e),
        }
    }
}

/// Encodes a command's arguments into a box (without `_command`/`_ask`).
///
/// ```
/// # use amp_core::Command;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct A { a: i64 }
/// # struct C; impl Command for C { const NAME: &'static str = "C"; type Arguments = A; type Response = A; type Error = std::convert::Infallible; }
/// let b = amp_core::command::encode_arguments::<C>(&A { a: 1 }).unwrap();
/// assert_eq!(b.get_str("a"), Some("1"));
/// ```
pub fn encode_arguments<C: Command>(args: &C::Arguments) -> Result<AmpBox, ValueError> {
    ser::to_box(args)
}

/// Turns a call's outcome into the command's typed result: the response, a
/// declared error, an undeclared remote error, or the connection's end.
///
/// ```
/// use amp_core::{AmpBox, CallError, Command, RemoteError, command::decode_outcome};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct T { total: i64 }
/// amp_core::command_errors! { enum E { Zero => "ZERO" } }
/// # struct C; impl Command for C { const NAME: &'static str = "C"; type Arguments = T; type Response = T; type Error = E; }
/// let ok = decode_outcome::<C>(Ok(AmpBox::from_pairs([("total", "94")]))).unwrap();
/// assert_eq!(ok.total, 94);
/// let declared = decode_outcome::<C>(Err(CallError::Remote(RemoteError::new("ZERO", "d"))));
/// assert!(matches!(declared, Err(CallError::Declared(E::Zero(_)))));
/// let other = decode_outcome::<C>(Err(CallError::Remote(RemoteError::new("UNKNOWN", "Unknown Error"))));
/// assert!(matches!(other, Err(CallError::Remote(_))));
/// ```
pub fn decode_outcome<C: Command>(
    outcome: CallOutcome,
) -> Result<C::Response, CallError<C::Error>> {
    match outcome {
        Ok(b) => de::from_box(&b).map_err(CallError::Value),
        Err(CallError::Remote(e)) => match C::Error::from_remote(&e.code, &e.description) {
            Some(declared) => Err(CallError::Declared(declared)),
            None => Err(CallError::Remote(e)),
        },
        Err(other) => Err(other.typed()),
    }
}
