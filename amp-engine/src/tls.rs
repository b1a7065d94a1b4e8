//! TLS for AMP, with rustls (feature `tls`): the settings of each side
//! ([`ClientTls`], [`ServerTls`]), Twisted's `StartTLS` command
//! ([`start_tls`], [`answer_start_tls`]), and what the bindings' TLS
//! upgraders share ([`Side`], [`handshake_failure`]). The bindings
//! (amp-tokio's and amp-async-std's `tls` modules) run the handshakes, over
//! the engine's in-place transport upgrade ([`Upgrader`](crate::Upgrader)).
//!
//! StartTLS as Twisted does it: the caller sends `StartTLS` (no arguments
//! on the wire) and holds every later box; the responder answers (an empty
//! box), then starts TLS as the server; the caller starts TLS as the client
//! when the answer comes, then sends what it held. The answer is the last
//! plain box each way.
//!
//! ```
//! use amp_engine::tls::{ClientTls, ServerTls};
//!
//! let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let server = ServerTls::from_pem(ca.cert.pem().as_bytes(), ca.key_pair.serialize_pem().as_bytes()).unwrap();
//! let client = ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost").unwrap();
//! assert_eq!(format!("{:?}", client.server_name()), "DnsName(\"localhost\")");
//! # drop(server);
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use amp_core::{AmpBox, ResponderError};

use crate::{Peer, Responders, Upgrade, UpgradeError};

/// The name of Twisted's `StartTLS` command.
pub const START_TLS: &str = "StartTLS";

/// The error code of a refused `StartTLS` (TLS already on), as Twisted's
/// `_TLSBox` names its errors.
pub const TLS_ERROR_CODE: &str = "TLS_ERROR";

/// Why TLS settings could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM input did not parse.
    Pem(String),
    /// A PEM input held no certificate.
    NoCertificate,
    /// A PEM input held no private key.
    NoKey,
    /// The server name is not a DNS name or an IP address.
    ServerName(String),
    /// rustls refused the settings (a key that does not match, say).
    Rustls(rustls::Error),
    /// The authorities could not be used to verify peers.
    Verifier(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem(e) => write!(f, "bad PEM: {e}"),
            TlsError::NoCertificate => f.write_str("no certificate in the PEM input"),
            TlsError::NoKey => f.write_str("no private key in the PEM input"),
            TlsError::ServerName(n) => write!(f, "{n:?} is not a DNS name or an IP address"),
            TlsError::Rustls(e) => write!(f, "TLS settings refused: {e}"),
            TlsError::Verifier(e) => write!(f, "cannot verify peers with these authorities: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// Every certificate of a PEM input.
///
/// ```
/// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// assert_eq!(amp_engine::tls::certificates(ca.cert.pem().as_bytes()).unwrap().len(), 1);
/// assert!(amp_engine::tls::certificates(b"nothing").is_err());
/// ```
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// The first private key of a PEM input (PKCS#8, PKCS#1 or SEC1).
///
/// ```
/// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// assert!(amp_engine::tls::private_key(ca.key_pair.serialize_pem().as_bytes()).is_ok());
/// assert!(amp_engine::tls::private_key(ca.cert.pem().as_bytes()).is_err());
/// ```
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey,
        e => TlsError::Pem(e.to_string()),
    })
}

fn roots(ca_pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem)? {
        roots.add(cert).map_err(TlsError::Rustls)?;
    }
    Ok(roots)
}

