//! The process's own standard input and output as an AMP channel, as
//! Twisted's `StandardIO` serves a protocol on them: what both bindings do
//! before they wrap the two descriptors for their runtime.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;

/// The process's standard input and output, taken for AMP by [`take`].
#[derive(Debug)]
pub struct Taken {
    /// What was standard input: AMP comes from here.
    pub input: File,
    /// What was standard output: AMP goes here, and nothing else.
    pub output: File,
}

/// Takes the process's standard input and output for AMP: gives each
/// descriptor's own copy (owned, closed when dropped, so the peer sees the
/// end of the stream when the connection closes) and points descriptors 0
/// and 1 at `/dev/null`. From then on nothing but AMP reaches the channel:
/// `println!` and anything else writing to standard output go nowhere
/// (diagnostics belong on standard error, which is untouched), and nothing
/// else can read AMP's bytes from standard input.
///
/// Called once per process (a second call would take `/dev/null`).
///
/// ```no_run
/// let taken = amp_engine::stdio::take()?;
/// assert!(taken.input.metadata().is_ok());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn take() -> io::Result<Taken> {
    // What was printed before is written now, not after AMP's bytes.
    io::stdout().lock().flush()?;
    let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    Ok(Taken { input, output })
}

/// Whether a runtime's reactor can wait on `file` (a pipe, a socket, a
/// terminal): regular files, directories and block devices are always
/// "ready" and cannot be registered with epoll or kqueue, so a binding
/// reads and writes those on a blocking thread instead.
///
/// ```
/// let file = std::fs::File::open("Cargo.toml").unwrap();
/// assert!(!amp_engine::stdio::pollable(&file).unwrap());
/// ```
pub fn pollable(file: &File) -> io::Result<bool> {
    let kind = file.metadata()?.file_type();
    use std::os::unix::fs::FileTypeExt;
    Ok(!(kind.is_file() || kind.is_dir() || kind.is_block_device()))
}

/// Puts `file` in non-blocking mode (for a runtime's reactor that does
/// not do it itself).
///
/// ```
/// let (one, _other) = std::os::unix::net::UnixStream::pair().unwrap();
/// let file = std::fs::File::from(std::os::fd::OwnedFd::from(one));
/// assert!(amp_engine::stdio::pollable(&file).unwrap());
/// amp_engine::stdio::set_nonblocking(&file).unwrap();
/// ```
pub fn set_nonblocking(file: &File) -> io::Result<()> {
    rustix::io::ioctl_fionbio(file, true)?;
    Ok(())
}

/// A connection served on standard input and output, as the bindings'
/// `stdio::serve` give it: the peer, and when its last bytes are out.
pub struct Served {
    /// The connection.
    pub peer: crate::Peer,
    /// Resolves once the connection's sending half is done with: every
    /// queued byte written and standard output closed (or writing failed).
    /// A program that exits when its connection ends waits for this first,
    /// so that its last answer (to ampoule's `Shutdown`, say) is not lost.
    pub flushed: Flushed,
}

/// Resolves once a sending half wrapped by [`watch`] has been dropped: the
/// engine's write loop lets its half go when it has written everything
/// and closed it, or when writing failed.
///
/// ```
/// use amp_engine::WriteHalf;
/// # struct W; impl WriteHalf for W { async fn write_all(&mut self, _: &[u8]) -> std::io::Result<()> { Ok(()) } async fn close(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let (writer, flushed) = amp_engine::stdio::watch(W);
/// drop(writer);
/// futures_executor::block_on(flushed);
/// ```
pub struct Flushed(futures_channel::oneshot::Receiver<()>);

impl std::future::Future for Flushed {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // Never sent: the sender's drop is the signal.
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A sending half that signals its [`Flushed`] when dropped.
pub struct Watched<W> {
    inner: W,
    _done: futures_channel::oneshot::Sender<()>,
}

/// Wraps `writer` so that [`Flushed`] resolves once it is dropped.
///
/// See [`Flushed`] for an example.
pub fn watch<W: crate::WriteHalf>(writer: W) -> (Watched<W>, Flushed) {
    let (done, flushed) = futures_channel::oneshot::channel();
    (
        Watched {
            inner: writer,
            _done: done,
        },
        Flushed(flushed),
    )
}

impl<W: crate::WriteHalf> crate::WriteHalf for Watched<W> {
    fn write_all(
        &mut self,
        bytes: &[u8],
    ) -> impl std::future::Future<Output = io::Result<()>> + Send {
        self.inner.write_all(bytes)
    }

    fn close(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        self.inner.close()
    }
}
