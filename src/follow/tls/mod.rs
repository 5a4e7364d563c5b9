//! TLS on a followed-up port: a handshake that accepts any certificate (rustls with a
//! verifier that records instead of judging), the certificate's facts, and whether the chain
//! verifies against the system's roots, recorded as a fact and never a reason to stop.
//! Servers rustls refuses (TLS 1.0/1.1 only, a certificate message over its limit) are read
//! by our own [`legacy`] handshake, which still yields version, cipher and certificates.

pub mod cert;
pub mod legacy;

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

pub use cert::CertInfo;

/// What one TLS handshake showed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsInfo {
    /// Protocol version as openssl names it (TLSv1.3, TLSv1.2, TLSv1 ...).
    pub version: String,
    /// Cipher suite, IANA name (TLS_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_...).
    pub cipher: String,
    /// True when the chain verifies against the system's roots (the name is not checked:
    /// a scan reaches servers by address).
    pub chain_verified: bool,
    /// Why it does not verify, when it does not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verify_error: Option<String>,
    /// The certificates the server sent, leaf first.
    pub certificates: Vec<CertInfo>,
    /// "rustls", or "legacy" when our own handshake reading was needed.
    pub handshake: String,
}

/// The client configuration every TLS follow-up shares: TLS 1.2 and 1.3, any certificate.
pub fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = self::provider();
            let verifier = Arc::new(AcceptAny {
                schemes: provider
                    .signature_verification_algorithms
                    .supported_schemes(),
            });
            let config = ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(rustls::ALL_VERSIONS)
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(verifier)
                        .with_no_client_auth()
                });
            match config {
                Ok(c) => Arc::new(c),
                // The ring provider supports both versions; unreachable in practice, and a
                // config with TLS 1.3 alone still works if it ever happens.
                Err(_) => Arc::new(
                    ClientConfig::builder_with_provider(self::provider())
                        .with_safe_default_protocol_versions()
                        .expect("ring supports the default versions")
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AcceptAny {
                            schemes: Vec::new(),
                        }))
                        .with_no_client_auth(),
                ),
            }
        })
        .clone()
}

/// rustls's ring provider. Its post-quantum key exchange is missing (hence rustls's
/// deprecation note); a follow-up reads certificates and needs none.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The name rustls is told: the host name when one is known (SNI), else the address.
pub fn server_name(addr: std::net::IpAddr, host: Option<&str>) -> ServerName<'static> {
    host.and_then(|h| ServerName::try_from(h.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(addr.into()))
}

/// Accepts every certificate and signature: the follow-up reports certificates, it does not
/// trust them. Trust is judged separately by [`verify_chain`].
#[derive(Debug)]
struct AcceptAny {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// The system's roots (ca-certificates), loaded once; None when there are none.
fn system_verifier() -> Option<Arc<WebPkiServerVerifier>> {
    static VERIFIER: OnceLock<Option<Arc<WebPkiServerVerifier>>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(loaded.certs);
            if roots.is_empty() {
                return None;
            }
            let provider = provider();
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .ok()
        })
        .clone()
}

/// Whether `chain` (leaf first) verifies against the system's roots, and why not.
/// The name is not part of the question: a mismatch still counts as verified.
pub fn verify_chain(chain: &[Vec<u8>], name: &ServerName<'_>) -> (bool, Option<String>) {
    let Some((leaf, rest)) = chain.split_first() else {
        return (false, Some("no certificate".into()));
    };
    let Some(verifier) = system_verifier() else {
        return (false, Some("no system roots".into()));
    };
    let leaf = CertificateDer::from(leaf.as_slice());
    let rest: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    match verifier.verify_server_cert(&leaf, &rest, name, &[], UnixTime::now()) {
        Ok(_) => (true, None),
        Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        | Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { .. },
        )) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    }
}

/// The facts of a finished handshake: version, suite, chain (leaf first).
pub fn facts(
    version: &str,
    cipher: &str,
    chain: &[Vec<u8>],
    name: &ServerName<'_>,
    handshake: &str,
) -> TlsInfo {
    let (chain_verified, verify_error) = verify_chain(chain, name);
    TlsInfo {
        version: version.to_string(),
        cipher: cipher.to_string(),
        chain_verified,
        verify_error,
        certificates: chain.iter().filter_map(|c| cert::parse(c).ok()).collect(),
        handshake: handshake.to_string(),
    }
}

/// A rustls connection's version, as openssl names it.
pub fn rustls_version(v: rustls::ProtocolVersion) -> String {
    legacy::version_name(u16::from(v))
}

/// A cipher suite's IANA name (rustls writes TLS 1.3 suites as TLS13_...).
pub fn suite_name(s: rustls::CipherSuite) -> String {
    match s.as_str() {
        Some(n) => n.replacen("TLS13_", "TLS_", 1),
        None => format!("0x{:04x}", u16::from(s)),
    }
}

/// A legacy-read suite's IANA name.
pub fn legacy_suite_name(code: u16) -> String {
    suite_name(rustls::CipherSuite::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(legacy_suite_name(0x1302), "TLS_AES_256_GCM_SHA384");
        assert_eq!(legacy_suite_name(0x0035), "TLS_RSA_WITH_AES_256_CBC_SHA");
        assert_eq!(
            legacy_suite_name(0xc02f),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(rustls_version(rustls::ProtocolVersion::TLSv1_3), "TLSv1.3");
    }

    #[test]
    fn empty_chain_does_not_verify() {
        let name = server_name("198.19.0.1".parse().unwrap(), None);
        assert_eq!(
            verify_chain(&[], &name),
            (false, Some("no certificate".into()))
        );
        assert!(!verify_chain(&[b"junk".to_vec()], &name).0);
    }

    #[test]
    fn config_builds() {
        let c = client_config();
        assert!(c.alpn_protocols.is_empty());
    }
}
