//! Loads the wire vectors recorded from real Twisted (`../shared/vectors/`).
//!
//! The file is found at `$AMP_VECTORS` if set, else at
//! `<workspace>/../shared/vectors/twisted-amp.json`. A missing file fails the
//! test that asked for it: the vectors are what proves byte-compatibility.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Vectors {
    pub generator: String,
    pub arguments: Vec<ArgumentVector>,
    pub boxes: Vec<BoxVector>,
    pub conversations: Vec<Conversation>,
}

#[derive(Debug, Deserialize)]
pub struct ArgumentVector {
    #[serde(rename = "type")]
    pub ty: String,
    pub value: String,
    pub wire_hex: String,
    pub decoded_repr: String,
}

#[derive(Debug, Deserialize)]
pub struct BoxVector {
    pub note: String,
    pub pairs: Vec<(String, String)>,
    pub wire_hex: String,
}

#[derive(Debug, Deserialize)]
pub struct Conversation {
    pub note: String,
    pub client_to_server_hex: String,
    pub server_to_client_hex: String,
    pub server_closed_connection: bool,
    pub client_results: Vec<serde_json::Value>,
}

pub fn vectors_path() -> PathBuf {
    match std::env::var_os("AMP_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/twisted-amp.json")
        }
    }
}

pub fn vectors() -> Vectors {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the Twisted wire vectors at {}: {e} (set AMP_VECTORS to their path)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("twisted-amp.json does not parse")
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vectors: {e}"))
}
