//! [`ElementBox`]: one AmpList element, written as a box with its keys
//! sorted as Twisted sorts them.

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{self, Serialize};
use smallvec::SmallVec;

use super::value::ValueSerializer;
use crate::amp_box::{MAX_KEY_LENGTH, MAX_VALUE_LENGTH};
use crate::error::CodecError;
use crate::values::ValueError;

/// Where one pair of an element box sits in the output.
#[derive(Clone, Copy)]
struct PairSpan {
    start: usize,
    key_len: usize,
    end: usize,
}

/// Writes one AmpList element as a box, keys sorted as Twisted sorts them.
pub(super) struct ElementBox<'a> {
    out: &'a mut BytesMut,
    start: usize,
    pairs: SmallVec<[PairSpan; 8]>,
    /// Start of a map entry whose key is written and whose value is not.
    pending: Option<usize>,
}

impl<'a> ElementBox<'a> {
    pub(super) fn new(out: &'a mut BytesMut) -> Self {
        let start = out.len();
        ElementBox {
            out,
            start,
            pairs: SmallVec::new(),
            pending: None,
        }
    }

    fn key_at(&self, span: &PairSpan) -> &[u8] {
        &self.out[span.start + 2..span.start + 2 + span.key_len]
    }

    fn check_key(key: &[u8]) -> Result<(), ValueError> {
        let e = if key.is_empty() {
            CodecError::EmptyKey
        } else if key.len() > MAX_KEY_LENGTH {
            CodecError::KeyTooLong { len: key.len() }
        } else {
            return Ok(());
        };
        Err(ValueError::codec(e).at_key_bytes(key))
    }

    /// Writes the value of the pair whose key starts at `start`; drops the
    /// pair if the value is `None`.
    fn value<T: Serialize + ?Sized>(&mut self, start: usize, value: &T) -> Result<(), ValueError> {
        let key_len = usize::from(self.out[start + 1]);
        let at = self.out.len();
        self.out.put_u16(0);
        let present = value
            .serialize(ValueSerializer::plain(&mut *self.out))
            .map_err(|e| e.at_key_bytes(&self.out[start + 2..start + 2 + key_len]))?;
        if !present {
            self.out.truncate(start);
            return Ok(());
        }
        let len = self.out.len() - at - 2;
        if len > MAX_VALUE_LENGTH {
            let key = Bytes::copy_from_slice(&self.out[start + 2..start + 2 + key_len]);
            return Err(ValueError::codec(CodecError::ValueTooLong {
                key: key.clone(),
                len,
            })
            .at_key_bytes(&key));
        }
        self.out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.pairs.push(PairSpan {
            start,
            key_len,
            end: self.out.len(),
        });
        Ok(())
    }

    fn finish(mut self) -> Result<(), ValueError> {
        let sorted = self
            .pairs
            .windows(2)
            .all(|w| self.key_at(&w[0]) < self.key_at(&w[1]));
        if !sorted {
            let mut order = self.pairs.clone();
            order.sort_by(|a, b| self.key_at(a).cmp(self.key_at(b)));
            if let Some(w) = order
                .windows(2)
                .find(|w| self.key_at(&w[0]) == self.key_at(&w[1]))
            {
                let key = Bytes::copy_from_slice(self.key_at(&w[0]));
                return Err(
                    ValueError::codec(CodecError::DuplicateKey { key: key.clone() })
                        .at_key_bytes(&key),
                );
            }
            let written = self.out[self.start..].to_vec();
            self.out.truncate(self.start);
            for span in &order {
                self.out
                    .put_slice(&written[span.start - self.start..span.end - self.start]);
            }
            self.pairs.clear();
        }
        self.out.put_u16(0);
        Ok(())
    }
}

impl ser::SerializeStruct for ElementBox<'_> {
    type Ok = ();
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        Self::check_key(key.as_bytes())?;
        let start = self.out.len();
        self.out.put_u16(key.len() as u16);
        self.out.put_slice(key.as_bytes());
        self.value(start, value)
    }

    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}

impl ser::SerializeMap for ElementBox<'_> {
    type Ok = ();
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        let start = self.out.len();
        self.out.put_u16(0);
        if !key.serialize(ValueSerializer::plain(&mut *self.out))? {
            return Err(ValueError::unsupported("None as a map key"));
        }
        Self::check_key(&self.out[start + 2..])?;
        let len = self.out.len() - start - 2;
        self.out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
        self.pending = Some(start);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let start = self
            .pending
            .take()
            .ok_or_else(|| ValueError::unsupported("map value without a key"))?;
        self.value(start, value)
    }

    fn end(self) -> Result<(), ValueError> {
        self.finish()
    }
}
