//! Packet captures for `amp decode`: the TCP streams of a pcap or pcapng
//! file, reassembled, one per direction of each connection.
//!
//! The file is read with `pcap-parser` and each packet's headers with
//! `etherparse`; this module only reassembles. Each direction's payload is
//! put in sequence order; retransmitted and overlapping bytes are kept
//! once; a hole (bytes the capture missed) ends what can be followed of
//! that direction, and is reported. Memory is bounded: a direction holds at
//! most [`CaptureLimits::max_stream_bytes`] and the capture at most
//! [`CaptureLimits::max_total_bytes`]; past them the stream is cut and
//! says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};

/// The first bytes of a pcap file (either byte order, microsecond or
/// nanosecond timestamps) or of a pcapng file.
///
/// ```
/// assert!(amp::capture::is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
/// assert!(amp::capture::is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
/// assert!(!amp::capture::is_capture(b"\x00\x04_ask"));
/// ```
pub fn is_capture(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    head.len() >= 4 && MAGICS.iter().any(|m| head[..4] == m[..])
}

/// How much of a capture is kept.
///
/// ```
/// let limits = amp::capture::CaptureLimits::default();
/// assert!(limits.max_stream_bytes <= limits.max_total_bytes);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CaptureLimits {
    /// The most payload kept for one direction of one connection.
    pub max_stream_bytes: usize,
    /// The most payload kept for the whole capture.
    pub max_total_bytes: usize,
    /// The most directions of connections followed.
    pub max_streams: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        CaptureLimits {
            max_stream_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_streams: 10_000,
        }
    }
}

/// How the reassembled bytes of a direction end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every byte the capture holds is in order, with no hole.
    Whole,
    /// The capture misses `missing` bytes at `offset`; what follows them
    /// cannot be read as AMP.
    Gap {
        /// Where the hole starts, counted from the stream's first byte.
        offset: u64,
        /// How many bytes the capture misses there.
        missing: u64,
    },
    /// The stream was cut at `offset` by the limits.
    Cut {
        /// Where the kept bytes stop.
        offset: u64,
    },
}

/// One direction of one TCP connection, reassembled.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The sending side.
    pub from: SocketAddr,
    /// The receiving side.
    pub to: SocketAddr,
    /// The payload, in order, up to the first hole.
    pub bytes: Vec<u8>,
    /// How it ends.
    pub end: StreamEnd,
}

/// A capture that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError(pub String);

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaptureError {}

/// What the capture held besides the streams.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Packets that are not TCP over IP (or are fragments of it).
    pub not_tcp: u64,
    /// Packets whose headers do not parse.
    pub unparseable: u64,
    /// TCP segments of directions past [`CaptureLimits::max_streams`].
    pub over_stream_limit: u64,
}

/// The largest capture block read (a packet and its block header).
const BLOCK_BUFFER: usize = 1 << 20;

