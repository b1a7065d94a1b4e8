//! The interoperability command catalogue (`interop/COMMANDS.md`) in Rust:
//! every command's arguments, response and declared errors, and responders
//! that behave exactly as the document says (and as the Twisted peers in
//! `interop/` do), so a Rust peer can stand on either end of the suite.

pub mod twisted;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use amp_core::values::{DateTime, Decimal, encode_value};
use amp_core::{Command, Failure, command_errors};
use amp_engine::{Context, Responders};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A request or response without keys.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct Empty {}

// -- Arithmetic -----------------------------------------------------------------

/// `Sum`'s arguments. Integers are `i128`: the catalogue's largest values
/// are around 10**30 (`echo_cases.json`, the `sum` and `storm` scenarios).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SumArgs {
    pub a: i128,
    pub b: i128,
}

/// `Sum`'s and `Storm`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Total {
    pub total: i128,
}

/// `Sum(a: Integer, b: Integer) -> total: Integer`.
pub struct Sum;
impl Command for Sum {
    const NAME: &'static str = "Sum";
    type Arguments = SumArgs;
    type Response = Total;
    type Error = Infallible;
}

/// `Divide`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DivideArgs {
    pub numerator: i128,
    pub denominator: i128,
}

/// `Divide`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Quotient {
    pub result: f64,
}

command_errors! {
    /// `Divide`'s declared errors.
    pub enum DivideError {
        /// Python's `ZeroDivisionError('float division by zero')`.
        ZeroDivision => "ZERO_DIVISION",
    }
}

/// The description Python gives a float division by zero.
pub const ZERO_DIVISION_DESCRIPTION: &str = "float division by zero";

/// `Divide(numerator: Integer, denominator: Integer) -> result: Float`,
/// declaring `ZERO_DIVISION`.
pub struct Divide;
impl Command for Divide {
    const NAME: &'static str = "Divide";
    type Arguments = DivideArgs;
    type Response = Quotient;
    type Error = DivideError;
}

// -- Echo commands --------------------------------------------------------------

/// An echo command's arguments: `value`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EchoArgs<T> {
    pub value: T,
}

/// An echo command's response: `value` and the `repr` text of the value as
/// the responder decoded it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EchoAnswer<T> {
    pub value: T,
    pub repr: String,
}

/// An echo command: takes and answers `value` of type `Value`.
pub trait Echo:
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
        impl Echo for $name {
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
    pub name: String,
    pub items: Vec<AmpItem>,
    /// Optional: left out of the element's box when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An element of `AmpEntry::items`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AmpItem {
    pub n: i128,
}

/// `EchoOptional`'s arguments: `value`, optional.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OptionalArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `EchoOptional`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OptionalAnswer {
    pub present: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
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
    pub keyed: Bytes,
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

command_errors! {
    /// `Fatal`'s declared errors.
    pub enum FatalError {
        /// Python's `KeyError('x')`, declared fatal.
        Key => "FATAL_KEY" (fatal),
    }
}

/// The description of `FATAL_KEY`: `str(KeyError('x'))`, quotes included.
pub const FATAL_KEY_DESCRIPTION: &str = "'x'";

/// `Fatal`: always fails with the fatal `FATAL_KEY`.
pub struct Fatal;
impl Command for Fatal {
    const NAME: &'static str = "Fatal";
    type Arguments = Empty;
    type Response = Empty;
    type Error = FatalError;
}

/// `Boom`: always fails with an undeclared error (`UNKNOWN`, fatal).
pub struct Boom;
impl Command for Boom {
    const NAME: &'static str = "Boom";
    type Arguments = Empty;
    type Response = Empty;
    type Error = Infallible;
}

// -- Commands without an answer -------------------------------------------------

/// `Notify`'s and `NotifyFail`'s arguments.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Text {
    pub text: String,
}

/// `Notify(text: Unicode)`, requiresAnswer False: appends to the
/// connection's log.
pub struct Notify;
impl Command for Notify {
    const NAME: &'static str = "Notify";
    const REQUIRES_ANSWER: bool = false;
    type Arguments = Text;
    type Response = Empty;
    type Error = Infallible;
}

