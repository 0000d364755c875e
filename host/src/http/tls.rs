//! The TLS client configuration: built once per run, shared read-only by
//! every worker.
//!
//! Trusted roots are the system store, as `rustls-native-certs` finds it
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set, otherwise the platform's
//! bundle), plus an optional private CA (`--ca-cert`). The crypto provider is
//! always `ring`, passed explicitly; the process-default provider is never
//! used.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::Resumption;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{ClientConfig, HttpError};

/// A built TLS client configuration (roots, ALPN, ring provider). Build it
/// once with [`ClientTls::new`] and hand it to every worker's
/// [`Client::with_tls`](super::Client::with_tls), so the system roots are
/// read once per run, not once per worker.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    http2: bool,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Reads the system roots and `config.ca_cert`, and builds the rustls
    /// configuration (ALPN `h2` when `config.http2`, else `http/1.1`).
    pub fn new(config: &ClientConfig) -> Result<ClientTls, HttpError> {
        let mut roots = RootCertStore::empty();
        add_system_roots(&mut roots);
        if let Some(path) = &config.ca_cert {
            add_ca_file(&mut roots, path)?;
        }
        if roots.is_empty() {
            return Err(HttpError::NoRoots);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HttpError::TlsConfig)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = if config.http2 {
            vec![b"h2".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(ClientTls {
            config: Arc::new(tls),
            http2: config.http2,
        })
    }

    /// Whether this configuration offers ALPN `h2` (built with `http2`).
    pub(crate) fn http2(&self) -> bool {
        self.http2
    }

    /// A copy for one worker: it shares the roots and verifier, but gets its
    /// own session-resumption cache so workers never contend on a lock.
    pub(crate) fn for_worker(&self) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::default();
        Arc::new(config)
    }
}

/// Adds whatever the system store holds. Entries that cannot be read or
/// parsed are skipped: a partly broken store still yields its good roots, and
/// an empty result is reported as [`HttpError::NoRoots`] by the caller.
fn add_system_roots(roots: &mut RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
}

/// Adds every certificate of the `--ca-cert` file; any problem is an error
/// that names the file.
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), HttpError> {
    let bad = |reason: String| HttpError::CaCert {
        path: PathBuf::from(path),
        reason,
    };
    let bytes = fs::read(path).map_err(|source| HttpError::CaCertRead {
        path: PathBuf::from(path),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "no PEM certificate found (expected a \"-----BEGIN CERTIFICATE-----\" block)".into(),
        ));
    }
    for (i, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| bad(format!("certificate #{} is not a usable root: {e}", i + 1)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn config_with_ca(path: &Path) -> ClientConfig {
        ClientConfig {
            ca_cert: Some(path.to_path_buf()),
            ..ClientConfig::default()
        }
    }

    #[test]
    fn missing_ca_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.pem");
        let err = ClientTls::new(&config_with_ca(&path)).unwrap_err();
        assert!(matches!(err, HttpError::CaCertRead { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }

    #[test]
    fn ca_file_without_certificate_is_rejected() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"this is not a certificate\n").unwrap();
        let err = ClientTls::new(&config_with_ca(file.path())).unwrap_err();
        match &err {
            HttpError::CaCert { path, reason } => {
                assert_eq!(path, file.path());
                assert!(reason.contains("no PEM certificate"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ca_file_with_garbage_certificate_is_rejected() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap();
        let err = ClientTls::new(&config_with_ca(file.path())).unwrap_err();
        assert!(matches!(err, HttpError::CaCert { .. }), "{err:?}");
    }

    #[test]
    fn alpn_follows_http2() {
        let ca = super::super::tests::TestCa::new();
        let h1 = ClientTls::new(&config_with_ca(ca.pem_path())).unwrap();
        assert_eq!(h1.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let h2 = ClientTls::new(&ClientConfig {
            http2: true,
            ..config_with_ca(ca.pem_path())
        })
        .unwrap();
        assert_eq!(h2.for_worker().alpn_protocols, vec![b"h2".to_vec()]);
    }
}
