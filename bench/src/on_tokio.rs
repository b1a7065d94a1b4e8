//! Servers and clients on tokio: amp-tokio, tarpc and the raw ping-pong,
//! over TCP, and amp-tokio and the raw ping-pong over TLS and UNIX sockets.

use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use amp_tokio::tls::{ClientTls, ServerTls};
use amp_tokio::{Peer, Responders, Server};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::client::{self, ClientSpec, Counters, Runtime};
use crate::latency::{self, Sent};
use crate::{A, B, Impl, RAW_READ, TOTAL, Whole, raw_messages, sum_responders, tarpc_sum};

/// tokio's current-thread runtime for `threads <= 1`, else the
/// multi-threaded one with that many workers.
pub fn runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

pub fn run_server(imp: Impl, addr: &str, cert: Option<String>, threads: usize) -> io::Result<()> {
    runtime(threads)?.block_on(server(imp, addr, cert))
}

/// A self-signed certificate for `localhost`, made now and written (PEM)
/// to `cert_out` for the clients to trust.
fn server_tls(cert_out: Option<String>) -> io::Result<ServerTls> {
    let cert_out = cert_out.ok_or_else(|| io::Error::other("a TLS server needs --cert FILE"))?;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(io::Error::other)?;
    let cert = made.cert.pem();
    std::fs::write(&cert_out, &cert)?;
    ServerTls::from_pem(cert.as_bytes(), made.key_pair.serialize_pem().as_bytes())
        .map_err(io::Error::other)
}

/// The client's side: trusts the server's certificate in `cert`.
fn client_tls(cert: Option<&str>) -> io::Result<ClientTls> {
    let cert = cert.ok_or_else(|| io::Error::other("a TLS client needs --cert FILE"))?;
    ClientTls::from_pem(&std::fs::read(cert)?, "localhost").map_err(io::Error::other)
}

pub fn run_client(spec: ClientSpec, threads: usize) -> io::Result<String> {
    runtime(threads)?.block_on(client(spec))
}

// ---------------------------------------------------------------- servers

fn listening(port: u16) -> io::Result<()> {
    println!("LISTENING {port}");
    io::stdout().flush()
}

async fn server(imp: Impl, addr: &str, cert: Option<String>) -> io::Result<()> {
    let answers = raw_answers();
    if let Impl::AmpUnix | Impl::RawUnix = imp {
        let _ = std::fs::remove_file(addr);
        if imp == Impl::AmpUnix {
            let listener = amp_tokio::unix::UnixListener::bind(addr)?;
            listening(0)?;
            return amp_engine::Server::new(amp_tokio::Tokio, listener, |()| sum_responders())
                .run()
                .await;
        }
        let listener = UnixListener::bind(addr)?;
        listening(0)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(raw_answer(stream, Arc::clone(&answers)));
        }
    }
    let listener = TcpListener::bind(addr).await?;
    match imp {
        Impl::Amp => {
            listening(listener.local_addr()?.port())?;
            Server::new(amp_tokio::Tokio, listener.into(), |_| sum_responders())
                .run()
                .await
        }
        Impl::AmpTls => {
            let tls = server_tls(cert)?;
            listening(listener.local_addr()?.port())?;
            let listener = amp_tokio::tls::TlsListener::tls(listener, tls);
            amp_engine::Server::new(amp_tokio::Tokio, listener, |_| sum_responders())
                .run()
                .await
        }
        Impl::Tarpc(codec) => {
            listening(listener.local_addr()?.port())?;
            tarpc_sum::serve(listener, codec).await
        }
        Impl::Raw => {
            listening(listener.local_addr()?.port())?;
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(raw_answer(stream, Arc::clone(&answers)));
            }
        }
        Impl::RawTls => {
            let tls = tokio_rustls::TlsAcceptor::from(Arc::clone(server_tls(cert)?.config()));
            listening(listener.local_addr()?.port())?;
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let tls = tls.clone();
                let answers = Arc::clone(&answers);
                tokio::spawn(async move {
                    if let Ok(stream) = tls.accept(stream).await {
                        raw_answer(stream, answers).await;
                    }
                });
            }
        }
        Impl::AmpAsyncStd | Impl::AmpSmol | Impl::RawSmol | Impl::AmpUnix | Impl::RawUnix => {
            unreachable!("not a tokio TCP server")
        }
    }
}

