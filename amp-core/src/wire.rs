//! The keys AMP reserves on the wire, and [`Body`]: the pairs of a box
//! being written.

use crate::AmpBox;

/// The `_ask` key: the tag of a request that wants an answer.
pub const ASK: &str = "_ask";
/// The `_answer` key: the tag of the request a box answers.
pub const ANSWER: &str = "_answer";
/// The `_error` key: the tag of the request a box fails.
pub const ERROR: &str = "_error";
/// The `_command` key: the name of the command a box requests.
pub const COMMAND: &str = "_command";
/// The `_error_code` key.
pub const ERROR_CODE: &str = "_error_code";
/// The `_error_description` key.
pub const ERROR_DESCRIPTION: &str = "_error_description";

/// The pairs of a box to write: a box, or the wire form of pairs whose
/// lengths are already checked (without the terminator), as the serializer
/// writes them. A live engine queues a typed call's arguments in their wire
/// form ([`ser::to_wire`](crate::ser::to_wire)), a raw call's as a box.
///
/// ```
/// use amp_core::dispatcher::Body;
/// let args = amp_core::AmpBox::from_pairs([("a", "1")]);
/// assert_eq!(Body::Box(&args).encoded_len(), args.encoded_len());
/// let wire = amp_core::ser::to_wire(&std::collections::BTreeMap::from([("a", 1)])).unwrap();
/// assert_eq!(Body::Wire(&wire).encoded_len(), args.encoded_len());
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// The pairs of a box.
    Box(&'a AmpBox),
    /// Pairs already in wire form, their lengths checked, without the
    /// terminator.
    Wire(&'a [u8]),
}

impl Body<'_> {
    /// Bytes these pairs take on the wire, with a terminator.
    pub fn encoded_len(self) -> usize {
        match self {
            Body::Box(b) => b.encoded_len(),
            Body::Wire(w) => w.len() + 2,
        }
    }
}
