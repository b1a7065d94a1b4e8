//! The interoperability command catalogue (`interop/COMMANDS.md`) in Rust:
//! every command's arguments, response and declared errors, and responders
//! that behave exactly as the document says (and as the Twisted peers in
//! `interop/` do), so a Rust peer can stand on either end of the interop
//! suite ([`crate::interop`]).
//!
//! The commands the other suites call too (`Sum`, `Divide`, `Fatal`,
//! `Boom`, `Notify`, `Hang`) are [`crate::commands`]'; they are re-exported
//! here, so this module names the whole catalogue.

mod repr;

pub use repr::{Decoded, PyRepr, Same, abspath, bytes_repr, is_printable, normpath, str_repr};

pub use crate::commands::{
    Boom, Divide, DivideArgs, DivideError, Empty, Fatal, FatalError, Hang, Notify, Quotient, Sum,
    SumArgs, Text, Total, add,
};

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use amp_core::values::{DateTime, Decimal};
use amp_core::{Command, Failure};
use amp_engine::{Context, Responders};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// -- Arithmetic -----------------------------------------------------------------

/// The description Python gives a float division by zero.
pub const ZERO_DIVISION_DESCRIPTION: &str = "float division by zero";

// -- Echo commands --------------------------------------------------------------

/// An echo command's arguments: `value`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EchoArgs<T> {
    /// The value.
    pub value: T,
}

/// An echo command's response: `value` and the `repr` text of the value as
/// the responder decoded it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EchoAnswer<T> {
    /// The value, as the responder decoded it.
    pub value: T,
    /// The `repr` of the value the responder decoded.
    pub repr: String,
}

/// An echo command: takes and answers `value` of type `Value`.
pub trait EchoCommand:
    Command<Arguments = EchoArgs<Self::Value>, Response = EchoAnswer<Self::Value>, Error = Infallible>
{
    /// The Rust type of the argument.
    type Value: Serialize + DeserializeOwned + PyRepr + Same + Decoded + Send + 'static;
}

macro_rules! echo_commands {
    ($($(#[$meta:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$meta])*
        pub struct $name;
        impl Command for $name {
            const NAME: &'static str = stringify!($name);
            type Arguments = EchoArgs<$ty>;
            type Response = EchoAnswer<$ty>;
            type Error = Infallible;
        }
        impl EchoCommand for $name {
            type Value = $ty;
        }
    )*};
}

echo_commands! {
    /// `Integer`.
    EchoInteger: i128;
    /// `String`.
    EchoString: Bytes;
    /// `Unicode`.
    EchoUnicode: String;
    /// `Boolean`.
    EchoBoolean: bool;
    /// `Float`.
    EchoFloat: f64;
    /// `Decimal`.
    EchoDecimal: Decimal;
    /// `DateTime`.
    EchoDateTime: DateTime;
    /// `ListOf(Integer)`.
    EchoListOfInteger: Vec<i128>;
    /// `ListOf(Unicode)`.
    EchoListOfUnicode: Vec<String>;
    /// `ListOf(String)`.
    EchoListOfString: Vec<Bytes>;
    /// `ListOf(Boolean)`.
    EchoListOfBoolean: Vec<bool>;
    /// `AmpList([(b'name', Unicode()), (b'items', AmpList([(b'n', Integer())])),
    /// (b'note', Unicode(optional=True))])`.
    EchoAmpList: Vec<AmpEntry>;
    /// `Path`.
    EchoPath: PathBuf;
}

/// An element of `EchoAmpList`'s value.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AmpEntry {
    /// A name.
    pub name: String,
    /// Its items.
    pub items: Vec<AmpItem>,
    /// Optional: left out of the element's box when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An element of `AmpEntry::items`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AmpItem {
    /// A number.
    pub n: i128,
}

/// `EchoOptional`'s arguments: `value`, optional.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OptionalArgs {
    /// The value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `EchoOptional`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OptionalAnswer {
    /// Whether a value was sent.
    pub present: bool,
    /// The value sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The `repr` of the value (`None` when absent).
    pub repr: String,
}

/// `EchoOptional(value: Unicode, optional) -> present: Boolean, value:
/// Unicode (optional), repr: Unicode`.
pub struct EchoOptional;
impl Command for EchoOptional {
    const NAME: &'static str = "EchoOptional";
    type Arguments = OptionalArgs;
    type Response = OptionalAnswer;
    type Error = Infallible;
}

/// The longest key AMP allows: `k` 255 times.
pub const LONG_KEY: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

/// `EchoLong`'s arguments and response: a String under the 255-byte key and
/// a String `big`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Long {
    #[serde(
        rename = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
    )]
    /// A String under the 255-byte key.
    pub keyed: Bytes,
    /// A String, up to 65535 bytes.
    pub big: Bytes,
}

/// `EchoLong`: echoes both keys.
pub struct EchoLong;
impl Command for EchoLong {
    const NAME: &'static str = "EchoLong";
    type Arguments = Long;
    type Response = Long;
    type Error = Infallible;
}

