//! The certificate a route's host is served with, read by a TLS handshake on loopback:
//! for `tls: auto` the certificate is the proxy's own (ACME), and this is how holdfast
//! learns its issuer and expiry. The handshake verifies nothing; it only reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ca::{CertInfo, cert_info_der};
use crate::runtime::lock;

/// How long a handshake's answer is kept.
pub const FRESH_FOR: Duration = Duration::from_secs(600);

/// Reads certificates, verifying nothing.
#[derive(Debug)]
struct ReadOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The leaf certificate `address` (`HOST:PORT`) serves for `host`, within 3 s.
pub async fn served(address: &str, host: &str) -> Option<CertInfo> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_string()).ok()?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(address).await.ok()?;
        let tls = connector.connect(name, tcp).await.ok()?;
        let der = tls.get_ref().1.peer_certificates()?.first()?.to_vec();
        cert_info_der(&der)
    };
    tokio::time::timeout(Duration::from_secs(3), handshake)
        .await
        .ok()
        .flatten()
}

/// The loopback address to ask for an HTTPS listen address such as `:443`,
/// `0.0.0.0:8443` or `127.0.0.1:8443`.
pub fn loopback(listen: &str) -> Option<String> {
    let (host, port) = listen.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = match host.trim_matches(['[', ']']) {
        "" | "0.0.0.0" | "*" => "127.0.0.1",
        "::" => "[::1]",
        h if h.contains(':') => return Some(format!("[{h}]:{port}")),
        h => h,
    };
    Some(format!("{host}:{port}"))
}

/// Handshake answers by route, kept [`FRESH_FOR`].
#[derive(Debug, Default)]
pub struct ServedCache {
    entries: Mutex<BTreeMap<String, (Instant, Option<CertInfo>)>>,
}

impl ServedCache {
    /// What `route` serves on `address` for `host`: asked again when older than
    /// [`FRESH_FOR`] or when `changed` (the pass changed the route).
    pub async fn get(
        &self,
        route: &str,
        address: &str,
        host: &str,
        changed: bool,
    ) -> Option<CertInfo> {
        if !changed
            && let Some((at, info)) = lock(&self.entries).get(route)
            && at.elapsed() < FRESH_FOR
        {
            return info.clone();
        }
        let info = served(address, host).await;
        // Not served yet (an ACME order in flight): ask again at the next pass.
        match &info {
            Some(i) => {
                lock(&self.entries).insert(route.to_string(), (Instant::now(), Some(i.clone())))
            }
            None => lock(&self.entries).remove(route),
        };
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_map_to_loopback() {
        assert_eq!(loopback(":443").as_deref(), Some("127.0.0.1:443"));
        assert_eq!(loopback("0.0.0.0:8443").as_deref(), Some("127.0.0.1:8443"));
        assert_eq!(
            loopback("127.0.0.2:8443").as_deref(),
            Some("127.0.0.2:8443")
        );
        assert_eq!(loopback("[::]:443").as_deref(), Some("[::1]:443"));
        assert_eq!(loopback("websecure"), None);
    }
}