/// Answers for every request one read can bring, shared by the raw
/// servers' connections.
fn raw_answers() -> Arc<Vec<u8>> {
    let (req, ans) = raw_messages();
    Arc::new(ans.repeat(RAW_READ / req.len() + 2))
}

/// Answers every whole request-sized chunk it reads with one answer-sized
/// chunk, in one write per read: a ping-pong with no protocol work at all.
async fn raw_answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, answers: Arc<Vec<u8>>) {
    let (req, ans) = raw_messages();
    let ans_len = ans.len();
    let mut requests = Whole::new(req.len());
    let mut buf = vec![0u8; RAW_READ];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let k = requests.add(n);
        if k > 0 && stream.write_all(&answers[..k * ans_len]).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------- clients

struct Tokio;

impl Runtime for Tokio {
    fn spawn<F>(&self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        async move {
            let _ = handle.await;
        }
    }
}

enum Conn {
    Amp(Peer),
    Tarpc(tarpc_sum::ArithClient),
    Raw(TcpStream),
    RawTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    RawUnix(UnixStream),
}

async fn connect(imp: Impl, addr: &str, tls: Option<&ClientTls>) -> io::Result<Conn> {
    let tcp = || async {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok::<_, io::Error>(s)
    };
    let tls = || tls.ok_or_else(|| io::Error::other("no TLS settings"));
    Ok(match imp {
        Impl::Amp => Conn::Amp(amp_tokio::connect(addr, Responders::new()).await?),
        Impl::AmpTls => Conn::Amp(amp_tokio::tls::connect(addr, tls()?, Responders::new()).await?),
        Impl::AmpUnix => Conn::Amp(amp_tokio::unix::connect(addr, Responders::new()).await?),
        Impl::Tarpc(codec) => Conn::Tarpc(tarpc_sum::connect(addr, codec).await?),
        Impl::Raw => Conn::Raw(tcp().await?),
        Impl::RawTls => {
            let tls = tls()?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls.config()));
            let stream = connector
                .connect(tls.server_name().clone(), tcp().await?)
                .await?;
            Conn::RawTls(Box::new(stream))
        }
        Impl::RawUnix => Conn::RawUnix(UnixStream::connect(addr).await?),
        Impl::AmpAsyncStd | Impl::AmpSmol | Impl::RawSmol => unreachable!("not a tokio client"),
    })
}

async fn client(spec: ClientSpec) -> io::Result<String> {
    let tls = match spec.imp {
        Impl::AmpTls | Impl::RawTls => Some(client_tls(spec.cert.as_deref())?),
        _ => None,
    };
    let conns =
        client::connect_all(spec.conns, || connect(spec.imp, &spec.addr, tls.as_ref())).await?;
    Ok(client::measure(
        &Tokio,
        &spec,
        conns,
        |conn, inflight, counter, stop| async move {
            match conn {
                Conn::Amp(peer) => client::amp_worker(peer, inflight, &counter, &stop).await,
                Conn::Tarpc(client) => tarpc_worker(client, inflight, &counter, &stop).await,
                Conn::Raw(stream) => raw_worker(stream, inflight, &counter, &stop).await,
                Conn::RawTls(stream) => raw_worker(*stream, inflight, &counter, &stop).await,
                Conn::RawUnix(stream) => raw_worker(stream, inflight, &counter, &stop).await,
            }
        },
    )
    .await)
}