/// `GetNotified`'s response.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Texts {
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

/// `Hang`: never answers.
pub struct Hang;
impl Command for Hang {
    const NAME: &'static str = "Hang";
    type Arguments = Empty;
    type Response = Empty;
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
    let r = Responders::new()
        .responder(Sum, move |_, args: SumArgs| {
            sums.fetch_add(1, Ordering::SeqCst);
            async move {
                // Python's ints have no size limit; past i128 we cannot follow.
                match args.a.checked_add(args.b) {
                    Some(total) => Ok(Total { total }),
                    None => Err(Failure::<Infallible>::undeclared("Sum overflows i128")),
                }
            }
        })
        .responder(Divide, |_, args: DivideArgs| async move {
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
        .responder(Fatal, |_, _: Empty| async move {
            Err::<Empty, _>(FatalError::Key(FATAL_KEY_DESCRIPTION.into()))
        })
        .responder(Boom, |_, _: Empty| async move {
            Err::<Empty, _>(Failure::<Infallible>::undeclared("RuntimeError('boom')"))
        })
        .responder(Notify, move |_, args: Text| {
            notify_log.lock().unwrap().push(args.text);
            async move { Ok::<_, Infallible>(Empty {}) }
        })
        .responder(GetNotified, move |_, _: Empty| {
            let texts = log.lock().unwrap().clone();
            async move { Ok::<_, Infallible>(Texts { texts }) }
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
                (0..args.count.max(0)).map(|i| ctx.peer.call::<Sum>(&SumArgs { a: i, b: 1 }));
            let mut total: i128 = 0;
            for answer in futures_util::future::join_all(calls).await {
                let answer = answer
                    .map_err(Failure::<Infallible>::undeclared)?
                    .ok_or_else(|| Failure::undeclared("Sum went unanswered"))?;
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
            ctx.peer.close();
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
    echo(r, EchoPath)
}

/// Adds the responder of echo command `C`: the decoded value back, with its
/// `repr`.
fn echo<C: Echo>(responders: Responders, command: C) -> Responders {
    responders.responder(command, |_, args: EchoArgs<C::Value>| async move {
        let value = args.value.decoded();
        let repr = value.py_repr();
        Ok::<_, Infallible>(EchoAnswer { value, repr })
    })
}

// -- What Twisted makes of a decoded value ----------------------------------------

/// The value Twisted holds after decoding: the identity, except for `Path`.
pub trait Decoded: Sized {
    /// The value as Twisted's argument type would have decoded it.
    fn decoded(self) -> Self {
        self
    }
}

impl Decoded for i128 {}
impl Decoded for Bytes {}
impl Decoded for String {}
impl Decoded for bool {}
impl Decoded for f64 {}
impl Decoded for Decimal {}
impl Decoded for DateTime {}
impl<T> Decoded for Vec<T> {}

impl Decoded for PathBuf {
    /// `FilePath(text)` makes the path absolute and normalised
    /// (`os.path.abspath`) against the working directory.
    fn decoded(self) -> Self {
        abspath(&self)
    }
}

/// Python's `os.path.abspath` on POSIX: joined to the working directory if
/// relative, then `os.path.normpath`.
pub fn abspath(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let joined = if text.starts_with('/') {
        text.into_owned()
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        format!("{}/{}", cwd.to_string_lossy(), text)
    };
    PathBuf::from(normpath(&joined))
}

/// Python's `posixpath.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") => {
                parts.push(part)
            }
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let out = "/".repeat(initial) + &parts.join("/");
    if out.is_empty() { ".".into() } else { out }
}

// -- Python's repr ------------------------------------------------------------------

/// The `repr` text COMMANDS.md defines for a decoded value: Python 3.11's
/// `repr()`, except DateTime's `isoformat(timespec="microseconds")`.
pub trait PyRepr {
    /// The text.
    fn py_repr(&self) -> String;
}

impl PyRepr for i128 {
    fn py_repr(&self) -> String {
        self.to_string()
    }
}

impl PyRepr for bool {
    fn py_repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl PyRepr for f64 {
    /// `repr(float)` is exactly the Float wire form.
    fn py_repr(&self) -> String {
        let wire = encode_value(self).expect("every float encodes");
        String::from_utf8(wire.to_vec()).expect("float text is ASCII")
    }
}

impl PyRepr for Decimal {
    fn py_repr(&self) -> String {
        format!("Decimal('{}')", self.as_str())
    }
}

impl PyRepr for DateTime {
    /// `isoformat(timespec="microseconds")`: the wire form, but `+` for a
    /// zero offset.
    fn py_repr(&self) -> String {
        let wire = self.to_string();
        let sign = if self.offset_minutes() < 0 { '-' } else { '+' };
        format!("{}{sign}{}", &wire[..26], &wire[27..])
    }
}

impl PyRepr for Bytes {
    fn py_repr(&self) -> String {
        bytes_repr(self)
    }
}

impl PyRepr for String {
    fn py_repr(&self) -> String {
        str_repr(self)
    }
}

impl PyRepr for PathBuf {
    /// `repr(FilePath)`: `FilePath('<path as repr(str)>')`.
    fn py_repr(&self) -> String {
        format!("FilePath({})", str_repr(&self.to_string_lossy()))
    }
}

impl<T: PyRepr> PyRepr for Option<T> {
    fn py_repr(&self) -> String {
        self.as_ref().map_or_else(|| "None".into(), T::py_repr)
    }
}

impl<T: PyRepr> PyRepr for Vec<T> {
    fn py_repr(&self) -> String {
        let items: Vec<String> = self.iter().map(T::py_repr).collect();
        format!("[{}]", items.join(", "))
    }
}

impl PyRepr for AmpEntry {
    /// A dict with the keys in declaration order; an absent note is `None`.
    fn py_repr(&self) -> String {
        format!(
            "{{'name': {}, 'items': {}, 'note': {}}}",
            self.name.py_repr(),
            self.items.py_repr(),
            self.note.py_repr()
        )
    }
}

impl PyRepr for AmpItem {
    fn py_repr(&self) -> String {
        format!("{{'n': {}}}", self.n.py_repr())
    }
}

/// The quote Python's repr picks: `'` unless the text holds `'` and no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double { '"' } else { '\'' }
}

/// Python's `repr(bytes)`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = quote_for(bytes.contains(&b'\''), bytes.contains(&b'"'));
    let mut out = format!("b{quote}");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(str)`.
pub fn str_repr(text: &str) -> String {
    let quote = quote_for(text.contains('\''), text.contains('"'));
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(quote);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable()` for one character,
/// which rejects the general categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs
/// (except the space). Without Unicode tables this rejects: control
/// characters (Cc), whitespace other than the space (all of Zs, Zl, Zp),
/// the format characters (Cf) listed below, private use (Co) and the
/// noncharacters (part of Cn). Unassigned code points (the rest of Cn) are
/// taken as printable, which is wrong but does not matter for the values the
/// suite sends (ASCII, Latin-1, CJK, emoji, Gothic: all assigned).
pub fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        c as u32,
        // Cf
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            // Co
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
            // Noncharacters (Cn)
            | 0xFDD0..=0xFDEF
    ) && (c as u32) & 0xFFFE != 0xFFFE
}

// -- Sameness -----------------------------------------------------------------------

/// The same value of the same type, exactly: NaN is NaN, -0.0 is not 0.0,
/// Decimals by their text, DateTimes by their fields and offset.
pub trait Same {
    /// Whether `self` and `other` are the same value.
    fn same(&self, other: &Self) -> bool;
}

macro_rules! same_by_eq {
    ($($t:ty),*) => {$(
        impl Same for $t {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}

same_by_eq!(i128, bool, Bytes, String, DateTime, PathBuf, AmpEntry);

impl Same for f64 {
    fn same(&self, other: &Self) -> bool {
        if self.is_nan() || other.is_nan() {
            return self.is_nan() && other.is_nan();
        }
        self == other && self.is_sign_negative() == other.is_sign_negative()
    }
}

impl Same for Decimal {
    fn same(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<T: Same> Same for Vec<T> {
    fn same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.same(b))
    }
}

impl<T: Same> Same for Option<T> {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        }
    }
}
