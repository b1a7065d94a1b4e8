//! Descriptor passing (Twisted's `amp.Descriptor` over a UNIX socket), on
//! every binding: the catalogue's `WriteTo` and `OpenGreeting` between two
//! Rust peers and against real Twisted both ways, and the descriptors that
//! must not leak: unclaimed ones, those of a box that fails to decode, those
//! held when a connection ends, too many at once. Each scenario counts the
//! process's open descriptors (`/proc/self/fd`) before and after, and the
//! scenarios run one at a time (a process-wide lock) so that the count is
//! theirs alone.
//!
//! A binding's test implements
//! [`Transports`] and expands
//! [`descriptors_suite!`](crate::descriptors_suite). The interop scenarios
//! need the Python environment as the rest of [`crate::interop`] does:
//! without it they fail, never skip.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use amp_core::descriptor::{DescriptorError, MAX_HELD_DESCRIPTORS};
use amp_core::values::Descriptor;
use amp_core::{AmpBox, CallError, SendError};
use serde::Serialize;

use crate::catalogue::{
    self, Empty, GREETING, OpenGreeting, Sum, SumArgs, WriteTo, WriteToArgs, Written,
};
use crate::interop::python::{PyServer, describe, python, repo_root, run_to_end};
use crate::interop::transports::{Transports, example_binary};
use crate::interop::{CLOSE_WITHIN, STEP};
use crate::{Options, Peer, Runtime, blocking, within_for};

/// What `WriteTo` is asked to write.
pub const TEXT: &str = "descripteur écrit par le serveur ✓\n";

/// One scenario at a time, its runtime included, so the descriptor counts
/// are its own (the suite's tests hold it while they run).
#[doc(hidden)]
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's open descriptors: each number with what it refers to
/// (`pipe:[inode]`, `socket:[inode]`, a path), so that a descriptor closed
/// and its number reused for another thing counts as a different one. The
/// listing's own descriptor (the directory being read, whose number is the
/// lowest free one at the time) is left out.
pub fn open_descriptors() -> std::collections::BTreeSet<(String, String)> {
    let listing = format!("/proc/{}/fd", std::process::id());
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            // A descriptor closed between the listing and the reading of
            // its link is no longer open: left out.
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (target != listing).then(|| (entry.file_name().to_string_lossy().into_owned(), target))
        })
        .collect()
}

/// Waits (a few seconds at most) until every descriptor open now was open
/// `before`: closing is done by tasks that may still be finishing. (Ones
/// that were open before and closed since, by the runtime or by an earlier
/// scenario's processes, are no leak.)
async fn no_leak<R: Runtime>(
    rt: &R,
    before: std::collections::BTreeSet<(String, String)>,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_descriptors();
        let new: Vec<_> = now.difference(&before).collect();
        if new.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: descriptors left open: {new:?}");
        }
        rt.sleep(Duration::from_millis(20)).await;
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe().expect("a pipe")
}

/// Everything up to the end of the pipe (so: until every copy of its write
/// end is closed), off the runtime, within [`STEP`].
async fn read_to_end<R: Runtime>(rt: &R, read_end: OwnedFd, what: &str) -> Vec<u8> {
    within_for(
        rt,
        STEP,
        what,
        blocking(move || {
            let mut bytes = Vec::new();
            std::fs::File::from(read_end)
                .read_to_end(&mut bytes)
                .expect("reading the pipe");
            bytes
        }),
    )
    .await
}

/// A scratch directory for a socket, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "amp-fd-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the socket");
        Dir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("amp.sock")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `WriteTo` with a pipe's write end, then what came through the pipe.
async fn write_to<R: Runtime>(rt: &R, peer: &Peer) {
    let (read_end, write_end) = pipe();
    let written = within_for(
        rt,
        STEP,
        "WriteTo",
        peer.call_as::<WriteTo>(&WriteToArgs {
            fd: Descriptor::new(write_end),
            text: TEXT.into(),
        }),
    )
    .await
    .expect("WriteTo");
    assert_eq!(
        written,
        Written {
            written: TEXT.len() as u64
        }
    );
    let got = read_to_end(rt, read_end, "the text WriteTo wrote").await;
    assert_eq!(String::from_utf8_lossy(&got), TEXT);
}

