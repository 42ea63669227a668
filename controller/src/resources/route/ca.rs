//! holdfast's local certificate authority, for `tls: internal`.
//!
//! One root per state directory (`routes/ca/root.pem`, ten years), created on first use;
//! `holdfast routes ca` prints it, to be trusted where clients should accept the routes'
//! certificates. Each `internal` route gets a 90-day leaf for its hosts
//! (`routes/certs/NAME.crt` and `.key`), issued again when the hosts change or less than
//! 30 days are left. Every engine loads the same files, so `internal` behaves the same
//! on Caddy, nginx and Traefik.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Why the CA could not issue.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file of the CA could not be read or written.
    #[error("local CA: {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Generating or parsing a certificate failed.
    #[error("local CA: {0}")]
    Certificate(String),
}

/// Leaves are issued for this long.
const LEAF_DAYS: i64 = 90;
/// And issued again when less than this is left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// The local CA in a state directory.
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
    /// Every route's pass builds the whole model, so passes of two routes ask for the
    /// same leaf at once: issuing is one at a time.
    issuing: std::sync::Arc<std::sync::Mutex<()>>,
}

/// Whether the key file holds the key of the certificate (a crash between writing the
/// two could leave them apart; the proxy would refuse the pair).
fn key_matches(key_path: &Path, info: &CertInfo) -> bool {
    std::fs::read_to_string(key_path)
        .ok()
        .and_then(|pem| KeyPair::from_pem(&pem).ok())
        .is_some_and(|key| rcgen::PublicKeyData::subject_public_key_info(&key) == info.public_key)
}

/// What a certificate file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate's public key (SubjectPublicKeyInfo, DER).
    pub public_key: Vec<u8>,
    /// The issuer's common name (or the whole issuer name).
    pub issuer: String,
    /// When it expires.
    pub not_after: SystemTime,
    /// The DNS names it covers.
    pub names: Vec<String>,
}

impl LocalCa {
    /// The CA under `state_dir/routes`. Nothing is created until a certificate is
    /// asked for.
    pub fn new(state_dir: &Path) -> Self {
        LocalCa {
            dir: state_dir.join("routes"),
            issuing: Default::default(),
        }
    }

    fn root_paths(&self) -> (PathBuf, PathBuf) {
        let ca = self.dir.join("ca");
        (ca.join("root.pem"), ca.join("root.key"))
    }

    /// The root certificate (PEM), created when missing.
    pub fn root_pem(&self) -> Result<String, CaError> {
        let _one = crate::runtime::lock(&self.issuing);
        Ok(self.root()?.0)
    }

    /// The root certificate (PEM), if it exists.
    pub fn existing_root_pem(&self) -> Option<String> {
        std::fs::read_to_string(self.root_paths().0).ok()
    }

    fn root(&self) -> Result<(String, KeyPair), CaError> {
        let (cert_path, key_path) = self.root_paths();
        if let (Ok(cert), Ok(key)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            let key = KeyPair::from_pem(&key).map_err(cert_err)?;
            return Ok((cert, key));
        }
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, "holdfast local CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "holdfast");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).map_err(cert_err)?;
        write_private(&key_path, &key.serialize_pem())?;
        write_atomic(&cert_path, &cert.pem())?;
        Ok((cert.pem(), key))
    }

    /// The certificate and key files for route `name` on `hosts`, issued when missing,
    /// for other hosts, or close to expiry.
    pub fn leaf(&self, name: &str, hosts: &[String]) -> Result<(PathBuf, PathBuf), CaError> {
        let _one = crate::runtime::lock(&self.issuing);
        let certs = self.dir.join("certs");
        let cert_path = certs.join(format!("{name}.crt"));
        let key_path = certs.join(format!("{name}.key"));
        if let Some(info) = cert_info(&cert_path)
            && key_matches(&key_path, &info)
            && same_names(&info.names, hosts)
            && info
                .not_after
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > RENEW_BEFORE)
        {
            return Ok((cert_path, key_path));
        }
        let (root_pem, root_key) = self.root()?;
        let issuer = Issuer::from_ca_cert_pem(&root_pem, root_key).map_err(cert_err)?;
        let key = KeyPair::generate().map_err(cert_err)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().cloned().unwrap_or_default(),
        );
        params.subject_alt_names = hosts
            .iter()
            .filter_map(|h| h.clone().try_into().ok().map(SanType::DnsName))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        let cert = params.signed_by(&key, &issuer).map_err(cert_err)?;
        write_private(&key_path, &key.serialize_pem())?;
        // The chain: leaf then root, so clients that trust the root verify it.
        write_atomic(&cert_path, &format!("{}{}", cert.pem(), root_pem))?;
        Ok((cert_path, key_path))
    }
}

fn same_names(have: &[String], want: &[String]) -> bool {
    let mut a: Vec<&String> = have.iter().collect();
    let mut b: Vec<&String> = want.iter().collect();
    a.sort();
    b.sort();
    a == b
}

fn cert_err(e: impl std::fmt::Display) -> CaError {
    CaError::Certificate(e.to_string())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<(), CaError> {
    write_with_mode(path, text, 0o644)
}

fn write_private(path: &Path, text: &str) -> Result<(), CaError> {
    write_with_mode(path, text, 0o600)
}

fn write_with_mode(path: &Path, text: &str, mode: u32) -> Result<(), CaError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads the first certificate of a PEM file: issuer, expiry, names.
pub fn cert_info(path: &Path) -> Option<CertInfo> {
    let text = std::fs::read(path).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).ok()?;
    cert_info_der(&pem.contents)
}

/// Reads one DER certificate: issuer, expiry, names.
pub fn cert_info_der(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let issuer = cert
        .issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok().map(str::to_string))
        .unwrap_or_else(|| cert.issuer().to_string());
    let not_after = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0));
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertInfo {
        public_key: cert.public_key().raw.to_vec(),
        issuer,
        not_after,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_chain_to_the_root_and_are_reused_until_the_hosts_change() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::new(dir.path());
        let hosts = vec!["shop.test".to_string(), "www.shop.test".to_string()];
        let (cert, key) = ca.leaf("shop", &hosts).unwrap();
        let info = cert_info(&cert).unwrap();
        assert_eq!(info.issuer, "holdfast local CA");
        assert_eq!(info.names, hosts);
        assert!(key.exists());
        let first = std::fs::read_to_string(&cert).unwrap();
        ca.leaf("shop", &hosts).unwrap();
        assert_eq!(std::fs::read_to_string(&cert).unwrap(), first, "reused");
        // A key that is not the certificate's gets a new pair.
        let other = LocalCa::new(&dir.path().join("other"));
        let (_, other_key) = other.leaf("x", &hosts).unwrap();
        std::fs::copy(&other_key, &key).unwrap();
        ca.leaf("shop", &hosts).unwrap();
        assert_ne!(
            std::fs::read_to_string(&cert).unwrap(),
            first,
            "a mismatched pair is reissued"
        );
        let first = std::fs::read_to_string(&cert).unwrap();
        ca.leaf("shop", &hosts[..1]).unwrap();
        assert_ne!(std::fs::read_to_string(&cert).unwrap(), first, "reissued");
        // The root survives: a second CA on the same folder signs with the same root.
        let root = ca.root_pem().unwrap();
        assert_eq!(LocalCa::new(dir.path()).root_pem().unwrap(), root);
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.path().join("routes/ca/root.pem"))
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