// -- Errors ---------------------------------------------------------------------

/// The description of `FATAL_KEY`: `str(KeyError('x'))`, quotes included.
pub const FATAL_KEY_DESCRIPTION: &str = "'x'";

// -- Commands without an answer -------------------------------------------------

/// `GetNotified`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Texts {
    /// The texts notified, in order.
    pub texts: Vec<String>,
}

/// `GetNotified() -> texts: ListOf(Unicode)`: the connection's Notify log.
pub struct GetNotified;
impl Command for GetNotified {
    const NAME: &'static str = "GetNotified";
    type Arguments = Empty;
    type Response = Texts;
    type Error = Infallible;
}

/// `NotifyFail(text: Unicode)`, requiresAnswer False: its responder fails
/// (undeclared), which closes the connection.
pub struct NotifyFail;
impl Command for NotifyFail {
    const NAME: &'static str = "NotifyFail";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = Text;
    type Response = Empty;
    type Error = Infallible;
}

// -- Concurrency and connection loss --------------------------------------------

/// `Storm`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Count {
    /// How many calls back.
    pub count: i128,
}

/// `Storm(count: Integer) -> total: Integer`: calls `Sum(i, 1)` back on the
/// caller for every i below `count`, all at once.
pub struct Storm;
impl Command for Storm {
    const NAME: &'static str = "Storm";
    type Arguments = Count;
    type Response = Total;
    type Error = Infallible;
}

