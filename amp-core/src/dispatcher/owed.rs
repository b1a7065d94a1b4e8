//! The peer's requests a [`Dispatcher`](super::Dispatcher) still owes an
//! answer.

use std::collections::HashSet;

use bytes::Bytes;

use crate::event::CallId;

/// Tags of the peer's requests not answered yet. They are peer-chosen, so
/// hashed with a random seed (foldhash's: much cheaper than SipHash on a few
/// bytes). A tag in the form both this side and Twisted write (lower-case
/// hex without leading zeros, at most 16 digits) is kept as its number: no
/// reference to the received bytes, no reference count, a cheaper hash. Any
/// other tag is kept as bytes. The two never meet: a tag has one form.
#[derive(Debug, Default)]
pub(super) struct OwedTags {
    numbers: HashSet<u64, foldhash::fast::RandomState>,
    others: HashSet<Bytes, foldhash::fast::RandomState>,
}

/// A tag taken out of [`OwedTags`], to put back if its answer cannot be
/// written.
pub(super) enum Owed {
    Number(u64),
    Other(Bytes),
}

impl OwedTags {
    /// Owes an answer to `tag`; false if it is owed already.
    pub(super) fn insert(&mut self, tag: &Bytes) -> bool {
        match CallId::parse(tag) {
            Some(id) => self.numbers.insert(id.0),
            None => self.others.insert(tag.clone()),
        }
    }

    pub(super) fn take(&mut self, tag: &[u8]) -> Option<Owed> {
        match CallId::parse(tag) {
            Some(id) => self.numbers.remove(&id.0).then_some(Owed::Number(id.0)),
            None => self.others.take(tag).map(Owed::Other),
        }
    }

    pub(super) fn restore(&mut self, owed: Owed) {
        match owed {
            Owed::Number(n) => self.numbers.insert(n),
            Owed::Other(tag) => self.others.insert(tag),
        };
    }

    pub(super) fn len(&self) -> usize {
        self.numbers.len() + self.others.len()
    }

    pub(super) fn clear(&mut self) {
        self.numbers.clear();
        self.others.clear();
    }
}
