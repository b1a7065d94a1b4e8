//! amp-async-std's server and client, on async-std or on smol.
//!
//! - async-std: `async_std::task::block_on` on the main thread (the
//!   listener's accept loop, or the client's clock) and the connections'
//!   tasks on async-std's global executor, whose worker threads are set by
//!   `--threads` through `ASYNC_STD_THREAD_COUNT` (default here 1, as the
//!   tokio side runs one thread; async-std's own default is one per core).
//! - smol, `--executor own` (the default): one `smol::Executor` run by
//!   `smol::block_on` on the main thread, which also drives the I/O reactor
//!   while it has nothing to run; every task (accept loop, connections, the
//!   client's workers) is spawned on it. That is the counterpart of tokio's
//!   current-thread runtime. `--threads N` adds N - 1 threads running the
//!   same executor.
//! - smol, `--executor global`: `smol::block_on` on the main thread with
//!   amp-async-std's `Smol` spawner, i.e. the tasks run on smol's global
//!   executor, on its own thread(s) (`SMOL_THREADS`, set by `--threads`).
//!
//! Also the raw ping-pong on smol (`raw-smol`, async-io's TCP): the same
//! loops as tokio's `raw`, to tell the runtime's own cost from the
//! binding's.

use std::future::Future;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use amp_async_std::Runtime as AmpRuntime;
use amp_async_std::{AsyncStd, Responders, Smol, Split, Task};
use futures::FutureExt;
use futures::future;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use smol::Executor;
use smol::net::{TcpListener, TcpStream};

use crate::client::{self, ClientSpec, Counters, Runtime};
use crate::latency::{self, Sent};
use crate::{Impl, RAW_READ, Whole, raw_messages, sum_responders};

/// Which executor runs amp-smol's tasks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SmolExecutor {
    /// A `smol::Executor` of the benchmark's own, run on the main thread.
    Own,
    /// smol's global executor (amp-async-std's `Smol` spawner).
    Global,
}

impl SmolExecutor {
    pub fn parse(s: &str) -> Result<SmolExecutor, String> {
        match s {
            "own" => Ok(SmolExecutor::Own),
            "global" => Ok(SmolExecutor::Global),
            other => Err(format!("unknown --executor {other:?} (own, global)")),
        }
    }
}

/// Sets an executor's thread count through its environment variable, unless
/// the environment already sets it.
fn threads_from_env(var: &str, threads: usize) {
    if std::env::var_os(var).is_none() {
        // SAFETY: called before the runtime starts; the only other thread
        // then is a server's `--max-seconds` watchdog, which sleeps and
        // exits without reading the environment.
        unsafe { std::env::set_var(var, threads.max(1).to_string()) };
    }
}

fn listening(port: u16) -> io::Result<()> {
    println!("LISTENING {port}");
    io::stdout().flush()
}

async fn serve(imp: Impl, addr: &str, spawner: impl AmpRuntime) -> io::Result<()> {
    if imp == Impl::RawSmol {
        let listener = TcpListener::bind(addr).await?;
        listening(listener.local_addr()?.port())?;
        return raw_serve(listener, spawner).await;
    }
    let server = amp_async_std::bind(spawner, addr, |_| sum_responders()).await?;
    listening(server.local_addr()?.port())?;
    server.run().await
}

// ---------------------------------------------------------------- async-std

pub fn async_std_server(addr: &str, threads: usize) -> io::Result<()> {
    threads_from_env("ASYNC_STD_THREAD_COUNT", threads);
    async_std::task::block_on(serve(Impl::AmpAsyncStd, addr, AsyncStd))
}

#[derive(Clone, Copy)]
struct OnAsyncStd;

impl Runtime for OnAsyncStd {
    fn spawn<F>(&self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_std::task::spawn(task)
    }
}

pub fn async_std_client(spec: ClientSpec, threads: usize) -> io::Result<String> {
    threads_from_env("ASYNC_STD_THREAD_COUNT", threads);
    async_std::task::block_on(client(OnAsyncStd, AsyncStd, spec))
}

// ---------------------------------------------------------------- smol

/// An executor of our own, run by the main thread and `threads - 1` more.
fn own_executor(threads: usize) -> &'static Executor<'static> {
    // Lives as long as the process.
    let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    for _ in 1..threads {
        std::thread::spawn(move || smol::block_on(ex.run(future::pending::<()>())));
    }
    ex
}