/// `OpenGreeting`, and what its pipe holds.
async fn open_greeting<R: Runtime>(rt: &R, peer: &Peer, greeting: &str) {
    let answer = within_for(
        rt,
        STEP,
        "OpenGreeting",
        peer.call_as::<OpenGreeting>(&Empty {}),
    )
    .await
    .expect("OpenGreeting");
    let fd = answer.fd.into_owned_fd().expect("a received descriptor");
    let got = read_to_end(rt, fd, "the greeting").await;
    assert_eq!(String::from_utf8_lossy(&got), greeting);
}

/// A Rust server of the catalogue on a new UNIX socket, and a client.
async fn serve_and_connect<R: Transports>(
    rt: &R,
    dir: &Dir,
) -> (Peer, crate::interop::transports::ServedUnix) {
    let server = rt
        .serve_unix(dir.socket(), Arc::new(|_| catalogue::responders()))
        .expect("serving on a UNIX socket");
    let peer = within_for(
        rt,
        STEP,
        "connecting",
        rt.connect_unix(dir.socket(), catalogue::responders()),
    )
    .await
    .expect("connecting over the UNIX socket");
    (peer, server)
}

async fn stop<R: Runtime>(rt: &R, peer: Peer, server: crate::interop::transports::ServedUnix) {
    peer.shutdown(std::time::Duration::ZERO);
    within_for(rt, CLOSE_WITHIN, "the client closing", peer.closed()).await;
    drop(peer);
    within_for(rt, STEP, "shutting down", server.stop.shutdown(STEP)).await;
    within_for(rt, STEP, "the server stopping", server.running)
        .await
        .expect("the UNIX server's run");
}

/// Two Rust peers over a UNIX socket: `WriteTo` and `OpenGreeting` three
/// times each (the numbering goes on, both ways), then every descriptor
/// sent, received and answered is closed once the connection is gone.
pub async fn descriptors_pass_both_ways_between_rust_peers<R: Transports>(rt: R) {
    // A first round opens what the runtime keeps open (its reactor, its
    // threads), so that the count is the scenario's own.
    {
        let dir = Dir::new("warm");
        let (peer, server) = serve_and_connect(&rt, &dir).await;
        write_to(&rt, &peer).await;
        stop(&rt, peer, server).await;
    }
    let before = open_descriptors();
    let dir = Dir::new("both");
    let (peer, server) = serve_and_connect(&rt, &dir).await;
    for _ in 0..3 {
        write_to(&rt, &peer).await;
        open_greeting(&rt, &peer, GREETING).await;
    }
    // Both at once: the answers and requests interleave on the wire.
    futures_util::future::join(write_to(&rt, &peer), open_greeting(&rt, &peer, GREETING)).await;
    stop(&rt, peer, server).await;
    drop(dir);
    no_leak(&rt, before, "after the exchange").await;
}

/// Sum's arguments and a descriptor no argument of Sum names.
#[derive(Serialize)]
struct SumWithExtra {
    a: i64,
    b: i64,
    extra: Descriptor,
}

/// WriteTo's arguments with a text that is not UTF-8: the box fails to
/// decode.
#[derive(Serialize)]
struct BadWriteTo {
    fd: Descriptor,
    #[serde(with = "serde_bytes")]
    text: Vec<u8>,
}

