//! Addresses on the command line: TCP's `HOST:PORT` and a UNIX socket's
//! `unix:PATH`; a prefix names the transport, and each one is a variant
//! here (`tls:HOST:PORT` is refused until the command speaks TLS).

use std::fmt;
use std::io;
use std::path::PathBuf;

use amp_tokio::{Peer, Responders};

/// Where to connect or listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT` over TCP (`[::1]:PORT` for IPv6).
    Tcp(String),
    /// `unix:PATH`, a UNIX stream socket.
    Unix(PathBuf),
}

impl Address {
    /// Parses an address given on the command line.
    ///
    /// ```
    /// use amp::addr::Address;
    /// assert_eq!(Address::parse("127.0.0.1:1234"), Ok(Address::Tcp("127.0.0.1:1234".into())));
    /// assert!(Address::parse("127.0.0.1").is_err());
    /// assert_eq!(Address::parse("unix:/tmp/s"), Ok(Address::Unix("/tmp/s".into())));
    /// assert!(Address::parse("unix:").is_err());
    /// assert!(Address::parse("tls:h:1").unwrap_err().contains("not supported"));
    /// ```
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some((scheme, rest)) = s.split_once(':') {
            if matches!(scheme, "unix" | "tls" | "tcp" | "stdio" | "exec") {
                return match scheme {
                    "tcp" => Address::parse(rest),
                    "unix" if rest.is_empty() => Err("unix: needs a path: unix:PATH".into()),
                    "unix" => Ok(Address::Unix(rest.into())),
                    _ => Err(format!(
                        "{scheme}: addresses are not supported by this command; give HOST:PORT or unix:PATH"
                    )),
                };
            }
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Address::Tcp(s.to_owned()))
            }
            _ => Err(format!("expected HOST:PORT, got {s:?}")),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => f.write_str(a),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Address {
    /// Connects to this address and serves `responders` on the connection.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let addr = amp::addr::Address::parse("unix:/run/amp.sock").unwrap();
    /// let peer = addr.connect(amp_tokio::Responders::new()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, responders: Responders) -> io::Result<Peer> {
        match self {
            Address::Tcp(a) => amp_tokio::connect(a.as_str(), responders).await,
            Address::Unix(path) => amp_tokio::unix::connect(path, responders).await,
        }
    }
}

/// The clap value parser for an [`Address`].
pub fn parse_address(s: &str) -> Result<Address, String> {
    Address::parse(s)
}
