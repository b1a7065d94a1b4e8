//! The TLS flags of the howto examples (`ampserver`, `ampclient` and their
//! futures-io twins), before or after the address:
//!
//! | flag | who | what |
//! |---|---|---|
//! | `--tls CERT.pem KEY.pem` | server | answer Twisted's `StartTLS` with this certificate |
//! | `--starttls CA.pem` | client | call `StartTLS` before the calls, verifying the server against these authorities |
//! | `--server-name NAME` | client | the name the server's certificate must carry (default `localhost`) |
//!
//! The servers also answer the catalogue's `SwitchToEcho` (a
//! `ProtocolSwitchCommand`: after its answer they echo every byte).
//!
//! The TLS itself is the bindings' (their `tls` feature); an example built
//! without it refuses these flags.

use std::path::PathBuf;

use amp_core::AmpBox;

use crate::howto::{Address, Side};
use amp_engine::Responders;
use amp_engine::tls::{ClientTls, ServerTls};

/// The catalogue's `SwitchToEcho` (interop/COMMANDS.md): the command a
/// server's upgrades switch on, then echoing every byte.
pub const SWITCH_TO_ECHO: &str = <crate::catalogue::SwitchToEcho as amp_core::Command>::NAME;

/// `responders` with `SwitchToEcho` answered (an empty answer); the switch
/// itself, and the echo after it, are the binding's upgrades'.
///
/// ```
/// let responders = amp_conformance::howto_tls::answer_switch_to_echo(amp_engine::Responders::new());
/// # drop(responders);
/// ```
pub fn answer_switch_to_echo(responders: Responders) -> Responders {
    responders.raw_responder(SWITCH_TO_ECHO, |_, _| async { Ok(AmpBox::new()) })
}

/// An example's command line: the address and the TLS flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Flags {
    /// The first argument that is not a flag, if any.
    pub address: Option<String>,
    /// Every argument that is not a flag, in order (the address and, for
    /// `exec:`, the command's words).
    pub args: Vec<String>,
    /// `--tls CERT KEY`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--starttls CA`.
    pub starttls: Option<PathBuf>,
    /// `--server-name NAME`.
    pub server_name: Option<String>,
}

/// Parses `args` (without the program's name): the flags may come before
/// or after the address.
///
/// ```
/// use amp_conformance::howto_tls::parse;
/// let f = parse(["127.0.0.1:1", "--starttls", "ca.pem"].map(String::from)).unwrap();
/// assert_eq!(f.address.as_deref(), Some("127.0.0.1:1"));
/// assert_eq!(f.starttls.unwrap().to_str(), Some("ca.pem"));
/// let f = parse(["--tls", "c.pem", "k.pem", "127.0.0.1:2"].map(String::from)).unwrap();
/// assert_eq!(f.address.as_deref(), Some("127.0.0.1:2"));
/// let f = parse(["exec:python3", "server.py", "stdio"].map(String::from)).unwrap();
/// assert_eq!(f.args, ["exec:python3", "server.py", "stdio"]);
/// assert!(parse(["--tls", "c.pem"].map(String::from)).is_err());
/// assert!(parse(["--what"].map(String::from)).is_err());
/// ```
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut args = args.into_iter();
    let value = |args: &mut dyn Iterator<Item = String>, flag: &str, what: &str| {
        args.next().ok_or_else(|| format!("{flag} needs {what}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => {
                let cert = value(&mut args, "--tls", "CERT.pem KEY.pem")?;
                let key = value(&mut args, "--tls", "CERT.pem KEY.pem")?;
                flags.tls = Some((cert.into(), key.into()));
            }
            "--starttls" => flags.starttls = Some(value(&mut args, "--starttls", "CA.pem")?.into()),
            "--server-name" => {
                flags.server_name = Some(value(&mut args, "--server-name", "a name")?)
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ => {
                if flags.address.is_none() {
                    flags.address = Some(arg.clone());
                }
                flags.args.push(arg);
            }
        }
    }
    Ok(flags)
}

/// This program's flags; a bad command line is reported and the program
/// exits with status 2.
pub fn flags() -> Flags {
    match parse(std::env::args().skip(1)) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2)
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

impl Flags {
    /// Where the example serves or connects ([`Address::parse`] of the
    /// arguments that are not flags); a bad address is reported and the
    /// program exits with status 2.
    pub fn where_to(&self, side: Side) -> Address {
        Address::parse(side, &self.args).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        })
    }

    /// The address, `127.0.0.1:1234` by default.
    ///
    /// ```
    /// assert_eq!(amp_conformance::howto_tls::Flags::default().address(), "127.0.0.1:1234");
    /// ```
    pub fn address(&self) -> String {
        self.address
            .clone()
            .unwrap_or_else(|| "127.0.0.1:1234".to_owned())
    }

    /// The server's TLS of `--tls`, if given.
    ///
    /// ```
    /// assert!(amp_conformance::howto_tls::Flags::default().server_tls().unwrap().is_none());
    /// ```
    pub fn server_tls(&self) -> Result<Option<ServerTls>, String> {
        let Some((cert, key)) = &self.tls else {
            return Ok(None);
        };
        ServerTls::from_pem(&read(cert)?, &read(key)?)
            .map(Some)
            .map_err(|e| format!("--tls: {e}"))
    }

    /// The client's TLS of `--starttls` and `--server-name`, if given.
    ///
    /// ```
    /// assert!(amp_conformance::howto_tls::Flags::default().client_tls().unwrap().is_none());
    /// ```
    pub fn client_tls(&self) -> Result<Option<ClientTls>, String> {
        let Some(ca) = &self.starttls else {
            return Ok(None);
        };
        let name = self.server_name.as_deref().unwrap_or("localhost");
        ClientTls::from_pem(&read(ca)?, name)
            .map(Some)
            .map_err(|e| format!("--starttls: {e}"))
    }
}
