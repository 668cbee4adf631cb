//! TLS for `tls://` listeners: the server's certificate chain and key, read from PEM files.

use std::path::Path;
use std::sync::Arc;

/// The certificate and key a `tls://` listener proves the server's name with.
///
/// ```no_run
/// let tls = strato_server::ServerTls::from_pem_files("server.pem".as_ref(), "server.key".as_ref()).unwrap();
/// let config = strato_server::Config {
///     listen: vec!["tls://0.0.0.0:7070".parse().unwrap()],
///     token: Some("secret".into()),
///     tls: Some(tls),
///     ..Default::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(String);

impl ServerTls {
    /// Reads a PEM certificate chain (the server's certificate first) and its PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| TlsError(format!("cannot read {}: {e}", path.display())))
        };
        ServerTls::from_pem(&read(cert)?, &read(key)?)
    }

    /// A certificate chain and key given as PEM text.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<ServerTls, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError(format!("bad certificate PEM: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError("the certificate file holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError(format!("bad private key PEM: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError(format!("the key does not fit the certificate: {e}")))?;
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}
