//! A `Serialize` impl's size hint is only a claim: one that says a map,
//! struct or sequence has `usize::MAX` entries must neither panic nor make
//! the serializer reserve room for them, and its real entries must still
//! be written.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use amp_core::AmpBox;
use amp_core::ser::{to_box, to_wire};
use amp_core::values::encode_value;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};

/// The system allocator, noting the largest single request each thread
/// makes, so a test can tell what its own code asked for.
struct Watched;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the allocator also runs while a thread is torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is passed straight to `System`; only a thread-local
// counter (no allocation, no destructor) is updated on the side.
unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's guarantees for `layout` hold for `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from `System` with this `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

/// More than any of these boxes needs (a 4 KiB chunk, a few hundred pairs'
/// worth of room), far less than any hint below would ask for if trusted.
const MODEST: usize = 64 * 1024;

/// Runs `f` and returns its result with the largest single allocation it
/// made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// Claimed entry counts: the largest, the first whose 24-byte-per-pair
/// estimate overflows, and ones that fit in a `usize` but not in memory.
const LIES: [usize; 4] = [usize::MAX, usize::MAX / 24 + 1, 1 << 40, 1 << 26];

/// A map that claims `hint` entries and has the ones in `entries`.
struct LyingMap {
    hint: usize,
    entries: Vec<(&'static str, i64)>,
}

impl Serialize for LyingMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.hint))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A struct that claims `hint` fields and has two.
struct LyingStruct {
    hint: usize,
}

impl Serialize for LyingStruct {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LyingStruct", self.hint)?;
        st.serialize_field("a", &13)?;
        st.serialize_field("b", &81)?;
        st.end()
    }
}

/// A sequence that claims `hint` elements and has the ones in `items`.
struct LyingSeq<T> {
    hint: usize,
    items: Vec<T>,
}

impl<T: Serialize> Serialize for LyingSeq<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.hint))?;
        for item in &self.items {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

/// The two pairs' wire form, as `to_wire` writes it.
const SUM_WIRE: &[u8] = b"\x00\x01a\x00\x0213\x00\x01b\x00\x0281";

fn sum_box() -> AmpBox {
    AmpBox::from_pairs([("a", "13"), ("b", "81")])
}

#[test]
fn a_map_claiming_huge_length_serializes_its_real_entries() {
    for hint in LIES {
        let map = LyingMap {
            hint,
            entries: vec![("a", 13), ("b", 81)],
        };
        let (b, largest) = largest_allocation(|| to_box(&map));
        assert_eq!(b.unwrap(), sum_box(), "hint {hint}");
        assert!(largest <= MODEST, "hint {hint}: allocated {largest} bytes");

        let (wire, largest) = largest_allocation(|| to_wire(&map));
        assert_eq!(&wire.unwrap()[..], SUM_WIRE, "hint {hint}");
        assert!(largest <= MODEST, "hint {hint}: allocated {largest} bytes");
    }
}

#[test]
fn a_struct_claiming_huge_length_serializes_its_real_fields() {
    for hint in LIES {
        let st = LyingStruct { hint };
        let (b, largest) = largest_allocation(|| to_box(&st));
        assert_eq!(b.unwrap(), sum_box(), "hint {hint}");
        assert!(largest <= MODEST, "hint {hint}: allocated {largest} bytes");

        let (wire, largest) = largest_allocation(|| to_wire(&st));
        assert_eq!(&wire.unwrap()[..], SUM_WIRE, "hint {hint}");
        assert!(largest <= MODEST, "hint {hint}: allocated {largest} bytes");
    }
}

#[test]
fn an_empty_map_claiming_huge_length_is_an_empty_box() {
    let map = LyingMap {
        hint: usize::MAX,
        entries: Vec::new(),
    };
    let (b, largest) = largest_allocation(|| to_box(&map));
    assert_eq!(b.unwrap(), AmpBox::new());
    assert!(largest <= MODEST, "allocated {largest} bytes");
}

#[test]
fn a_map_with_more_pairs_than_any_reservation_keeps_them_all() {
    let keys: Vec<&'static str> = (0..1000)
        .map(|i| &*Box::leak(format!("k{i}").into_boxed_str()))
        .collect();
    for hint in [1000, 0, usize::MAX] {
        let map = LyingMap {
            hint,
            entries: keys.iter().zip(0..).map(|(k, v)| (*k, v)).collect(),
        };
        let b = to_box(&map).unwrap();
        assert_eq!(b.len(), 1000, "hint {hint}");
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(b.get_str(k), Some(i.to_string().as_str()), "hint {hint}");
        }
        let full = b.to_bytes().unwrap();
        assert_eq!(&to_wire(&map).unwrap()[..], &full[..full.len() - 2]);
    }
}

/// A box whose values are a ListOf and an AmpList, both of which claim
/// `usize::MAX` elements, the AmpList's element a map claiming as many.
#[derive(Serialize)]
struct Lists {
    numbers: LyingSeq<i64>,
    rows: LyingSeq<LyingMap>,
}

#[derive(Serialize)]
struct HonestLists {
    numbers: Vec<i64>,
    rows: Vec<BTreeMap<&'static str, i64>>,
}

#[test]
fn lists_claiming_huge_length_serialize_their_real_elements() {
    let lying = Lists {
        numbers: LyingSeq {
            hint: usize::MAX,
            items: vec![1, 2, 3],
        },
        rows: LyingSeq {
            hint: usize::MAX,
            items: vec![LyingMap {
                hint: usize::MAX,
                entries: vec![("b", 81), ("a", 13)],
            }],
        },
    };
    let honest = HonestLists {
        numbers: vec![1, 2, 3],
        rows: vec![BTreeMap::from([("a", 13), ("b", 81)])],
    };
    let (b, largest) = largest_allocation(|| to_box(&lying));
    assert_eq!(b.unwrap(), to_box(&honest).unwrap());
    assert!(largest <= MODEST, "allocated {largest} bytes");

    let (v, largest) = largest_allocation(|| encode_value(&lying.numbers));
    assert_eq!(v.unwrap(), encode_value(&honest.numbers).unwrap());
    assert!(largest <= MODEST, "allocated {largest} bytes");
}

#[test]
fn with_capacity_reserves_a_bounded_amount() {
    for n in LIES {
        let (mut b, largest) = largest_allocation(|| AmpBox::with_capacity(n));
        assert!(b.is_empty());
        assert!(largest <= MODEST, "n {n}: allocated {largest} bytes");
        b.insert("a", "13");
        b.insert("b", "81");
        assert_eq!(b, sum_box());
    }
}
