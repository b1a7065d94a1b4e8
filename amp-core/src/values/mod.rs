//! Twisted's argument types and their Rust counterparts.
// Stub: filled in by the values work.

/// What was wrong with an argument value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError;