/// Reads a pcap or pcapng capture from `input` and reassembles each
/// direction of each TCP connection in it, in the order their first
/// segment was captured.
///
/// ```
/// // A pcap file with no packet: a header only.
/// let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
/// header.extend([0; 8]);
/// header.extend(65535u32.to_le_bytes());
/// header.extend(1u32.to_le_bytes()); // Ethernet
/// let (streams, skipped) = amp::capture::reassemble(&mut &header[..], Default::default()).unwrap();
/// assert!(streams.is_empty());
/// assert_eq!(skipped, Default::default());
/// ```
pub fn reassemble(
    input: &mut dyn Read,
    limits: CaptureLimits,
) -> Result<(Vec<Stream>, Skipped), CaptureError> {
    let mut head = Vec::with_capacity(4);
    Filling(&mut *input)
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| CaptureError(format!("cannot read the capture: {e}")))?;
    if !is_capture(&head) {
        return Err(CaptureError("not a pcap or pcapng capture".into()));
    }
    let pcapng = head == [0x0a, 0x0d, 0x0d, 0x0a];
    let whole = std::io::Cursor::new(head).chain(input);
    // Why the block check refused the capture, if it did.
    let refused = Refusal::default();
    let why = |e: String| CaptureError(refused.take().unwrap_or(e));
    let mut reader: Box<dyn PcapReaderIterator + '_> = if pcapng {
        let checked = BlockLengths::new(whole, refused.clone());
        Box::new(
            pcap_parser::PcapNGReader::new(BLOCK_BUFFER, Filling(checked))
                .map_err(|e| why(format!("not a pcapng capture: {e}")))?,
        )
    } else {
        Box::new(
            pcap_parser::LegacyPcapReader::new(BLOCK_BUFFER, Filling(whole))
                .map_err(|e| CaptureError(format!("not a pcap capture: {e}")))?,
        )
    };
    let mut flows = Flows::new(limits);
    // The link type of the legacy file, or of each pcapng interface.
    let mut legacy: Option<Linktype> = None;
    let mut interfaces: Vec<Linktype> = Vec::new();
    let mut stalled = false;
    loop {
        let (used, packet) = match reader.next() {
            Ok((used, block)) => {
                let packet = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some(h.network);
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((legacy, b.data)),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(idb.linktype);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let link = usize::try_from(epb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i).copied());
                        let len = usize::try_from(epb.caplen)
                            .unwrap_or(usize::MAX)
                            .min(epb.data.len());
                        Some((link, &epb.data[..len]))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let len = usize::try_from(spb.origlen)
                            .unwrap_or(usize::MAX)
                            .min(spb.data.len());
                        Some((interfaces.first().copied(), &spb.data[..len]))
                    }
                    _ => None,
                };
                (used, packet)
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                let before = reader.data().len();
                reader
                    .refill()
                    .map_err(|e| why(format!("cannot read the capture: {e}")))?;
                // A refill that brings nothing, twice, would loop forever.
                if reader.data().len() == before && !reader.reader_exhausted() {
                    if stalled {
                        return Err(CaptureError(
                            "the capture holds a block too large to read".into(),
                        ));
                    }
                    stalled = true;
                } else {
                    stalled = false;
                }
                continue;
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(why("the capture ends inside a block".into()));
            }
            Err(PcapError::BufferTooSmall) => {
                return Err(CaptureError(format!(
                    "the capture holds a block over {BLOCK_BUFFER} bytes"
                )));
            }
            Err(e) => return Err(why(format!("the capture is damaged: {e}"))),
        };
        stalled = false;
        // Read where it lies in the reader's buffer, then let go of it.
        if let Some((link, data)) = packet {
            let link = link.ok_or_else(|| {
                CaptureError("a packet comes before any link type is declared".into())
            })?;
            flows.packet(link, data)?;
        }
        reader.consume(used);
    }
    Ok(flows.finish())
}

/// A reader whose every read fills the buffer, short only at the end of the
/// input: pcap-parser reads its first block and each refill in one call.
struct Filling<R>(R);

impl<R: Read> Read for Filling<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.0.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if filled == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(filled)
    }
}

/// The reason a [`BlockLengths`] refused its stream, shared with the
/// caller of pcap-parser.
#[derive(Clone, Default)]
struct Refusal(std::rc::Rc<std::cell::RefCell<Option<String>>>);

impl Refusal {
    fn take(&self) -> Option<String> {
        self.0.borrow_mut().take()
    }
}

/// A pcapng stream whose block lengths are checked as they pass: each
/// block declares at least the 12 bytes of its own framing (28 for a
/// section header), and the section's byte order is known before any other
/// block. pcap-parser subtracts 12 from a block's length before checking it
/// against that, so a shorter length would underflow there; here it is a
/// read error instead, which ends the capture with a message.
struct BlockLengths<R> {
    inner: R,
    /// Where the reason for a refusal is left for [`reassemble`], since
    /// pcap-parser keeps only that a read failed.
    refused: Refusal,
    /// Bytes read so far, for the message.
    at: u64,
    /// The current block's first bytes (up to 12), as they arrive.
    header: [u8; 12],
    have: usize,
    /// Bytes of the current block still to pass after its first 12.
    rest: u64,
    /// The section's byte order: `Some(true)` big-endian.
    big_endian: Option<bool>,
}

