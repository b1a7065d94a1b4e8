//! One-declaration commands: [`command!`](crate::command!) writes a
//! command's arguments struct, its response struct, its errors and its
//! [`Command`](crate::Command) implementation from one declaration, as a
//! Twisted `amp.Command` subclass does.

/// Declares a command in one place: the arguments struct *is* the command,
/// so a call is its value (`peer.call(Get { key })`), with no marker type,
/// no turbofish and no other name to invent but the response's.
///
/// ```text
/// command! {
///     [attributes and docs of the arguments struct]
///     VIS struct NAME { FIELDS }
///     -> ()                                   // an empty answer, or:
///     -> [attributes] VIS struct RESPONSE { FIELDS }
///     [errors [attributes] VIS enum ERROR { VARIANTS }]   // as in command_errors!
///     [named "WIRE NAME"]                     // default: NAME
///     [without answer]                        // Twisted's requiresAnswer = False
/// }
/// ```
///
/// Both structs derive `Debug` and serde's `Serialize` and `Deserialize` (a field is a
/// box key; `#[serde(rename = "...")]`, `#[serde(with = ...)]` and the
/// other serde attributes work on the fields). The crate using the macro
/// names amp-core `amp_core` (its default name). The hand-written form, a
/// [`Command`](crate::Command) implementation on a marker type with separate
/// argument and response types, keeps working beside it.
///
/// Twisted's declaration
///
/// ```python
/// class Get(amp.Command):
///     arguments = [(b"key", amp.Unicode())]
///     response = [(b"value", amp.String())]
///     errors = {KeyError: b"NOT_FOUND"}
/// ```
///
/// is, in Rust:
///
/// ```
/// use amp_core::{Command, CommandError};
///
/// amp_core::command! {
///     /// Reads one key.
///     #[derive(PartialEq)]
///     pub struct Get { pub key: String }
///     -> pub struct Value { #[serde(with = "serde_bytes")] pub value: Vec<u8> }
///     errors pub enum GetError { NotFound => "NOT_FOUND" }
/// }
///
/// amp_core::command! {
///     /// Stores one key; answered with an empty box.
///     pub struct Put { pub key: String, #[serde(with = "serde_bytes")] pub value: Vec<u8> } -> ()
/// }
///
/// amp_core::command! {
///     /// A log line nobody answers, under the wire name `log`.
///     pub struct Log { pub text: String } -> () named "log" without answer
/// }
///
/// assert_eq!((Get::NAME, Put::NAME, Log::NAME), ("Get", "Put", "log"));
/// assert!(Get::REQUIRES_ANSWER && !Log::REQUIRES_ANSWER);
/// assert_eq!(GetError::NotFound("k".into()).code(), "NOT_FOUND");
///
/// // The arguments value goes on the wire as the command's box.
/// let mut client = amp_core::Connection::default();
/// client.call(Get { key: "k".into() }).unwrap();
/// let mut server = amp_core::Connection::default();
/// server.handle_input(&client.take_transmit());
/// let Some(amp_core::Event::Request(req)) = server.poll_event() else { unreachable!() };
/// assert_eq!(req.command_str(), Some("Get"));
/// let args: Get = amp_core::de::from_box(&req.arguments).unwrap();
/// assert_eq!(args, Get { key: "k".into() });
/// ```
///
/// A response that is not `()` nor a struct declaration is refused with a
/// message saying so:
///
/// ```compile_fail
/// amp_core::command! { pub struct Get { pub key: String } -> String }
/// ```
#[macro_export]
macro_rules! command {
    // The arguments struct, then the response.
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fields:tt)* }
        -> $($rest:tt)*
    ) => {
        $(#[$meta])*
        #[derive(::core::fmt::Debug, $crate::__private::serde::Serialize, $crate::__private::serde::Deserialize)]
        #[serde(crate = "amp_core::__private::serde")]
        $vis struct $name { $($fields)* }

        $crate::command!(@response $name [$($rest)*]);
    };

    // An empty response.
    (@response $name:ident [ () $($opts:tt)* ]) => {
        $crate::command!(@options $name [()] [::std::convert::Infallible]
            [::core::stringify!($name)] [true] [$($opts)*]);
    };
    // A response struct.
    (@response $name:ident [
        $(#[$rmeta:meta])* $rvis:vis struct $response:ident { $($rfields:tt)* }
        $($opts:tt)*
    ]) => {
        $(#[$rmeta])*
        #[derive(::core::fmt::Debug, $crate::__private::serde::Serialize, $crate::__private::serde::Deserialize)]
        #[serde(crate = "amp_core::__private::serde")]
        $rvis struct $response { $($rfields)* }

        $crate::command!(@options $name [$response] [::std::convert::Infallible]
            [::core::stringify!($name)] [true] [$($opts)*]);
    };
    (@response $name:ident [ $($other:tt)* ]) => {
        ::core::compile_error!(::core::concat!(
            "command `", ::core::stringify!($name),
            "`: after `->` comes `()` or a response struct (`pub struct Name { ... }`)"
        ));
    };

    // The optional clauses, in any order.
    (@options $name:ident [$resp:ty] [$err:ty] [$wire:expr] [$answer:expr] [
        errors $(#[$emeta:meta])* $evis:vis enum $error:ident { $($variants:tt)* }
        $($opts:tt)*
    ]) => {
        $crate::command_errors! {
            $(#[$emeta])*
            $evis enum $error { $($variants)* }
        }
        $crate::command!(@options $name [$resp] [$error] [$wire] [$answer] [$($opts)*]);
    };
    (@options $name:ident [$resp:ty] [$err:ty] [$wire:expr] [$answer:expr] [
        named $named:literal $($opts:tt)*
    ]) => {
        $crate::command!(@options $name [$resp] [$err] [$named] [$answer] [$($opts)*]);
    };
    (@options $name:ident [$resp:ty] [$err:ty] [$wire:expr] [$answer:expr] [
        without answer $($opts:tt)*
    ]) => {
        $crate::command!(@options $name [$resp] [$err] [$wire] [false] [$($opts)*]);
    };
    (@options $name:ident [$resp:ty] [$err:ty] [$wire:expr] [$answer:expr] []) => {
        impl $crate::Command for $name {
            const NAME: &'static str = $wire;
            const REQUIRES_ANSWER: bool = $answer;
            type Arguments = Self;
            type Response = $resp;
            type Error = $err;
        }
    };
    (@options $name:ident [$resp:ty] [$err:ty] [$wire:expr] [$answer:expr] [$($other:tt)*]) => {
        ::core::compile_error!(::core::concat!(
            "command `", ::core::stringify!($name), "`: expected `errors enum ...`, ",
            "`named \"...\"` or `without answer`, found `", ::core::stringify!($($other)*), "`"
        ));
    };
}
