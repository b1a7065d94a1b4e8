//! Constrained arguments: txampext's `ConstrainedArgument`.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(doc)]
use super::{ValueError, ValueErrorKind};

/// The start of every constraint violation's message: how a
/// [`ValueError`] made by a type's own `Serialize` or `Deserialize` is
/// recognised as [`ValueErrorKind::Constraint`].
pub(crate) const VIOLATION_PREFIX: &str = "constraint not satisfied: ";

/// A test a value must pass, as one of txampext's constraint callables.
///
/// Implemented by marker types (usually made with [`in_set!`](crate::in_set!),
/// [`not_in_set!`](crate::not_in_set!) or [`predicate!`](crate::predicate!)),
/// and by tuples of up to six of them (all must hold, checked in order,
/// as txampext checks its list).
///
/// ```
/// use amp_core::values::Constraint;
///
/// struct ShortName;
/// impl Constraint<String> for ShortName {
///     fn check(value: &String) -> bool { value.len() <= 8 }
///     fn describe(f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("at most 8 bytes")
///     }
/// }
/// assert!(<ShortName as Constraint<String>>::check(&"bob".to_string()));
/// assert!(!<(ShortName,) as Constraint<String>>::check(&"bartholomew".to_string()));
/// ```
pub trait Constraint<T: ?Sized> {
    /// Whether `value` satisfies the constraint.
    ///
    /// ```
    /// use amp_core::values::Constraint;
    /// amp_core::predicate!(pub Odd: u8 = |n| n % 2 == 1);
    /// assert!(Odd::check(&3) && !Odd::check(&4));
    /// ```
    fn check(value: &T) -> bool;

    /// What the constraint asks, for error messages (its type's name by
    /// default).
    ///
    /// ```
    /// use amp_core::values::Constraint;
    /// struct Short;
    /// impl Constraint<str> for Short {
    ///     fn check(v: &str) -> bool { v.len() < 4 }
    /// }
    /// assert_eq!(Short::violation("long").as_deref(), Some("Short"));
    /// ```
    fn describe(f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = std::any::type_name::<Self>();
        f.write_str(name.rsplit("::").next().unwrap_or(name))
    }

    /// The first of the constraints `value` fails, described; `None` if it
    /// passes them all. A tuple reports the member that failed.
    ///
    /// ```
    /// use amp_core::values::Constraint;
    /// amp_core::predicate!(pub Positive: i64 = |n| *n > 0);
    /// amp_core::predicate!(pub Even: i64 = |n| n % 2 == 0);
    /// assert_eq!(<(Positive, Even)>::violation(&3).as_deref(), Some("Even"));
    /// assert_eq!(<(Positive, Even)>::violation(&4), None);
    /// ```
    fn violation(value: &T) -> Option<String> {
        if Self::check(value) {
            None
        } else {
            Some(Describe::<Self, T>(PhantomData).to_string())
        }
    }
}

/// Formats a constraint's [`Constraint::describe`].
struct Describe<C: ?Sized, T: ?Sized>(PhantomData<fn(&T) -> &C>);

impl<C: Constraint<T> + ?Sized, T: ?Sized> fmt::Display for Describe<C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        C::describe(f)
    }
}

macro_rules! tuple_constraints {
    ($($name:ident)+) => {
        impl<T: ?Sized, $($name: Constraint<T>),+> Constraint<T> for ($($name,)+) {
            fn check(value: &T) -> bool {
                $($name::check(value))&&+
            }
            fn describe(f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut first = true;
                $(
                    if !std::mem::take(&mut first) {
                        f.write_str(" and ")?;
                    }
                    $name::describe(f)?;
                )+
                Ok(())
            }
            fn violation(value: &T) -> Option<String> {
                $(
                    if let Some(v) = $name::violation(value) {
                        return Some(v);
                    }
                )+
                None
            }
        }
    };
}

tuple_constraints!(A);
tuple_constraints!(A B);
tuple_constraints!(A B C);
tuple_constraints!(A B C D);
tuple_constraints!(A B C D E);
tuple_constraints!(A B C D E F);