/// ring's algorithms: no C build system needed beyond a compiler (the
/// other provider, aws-lc-rs, wants CMake). rustls marks ring's provider
/// deprecated for lacking post-quantum key exchange; the classical suites
/// it offers are the ones Twisted's OpenSSL negotiates anyway.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client side of TLS: whom to trust, which name the server must
/// have, and the client's own certificate, if it shows one (mutual TLS).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A client of any rustls configuration, expecting `server_name`.
    ///
    /// ```
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let made = amp_engine::tls::ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost").unwrap();
    /// let config = made.config().clone();
    /// assert!(amp_engine::tls::ClientTls::new(config.clone(), "127.0.0.1").is_ok());
    /// assert!(amp_engine::tls::ClientTls::new(config, "not a name!").is_err());
    /// ```
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::ServerName(server_name.to_owned()))?;
        Ok(ClientTls {
            config,
            server_name,
        })
    }

    /// A client that trusts the authorities of `ca_pem` and expects the
    /// server to be `server_name`; it shows no certificate of its own.
    ///
    /// ```
    /// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let client = amp_engine::tls::ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost");
    /// assert!(client.is_ok());
    /// ```
    pub fn from_pem(ca_pem: &[u8], server_name: &str) -> Result<Self, TlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth();
        Self::new(Arc::new(config), server_name)
    }

    /// [`from_pem`](Self::from_pem), showing the certificate chain of
    /// `cert_pem` (with the key of `key_pem`) when the server asks for one
    /// (mutual TLS).
    ///
    /// ```
    /// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
    /// let client = amp_engine::tls::ClientTls::from_pem_with_certificate(
    ///     cert.as_bytes(), "localhost", cert.as_bytes(), key.as_bytes(),
    /// );
    /// assert!(client.is_ok());
    /// ```
    pub fn from_pem_with_certificate(
        ca_pem: &[u8],
        server_name: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_root_certificates(roots(ca_pem)?)
            .with_client_auth_cert(certificates(cert_pem)?, private_key(key_pem)?)
            .map_err(TlsError::Rustls)?;
        Self::new(Arc::new(config), server_name)
    }

    /// The rustls configuration.
    ///
    /// ```
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let client = amp_engine::tls::ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost").unwrap();
    /// assert!(!client.config().client_auth_cert_resolver.has_certs());
    /// ```
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name the server's certificate must carry.
    ///
    /// ```
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let client = amp_engine::tls::ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost").unwrap();
    /// assert_eq!(client.server_name().to_str(), "localhost");
    /// ```
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }
}

/// The server side of TLS: its certificate, and whom it trusts to verify
/// clients' certificates (mutual TLS), if anyone.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A server of any rustls configuration.
    ///
    /// ```
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let tls = amp_engine::tls::ServerTls::from_pem(ca.cert.pem().as_bytes(), ca.key_pair.serialize_pem().as_bytes()).unwrap();
    /// let again = amp_engine::tls::ServerTls::new(tls.config().clone());
    /// # drop(again);
    /// ```
    pub fn new(config: Arc<ServerConfig>) -> Self {
        ServerTls { config }
    }

    /// A server showing the certificate chain of `cert_pem` (leaf first)
    /// with the key of `key_pem`; it asks clients for no certificate.
    ///
    /// ```
    /// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let key = ca.key_pair.serialize_pem();
    /// assert!(amp_engine::tls::ServerTls::from_pem(ca.cert.pem().as_bytes(), key.as_bytes()).is_ok());
    /// assert!(amp_engine::tls::ServerTls::from_pem(key.as_bytes(), key.as_bytes()).is_err());
    /// ```
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_single_cert(certificates(cert_pem)?, private_key(key_pem)?)
            .map_err(TlsError::Rustls)?;
        Ok(Self::new(Arc::new(config)))
    }

    /// [`from_pem`](Self::from_pem), asking each client for a certificate
    /// and verifying it against the authorities of `ca_pem` (mutual TLS): a
    /// client showing none is refused if `required`, let in unauthenticated
    /// otherwise. A verified client's certificate is what its requests'
    /// [`Context::peer_certificate`](crate::Context::peer_certificate) gives.
    ///
    /// ```
    /// let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let (cert, key) = (ca.cert.pem(), ca.key_pair.serialize_pem());
    /// let tls = amp_engine::tls::ServerTls::from_pem_verifying_clients(
    ///     cert.as_bytes(), key.as_bytes(), cert.as_bytes(), true,
    /// );
    /// assert!(tls.is_ok());
    /// ```
    pub fn from_pem_verifying_clients(
        cert_pem: &[u8],
        key_pem: &[u8],
        ca_pem: &[u8],
        required: bool,
    ) -> Result<Self, TlsError> {
        let mut verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider());
        if !required {
            verifier = verifier.allow_unauthenticated();
        }
        let verifier = verifier
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certificates(cert_pem)?, private_key(key_pem)?)
            .map_err(TlsError::Rustls)?;
        Ok(Self::new(Arc::new(config)))
    }

    /// The rustls configuration.
    ///
    /// ```
    /// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// # let tls = amp_engine::tls::ServerTls::from_pem(ca.cert.pem().as_bytes(), ca.key_pair.serialize_pem().as_bytes()).unwrap();
    /// assert!(tls.config().alpn_protocols.is_empty());
    /// ```
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

