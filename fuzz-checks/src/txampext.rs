//! The `txampext` target: a decoded box read as txampext's nested boxes
//! and constrained arguments, and dispatched as a request with constrained
//! arguments. What reads must write back, read back equal and write the
//! same box again; a nested box reads exactly when an AmpList of one does;
//! a constrained value read satisfies its constraints; a request whose
//! arguments do not read is answered `UNKNOWN` (fatal) without running its
//! responder.

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use amp_core::codec::decode_one;
use amp_core::values::{Constrained, Constraint, NestedBox};
use amp_core::{AmpBox, Command, Limits, Locator, de, ser};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::values::too_long;

amp_core::predicate!(
    /// Strictly positive.
    pub Positive: i64 = |n| *n > 0
);
amp_core::predicate!(
    /// Divisible by two.
    pub Even: i64 = |n| n % 2 == 0
);
amp_core::in_set!(
    /// The colours txampext_commands.py's `Paint` takes.
    pub Colour: &str = ["red", "green", "blue"]
);
amp_core::not_in_set!(
    /// Anyone but root.
    pub NotRoot: &str = ["root"]
);

/// A point, as txampext_commands.py's `POINT` schema.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Point {
    x: i64,
    y: i64,
    label: String,
    note: Option<String>,
}

/// A nested box argument.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Nested {
    to: NestedBox<Point>,
}

/// The same key, as the AmpList a nested box is.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct AsList {
    to: Vec<Point>,
}

/// Nested boxes inside an AmpList, with a constrained field inside.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Route {
    stops: Vec<Stop>,
}

/// One element of [`Route`].
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Stop {
    at: NestedBox<Point>,
    wait: Constrained<i64, Positive>,
}

/// `Paint`'s constrained arguments.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct PaintArgs {
    colour: Constrained<String, Colour>,
    coats: Constrained<i64, (Positive, Even)>,
    painter: Option<Constrained<String, NotRoot>>,
}

/// txampext_commands.py's `Paint`.
pub struct Paint;
impl Command for Paint {
    const NAME: &'static str = "Paint";
    type Arguments = PaintArgs;
    type Response = AsList;
    type Error = std::convert::Infallible;
}

/// Whatever reads as `T` must write back, read back equal and write the
/// same box again. Returns what read.
fn roundtrip<T: Serialize + DeserializeOwned + Debug + PartialEq>(b: &AmpBox) -> Option<T> {
    let v = de::from_box::<T>(b).ok()?;
    match ser::to_box(&v) {
        Ok(b2) => {
            let v2 = de::from_box::<T>(&b2)
                .unwrap_or_else(|e| panic!("{v:?} writes {b2:?}, which does not read back: {e}"));
            assert_eq!(v, v2, "{v:?} comes back as {v2:?}");
            let b3 = ser::to_box(&v2).expect("a value read from our box does not write");
            assert_eq!(
                b2.to_bytes().expect("our box does not encode"),
                b3.to_bytes().expect("our box does not encode"),
                "writing {v:?} is not stable"
            );
        }
        Err(e) if too_long(&e) => {}
        Err(e) => panic!("{v:?}, read from {b:?}, does not write: {e}"),
    }
    Some(v)
}

/// Polls a future that never waits.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a responder that never waits is pending"),
    }
}

/// A box, decoded from the input, read as nested boxes and constrained
/// arguments, and dispatched as a `Paint` request.
pub fn txampext(data: &[u8]) {
    let Ok(Some((b, _))) = decode_one(data, &Limits::default()) else {
        return;
    };

    let nested = roundtrip::<Nested>(&b);
    let list = de::from_box::<AsList>(&b);
    match (&nested, &list) {
        (Some(n), Ok(l)) => assert_eq!(l.to, std::slice::from_ref(&n.to.0), "{b:?}"),
        (Some(n), Err(e)) => panic!("{n:?} reads as a nested box but not as an AmpList: {e}"),
        (None, Ok(l)) => assert_ne!(l.to.len(), 1, "an AmpList of one is not a nested box"),
        (None, Err(_)) => {}
    }

    if let Some(route) = roundtrip::<Route>(&b) {
        for stop in &route.stops {
            assert!(Positive::check(&*stop.wait), "{route:?}");
        }
    }

    let paint = roundtrip::<PaintArgs>(&b);
    if let Some(p) = &paint {
        assert!(<Colour as Constraint<String>>::check(&p.colour), "{p:?}");
        assert!(<(Positive, Even)>::check(&*p.coats), "{p:?}");
        if let Some(painter) = &p.painter {
            assert!(NotRoot::check(&**painter), "{p:?}");
        }
    }

    let ran = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&ran);
    let locator = Locator::<()>::new().responder(Paint, move |_, _: PaintArgs| {
        seen.store(true, Ordering::SeqCst);
        async { Ok::<_, std::convert::Infallible>(AsList { to: Vec::new() }) }
    });
    let answer = now(locator.dispatch((), b"Paint", b.clone()));
    assert_eq!(ran.load(Ordering::SeqCst), paint.is_some(), "{b:?}");
    match answer {
        Ok(_) => assert!(paint.is_some(), "{b:?} answered"),
        Err(e) => {
            assert!(paint.is_none(), "{b:?} refused: {e}");
            assert_eq!((e.code(), e.is_fatal()), ("UNKNOWN", true), "{b:?}");
        }
    }
}
