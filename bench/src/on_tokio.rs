//! Servers and clients on tokio: amp-tokio, tarpc and the raw ping-pong.

use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use amp_tokio::{Peer, Responders, Server};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::client::{self, ClientSpec, Counters, Runtime};
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

pub fn run_server(imp: Impl, addr: &str, threads: usize) -> io::Result<()> {
    runtime(threads)?.block_on(server(imp, addr))
}

pub fn run_client(spec: ClientSpec, threads: usize) -> io::Result<String> {
    runtime(threads)?.block_on(client(spec))
}

// ---------------------------------------------------------------- servers

async fn server(imp: Impl, addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    io::stdout().flush()?;
    match imp {
        Impl::Amp => {
            Server::new(amp_tokio::Tokio, listener.into(), |_| sum_responders())
                .run()
                .await
        }
        Impl::Tarpc(codec) => tarpc_sum::serve(listener, codec).await,
        Impl::Raw => raw_serve(listener).await,
        Impl::AmpAsyncStd | Impl::AmpSmol | Impl::RawSmol => unreachable!("not a tokio server"),
    }
}

/// Answers every whole request-sized chunk it reads with one answer-sized
/// chunk, in one write per read: a ping-pong with no protocol work at all.
async fn raw_serve(listener: TcpListener) -> io::Result<()> {
    let (req, ans) = raw_messages();
    let answers: Arc<Vec<u8>> = Arc::new(ans.repeat(RAW_READ / req.len() + 2));
    let ans_len = ans.len();
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answers = Arc::clone(&answers);
        let mut requests = Whole::new(req.len());
        tokio::spawn(async move {
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
        });
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
}

async fn connect(imp: Impl, addr: &str) -> io::Result<Conn> {
    Ok(match imp {
        Impl::Amp => Conn::Amp(amp_tokio::connect(addr, Responders::new()).await?),
        Impl::Tarpc(codec) => Conn::Tarpc(tarpc_sum::connect(addr, codec).await?),
        Impl::Raw => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Conn::Raw(s)
        }
        Impl::AmpAsyncStd | Impl::AmpSmol | Impl::RawSmol => unreachable!("not a tokio client"),
    })
}

async fn client(spec: ClientSpec) -> io::Result<String> {
    let conns = client::connect_all(spec.conns, || connect(spec.imp, &spec.addr)).await?;
    Ok(client::measure(
        &Tokio,
        &spec,
        conns,
        |conn, inflight, counter, stop| async move {
            match conn {
                Conn::Amp(peer) => client::amp_worker(peer, inflight, &counter, &stop).await,
                Conn::Tarpc(client) => tarpc_worker(client, inflight, &counter, &stop).await,
                Conn::Raw(stream) => raw_worker(stream, inflight, &counter, &stop).await,
            }
        },
    )
    .await)
}

/// The counterpart of [`client::amp_worker`]: `inflight` loops, each making
/// one call after another on the shared client.
async fn tarpc_worker(
    client: tarpc_sum::ArithClient,
    inflight: usize,
    counter: &Counters,
    stop: &AtomicBool,
) {
    let client = &client;
    let mut workers: FuturesUnordered<_> = (0..inflight)
        .map(|_| async move {
            while !stop.load(Relaxed) {
                match tarpc_sum::call(client, A, B).await {
                    Ok(TOTAL) => {
                        counter.done.fetch_add(1, Relaxed);
                    }
                    _ => {
                        counter.errors.fetch_add(1, Relaxed);
                    }
                }
            }
        })
        .collect();
    while workers.next().await.is_some() {}
}

/// Writes `inflight` requests, then one request for each answer read.
async fn raw_worker(mut stream: TcpStream, inflight: usize, counter: &Counters, stop: &AtomicBool) {
    let (req, ans) = raw_messages();
    let requests = req.repeat(inflight);
    let mut buf = vec![0u8; RAW_READ];
    let mut answers = Whole::new(ans.len());
    let mut outstanding = inflight;
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
        counter.done.fetch_add(k as u64, Relaxed);
        outstanding -= k;
        if k > 0 && !stop.load(Relaxed) {
            if stream.write_all(&requests[..k * req.len()]).await.is_err() {
                counter.errors.fetch_add(1, Relaxed);
                return;
            }
            outstanding += k;
        }
    }
}
