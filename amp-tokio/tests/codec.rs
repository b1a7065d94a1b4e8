//! The tokio-util codec decodes exactly what amp-core's decoder decodes,
//! however the stream is split, refuses what it refuses, and encodes boxes
//! that decode back to themselves.
#![cfg(feature = "codec")]

use amp_core::{AmpBox, CodecError, Limits, codec::decode_all};
use amp_tokio::codec::{AmpCodec, FrameError};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Feeds `wire` to a codec in pieces cut at `cuts`, as `Framed` would, then
/// the end of the stream: every box, or the first error.
fn through_codec(wire: &[u8], cuts: &[usize], limits: Limits) -> Result<Vec<AmpBox>, FrameError> {
    let mut codec = AmpCodec::new(limits);
    let mut src = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.push(wire.len());
    for point in points {
        src.extend_from_slice(&wire[at..point]);
        at = point;
        while let Some(b) = codec.decode(&mut src)? {
            out.push(b);
        }
    }
    while let Some(b) = codec.decode_eof(&mut src)? {
        out.push(b);
    }
    Ok(out)
}

fn a_box() -> impl Strategy<Value = AmpBox> {
    prop::collection::vec(
        ("[a-z_]{1,12}", prop::collection::vec(any::<u8>(), 0..40)),
        0..6,
    )
    .prop_map(|pairs| {
        let mut b = AmpBox::new();
        for (k, v) in pairs {
            b.insert(k, v);
        }
        b
    })
}

proptest! {
    #[test]
    fn boxes_come_back_whole_however_the_stream_is_split(
        boxes in prop::collection::vec(a_box(), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut codec = AmpCodec::default();
        let mut wire = BytesMut::new();
        for b in &boxes {
            codec.encode(b, &mut wire).unwrap();
        }
        let back = through_codec(&wire, &cuts, Limits::default()).unwrap();
        prop_assert_eq!(back, boxes);
    }

    #[test]
    fn any_bytes_decode_as_the_core_decodes_them(
        wire in prop::collection::vec(any::<u8>(), 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max_keys in 0usize..6,
    ) {
        let limits = Limits::default().max_keys(max_keys).max_box_bytes(120);
        let core = decode_all(Bytes::from(wire.clone()), &limits);
        let codec = through_codec(&wire, &cuts, limits);
        match (core, codec) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            // The same error; fed in pieces it may be found before all its
            // bytes arrive (a key length whose first byte is already too
            // high), so its details may be fewer.
            (Err(a), Err(FrameError::Codec(b))) => {
                prop_assert_eq!(std::mem::discriminant(&a), std::mem::discriminant(&b), "{:?} / {:?}", a, b)
            }
            (a, b) => prop_assert!(false, "core {:?}, codec {:?}", a, b),
        }
    }
}

#[test]
fn a_box_cut_short_by_the_end_of_the_stream_is_an_error() {
    let wire = AmpBox::from_pairs([("k", "v")]).to_bytes().unwrap();
    let short = &wire[..wire.len() - 1];
    let result = through_codec(short, &[3], Limits::default());
    assert!(
        matches!(
            result,
            Err(FrameError::Codec(CodecError::Truncated { buffered })) if buffered == short.len()
        ),
        "{result:?}"
    );
}

#[test]
fn a_box_over_the_limit_is_refused() {
    let wire = AmpBox::from_pairs([("a", "1"), ("b", "2"), ("c", "3")])
        .to_bytes()
        .unwrap();
    let result = through_codec(&wire, &[], Limits::default().max_keys(2));
    assert!(
        matches!(
            result,
            Err(FrameError::Codec(CodecError::TooManyKeys { .. }))
        ),
        "{result:?}"
    );
}