impl<R> BlockLengths<R> {
    fn new(inner: R, refused: Refusal) -> Self {
        BlockLengths {
            inner,
            refused,
            at: 0,
            header: [0; 12],
            have: 0,
            rest: 0,
            big_endian: None,
        }
    }

    /// How many of a block's first bytes are checked: its type and length
    /// (8), and a section header's byte-order mark too (12), which says how
    /// to read the length. Checked as soon as they are in, before a block
    /// cut short after its length reaches pcap-parser.
    fn needed(&self) -> usize {
        if self.have >= 4 && self.header[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            12
        } else {
            8
        }
    }

    /// Checks the block starting at byte `start` whose first `read` bytes
    /// ([`needed`](Self::needed)) are in `header`.
    fn check_block(&mut self, start: u64, read: usize) -> std::io::Result<()> {
        let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        let kind = &self.header[0..4];
        let length = &self.header[4..8];
        let minimum = if kind == [0x0a, 0x0d, 0x0d, 0x0a] {
            self.big_endian = match self.header[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => Some(true),
                [0x4d, 0x3c, 0x2b, 0x1a] => Some(false),
                _ => {
                    return Err(bad(format!(
                        "the pcapng section at byte {start} has no byte-order mark"
                    )));
                }
            };
            28
        } else {
            12
        };
        let length = match self.big_endian {
            Some(true) => u32::from_be_bytes([length[0], length[1], length[2], length[3]]),
            Some(false) => u32::from_le_bytes([length[0], length[1], length[2], length[3]]),
            None => return Err(bad("a pcapng block comes before its section".into())),
        };
        if length < minimum {
            return Err(bad(format!(
                "the pcapng block at byte {start} declares {length} bytes, less than its own framing"
            )));
        }
        self.rest = u64::from(length) - read as u64;
        Ok(())
    }
}

impl<R: Read> Read for BlockLengths<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = &buf[..n];
        while !seen.is_empty() {
            if self.rest > 0 {
                let skip = usize::try_from(self.rest).map_or(seen.len(), |r| r.min(seen.len()));
                self.rest -= skip as u64;
                self.at += skip as u64;
                seen = &seen[skip..];
                continue;
            }
            let take = (self.needed() - self.have).min(seen.len());
            self.header[self.have..self.have + take].copy_from_slice(&seen[..take]);
            self.have += take;
            self.at += take as u64;
            seen = &seen[take..];
            let needed = self.needed();
            if self.have == needed {
                self.have = 0;
                if let Err(e) = self.check_block(self.at - needed as u64, needed) {
                    self.refused.0.replace(Some(e.to_string()));
                    return Err(e);
                }
            }
        }
        Ok(n)
    }
}

/// A TCP segment's part in reassembly.
struct Segment<'a> {
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    syn: bool,
    payload: &'a [u8],
}

fn segment(link: Linktype, data: &[u8]) -> Result<Option<Segment<'_>>, ()> {
    let sliced = match link {
        Linktype::ETHERNET => SlicedPacket::from_ethernet(data),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => SlicedPacket::from_ip(data),
        Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        // BSD loopback: a 4-byte address family, then the IP packet.
        Linktype::NULL | Linktype::LOOP => match data.get(4..) {
            Some(ip) => SlicedPacket::from_ip(ip),
            None => return Err(()),
        },
        _ => return Err(()),
    };
    let sliced = sliced.map_err(|_| ())?;
    let (source, destination): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        _ => return Ok(None),
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Ok(None);
    };
    Ok(Some(Segment {
        from: SocketAddr::new(source, tcp.source_port()),
        to: SocketAddr::new(destination, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        payload: tcp.payload(),
    }))
}

/// One direction being gathered.
struct Flow {
    from: SocketAddr,
    to: SocketAddr,
    /// The sequence number of the stream's first byte: after the SYN's, or
    /// the first one seen.
    base: Option<u32>,
    /// Payload by offset from `base`.
    parts: BTreeMap<u64, Vec<u8>>,
    /// Bytes held in `parts`.
    held: usize,
    /// The smallest range holding every byte the limits dropped, if they
    /// dropped any. A dropped byte another segment holds is not lost, so
    /// the stream is cut only where the bytes held run out inside it.
    dropped: Option<(u64, u64)>,
}