/// Descriptors that no argument claims (once a later one is taken), and
/// those of a box that fails to decode, are closed by the receiver (each
/// write end's last copy goes: the pipe ends); a `Descriptor` value that
/// names no descriptor received is a decode error; nothing leaks.
pub async fn unclaimed_and_undecoded_descriptors_are_closed<R: Transports>(rt: R) {
    let before = open_descriptors();
    let dir = Dir::new("unclaimed");
    let (peer, server) = serve_and_connect(&rt, &dir).await;

    // Sum's responder never looks at `extra`: the box drops it.
    let (read_end, write_end) = pipe();
    let args = amp_core::ser::to_box(&SumWithExtra {
        a: 1,
        b: 2,
        extra: Descriptor::new(write_end),
    })
    .expect("encoding");
    assert_eq!(args.descriptor_count(), 1);
    let answer = within_for(&rt, STEP, "Sum", peer.call_remote("Sum", args))
        .await
        .expect("Sum answered");
    assert_eq!(answer.get_str("total"), Some("3"));
    // The connection goes on, numbering included. The unclaimed descriptor
    // is closed once a later one is taken (as in Twisted, a later box may
    // name a descriptor that came with an earlier one's bytes).
    write_to(&rt, &peer).await;
    assert!(
        read_to_end(&rt, read_end, "the unclaimed descriptor closed")
            .await
            .is_empty()
    );

    // WriteTo whose text does not decode: answered UNKNOWN (fatal, as an
    // undeclared failure is in Twisted), the descriptor closed unwritten.
    let (read_end, write_end) = pipe();
    let args = amp_core::ser::to_box(&BadWriteTo {
        fd: Descriptor::new(write_end),
        text: vec![0xff, 0xfe],
    })
    .expect("encoding");
    let refused = within_for(
        &rt,
        STEP,
        "a bad WriteTo",
        peer.call_remote("WriteTo", args),
    )
    .await;
    assert!(
        matches!(&refused, Err(CallError::Remote(e)) if e.code == "UNKNOWN"),
        "{refused:?}"
    );
    assert!(
        read_to_end(&rt, read_end, "the undecoded box's descriptor closed")
            .await
            .is_empty()
    );
    within_for(&rt, CLOSE_WITHIN, "the end", peer.closed()).await;
    drop(peer);

    // A Descriptor value naming no descriptor that came: a decode error
    // (Twisted's KeyError), the responder never runs.
    let peer = within_for(
        &rt,
        STEP,
        "connecting again",
        rt.connect_unix(dir.socket(), catalogue::responders()),
    )
    .await
    .expect("connecting again");
    let refused = within_for(
        &rt,
        STEP,
        "WriteTo without its descriptor",
        peer.call_remote("WriteTo", AmpBox::from_pairs([("fd", "0"), ("text", "x")])),
    )
    .await;
    // (Its description is Twisted's "Unknown Error": the reason, "no
    // descriptor 0 was received", is logged on the responder's side.)
    assert!(
        matches!(&refused, Err(CallError::Remote(e)) if e.code == "UNKNOWN"),
        "WriteTo without a descriptor: {refused:?}"
    );
    stop(&rt, peer, server).await;
    drop(dir);
    no_leak(&rt, before, "after the refusals").await;
}

/// A raw UNIX client (std, blocking) of a Rust server, off the runtime.
fn raw_client(path: PathBuf) -> std::os::unix::net::UnixStream {
    let s = std::os::unix::net::UnixStream::connect(path).expect("connecting");
    s.set_read_timeout(Some(STEP)).expect("a read timeout");
    s
}

/// A raw client of the server on `path` (off the runtime) does `send`,
/// given the write end of a new pipe (dropped after), then reads until the
/// server ends the connection: the server ends it without a byte, and
/// closes every copy of the descriptor it got (the pipe's read end sees
/// its end).
async fn server_ends_raw_client<R: Runtime>(
    rt: &R,
    path: PathBuf,
    what: &str,
    send: impl FnOnce(&std::os::unix::net::UnixStream, OwnedFd) + Send + 'static,
) {
    let (read_end, write_end) = pipe();
    let ended = within_for(
        rt,
        STEP,
        what,
        blocking(move || {
            let s = raw_client(path);
            send(&s, write_end);
            let mut rest = Vec::new();
            (&s).read_to_end(&mut rest).map(|_| rest)
        }),
    )
    .await;
    assert!(
        matches!(&ended, Ok(rest) if rest.is_empty()),
        "the connection with {what}: {ended:?}"
    );
    assert!(
        read_to_end(
            rt,
            read_end,
            &format!("every descriptor closed after {what}")
        )
        .await
        .is_empty()
    );
}

