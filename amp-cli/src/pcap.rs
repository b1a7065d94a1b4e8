//! Capture files (pcap, pcapng) read with `pcap-parser`, packets with
//! `etherparse`, and each TCP stream reassembled in sequence order: one
//! byte stream per direction of each connection, for `amp decode`.
//!
//! Reassembly follows the sequence numbers from the SYN (or the first
//! segment seen): retransmitted and overlapping bytes are taken once,
//! segments that arrive early wait for the gap before them to fill (at most
//! [`MAX_WAITING_BYTES`] per stream). A gap that never fills ends the
//! stream there: AMP's framing cannot be followed past missing bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Linktype, PcapBlockOwned, PcapError, create_reader};

/// The most bytes of segments waiting for an earlier gap to fill, per
/// stream; past that the stream ends at the gap.
pub const MAX_WAITING_BYTES: usize = 16 << 20;
/// The largest block the reader accepts (a packet of a capture with a
/// 256 KiB snap length, with room to spare).
const MAX_BLOCK: usize = 1 << 20;

/// The magic numbers that start a capture file: pcap (either byte order,
/// micro- or nanoseconds) and pcapng. No raw AMP stream starts with them
/// (its first byte, a key length's high byte, is zero).
pub fn is_capture(head: &[u8]) -> bool {
    matches!(
        head,
        [0xd4, 0xc3, 0xb2, 0xa1, ..]
            | [0xa1, 0xb2, 0xc3, 0xd4, ..]
            | [0x4d, 0x3c, 0xb2, 0xa1, ..]
            | [0xa1, 0xb2, 0x3c, 0x4d, ..]
            | [0x0a, 0x0d, 0x0d, 0x0a, ..]
    )
}

/// One direction of one TCP connection, reassembled.
#[derive(Debug, Default)]
pub struct Stream {
    /// Who sent these bytes.
    pub from: Option<SocketAddr>,
    /// To whom.
    pub to: Option<SocketAddr>,
    /// The bytes, in sequence order, up to the first gap.
    pub bytes: Vec<u8>,
    /// The gap the stream stopped at, if any: how many bytes are missing
    /// (as far as the next segment seen) and how many came after them.
    pub gap: Option<(u64, usize)>,
    /// The packet (its number in the capture, from 1) that opened it.
    pub first_packet: u64,
    /// Relative sequence of `bytes`' start: the SYN's sequence plus one,
    /// or the first segment's.
    base: Option<u32>,
    /// Segments that came before the bytes preceding them, by offset.
    waiting: BTreeMap<u64, Vec<u8>>,
    waiting_bytes: usize,
}

impl Stream {
    /// `from -> to`.
    pub fn name(&self) -> String {
        let show = |a: &Option<SocketAddr>| a.map_or_else(|| "?".to_owned(), |a| a.to_string());
        format!("{} -> {}", show(&self.from), show(&self.to))
    }

    fn segment(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        if syn {
            self.base.get_or_insert(seq.wrapping_add(1));
            return;
        }
        if payload.is_empty() || self.gap.is_some() {
            return;
        }
        let base = *self.base.get_or_insert(seq);
        // Offsets within 2 GiB behind what is assembled are old bytes
        // (a retransmission); the rest are ahead.
        let offset = u64::from(seq.wrapping_sub(base));
        let next = self.bytes.len() as u64;
        let behind = (next & 0xffff_ffff).wrapping_sub(offset) & 0xffff_ffff;
        if behind != 0 && behind < 1 << 31 {
            let skip = usize::try_from(behind).unwrap_or(usize::MAX);
            if skip < payload.len() {
                self.bytes.extend_from_slice(&payload[skip..]);
                self.drain();
            }
            return;
        }
        let ahead = offset.wrapping_sub(next & 0xffff_ffff) & 0xffff_ffff;
        if ahead == 0 {
            self.bytes.extend_from_slice(payload);
            self.drain();
            return;
        }
        let at = next + ahead;
        if self.waiting_bytes + payload.len() > MAX_WAITING_BYTES {
            self.stop_at_gap();
            return;
        }
        let longer = self
            .waiting
            .get(&at)
            .is_none_or(|held| held.len() < payload.len());
        if longer {
            self.waiting_bytes += payload.len();
            if let Some(old) = self.waiting.insert(at, payload.to_vec()) {
                self.waiting_bytes -= old.len();
            }
        }
    }