/// `T`, constrained by `C`: written and read as `T` is, after `C` has
/// accepted the value (txampext's `ConstrainedArgument(T, *C)`).
///
/// Works with any argument type, `Vec`s, AmpLists and
/// [`NestedBox`](super::NestedBox) included; `Option<Constrained<T, C>>` is
/// an optional constrained argument (an absent key is not checked).
///
/// It is `T` on the wire, unchanged; `C` is one
/// [`Constraint`] or a tuple of them, all of which must hold. The
/// constraints are part of the argument (or response) struct, so they are
/// declared with the command:
///
/// - writing a value that violates one fails with a [`ValueError`] of kind
///   [`ValueErrorKind::Constraint`]: a call fails locally
///   ([`CallError::Value`](crate::CallError::Value)) and nothing is sent;
///   a response that violates one is an undeclared failure of the
///   responder (`UNKNOWN`, and the connection closes);
/// - reading one fails the same way: for a request, the responder never
///   runs and the peer gets `UNKNOWN` / `Unknown Error`, then the
///   connection closes, which is exactly what Twisted answers for the
///   `ValueError` that txampext's `ConstrainedArgument.fromString` raises
///   while it parses the arguments.
///
/// [`in_set!`](crate::in_set!) and [`not_in_set!`](crate::not_in_set!)
/// declare txampext's `inSet` and `notInSet`; [`predicate!`](crate::predicate!)
/// (or a hand-written [`Constraint`]) any other test.
///
/// ```
/// use amp_core::values::{Constrained, ValueErrorKind};
/// use serde::{Deserialize, Serialize};
///
/// amp_core::in_set!(
///     /// The colours the server knows.
///     pub Colour: &str = ["red", "green", "blue"]
/// );
/// amp_core::predicate!(
///     /// At least one.
///     pub Positive: i64 = |n| *n > 0
/// );
/// amp_core::predicate!(
///     /// Divisible by two.
///     pub Even: i64 = |n| n % 2 == 0
/// );
///
/// #[derive(Serialize, Deserialize, Debug)]
/// struct Paint {
///     colour: Constrained<String, Colour>,
///     coats: Constrained<i64, (Positive, Even)>,
/// }
///
/// let ok = Paint { colour: Constrained::new("red".into()).unwrap(), coats: Constrained::new(2).unwrap() };
/// let b = amp_core::ser::to_box(&ok).unwrap();
/// assert_eq!((b.get_str("colour"), b.get_str("coats")), (Some("red"), Some("2")));
///
/// // Refused when written...
/// let bad = Paint { colour: Constrained::new_unchecked("mauve".into()), coats: Constrained::new(2).unwrap() };
/// let e = amp_core::ser::to_box(&bad).unwrap_err();
/// assert!(matches!(e.kind(), ValueErrorKind::Constraint { .. }));
/// assert_eq!(e.path(), "colour");
///
/// // ...and when read.
/// let wire = amp_core::AmpBox::from_pairs([("colour", "red"), ("coats", "3")]);
/// let e = amp_core::de::from_box::<Paint>(&wire).unwrap_err();
/// assert_eq!(e.to_string(), r#"argument "coats": constraint not satisfied: Even"#);
/// ```
///
/// ```
/// use amp_core::values::{Constrained, decode_value, encode_value};
/// amp_core::not_in_set!(pub NotRoot: &str = ["root"]);
///
/// let user: Constrained<String, NotRoot> = Constrained::new("alice".into()).unwrap();
/// assert_eq!(&encode_value(&user).unwrap()[..], b"alice");
/// assert_eq!(*user, "alice");
/// assert!(Constrained::<String, NotRoot>::new("root".into()).is_err());
/// assert!(decode_value::<Constrained<String, NotRoot>>(b"root").is_err());
/// ```
pub struct Constrained<T, C> {
    value: T,
    constraint: PhantomData<fn() -> C>,
}

impl<T, C: Constraint<T>> Constrained<T, C> {
    /// `value`, if it satisfies `C`; otherwise the value back, with what it
    /// failed.
    ///
    /// ```
    /// amp_core::predicate!(pub Small: u32 = |n| *n < 10);
    /// let e = amp_core::values::Constrained::<u32, Small>::new(12).unwrap_err();
    /// assert_eq!((e.value, e.constraint.as_str()), (12, "Small"));
    /// ```
    pub fn new(value: T) -> Result<Self, Violation<T>> {
        match C::violation(&value) {
            None => Ok(Self::new_unchecked(value)),
            Some(constraint) => Err(Violation { value, constraint }),
        }
    }
}

impl<T, C> Constrained<T, C> {
    /// `value`, unchecked: it is checked when it is written, and refused
    /// then if it violates `C`.
    ///
    /// ```
    /// amp_core::predicate!(pub Small: u32 = |n| *n < 10);
    /// let v = amp_core::values::Constrained::<u32, Small>::new_unchecked(12);
    /// assert!(amp_core::values::encode_value(&v).is_err());
    /// ```
    pub const fn new_unchecked(value: T) -> Self {
        Constrained {
            value,
            constraint: PhantomData,
        }
    }

    /// The value.
    ///
    /// ```
    /// amp_core::predicate!(pub Small: u32 = |n| *n < 10);
    /// assert_eq!(amp_core::values::Constrained::<u32, Small>::new(3).unwrap().into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T, C> Deref for Constrained<T, C> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Clone, C> Clone for Constrained<T, C> {
    fn clone(&self) -> Self {
        Self::new_unchecked(self.value.clone())
    }
}

impl<T: Copy, C> Copy for Constrained<T, C> {}

impl<T: PartialEq, C> PartialEq for Constrained<T, C> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq, C> Eq for Constrained<T, C> {}

impl<T: fmt::Debug, C> fmt::Debug for Constrained<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize, C: Constraint<T>> Serialize for Constrained<T, C> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match C::violation(&self.value) {
            None => self.value.serialize(s),
            Some(constraint) => Err(serde::ser::Error::custom(format_args!(
                "{VIOLATION_PREFIX}{constraint}"
            ))),
        }
    }
}

