//! Box codec throughput: many small Sum-sized boxes, and boxes carrying a
//! 60 KiB value, each beside a plain copy of the same bytes.
//!
//! Run with `cargo bench -p amp-core --bench codec`; `docs/performance.md`
//! explains what each benchmark measures.

use std::hint::black_box;
use std::time::Duration;

use amp_core::{AmpBox, Decoder};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Sum-sized boxes per stream.
const SUM_BOXES: usize = 10_000;
/// Bytes of each Sum-sized box, as Twisted writes the Sum request of the AMP
/// front page (`_ask`, `_command`=Sum, `a`, `b`).
const SUM_BOX_BYTES: usize = 40;
/// Boxes per large-value stream.
const LARGE_BOXES: usize = 32;
/// The large value.
const LARGE_VALUE: usize = 60 * 1024;
/// Size of one simulated socket read on the `feed` path.
const READ_SIZE: usize = 64 * 1024;

/// `n` Sum requests like Twisted's, each exactly `SUM_BOX_BYTES` long, with
/// differing contents.
fn sum_boxes(n: usize) -> Vec<AmpBox> {
    (0..n)
        .map(|i| {
            let mut b = AmpBox::with_capacity(4);
            b.insert("_ask", Bytes::from(format!("{}", i % 10)));
            b.insert("_command", "Sum");
            b.insert("a", Bytes::from(format!("{:02}", i % 100)));
            b.insert("b", Bytes::from(format!("{:02}", (i / 100) % 100)));
            b
        })
        .collect()
}

fn large_boxes(n: usize) -> Vec<AmpBox> {
    (0..n)
        .map(|i| {
            let value: Vec<u8> = (0..LARGE_VALUE).map(|j| (i + j * 7) as u8).collect();
            let mut b = AmpBox::with_capacity(3);
            b.insert("_ask", Bytes::from(format!("{}", i % 10)));
            b.insert("_command", "Put");
            b.insert("data", value);
            b
        })
        .collect()
}

fn encode_all(boxes: &[AmpBox]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for b in boxes {
        b.encode(&mut out).unwrap();
    }
    out.to_vec()
}

/// Decodes every box in the decoder and drops it, as a reader handing each
/// box on would; returns how many there were.
#[inline(always)]
fn decode_ready(d: &mut Decoder) -> usize {
    let mut n = 0;
    while let Some(b) = d.decode().unwrap() {
        black_box(&b);
        n += 1;
    }
    n
}

/// Four benchmarks over one stream of `boxes`:
///
/// - `encode`: every box into one reused `BytesMut` (cleared, capacity kept).
/// - `decode_in_buffer`: the stream already sits in `Decoder::buffer_mut()`
///   (where a socket read lands it); the timed part decodes every box and
///   drops it. Filling a fresh decoder's buffer is the untimed setup of each
///   iteration.
/// - `decode_feed`: one reused decoder is given the stream through
///   `Decoder::feed` in 64 KiB pieces, decoding after each piece; the copy
///   into the decoder's buffer is timed.
/// - `memcpy`: `copy_from_slice` of the stream into a preallocated buffer.
fn bench_stream(c: &mut Criterion, group: &str, boxes: &[AmpBox], throughput: Throughput) {
    let stream = encode_all(boxes);
    let n = boxes.len();
    let label = format!("{n}x{}B", stream.len() / n);
    let mut g = c.benchmark_group(group);
    g.throughput(throughput);

    let mut out = BytesMut::with_capacity(stream.len());
    for b in boxes {
        b.encode(&mut out).unwrap();
    }
    assert_eq!(&out[..], &stream[..]);
    g.bench_function(BenchmarkId::new("encode", &label), |bench| {
        bench.iter(|| {
            out.clear();
            for b in boxes {
                b.encode(&mut out).unwrap();
            }
            black_box(&out);
        })
    });

    g.bench_function(BenchmarkId::new("decode_in_buffer", &label), |bench| {
        bench.iter_batched(
            || {
                let mut d = Decoder::default();
                d.buffer_mut().extend_from_slice(&stream);
                d
            },
            |mut d| {
                assert_eq!(decode_ready(&mut d), n);
                // Dropped after the clock stops.
                d
            },
            BatchSize::PerIteration,
        )
    });

    let mut d = Decoder::default();
    g.bench_function(BenchmarkId::new("decode_feed", &label), |bench| {
        bench.iter(|| {
            let mut got = 0;
            for piece in stream.chunks(READ_SIZE) {
                d.feed(piece).unwrap();
                got += decode_ready(&mut d);
            }
            assert_eq!(got, n);
        })
    });
    d.finish().unwrap();

    let mut copy = vec![0u8; stream.len()];
    g.bench_function(BenchmarkId::new("memcpy", &label), |bench| {
        bench.iter(|| {
            copy.copy_from_slice(black_box(&stream));
            black_box(&copy);
        })
    });
    g.finish();
}

fn sum(c: &mut Criterion) {
    let boxes = sum_boxes(SUM_BOXES);
    assert!(boxes.iter().all(|b| b.encoded_len() == SUM_BOX_BYTES));
    bench_stream(
        c,
        "sum_boxes",
        &boxes,
        Throughput::Elements(SUM_BOXES as u64),
    );
}

fn large(c: &mut Criterion) {
    let boxes = large_boxes(LARGE_BOXES);
    let bytes: usize = boxes.iter().map(AmpBox::encoded_len).sum();
    bench_stream(c, "large_value", &boxes, Throughput::Bytes(bytes as u64));
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = codec;
    config = config();
    targets = sum, large
}
criterion_main!(codec);