/// The counterpart of [`client::amp_worker`]: `inflight` loops, each making
/// one call after another on the shared client, timed the same way.
async fn tarpc_worker(
    client: tarpc_sum::ArithClient,
    inflight: usize,
    counter: &Counters,
    stop: &AtomicBool,
) {
    let _flush = latency::prepare();
    let client = &client;
    let mut workers: FuturesUnordered<_> = (0..inflight)
        .map(|_| async move {
            let mut issued = Instant::now();
            while !stop.load(Relaxed) {
                let answer = tarpc_sum::call(client, A, B).await;
                let answered = Instant::now();
                match answer {
                    Ok(TOTAL) => {
                        latency::record(issued, answered);
                        counter.done.fetch_add(1, Relaxed);
                    }
                    _ => {
                        counter.errors.fetch_add(1, Relaxed);
                    }
                }
                issued = answered;
            }
        })
        .collect();
    while workers.next().await.is_some() {}
}

/// Writes `inflight` requests, then one request for each answer read. Each
/// answer's latency runs from the write of the oldest request not yet
/// answered to the read that completed it (see `latency::Sent`).
async fn raw_worker(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    inflight: usize,
    counter: &Counters,
    stop: &AtomicBool,
) {
    let _flush = latency::prepare();
    let (req, ans) = raw_messages();
    let requests = req.repeat(inflight);
    let mut buf = vec![0u8; RAW_READ];
    let mut answers = Whole::new(ans.len());
    let mut sent = Sent::default();
    let mut outstanding = inflight;
    sent.sent(inflight, Instant::now());
    if stream.write_all(&requests).await.is_err() {
        counter.errors.fetch_add(1, Relaxed);
        return;
    }
    while outstanding > 0 {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                counter.errors.fetch_add(1, Relaxed);
                return;
            }
            Ok(n) => n,
        };
        let k = answers.add(n);
        sent.answered(k, Instant::now());
        counter.done.fetch_add(k as u64, Relaxed);
        outstanding -= k;
        if k > 0 && !stop.load(Relaxed) {
            sent.sent(k, Instant::now());
            if stream.write_all(&requests[..k * req.len()]).await.is_err() {
                counter.errors.fetch_add(1, Relaxed);
                return;
            }
            outstanding += k;
        }
    }
}

/// Opens `spec.conns` connections, makes one call on each (the raw
/// ping-pong: one exchange) so that both ends have done their first read
/// and write, prints `READY`, then holds them, idle, for `hold` seconds:
/// the other side's memory per idle connection is then measurable.
pub fn run_hold(spec: ClientSpec, hold: f64) -> io::Result<()> {
    runtime(1)?.block_on(async move {
        let tls = match spec.imp {
            Impl::AmpTls | Impl::RawTls => Some(client_tls(spec.cert.as_deref())?),
            _ => None,
        };
        let mut conns =
            client::connect_all(spec.conns, || connect(spec.imp, &spec.addr, tls.as_ref())).await?;
        let (req, ans) = raw_messages();
        let mut buf = vec![0u8; ans.len()];
        for conn in &mut conns {
            match conn {
                Conn::Amp(peer) => {
                    let total = peer
                        .call_as::<crate::Sum>(&crate::SumArgs { a: A, b: B })
                        .await
                        .map_err(io::Error::other)?;
                    assert_eq!(total.total, TOTAL);
                }
                Conn::Tarpc(c) => {
                    tarpc_sum::call(c, A, B).await.map_err(io::Error::other)?;
                }
                Conn::Raw(s) => {
                    s.write_all(&req).await?;
                    s.read_exact(&mut buf).await?;
                }
                Conn::RawTls(s) => {
                    s.write_all(&req).await?;
                    s.read_exact(&mut buf).await?;
                }
                Conn::RawUnix(s) => {
                    s.write_all(&req).await?;
                    s.read_exact(&mut buf).await?;
                }
            }
        }
        println!("READY {}", conns.len());
        io::stdout().flush()?;
        client::sleep(std::time::Duration::from_secs_f64(hold)).await;
        drop(conns);
        Ok(())
    })
}
