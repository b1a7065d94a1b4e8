//! Stream identifiers: what txampext makes (`uuid4().hex`, 32 lower-case
//! hexadecimal digits) is what parses, and every fresh one is new.

use std::collections::HashSet;

use amp_mux::ConnectionId;
use proptest::prelude::*;

proptest! {
    #[test]
    fn exactly_32_lower_case_hex_digits_parse(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let valid = bytes.len() == 32
            && bytes.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        let parsed = ConnectionId::parse(&bytes);
        prop_assert_eq!(parsed.is_ok(), valid);
        if let Ok(id) = parsed {
            prop_assert_eq!(id.as_str().as_bytes(), &bytes[..]);
            prop_assert_eq!(&id.to_bytes()[..], &bytes[..]);
        }
    }

    #[test]
    fn hex_text_round_trips(n in any::<u128>()) {
        let text = format!("{n:032x}");
        let id = ConnectionId::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(id.to_string(), text);
    }
}

#[test]
fn fresh_identifiers_are_valid_and_distinct() {
    let ids: HashSet<ConnectionId> = (0..10_000).map(|_| ConnectionId::new()).collect();
    assert_eq!(ids.len(), 10_000);
    for id in &ids {
        assert_eq!(ConnectionId::parse(id.as_str().as_bytes()), Ok(*id));
    }
}