/// Descriptors held for a box that never comes whole are closed when the
/// connection ends; more than [`MAX_HELD_DESCRIPTORS`] at once end the
/// connection (only that one); nothing leaks.
pub async fn held_descriptors_are_closed_with_the_connection<R: Transports>(rt: R) {
    let before = open_descriptors();
    let dir = Dir::new("held");
    let server = rt
        .serve_unix(dir.socket(), Arc::new(|_| catalogue::responders()))
        .expect("serving on a UNIX socket");

    // The start of a box, with a descriptor, then the end of the stream.
    let (read_end, write_end) = pipe();
    let path = dir.socket();
    within_for(
        &rt,
        STEP,
        "a raw client",
        blocking(move || {
            let s = raw_client(path);
            amp_engine::descriptors::send(s.as_fd(), 0, write_end.as_fd()).expect("sendmsg");
            drop(write_end);
            (&s).write_all(b"\x00\x08_com").expect("writing");
            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            let mut rest = Vec::new();
            let _ = (&s).read_to_end(&mut rest);
        }),
    )
    .await;
    assert!(
        read_to_end(&rt, read_end, "the held descriptor closed")
            .await
            .is_empty()
    );

    // One descriptor more than the bound, each with one byte of a box
    // that is not finished: the server ends that connection.
    server_ends_raw_client(&rt, dir.socket(), "too many descriptors", |s, write_end| {
        let mut head = vec![0x00, 0xff];
        head.resize(MAX_HELD_DESCRIPTORS + 1, b'k');
        for byte in head {
            if amp_engine::descriptors::send(s.as_fd(), byte, write_end.as_fd()).is_err() {
                break; // the server may be gone already
            }
        }
    })
    .await;

    // More descriptors in one message than a read takes: the kernel
    // truncates the control data (MSG_CTRUNC) and closes the rest; the
    // numbering is lost, so the server ends that connection.
    server_ends_raw_client(
        &rt,
        dir.socket(),
        "truncated control data",
        |s, write_end| {
            use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
            use std::mem::MaybeUninit;
            const MANY: usize = amp_engine::descriptors::MAX_PER_READ + 1;
            let fds = [write_end.as_fd(); MANY];
            let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MANY))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
            rustix::net::sendmsg(
                s,
                &[std::io::IoSlice::new(b"\x00")],
                &mut control,
                SendFlags::empty(),
            )
            .expect("sendmsg");
        },
    )
    .await;

    // The server serves on.
    let peer = within_for(
        &rt,
        STEP,
        "connecting",
        rt.connect_unix(dir.socket(), catalogue::responders()),
    )
    .await
    .expect("connecting");
    write_to(&rt, &peer).await;
    stop(&rt, peer, server).await;
    drop(dir);
    no_leak(&rt, before, "after the held descriptors").await;
}

/// Off a UNIX socket (an in-memory stream here): a call with a descriptor
/// fails locally, typed, nothing sent (its descriptor closed with the
/// arguments); a Descriptor value received is a decode error.
pub async fn descriptors_are_refused_off_unix_sockets<R: Transports>(rt: R) {
    let (a, b) = rt.stream_pair(64 * 1024);
    let server = rt.peer_on(a, catalogue::responders(), Options::default());
    let client = rt.peer_on(b, catalogue::responders(), Options::default());
    let (read_end, write_end) = pipe();
    let args = WriteToArgs {
        fd: Descriptor::new(write_end),
        text: TEXT.into(),
    };
    let refused = within_for(
        &rt,
        STEP,
        "WriteTo in memory",
        client.call_as::<WriteTo>(&args),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(CallError::Send(SendError::Descriptors(
                DescriptorError::Unsupported
            )))
        ),
        "{refused:?}"
    );
    drop(args);
    assert!(
        read_to_end(&rt, read_end, "the unsent descriptor closed")
            .await
            .is_empty()
    );
    // The connection is fine: nothing was sent.
    let total = within_for(
        &rt,
        STEP,
        "Sum",
        client.call_as::<Sum>(&SumArgs { a: 2, b: 3 }),
    )
    .await
    .expect("Sum");
    assert_eq!(total.total, 5);
    let refused = within_for(
        &rt,
        STEP,
        "a Descriptor value in memory",
        client.call_remote("WriteTo", AmpBox::from_pairs([("fd", "0"), ("text", "x")])),
    )
    .await;
    assert!(
        matches!(&refused, Err(CallError::Remote(e)) if e.code == "UNKNOWN"),
        "{refused:?}"
    );
    drop((client, server));
}

