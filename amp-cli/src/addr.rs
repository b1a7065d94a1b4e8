//! Addresses on the command line. Only TCP's `HOST:PORT` for now; a
//! prefix (`unix:PATH`, `tls:HOST:PORT`) names another transport, and each
//! one is a variant here.

use std::fmt;

/// Where to connect or listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT` over TCP (`[::1]:PORT` for IPv6).
    Tcp(String),
}

impl Address {
    /// Parses an address given on the command line.
    ///
    /// ```
    /// use amp::addr::Address;
    /// assert_eq!(Address::parse("127.0.0.1:1234"), Ok(Address::Tcp("127.0.0.1:1234".into())));
    /// assert!(Address::parse("127.0.0.1").is_err());
    /// assert!(Address::parse("unix:/tmp/s").unwrap_err().contains("not supported"));
    /// ```
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some((scheme, _)) = s.split_once(':') {
            if matches!(scheme, "unix" | "tls" | "tcp" | "stdio" | "exec") {
                return match scheme {
                    "tcp" => Address::parse(&s[4..]),
                    _ => Err(format!(
                        "{scheme}: addresses are not supported by this command; give HOST:PORT"
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
        }
    }
}

/// The clap value parser for an [`Address`].
pub fn parse_address(s: &str) -> Result<Address, String> {
    Address::parse(s)
}
