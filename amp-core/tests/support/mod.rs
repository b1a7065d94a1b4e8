//! Loads the wire vectors recorded from real Twisted
//! (`interop/vectors/twisted-amp.json`, written by `interop/record_vectors.py`;
//! the format is in `interop/vectors/README.md`).
//!
//! The file is found at `$AMP_VECTORS` if set, else in the tree. A missing
//! file fails the test that asked for it: the vectors are what proves
//! byte-compatibility.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Vectors {
    pub generator: String,
    pub arguments: Vec<ArgumentVector>,
    pub boxes: Vec<BoxVector>,
    pub conversations: Vec<Conversation>,
    pub protocol_switch: Vec<SwitchConversation>,
    pub starttls: Vec<StartTlsConversation>,
    pub descriptors: Vec<DescriptorConversation>,
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

/// A `ProtocolSwitchCommand` called by a Twisted client on a Twisted server,
/// and what the two sides exchanged after the switch.
#[derive(Debug, Deserialize)]
pub struct SwitchConversation {
    pub note: String,
    pub client_to_server_hex: String,
    pub server_to_client_hex: String,
    pub switched: bool,
    /// Where the client's request ends (the switch point of what the client
    /// wrote), when the switch happened.
    pub client_to_server_switch_offset: Option<usize>,
    /// Where the server's answer ends, when the switch happened.
    pub server_to_client_switch_offset: Option<usize>,
    /// What the server's new protocol received.
    pub server_received_after_switch_hex: String,
    /// What the client's new protocol received.
    pub client_received_after_switch_hex: String,
    pub client_results: Vec<serde_json::Value>,
}

/// `amp.StartTLS`: the boxes in clear before TLS starts on each side.
#[derive(Debug, Deserialize)]
pub struct StartTlsConversation {
    pub note: String,
    pub client_to_server_hex: String,
    pub server_to_client_hex: String,
    pub client_results: Vec<serde_json::Value>,
}

/// Calls with `amp.Descriptor` arguments over a UNIX socket: the boxes, and
/// the ordinal of each descriptor as the client sent them.
#[derive(Debug, Deserialize)]
pub struct DescriptorConversation {
    pub note: String,
    pub client_to_server_hex: String,
    pub server_to_client_hex: String,
    pub calls: Vec<DescriptorCall>,
    pub client_results: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct DescriptorCall {
    pub command: String,
    /// Argument name to the descriptor's ordinal on the connection.
    pub ordinals: BTreeMap<String, u32>,
}

pub fn vectors_path() -> PathBuf {
    match std::env::var_os("AMP_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/vectors/twisted-amp.json")
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