/// Offsets at or past this are taken for bytes before the stream's start
/// (a sequence number just below `base`, wrapped).
const BEFORE_START: u64 = 1 << 31;

struct Flows {
    limits: CaptureLimits,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
    flows: Vec<Flow>,
    held: usize,
    skipped: Skipped,
}

impl Flows {
    fn new(limits: CaptureLimits) -> Self {
        Flows {
            limits,
            by_key: HashMap::new(),
            flows: Vec::new(),
            held: 0,
            skipped: Skipped::default(),
        }
    }

    fn packet(&mut self, link: Linktype, data: &[u8]) -> Result<(), CaptureError> {
        let segment = match segment(link, data) {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.skipped.not_tcp += 1;
                return Ok(());
            }
            Err(()) if !known_link(link) => {
                return Err(CaptureError(format!(
                    "packets of link type {} cannot be read (Ethernet, Linux cooked, raw IP and loopback can)",
                    link.0
                )));
            }
            Err(()) => {
                self.skipped.unparseable += 1;
                return Ok(());
            }
        };
        let key = (segment.from, segment.to);
        let index = match self.by_key.get(&key) {
            Some(&i) => i,
            None if self.flows.len() >= self.limits.max_streams => {
                self.skipped.over_stream_limit += 1;
                return Ok(());
            }
            None => {
                self.flows.push(Flow {
                    from: segment.from,
                    to: segment.to,
                    base: None,
                    parts: BTreeMap::new(),
                    held: 0,
                    dropped: None,
                });
                self.by_key.insert(key, self.flows.len() - 1);
                self.flows.len() - 1
            }
        };
        let flow = &mut self.flows[index];
        let mut seq = segment.seq;
        if segment.syn {
            seq = seq.wrapping_add(1);
            if flow.parts.is_empty() {
                flow.base = Some(seq);
            }
        }
        if segment.payload.is_empty() {
            return Ok(());
        }
        let base = *flow.base.get_or_insert(seq);
        let offset = u64::from(seq.wrapping_sub(base));
        if offset >= BEFORE_START {
            return Ok(());
        }
        let room = self
            .limits
            .max_stream_bytes
            .saturating_sub(flow.held)
            .min(self.limits.max_total_bytes.saturating_sub(self.held));
        let mut payload = segment.payload;
        if payload.len() > room {
            let start = offset.saturating_add(room as u64);
            let end = offset.saturating_add(payload.len() as u64);
            flow.dropped = Some(
                flow.dropped
                    .map_or((start, end), |(s, e)| (s.min(start), e.max(end))),
            );
            payload = &payload[..room];
        }
        if payload.is_empty() {
            return Ok(());
        }
        // A retransmission of the same offset keeps the longer copy.
        let kept = flow.parts.get(&offset).map_or(0, Vec::len);
        if payload.len() > kept {
            flow.held = flow.held - kept + payload.len();
            self.held = self.held - kept + payload.len();
            flow.parts.insert(offset, payload.to_vec());
        }
        Ok(())
    }

    fn finish(self) -> (Vec<Stream>, Skipped) {
        let streams = self
            .flows
            .into_iter()
            .filter(|f| !f.parts.is_empty())
            .map(|flow| {
                let mut bytes = Vec::with_capacity(flow.held);
                let mut end = StreamEnd::Whole;
                for (offset, part) in flow.parts {
                    let at = bytes.len() as u64;
                    if offset > at {
                        end = match flow.dropped {
                            Some((start, stop)) if start <= at && at < stop => {
                                StreamEnd::Cut { offset: at }
                            }
                            _ => StreamEnd::Gap {
                                offset: at,
                                missing: offset - at,
                            },
                        };
                        break;
                    }
                    // Bytes already there are a retransmission's overlap.
                    let skip = usize::try_from(at - offset).unwrap_or(usize::MAX);
                    if let Some(new) = part.get(skip..) {
                        bytes.extend_from_slice(new);
                    }
                }
                match (&end, flow.dropped) {
                    (StreamEnd::Whole, Some((_, stop))) if stop > bytes.len() as u64 => {
                        end = StreamEnd::Cut {
                            offset: bytes.len() as u64,
                        };
                    }
                    _ => {}
                }
                Stream {
                    from: flow.from,
                    to: flow.to,
                    bytes,
                    end,
                }
            })
            .collect();
        (streams, self.skipped)
    }
}