/// Asks the peer to start TLS (Twisted's `StartTLS`) and, once it says
/// yes, starts it as the client with `tls`, on the same connection: the
/// same [`Peer`] goes on over TLS, its calls in flight answered and the
/// boxes queued meanwhile sent over TLS, in order. The connection must
/// have been started upgradable by a binding's TLS (`amp_tokio::tls`,
/// `amp_async_std::tls`). A refusal leaves the connection plain
/// ([`UpgradeError::Call`]); a failed handshake or a refused certificate
/// ends it ([`UpgradeError::Failed`] with
/// [`ConnectionError::UpgradeFailed`](amp_core::ConnectionError::UpgradeFailed)).
///
/// ```
/// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # let tls = amp_engine::tls::ClientTls::from_pem(ca.cert.pem().as_bytes(), "localhost").unwrap();
/// let peer = amp_engine::tests_support::idle_peer(); // a plain, not upgradable, connection
/// let tried = futures_executor::block_on(amp_engine::tls::start_tls(&peer, &tls));
/// assert!(matches!(tried, Err(amp_engine::UpgradeError::NotUpgradable)));
/// ```
pub async fn start_tls(peer: &Peer, tls: &ClientTls) -> Result<(), UpgradeError> {
    peer.call_upgrading(START_TLS, AmpBox::new(), Box::new(tls.clone()))
        .await
        .map(|_| ())
}

/// `responders` with a `StartTLS` responder that says yes (an empty
/// answer, as Twisted's), once: a connection already on TLS refuses with
/// [`TLS_ERROR_CODE`], not fatal. The bindings' TLS servers add it; the
/// handshake itself follows the answer.
///
/// ```
/// let responders = amp_engine::tls::answer_start_tls(amp_engine::Responders::new());
/// # drop(responders);
/// ```
pub fn answer_start_tls(responders: Responders) -> Responders {
    responders.raw_responder(START_TLS, |ctx, _| {
        let already = ctx.peer.is_upgraded();
        async move {
            if already {
                Err(ResponderError::Declared {
                    code: TLS_ERROR_CODE.to_owned(),
                    description: "TLS is on already".to_owned(),
                    fatal: false,
                })
            } else {
                Ok(AmpBox::new())
            }
        }
    })
}

/// Which side of a TLS handshake an upgrade takes, and with what.
#[derive(Debug)]
pub enum Side {
    /// This side connects: it is the TLS client.
    Client(ClientTls),
    /// This side accepts: it is the TLS server.
    Server(ServerTls),
}

impl Side {
    /// The side an upgrade takes: the client, with the settings given to
    /// [`start_tls`] (or to a binding's TLS connect), when this side asked;
    /// the server, with `server`, when it answered the peer's `StartTLS`.
    ///
    /// ```
    /// use amp_engine::{Upgrade, tls::Side};
    /// let side = Side::of(Upgrade::Answered { command: "StartTLS".into() }, None);
    /// assert!(side.is_err(), "no server settings to answer with");
    /// ```
    pub fn of(how: Upgrade, server: Option<&ServerTls>) -> Result<Side, String> {
        match how {
            Upgrade::Answered { .. } => server
                .cloned()
                .map(Side::Server)
                .ok_or_else(|| "no TLS settings to answer StartTLS with".to_owned()),
            Upgrade::Called(how) | Upgrade::Start(how) => {
                if let Some(client) = how.downcast_ref::<ClientTls>() {
                    Ok(Side::Client(client.clone()))
                } else if let Some(server) = how.downcast_ref::<ServerTls>() {
                    Ok(Side::Server(server.clone()))
                } else {
                    Err("the upgrade carried no TLS settings".to_owned())
                }
            }
        }
    }
}

/// What a failed handshake says: rustls's reason (a certificate refused,
/// an alert from the peer) when there is one.
///
/// ```
/// let e = std::io::Error::new(
///     std::io::ErrorKind::InvalidData,
///     amp_engine::tls::rustls::Error::InvalidCertificate(
///         amp_engine::tls::rustls::CertificateError::UnknownIssuer,
///     ),
/// );
/// assert_eq!(amp_engine::tls::handshake_failure(&e), "TLS handshake failed: invalid peer certificate: UnknownIssuer");
/// ```
pub fn handshake_failure(e: &io::Error) -> String {
    match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => format!("TLS handshake failed: {tls}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

/// A verified certificate chain as the engine keeps it
/// ([`Upgraded::peer_certificates`](crate::Upgraded::peer_certificates)).
///
/// ```
/// use amp_engine::tls::rustls::pki_types::CertificateDer;
/// let chain = [CertificateDer::from(vec![1, 2, 3])];
/// assert_eq!(amp_engine::tls::peer_chain(Some(&chain)), Some(vec![bytes::Bytes::from_static(&[1, 2, 3])]));
/// ```
pub fn peer_chain(certificates: Option<&[CertificateDer<'_>]>) -> Option<Vec<Bytes>> {
    certificates.map(|chain| {
        chain
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_ref()))
            .collect()
    })
}