/// Spawns on one `smol::Executor`.
#[derive(Clone, Copy)]
struct OnExecutor(&'static Executor<'static>);

impl AmpRuntime for OnExecutor {
    fn spawn(&self, task: Task) {
        self.0.spawn(task).detach();
    }

    fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
        // Not an `async fn`: its future would borrow `self`.
        smol::Timer::after(duration).map(drop)
    }
}

impl<S: futures::io::AsyncRead + futures::io::AsyncWrite + Send + 'static> Split<S> for OnExecutor {
    type Reader = amp_async_std::transport::Reader<futures::io::ReadHalf<S>>;
    type Writer = amp_async_std::transport::Writer<futures::io::WriteHalf<S>>;

    fn split(stream: S) -> (Self::Reader, Self::Writer) {
        amp_async_std::transport::split(stream)
    }
}

impl Runtime for OnExecutor {
    fn spawn<F>(&self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(task)
    }
}

/// smol's global executor.
#[derive(Clone, Copy)]
struct OnSmolGlobal;

impl Runtime for OnSmolGlobal {
    fn spawn<F>(&self, task: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol::spawn(task)
    }
}

pub fn smol_server(
    imp: Impl,
    addr: &str,
    threads: usize,
    executor: SmolExecutor,
) -> io::Result<()> {
    match executor {
        SmolExecutor::Own => {
            let ex = own_executor(threads);
            // The accept loop is a task of the executor too, so all of the
            // server's work is in one place.
            let addr = addr.to_owned();
            let server = ex.spawn(async move { serve(imp, &addr, OnExecutor(ex)).await });
            smol::block_on(ex.run(server))
        }
        SmolExecutor::Global => {
            threads_from_env("SMOL_THREADS", threads);
            smol::block_on(serve(imp, addr, Smol))
        }
    }
}

pub fn smol_client(spec: ClientSpec, threads: usize, executor: SmolExecutor) -> io::Result<String> {
    match executor {
        SmolExecutor::Own => {
            let ex = OnExecutor(own_executor(threads));
            smol::block_on(ex.0.run(client(ex, ex, spec)))
        }
        SmolExecutor::Global => {
            threads_from_env("SMOL_THREADS", threads);
            smol::block_on(client(OnSmolGlobal, Smol, spec))
        }
    }
}

// ---------------------------------------------------------------- client

/// The amp-tokio client's loop, with amp-async-std's `connect` (each
/// connection's tasks spawned with `spawner`) and the workers spawned on
/// `rt`; or the raw ping-pong's.
async fn client(
    rt: impl Runtime,
    spawner: impl Split<TcpStream>,
    spec: ClientSpec,
) -> io::Result<String> {
    if spec.imp == Impl::RawSmol {
        let conns = client::connect_all(spec.conns, || async {
            let stream = TcpStream::connect(spec.addr.as_str()).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
        .await?;
        return Ok(client::measure(
            &rt,
            &spec,
            conns,
            |stream, inflight, counter, stop| async move {
                raw_worker(stream, inflight, &counter, &stop).await
            },
        )
        .await);
    }
    let conns = client::connect_all(spec.conns, || {
        amp_async_std::connect(spawner.clone(), spec.addr.as_str(), Responders::new())
    })
    .await?;
    Ok(client::measure(
        &rt,
        &spec,
        conns,
        |peer, inflight, counter, stop| async move {
            client::amp_worker(peer, inflight, &counter, &stop).await
        },
    )
    .await)
}

// ---------------------------------------------------------------- raw ping-pong

/// The tokio raw server's loop over async-io's TCP.
async fn raw_serve(listener: TcpListener, spawner: impl AmpRuntime) -> io::Result<()> {
    let (req, ans) = raw_messages();
    let answers: Arc<Vec<u8>> = Arc::new(ans.repeat(RAW_READ / req.len() + 2));
    let ans_len = ans.len();
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answers = Arc::clone(&answers);
        let mut requests = Whole::new(req.len());
        spawner.spawn(Box::pin(async move {
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
        }));
    }
}

/// The tokio raw client's loop over async-io's TCP, timed the same way.
async fn raw_worker(mut stream: TcpStream, inflight: usize, counter: &Counters, stop: &AtomicBool) {
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