/// A Rust client of Twisted's catalogue server on a UNIX socket: `WriteTo`
/// (Twisted writes into the descriptor it got) and `OpenGreeting`
/// (Twisted's pipe, `hello from Twisted`), twice each, then three
/// `OpenGreeting` at once (Twisted writes their answers in one go); nothing
/// leaks here.
pub async fn rust_client_passes_descriptors_to_twisted<R: Transports>(rt: R) {
    let dir = Dir::new("py");
    let address = format!("unix:{}", dir.socket().display());
    let python = python().to_path_buf();
    let server = blocking(move || PyServer::start_at(&python, "server.py", &address)).await;
    let before = open_descriptors();
    let peer = within_for(
        &rt,
        STEP,
        "connecting to Twisted",
        rt.connect_unix(dir.socket(), catalogue::responders()),
    )
    .await
    .expect("connecting to Twisted's UNIX socket");
    for _ in 0..2 {
        write_to(&rt, &peer).await;
        open_greeting(&rt, &peer, "hello from Twisted\n").await;
    }
    // Calls that reach Twisted in one read: it answers them in one turn
    // and writes the answers in one go, every descriptor with the first
    // bytes of that write. Each answer still gets its own.
    let greetings = futures_util::future::join_all(
        (0..3).map(|_| open_greeting(&rt, &peer, "hello from Twisted\n")),
    );
    within_for(&rt, STEP, "three OpenGreeting at once", greetings).await;
    peer.shutdown(std::time::Duration::ZERO);
    within_for(&rt, CLOSE_WITHIN, "closing", peer.closed()).await;
    drop(peer);
    no_leak(&rt, before, "after talking to Twisted").await;
    drop(server);
}

/// Twisted's `fd_client.py` against the binding's `ampserver` example on
/// `unix:PATH`: Twisted sends a descriptor for `WriteTo`, and receives
/// `OpenGreeting`'s (`hello from amp-rs`), twice each; then three `WriteTo`
/// at once (Twisted writes them in one go, every descriptor with the first
/// bytes of that write).
pub async fn twisted_client_passes_descriptors_to_the_rust_ampserver<R: Transports>(rt: R) {
    let (package, name) = rt.ampserver_example();
    let binary = blocking(move || example_binary(package, name)).await;
    let dir = Dir::new("ampserver");
    let address = format!("unix:{}", dir.socket().display());
    let mut server = Command::new(&binary)
        .arg(&address)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting ampserver");
    let mut out = server.stdout.take().expect("its output");
    let listening = within_for(
        &rt,
        STEP,
        "ampserver listening",
        blocking(move || {
            let mut line = Vec::new();
            let mut byte = [0u8];
            while out.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
                line.push(byte[0]);
            }
            (String::from_utf8_lossy(&line).into_owned(), out)
        }),
    )
    .await;
    assert_eq!(listening.0, format!("LISTENING {address}"));
    let python = python().to_path_buf();
    let mut run = Command::new(&python);
    run.arg(repo_root().join("interop/fd_client.py"))
        .arg(&address)
        .arg("amp-rs")
        .current_dir(repo_root().join("interop"));
    let ran = blocking(move || run_to_end(run, Duration::from_secs(60)))
        .await
        .expect("running fd_client.py");
    let _ = server.kill();
    let _ = server.wait();
    drop(listening);
    let last = ran.stdout.lines().last().unwrap_or("");
    assert!(
        ran.status.is_some_and(|s| s.success()) && last == "4 passed, 0 failed",
        "fd_client.py against {name}: {}, last line {last:?}; its output:\n{}\n{}",
        describe(ran.status),
        ran.stdout,
        ran.stderr
    );
}

/// Expands to one `#[test]` per descriptor scenario, on the
/// [`Transports`] that `$make` builds.
#[macro_export]
macro_rules! descriptors_suite {
    ($make:expr) => {
        $crate::descriptors_suite!(@tests $make;
            descriptors_pass_both_ways_between_rust_peers,
            unclaimed_and_undecoded_descriptors_are_closed,
            held_descriptors_are_closed_with_the_connection,
            descriptors_are_refused_off_unix_sockets,
            rust_client_passes_descriptors_to_twisted,
            twisted_client_passes_descriptors_to_the_rust_ampserver,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let _one = $crate::descriptors::exclusive();
                $crate::run_within(
                    stringify!($name),
                    $crate::interop::DEADLINE,
                    move || $make,
                    $crate::descriptors::$name,
                );
            }
        )*
    };
}
