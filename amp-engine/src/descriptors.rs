//! The system calls of descriptor passing on a UNIX stream socket, for the
//! bindings' UNIX transports: `recvmsg` that keeps the `SCM_RIGHTS`
//! descriptors it receives, and `sendmsg` of one descriptor with one byte,
//! as Twisted's `_SendmsgMixin` sends them. Both are non-blocking calls on
//! the socket as it is (`WouldBlock` when it is not ready); the bindings
//! wait for readiness on their reactor. See [`amp_core::descriptor`] for
//! the numbering and which box a descriptor belongs to.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::ReceivedDescriptors;

/// The most descriptors one `recvmsg` takes (its control buffer's room).
/// Linux ends a `recvmsg` on the message that carries descriptors, and
/// Twisted and this crate send one per message, so one is the usual
/// count; a peer that sends more in one message than this has the rest
/// closed by the kernel (`MSG_CTRUNC`), which ends the connection.
pub const MAX_PER_READ: usize = amp_core::descriptor::MAX_HELD_DESCRIPTORS;

/// Reads into `buf` with `recvmsg`, adding the descriptors received to
/// `got` (and `got.truncated` if control data was cut). Ancillary data
/// other than `SCM_RIGHTS` is ignored.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
/// b.write_all(b"hi").unwrap();
/// let mut got = amp_engine::ReceivedDescriptors::default();
/// let mut buf = [0u8; 16];
/// let n = amp_engine::descriptors::recv(a.as_fd(), &mut buf, &mut got).unwrap();
/// assert_eq!(&buf[..n], b"hi");
/// assert!(got.fds.is_empty() && !got.truncated);
/// ```
pub fn recv(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    got: &mut ReceivedDescriptors,
) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_PER_READ))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            got.fds.extend(fds);
        }
        // Anything else (credentials, unknown kinds) is dropped here.
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        got.truncated = true;
    }
    Ok(msg.bytes)
}

/// Sends `fd` with the one byte `byte` (`sendmsg`, `SCM_RIGHTS`): `Ok(1)`
/// once sent, `WouldBlock` if the socket is full (then nothing was sent).
///
/// ```
/// use std::io::Read;
/// use std::os::fd::AsFd;
/// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let (passed, _) = std::os::unix::net::UnixStream::pair().unwrap();
/// assert_eq!(amp_engine::descriptors::send(a.as_fd(), b'x', passed.as_fd()).unwrap(), 1);
/// let mut got = amp_engine::ReceivedDescriptors::default();
/// let mut buf = [0u8; 4];
/// assert_eq!(amp_engine::descriptors::recv(b.as_fd(), &mut buf, &mut got).unwrap(), 1);
/// assert_eq!((buf[0], got.fds.len()), (b'x', 1));
/// ```
pub fn send(socket: BorrowedFd<'_>, byte: u8, fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "no room for a descriptor's control message",
        ));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::empty();
    Ok(rustix::net::sendmsg(
        socket,
        &[IoSlice::new(&[byte])],
        &mut control,
        flags,
    )?)
}

/// One piece of what [`pieces`] cuts: bytes to write plainly, or one byte
/// to send with one descriptor.
#[derive(Debug)]
pub enum Piece<'a> {
    /// Bytes to write as they are (never empty).
    Plain(&'a [u8]),
    /// One byte, sent with this descriptor in a `sendmsg` of its own.
    WithDescriptor(u8, BorrowedFd<'a>),
}

/// Cuts `bytes` for [`WriteHalf::write_with_descriptors`](crate::WriteHalf::write_with_descriptors):
/// each descriptor with the byte at its position, the bytes between plain.
/// A position outside `bytes`, or not after the previous one, is an error
/// (the writer never makes one: each descriptor is queued with a byte of
/// its own box).
///
/// ```
/// use amp_engine::descriptors::{Piece, pieces};
/// let (s, _) = std::os::unix::net::UnixStream::pair().unwrap();
/// let fds = [(2, std::sync::Arc::new(std::os::fd::OwnedFd::from(s)))];
/// let cut = pieces(b"abcd", &fds).unwrap();
/// assert!(matches!(cut[..], [Piece::Plain(b"ab"), Piece::WithDescriptor(b'c', _), Piece::Plain(b"d")]));
/// ```
pub fn pieces<'a>(bytes: &'a [u8], fds: &'a [(usize, Arc<OwnedFd>)]) -> io::Result<Vec<Piece<'a>>> {
    let mut cut = Vec::with_capacity(2 * fds.len() + 1);
    let mut at = 0;
    for (pos, fd) in fds {
        let pos = *pos;
        let Some(&byte) = bytes.get(pos).filter(|_| pos >= at) else {
            return Err(io::Error::other(
                "a descriptor queued outside the bytes taken with it",
            ));
        };
        if pos > at {
            cut.push(Piece::Plain(&bytes[at..pos]));
        }
        cut.push(Piece::WithDescriptor(byte, fd.as_fd()));
        at = pos + 1;
    }
    if at < bytes.len() {
        cut.push(Piece::Plain(&bytes[at..]));
    }
    Ok(cut)
}
