//! Serializing Rust values into boxes (stub).
