//! The same Sum service on tarpc, over TCP with tokio-serde's bincode or JSON
//! codec in tarpc's length-delimited framing (its `serde_transport`).

use std::io;

use futures::StreamExt;
use tarpc::context;
use tarpc::server::{self, BaseChannel, Channel};
use tarpc::tokio_serde::formats::{Bincode, Json};
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::net::{TcpListener, TcpStream};

/// Requests a client may queue before tarpc's dispatcher takes them, and
/// answers a server connection may buffer: raised from tarpc's defaults
/// (100) above the deepest pipeline measured (256), so neither is the limit.
const BUFFER: usize = 1024;

#[tarpc::service]
pub trait Arith {
    /// `a + b`.
    async fn sum(a: i64, b: i64) -> i64;
}

#[derive(Clone)]
struct ArithServer;

impl Arith for ArithServer {
    async fn sum(self, _: context::Context, a: i64, b: i64) -> i64 {
        a + b
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Codec {
    Bincode,
    Json,
}

/// Serves Sum on every accepted connection: tarpc's usual
/// `BaseChannel::execute` with a task spawned per request.
pub async fn serve(listener: TcpListener, codec: Codec) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let framed = LengthDelimitedCodec::builder().new_framed(stream);
        let config = server::Config {
            pending_response_buffer: BUFFER,
        };
        macro_rules! spawn_channel {
            ($format:expr) => {{
                let transport = tarpc::serde_transport::new(framed, $format);
                let channel = BaseChannel::new(config, transport);
                tokio::spawn(
                    channel
                        .execute(ArithServer.serve())
                        .for_each(|answer| async move {
                            tokio::spawn(answer);
                        }),
                );
            }};
        }
        match codec {
            Codec::Bincode => spawn_channel!(Bincode::default()),
            Codec::Json => spawn_channel!(Json::default()),
        }
    }
}

/// Connects a tarpc client (its dispatcher runs as a task).
pub async fn connect(addr: &str, codec: Codec) -> io::Result<ArithClient> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let framed = LengthDelimitedCodec::builder().new_framed(stream);
    let mut config = tarpc::client::Config::default();
    config.pending_request_buffer = BUFFER;
    config.max_in_flight_requests = BUFFER;
    Ok(match codec {
        Codec::Bincode => ArithClient::new(
            config,
            tarpc::serde_transport::new(framed, Bincode::default()),
        )
        .spawn(),
        Codec::Json => {
            ArithClient::new(config, tarpc::serde_transport::new(framed, Json::default())).spawn()
        }
    })
}

/// One call, with tarpc's default context (a 10 s deadline).
pub fn call(
    client: &ArithClient,
    a: i64,
    b: i64,
) -> impl Future<Output = Result<i64, tarpc::client::RpcError>> + '_ {
    client.sum(context::current(), a, b)
}