impl<'de, T: Deserialize<'de>, C: Constraint<T>> Deserialize<'de> for Constrained<T, C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = T::deserialize(d)?;
        match C::violation(&value) {
            None => Ok(Self::new_unchecked(value)),
            Some(constraint) => Err(serde::de::Error::custom(format_args!(
                "{VIOLATION_PREFIX}{constraint}"
            ))),
        }
    }
}

/// A value refused by [`Constrained::new`]: the value, and the constraint
/// it failed.
///
/// ```
/// amp_core::in_set!(pub Small: u8 = [1, 2, 3]);
/// let v = amp_core::values::Constrained::<u8, Small>::new(9).unwrap_err();
/// assert_eq!(v.value, 9);
/// assert_eq!(v.to_string(), "constraint not satisfied: Small: one of [1, 2, 3]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation<T> {
    /// The value refused.
    pub value: T,
    /// What it failed, as [`Constraint::describe`] says it.
    pub constraint: String,
}

impl<T> fmt::Display for Violation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VIOLATION_PREFIX}{}", self.constraint)
    }
}

impl<T: fmt::Debug> std::error::Error for Violation<T> {}

/// Declares a constraint that a value is one of a set (txampext's
/// `inSet`): `in_set!(pub Name: Element = [values...])`. It applies to any
/// `T: PartialEq<Element>` (`Element = &str` serves `String`, `&[u8]`
/// serves `Vec<u8>`; both are `'static`).
///
/// ```
/// use amp_core::values::Constraint;
/// amp_core::in_set!(
///     /// HTTP methods without a body.
///     pub Bodiless: &str = ["GET", "HEAD"]
/// );
/// assert!(Bodiless::check(&"GET".to_string()));
/// assert!(!Bodiless::check(&"POST".to_string()));
/// amp_core::in_set!(pub Port: u16 = [80, 443]);
/// assert!(<Port as Constraint<u16>>::check(&443));
/// let described = amp_core::values::Constrained::<u16, Port>::new(22).unwrap_err().constraint;
/// assert_eq!(described, "Port: one of [80, 443]");
/// ```
#[macro_export]
macro_rules! in_set {
    ($(#[$meta:meta])* $vis:vis $name:ident : &str = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: &'static str = [$($value),*], true, "one of");
    };
    ($(#[$meta:meta])* $vis:vis $name:ident : &[u8] = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: &'static [u8] = [$($value),*], true, "one of");
    };
    ($(#[$meta:meta])* $vis:vis $name:ident : $elem:ty = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: $elem = [$($value),*], true, "one of");
    };
}

/// Declares a constraint that a value is not one of a set (txampext's
/// `notInSet`): `not_in_set!(pub Name: Element = [values...])`.
///
/// ```
/// use amp_core::values::Constraint;
/// amp_core::not_in_set!(pub NotReserved: i64 = [0, -1]);
/// assert!(NotReserved::check(&5i64));
/// assert!(!NotReserved::check(&-1i64));
/// ```
#[macro_export]
macro_rules! not_in_set {
    ($(#[$meta:meta])* $vis:vis $name:ident : &str = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: &'static str = [$($value),*], false, "none of");
    };
    ($(#[$meta:meta])* $vis:vis $name:ident : &[u8] = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: &'static [u8] = [$($value),*], false, "none of");
    };
    ($(#[$meta:meta])* $vis:vis $name:ident : $elem:ty = [$($value:expr),* $(,)?]) => {
        $crate::__set_constraint!($(#[$meta])* $vis $name: $elem = [$($value),*], false, "none of");
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __set_constraint {
    ($(#[$meta:meta])* $vis:vis $name:ident : $elem:ty = [$($value:expr),*], $member:expr, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name;

        impl $name {
            /// The set.
            $vis const VALUES: &'static [$elem] = &[$($value),*];
        }

        impl<T: ?Sized + ::core::cmp::PartialEq<$elem>> $crate::values::Constraint<T> for $name {
            fn check(value: &T) -> bool {
                $name::VALUES.iter().any(|v| *value == *v) == $member
            }
            fn describe(f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, "{}: {} {:?}", stringify!($name), $what, $name::VALUES)
            }
        }
    };
}

/// Declares a constraint that is any test of a value of one type:
/// `predicate!(pub Name: Type = |value| expression)`, the closure taking
/// `&Type`.
///
/// ```
/// use amp_core::values::Constraint;
/// amp_core::predicate!(
///     /// Strictly positive.
///     pub Positive: i64 = |n| *n > 0
/// );
/// assert!(Positive::check(&1));
/// assert!(!Positive::check(&0));
/// ```
#[macro_export]
macro_rules! predicate {
    ($(#[$meta:meta])* $vis:vis $name:ident : $ty:ty = $test:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name;

        impl $crate::values::Constraint<$ty> for $name {
            fn check(value: &$ty) -> bool {
                let test: fn(&$ty) -> bool = $test;
                test(value)
            }
            fn describe(f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}
