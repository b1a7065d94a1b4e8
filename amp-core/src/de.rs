//! Deserializing boxes into Rust values (stub).
