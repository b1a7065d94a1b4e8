//! Addresses on the command line: TCP's `HOST:PORT`, a UNIX socket's
//! `unix:PATH`, and `tls:HOST:PORT` (TLS from the first byte, as Twisted's
//! `ssl:` endpoints; to connect to, with [`TlsArgs`]); a prefix names the
//! transport, and each one is a variant here.

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
    /// `tls:HOST:PORT`, TLS over TCP from the first byte.
    Tls(String),
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
    /// assert_eq!(Address::parse("tls:localhost:1"), Ok(Address::Tls("localhost:1".into())));
    /// assert!(Address::parse("stdio:").unwrap_err().contains("not supported"));
    /// ```
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some((scheme, rest)) = s.split_once(':')
            && matches!(scheme, "unix" | "tls" | "tcp" | "stdio" | "exec")
        {
            return match scheme {
                "tcp" => Address::parse(rest),
                "unix" if rest.is_empty() => Err("unix: needs a path: unix:PATH".into()),
                "unix" => Ok(Address::Unix(rest.into())),
                "tls" => match Address::parse(rest)? {
                    Address::Tcp(a) => Ok(Address::Tls(a)),
                    _ => Err(format!("expected tls:HOST:PORT, got {s:?}")),
                },
                _ => Err(format!(
                    "{scheme}: addresses are not supported by this command; give HOST:PORT, unix:PATH or tls:HOST:PORT"
                )),
            };
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
            Address::Tls(a) => write!(f, "tls:{a}"),
        }
    }
}

/// How to verify a `tls:` address's server, and the certificate to show
/// it, for the subcommands that connect.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// For a tls: address, the authorities (PEM) to verify the server with.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// For a tls: address, the name the server's certificate must have
    /// (default: the address's host).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// For a tls: address, a certificate chain (PEM) to show the server
    /// (mutual TLS), with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl TlsArgs {
    /// Whether these settings can connect to `addr`: a `tls:` address
    /// needs `--ca`.
    ///
    /// ```
    /// use amp::addr::{Address, TlsArgs};
    /// let tls = Address::parse("tls:h:1").unwrap();
    /// assert!(TlsArgs::default().check(&tls).unwrap_err().contains("--ca"));
    /// assert!(TlsArgs::default().check(&Address::parse("h:1").unwrap()).is_ok());
    /// ```
    pub fn check(&self, addr: &Address) -> Result<(), String> {
        match (addr, &self.ca) {
            (Address::Tls(_), None) => Err(format!(
                "{addr} needs --ca FILE, the authorities to verify the server with"
            )),
            _ => Ok(()),
        }
    }

    /// The client side of TLS for `host`, from the files given.
    fn client(&self, host: &str) -> io::Result<amp_tokio::tls::ClientTls> {
        let read = |path: &PathBuf| {
            std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let Some(ca) = &self.ca else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a tls: address needs --ca FILE, the authorities to verify the server with",
            ));
        };
        let ca = read(ca)?;
        let name = self.server_name.as_deref().unwrap_or(host);
        let bad = |e: amp_tokio::tls::TlsError| {
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => amp_tokio::tls::ClientTls::from_pem_with_certificate(
                &ca,
                name,
                &read(cert)?,
                &read(key)?,
            )
            .map_err(bad),
            _ => amp_tokio::tls::ClientTls::from_pem(&ca, name).map_err(bad),
        }
    }
}

/// The host of `HOST:PORT`, without an IPv6 address's brackets.
fn host(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

impl Address {
    /// Connects to this address and serves `responders` on the connection;
    /// a `tls:` address is verified as `tls` says.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let addr = amp::addr::Address::parse("unix:/run/amp.sock").unwrap();
    /// let peer = addr.connect(amp_tokio::Responders::new(), &Default::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, responders: Responders, tls: &TlsArgs) -> io::Result<Peer> {
        match self {
            Address::Tcp(a) => amp_tokio::connect(a.as_str(), responders).await,
            Address::Unix(path) => amp_tokio::unix::connect(path, responders).await,
            Address::Tls(a) => {
                let client = tls.client(host(a))?;
                amp_tokio::tls::connect(a.as_str(), &client, responders).await
            }
        }
    }
}

/// The clap value parser for an [`Address`].
pub fn parse_address(s: &str) -> Result<Address, String> {
    Address::parse(s)
}