    /// Moves waiting segments that now follow on into the bytes.
    fn drain(&mut self) {
        while let Some((&at, _)) = self.waiting.first_key_value() {
            let next = self.bytes.len() as u64;
            if at > next {
                break;
            }
            let Some((_, held)) = self.waiting.pop_first() else {
                break;
            };
            self.waiting_bytes -= held.len();
            let skip = usize::try_from(next - at).unwrap_or(usize::MAX);
            if skip < held.len() {
                self.bytes.extend_from_slice(&held[skip..]);
            }
        }
    }

    /// The capture ended, or too much waits: a gap remains before the
    /// waiting segments.
    fn stop_at_gap(&mut self) {
        if let Some((&at, _)) = self.waiting.first_key_value() {
            let missing = at - self.bytes.len() as u64;
            self.gap = Some((missing, self.waiting_bytes));
        }
        self.waiting.clear();
        self.waiting_bytes = 0;
    }
}

/// Everything read from a capture.
#[derive(Debug, Default)]
pub struct Capture {
    /// Each direction of each TCP connection that carried bytes, in the
    /// order of their first packet.
    pub streams: Vec<Stream>,
    /// Packets read.
    pub packets: u64,
    /// Packets that were not TCP, or could not be read (a link type this
    /// tool does not read, a fragment, a cut-off header).
    pub skipped: u64,
    /// Why the capture's reading stopped early, if it did.
    pub truncated: Option<String>,
}

/// Why a capture could not be read at all.
#[derive(Debug, PartialEq, Eq)]
pub struct CaptureError(pub String);

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaptureError {}

/// A reader whose reads fill the buffer (up to the end of the input): the
/// capture reader tells the format from its first read.
struct Fill<R>(R);