/// `Die`: aborts the connection, answering nothing.
pub struct Die;
impl Command for Die {
    const NAME: &'static str = "Die";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

/// `SwitchToEcho`: a `ProtocolSwitchCommand`; after its (empty) answer the
/// connection echoes every byte. Its name is what a binding's upgrades
/// switch on (`Upgrades::switch`); see [`crate::switch`].
pub struct SwitchToEcho;
impl Command for SwitchToEcho {
    const NAME: &'static str = "SwitchToEcho";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

// -- Descriptor passing (UNIX sockets) -------------------------------------------

/// What the Rust peers' `OpenGreeting` pipe holds: `hello from amp-rs\n`
/// (Twisted's peers say `hello from Twisted\n`).
pub const GREETING: &str = "hello from amp-rs\n";

/// `WriteTo(fd: Descriptor, text: Unicode) -> (written: Integer)`'s
/// arguments.
#[cfg(unix)]
#[derive(Serialize, Deserialize, Debug)]
pub struct WriteToArgs {
    /// Where to write.
    pub fd: amp_core::values::Descriptor,
    /// What to write, as UTF-8.
    pub text: String,
}

/// `WriteTo`'s answer.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes written.
    pub written: u64,
}

/// `WriteTo`: the responder writes the text into the descriptor it
/// received, closes it, and answers the byte count.
#[cfg(unix)]
pub struct WriteTo;
#[cfg(unix)]
impl Command for WriteTo {
    const NAME: &'static str = "WriteTo";
    type Arguments = WriteToArgs;
    type Response = Written;
    type Error = Infallible;
}

/// `OpenGreeting`'s answer: the read end of a pipe.
#[cfg(unix)]
#[derive(Serialize, Deserialize, Debug)]
pub struct Greeting {
    /// The pipe's read end.
    pub fd: amp_core::values::Descriptor,
}

/// `OpenGreeting() -> (fd: Descriptor)`: the read end of a pipe that holds
/// the responder's greeting ([`GREETING`] for Rust peers).
#[cfg(unix)]
pub struct OpenGreeting;
#[cfg(unix)]
impl Command for OpenGreeting {
    const NAME: &'static str = "OpenGreeting";
    type Arguments = Empty;
    type Response = Greeting;
    type Error = Infallible;
}

/// Adds the descriptor commands (`WriteTo`, `OpenGreeting`) to `r`: what
/// the catalogue's responders and the `ampserver` examples on a UNIX
/// socket answer.
///
/// ```
/// let r = amp_conformance::catalogue::descriptor_responders(amp_engine::Responders::new());
/// # drop(r);
/// ```
#[cfg(unix)]
pub fn descriptor_responders(r: Responders) -> Responders {
    use std::io::Write;
    r.responder(WriteTo, |_, args: WriteToArgs| async move {
        let fd = args
            .fd
            .into_owned_fd()
            .map_err(|_| Failure::<Infallible>::undeclared("the descriptor is still being sent"))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(args.text.as_bytes())
            .map_err(|e| Failure::<Infallible>::undeclared(format!("writing: {e}")))?;
        drop(file);
        Ok::<_, Failure<Infallible>>(Written {
            written: args.text.len() as u64,
        })
    })
    .responder(OpenGreeting, |_, _: Empty| async move {
        let (read_end, write_end) = rustix::pipe::pipe()
            .map_err(|e| Failure::<Infallible>::undeclared(format!("pipe: {e}")))?;
        std::fs::File::from(write_end)
            .write_all(GREETING.as_bytes())
            .map_err(|e| Failure::<Infallible>::undeclared(format!("writing: {e}")))?;
        // Our write end is closed; the read end goes with the answer (and
        // is closed here once sent).
        Ok::<_, Failure<Infallible>>(Greeting {
            fd: amp_core::values::Descriptor::new(read_end),
        })
    })
}

// -- Responders -----------------------------------------------------------------

/// Responders for the whole catalogue, with a fresh Notify log: call it once
/// per connection (a `Server` factory does).
pub fn responders() -> Responders {
    responders_counting_sums(Arc::default())
}

/// [`responders`], counting the `Sum` calls answered in `sums` (a Storm's
/// callbacks, for instance).
pub fn responders_counting_sums(sums: Arc<AtomicUsize>) -> Responders {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let notify_log = log.clone();
    // Sum, Divide, Fatal, Boom, Notify and GetNotified answer at once
    // (`sync_responder`); the others are futures: the interop suites run
    // both kinds against Twisted, declared, fatal and undeclared errors
    // included.
    let r = Responders::new()
        .sync_responder(Sum, move |_, args: SumArgs| {
            sums.fetch_add(1, Ordering::SeqCst);
            add(&args)
        })
        .sync_responder(Divide, |_, args: DivideArgs| {
            // `float(numerator) / denominator`: the denominator becomes a
            // float too, and any float divided by zero raises.
            if args.denominator == 0 {
                return Err(DivideError::ZeroDivision(ZERO_DIVISION_DESCRIPTION.into()));
            }
            Ok(Quotient {
                result: args.numerator as f64 / args.denominator as f64,
            })
        })
        .responder(EchoOptional, |_, args: OptionalArgs| async move {
            Ok::<_, Infallible>(OptionalAnswer {
                present: args.value.is_some(),
                repr: args.value.py_repr(),
                value: args.value,
            })
        })
        .responder(EchoLong, |_, args: Long| async move {
            Ok::<_, Infallible>(args)
        })
        .sync_responder(Fatal, |_, _: Empty| {
            Err::<Empty, _>(FatalError::Key(FATAL_KEY_DESCRIPTION.into()))
        })
        .sync_responder(Boom, |_, _: Empty| {
            Err::<Empty, _>(Failure::<Infallible>::undeclared("RuntimeError('boom')"))
        })
        .sync_responder(Notify, move |_, args: Text| {
            notify_log.lock().unwrap().push(args.text);
            Ok::<_, Infallible>(Empty {})
        })
        .sync_responder(GetNotified, move |_, _: Empty| {
            let texts = log.lock().unwrap().clone();
            Ok::<_, Infallible>(Texts { texts })
        })
        .responder(NotifyFail, |_, _: Text| async move {
            Err::<Empty, _>(Failure::<Infallible>::undeclared(
                "ValueError('notify failed')",
            ))
        })
        .responder(Storm, |ctx: Context, args: Count| async move {
            // Every call is queued (on the first poll of join_all) before
            // any answer is awaited.
            let calls =
                (0..args.count.max(0)).map(|i| ctx.peer.call_as::<Sum>(&SumArgs { a: i, b: 1 }));
            let mut total: i128 = 0;
            for answer in futures_util::future::join_all(calls).await {
                let answer = answer.map_err(Failure::<Infallible>::undeclared)?;
                total = total
                    .checked_add(answer.total)
                    .ok_or_else(|| Failure::undeclared("Storm total overflows i128"))?;
            }
            Ok::<_, Failure<Infallible>>(Total { total })
        })
        .responder(Hang, |_, _: Empty| async move {
            std::future::pending::<Result<Empty, Infallible>>().await
        })
        .responder(Die, |ctx: Context, _: Empty| {
            // Abort at once, before anything else is answered; never answer.
            ctx.peer.shutdown(std::time::Duration::ZERO);
            std::future::pending::<Result<Empty, Infallible>>()
        });
    let r = echo(r, EchoInteger);
    let r = echo(r, EchoString);
    let r = echo(r, EchoUnicode);
    let r = echo(r, EchoBoolean);
    let r = echo(r, EchoFloat);
    let r = echo(r, EchoDecimal);
    let r = echo(r, EchoDateTime);
    let r = echo(r, EchoListOfInteger);
    let r = echo(r, EchoListOfUnicode);
    let r = echo(r, EchoListOfString);
    let r = echo(r, EchoListOfBoolean);
    let r = echo(r, EchoAmpList);
    let r = echo(r, EchoPath);
    #[cfg(unix)]
    let r = descriptor_responders(r);
    r
}

/// Adds the responder of echo command `C`: the decoded value back, with its
/// `repr`.
fn echo<C: EchoCommand>(responders: Responders, command: C) -> Responders {
    responders.responder(command, |_, args: EchoArgs<C::Value>| async move {
        let value = args.value.decoded();
        let repr = value.py_repr();
        Ok::<_, Infallible>(EchoAnswer { value, repr })
    })
}
