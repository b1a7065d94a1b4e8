//! The `amp` command's subcommands, one file each, as a library: the
//! binary (`src/main.rs`) parses the command line and runs them, and the
//! fuzz targets drive `amp decode` on arbitrary bytes.
//!
//! ```
//! let mut out = Vec::new();
//! amp::decode::decode_stream(&mut &b"\x00\x01k\x00\x01v\x00\x00"[..], "bytes", amp_core::Limits::default(), true, &mut out).unwrap();
//! assert!(String::from_utf8(out).unwrap().contains("\"kind\":\"box\""));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod boxes;
pub mod call;
pub mod capture;
pub mod decode;
pub mod failure;
mod output;