impl<R: Read> Read for Fill<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.0.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// Reads a whole capture from `input`.
pub fn read_capture<R: Read + Send>(input: R) -> Result<Capture, CaptureError> {
    let mut reader = create_reader(64 * 1024, Fill(input))
        .map_err(|e| CaptureError(format!("not a pcap or pcapng capture: {}", describe(&e))))?;
    let mut capture = Capture::default();
    let mut flows: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
    // The link type of the legacy file, or of each pcapng interface in the
    // current section.
    let mut legacy = Linktype::ETHERNET;
    let mut interfaces: Vec<Linktype> = Vec::new();
    loop {
        let packet = match reader.next() {
            Ok((length, block)) => {
                let packet = match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        legacy = header.network;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((legacy, b.data.to_vec())),
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
                        link.map(|link| (link, epb.packet_data().to_vec()))
                            .or(Some((Linktype(-1), Vec::new())))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let link = interfaces.first().copied().unwrap_or(Linktype(-1));
                        Some((link, spb.packet_data().to_vec()))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                reader.consume(length);
                packet
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.reader_exhausted() {
                    capture.truncated = Some("the capture ends inside a packet".into());
                    break;
                }
                reader.refill().map_err(|e| {
                    CaptureError(format!("cannot read the capture: {}", describe(&e)))
                })?;
                continue;
            }
            Err(PcapError::BufferTooSmall) => {
                let size = reader.data().len().max(64 * 1024) * 2;
                if size > MAX_BLOCK || !reader.grow(size) {
                    capture.truncated = Some(format!("a block over {MAX_BLOCK} bytes"));
                    break;
                }
                reader.refill().map_err(|e| {
                    CaptureError(format!("cannot read the capture: {}", describe(&e)))
                })?;
                continue;
            }
            Err(PcapError::UnexpectedEof) => {
                capture.truncated = Some("the capture ends inside a packet".into());
                break;
            }
            Err(e) => {
                capture.truncated = Some(format!("unreadable block: {}", describe(&e)));
                break;
            }
        };
        if let Some((link, data)) = packet {
            capture.packets += 1;
            if !tcp(&mut capture, &mut flows, link, &data) {
                capture.skipped += 1;
            }
        }
    }
    for stream in &mut capture.streams {
        if !stream.waiting.is_empty() {
            stream.stop_at_gap();
        }
    }
    capture
        .streams
        .retain(|s| !s.bytes.is_empty() || s.gap.is_some());
    Ok(capture)
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::HeaderNotRecognized => "the header is not recognized".into(),
        PcapError::Eof => "it is empty".into(),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

/// Reads one packet's TCP segment into its stream; false if it is not
/// TCP or cannot be read.
fn tcp(
    capture: &mut Capture,
    flows: &mut BTreeMap<(SocketAddr, SocketAddr), usize>,
    link: Linktype,
    data: &[u8],
) -> bool {
    let sliced = match link {
        Linktype::ETHERNET => SlicedPacket::from_ethernet(data),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => SlicedPacket::from_ip(data),
        // BSD loopback: a 4-byte address family first.
        Linktype::NULL | Linktype::LOOP => match data.get(4..) {
            Some(ip) => SlicedPacket::from_ip(ip),
            None => return false,
        },
        Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        // Linux cooked capture v2: a 20-byte header first.
        Linktype::LINUX_SLL2 => match data.get(20..) {
            Some(ip) => SlicedPacket::from_ip(ip),
            None => return false,
        },
        _ => return false,
    };
    let Ok(sliced) = sliced else { return false };
    let (source, destination): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        _ => return false,
    };
    let Some(TransportSlice::Tcp(segment)) = &sliced.transport else {
        return false;
    };
    let from = SocketAddr::new(source, segment.source_port());
    let to = SocketAddr::new(destination, segment.destination_port());
    let packet = capture.packets;
    let index = match flows.get(&(from, to)) {
        // A new connection on the same addresses: a stream of its own.
        Some(&i) if segment.syn() && !capture.streams[i].bytes.is_empty() => None,
        Some(&i) => Some(i),
        None => None,
    };
    let index = index.unwrap_or_else(|| {
        capture.streams.push(Stream {
            from: Some(from),
            to: Some(to),
            first_packet: packet,
            ..Stream::default()
        });
        flows.insert((from, to), capture.streams.len() - 1);
        capture.streams.len() - 1
    });
    let stream = &mut capture.streams[index];
    stream.segment(segment.sequence_number(), segment.syn(), segment.payload());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(segments: &[(u32, &[u8])]) -> Stream {
        let mut s = Stream::default();
        s.segment(999, true, b"");
        for (seq, data) in segments {
            s.segment(*seq, false, data);
        }
        if !s.waiting.is_empty() {
            s.stop_at_gap();
        }
        s
    }

    #[test]
    fn segments_are_put_in_order_once() {
        let s = stream(&[
            (1000, b"ab"),
            (1004, b"ef"),
            (1002, b"cd"),
            (1001, b"bcd"),
            (1006, b"g"),
        ]);
        assert_eq!(s.bytes, b"abcdefg");
        assert_eq!(s.gap, None);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::default();
        s.segment(u32::MAX - 1, true, b"");
        s.segment(u32::MAX, false, b"ab");
        s.segment(1, false, b"cd");
        s.segment(u32::MAX, false, b"a");
        assert_eq!(s.bytes, b"abcd");
    }

    #[test]
    fn a_gap_that_never_fills_ends_the_stream() {
        let s = stream(&[(1000, b"ab"), (1005, b"fg"), (1010, b"x")]);
        assert_eq!(s.bytes, b"ab");
        assert_eq!(s.gap, Some((3, 3)));
    }

    #[test]
    fn captures_are_told_from_raw_streams_by_their_magic() {
        assert!(is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
        assert!(is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture(b"\x00\x04_ask"));
        assert!(!is_capture(b""));
    }

    #[test]
    fn garbage_is_not_a_capture() {
        let e = read_capture(&b"\xd4\xc3\xb2\xa1"[..]).unwrap_err();
        assert!(e.0.starts_with("not a pcap or pcapng capture"), "{e}");
        let e = read_capture(&b""[..]).unwrap_err();
        assert!(e.0.contains("empty"), "{e}");
    }
}
