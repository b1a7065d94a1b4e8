#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod amp_box;
pub mod codec;
pub mod error;

pub use amp_box::{AmpBox, MAX_KEY_LENGTH, MAX_VALUE_LENGTH};
pub use codec::{Decoder, Limits};
pub use error::CodecError;
pub mod de;
pub mod ser;
pub mod values;

pub use values::ValueError;