fn known_link(link: Linktype) -> bool {
    matches!(
        link,
        Linktype::ETHERNET
            | Linktype::RAW
            | Linktype::IPV4
            | Linktype::IPV6
            | Linktype::LINUX_SLL
            | Linktype::NULL
            | Linktype::LOOP
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// A pcap file (Ethernet) holding these TCP segments from
    /// 10.0.0.1:1000 to 10.0.0.2:2000: (sequence number, SYN, payload).
    fn capture(segments: &[(u32, bool, &[u8])]) -> Vec<u8> {
        let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        file.extend([0; 8]);
        file.extend(65535u32.to_le_bytes());
        file.extend(1u32.to_le_bytes());
        for &(seq, syn, payload) in segments {
            let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(1000, 2000, seq, 65535);
            let builder = if syn { builder.syn() } else { builder };
            let mut packet = Vec::new();
            builder.write(&mut packet, payload).unwrap();
            file.extend([0; 8]);
            file.extend((packet.len() as u32).to_le_bytes());
            file.extend((packet.len() as u32).to_le_bytes());
            file.extend(packet);
        }
        file
    }

    fn one(file: &[u8], limits: CaptureLimits) -> Stream {
        let (mut streams, _) = reassemble(&mut &file[..], limits).unwrap();
        assert_eq!(streams.len(), 1, "{streams:?}");
        streams.remove(0)
    }

    #[test]
    fn segments_out_of_order_and_retransmitted_come_out_once_in_order() {
        let file = capture(&[
            (99, true, b""),
            (106, false, b"world"),
            (100, false, b"hello "),
            (103, false, b"lo wor"), // overlaps both
            (100, false, b"hello "),
        ]);
        let s = one(&file, CaptureLimits::default());
        assert_eq!(s.bytes, b"hello world");
        assert_eq!(s.end, StreamEnd::Whole);
        assert_eq!(s.from, "10.0.0.1:1000".parse().unwrap());
        assert_eq!(s.to, "10.0.0.2:2000".parse().unwrap());
    }

    #[test]
    fn a_hole_ends_the_stream_where_it_starts() {
        let file = capture(&[(0, false, b"abc"), (10, false, b"xyz")]);
        let s = one(&file, CaptureLimits::default());
        assert_eq!(s.bytes, b"abc");
        assert_eq!(
            s.end,
            StreamEnd::Gap {
                offset: 3,
                missing: 7
            }
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let file = capture(&[(u32::MAX - 1, false, b"ab"), (0, false, b"cd")]);
        assert_eq!(one(&file, CaptureLimits::default()).bytes, b"abcd");
    }

    #[test]
    fn the_limits_cut_a_stream_and_say_where() {
        let limits = CaptureLimits {
            max_stream_bytes: 4,
            ..Default::default()
        };
        let file = capture(&[(0, false, b"abc"), (3, false, b"def")]);
        let s = one(&file, limits);
        assert_eq!(s.bytes, b"abcd");
        assert_eq!(s.end, StreamEnd::Cut { offset: 4 });
    }

    #[test]
    fn a_retransmission_past_the_limits_loses_nothing_already_held() {
        let limits = CaptureLimits {
            max_stream_bytes: 6,
            ..Default::default()
        };
        // The limit is spent; the second copy of "abc" no longer fits, but
        // its bytes are all held already.
        let file = capture(&[(0, false, b"abc"), (3, false, b"def"), (0, false, b"abc")]);
        let s = one(&file, limits);
        assert_eq!(s.bytes, b"abcdef");
        assert_eq!(s.end, StreamEnd::Whole);
    }

    #[test]
    fn bytes_the_limits_dropped_before_later_ones_are_a_cut_not_a_hole() {
        let limits = CaptureLimits {
            max_stream_bytes: 6,
            ..Default::default()
        };
        // "ghi" arrives first and "abc" fills the limit; "def" is dropped.
        let file = capture(&[
            (99, true, b""),
            (106, false, b"ghi"),
            (100, false, b"abc"),
            (103, false, b"def"),
        ]);
        let s = one(&file, limits);
        assert_eq!(s.bytes, b"abc");
        assert_eq!(s.end, StreamEnd::Cut { offset: 3 });
    }

    /// The same segments as a pcapng file: a section, one Ethernet
    /// interface, one enhanced packet block per segment.
    fn capture_ng(segments: &[(u32, bool, &[u8])]) -> Vec<u8> {
        fn block(kind: u32, body: &[u8]) -> Vec<u8> {
            let mut body = body.to_vec();
            body.resize(body.len().div_ceil(4) * 4, 0);
            let total = (body.len() + 12) as u32;
            let mut b = kind.to_le_bytes().to_vec();
            b.extend(total.to_le_bytes());
            b.extend(body);
            b.extend(total.to_le_bytes());
            b
        }
        let legacy = capture(segments);
        let mut file = Vec::new();
        let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        shb.extend([1, 0, 0, 0]);
        shb.extend((-1i64).to_le_bytes());
        file.extend(block(0x0A0D_0D0A, &shb));
        let mut idb = 1u16.to_le_bytes().to_vec();
        idb.extend([0, 0]);
        idb.extend(65535u32.to_le_bytes());
        file.extend(block(1, &idb));
        // Walk the legacy file's records for the packets.
        let mut at = 24;
        while at < legacy.len() {
            let len = u32::from_le_bytes(legacy[at + 8..at + 12].try_into().unwrap()) as usize;
            let packet = &legacy[at + 16..at + 16 + len];
            let mut epb = 0u32.to_le_bytes().to_vec();
            epb.extend([0; 8]);
            epb.extend((len as u32).to_le_bytes());
            epb.extend((len as u32).to_le_bytes());
            epb.extend(packet);
            file.extend(block(6, &epb));
            at += 16 + len;
        }
        file
    }

    #[test]
    fn pcapng_reads_as_pcap_does() {
        let segments: &[(u32, bool, &[u8])] =
            &[(7, true, b""), (8, false, b"abc"), (11, false, b"d")];
        let s = one(&capture_ng(segments), CaptureLimits::default());
        assert_eq!(s.bytes, b"abcd");
        assert_eq!(s.end, StreamEnd::Whole);
    }

    #[test]
    fn a_pcapng_block_shorter_than_its_framing_is_an_error() {
        let mut file = capture_ng(&[(0, false, b"abc")]);
        // The interface block (after the 28-byte section) says 8 bytes.
        file[28 + 4..28 + 8].copy_from_slice(&8u32.to_le_bytes());
        let e = reassemble(&mut &file[..], CaptureLimits::default()).unwrap_err();
        assert!(e.0.contains("less than its own framing"), "{e}");
    }

    #[test]
    fn a_pcapng_block_cut_after_a_short_length_is_an_error() {
        // A section, then a block whose length says 4 and which ends there.
        let mut file = capture_ng(&[])[..28].to_vec();
        file.extend(0x8000_0001u32.to_le_bytes());
        file.extend(4u32.to_le_bytes());
        let e = reassemble(&mut &file[..], CaptureLimits::default()).unwrap_err();
        assert!(e.0.contains("less than its own framing"), "{e}");
    }

    #[test]
    fn a_truncated_capture_is_an_error_not_a_hang() {
        let file = capture(&[(0, false, b"abcdef")]);
        let cut = &file[..file.len() - 3];
        let e = reassemble(&mut &cut[..], CaptureLimits::default()).unwrap_err();
        assert!(e.0.contains("ends inside a block"), "{e}");
        assert!(reassemble(&mut &b"\x00\x04_ask"[..], CaptureLimits::default()).is_err());
    }
}
