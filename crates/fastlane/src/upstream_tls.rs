//! `https://` upstreams: the front's TLS client, trusting exactly what LiteLLM's would.
//!
//! The launcher decides the trust of a deployment from LiteLLM's own settings (see
//! `python/fast_litellm/fastlane/tls.py`): verification on or off, and the one CA file
//! LiteLLM's OpenSSL context loads (an `ssl_verify` path, `SSL_CERT_FILE`, or certifi's
//! bundle). Here that becomes a rustls client with keep-alive pooling, one per distinct trust.
//!
//! rustls may refuse a server OpenSSL accepts (fewer cipher suites and groups, no CN
//! fallback, chains it cannot build): harmless, the handshake fails before a byte of the
//! request went out and the request goes to LiteLLM, which connects its own way. The other
//! direction is the one that matters: a certificate OpenSSL rejects must not be accepted
//! here. So only what OpenSSL itself would anchor a chain on is a trust anchor: a
//! self-issued certificate of the file within its validity period (Python < 3.13 does not
//! set `VERIFY_X509_PARTIAL_CHAIN`; with it, every certificate of the file).
//!
//! HTTP/1.1 only: LiteLLM's OpenAI client talks HTTP/1.1 (aiohttp), and the upstream's
//! headers, which LiteLLM passes on as `llm_provider-*`, differ under HTTP/2.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::{Body, Deployment, Front};

/// How LiteLLM verifies one deployment's upstream (the launcher's verdict).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// `false`: LiteLLM's `ssl_verify: false`, any certificate and name.
    pub verify: bool,
    /// The CA file LiteLLM's context loads (and nothing else: not the system store).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// OpenSSL's `VERIFY_X509_PARTIAL_CHAIN` is set (Python >= 3.13): any certificate of
    /// the file anchors a chain.
    #[serde(default)]
    pub partial_chain: bool,
}

type TlsClient = Client<HttpsConnector<HttpConnector>, Body>;

/// One pooled TLS client per distinct trust of the configured deployments.
pub(crate) struct Upstreams {
    by_trust: HashMap<Trust, TlsClient>,
}

/// Why an upstream call gave no answer.
pub(crate) enum SendError {
    /// No connection came up (TCP or TLS handshake; or no client for this trust): nothing
    /// of the request reached the upstream, so LiteLLM makes its own attempt and fails (or
    /// not) its own way.
    NotConnected,
    /// The connection broke after the request may have gone out.
    Failed,
}

impl Upstreams {
    /// Clients for every trust the deployments name; a trust whose CA file gives no anchor
    /// gets none (its requests go to LiteLLM).
    pub(crate) fn new<'a>(deployments: impl Iterator<Item = &'a Deployment>) -> Self {
        let mut by_trust = HashMap::new();
        for d in deployments {
            let Some(t) = &d.tls else { continue };
            if by_trust.contains_key(t) {
                continue;
            }
            if let Ok(cfg) = client_config(t) {
                by_trust.insert(t.clone(), client(cfg));
            }
        }
        Upstreams { by_trust }
    }
}

fn client(cfg: ClientConfig) -> TlsClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = HttpsConnectorBuilder::new().with_tls_config(cfg).https_only().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(https)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.2 and 1.3 (LiteLLM's context sets TLS 1.2 as its minimum), no client certificate
/// (LiteLLM's OpenAI client sends none).
pub(crate) fn client_config(t: &Trust) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    if !t.verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth());
    }
    let path = t.ca_file.as_deref().ok_or("no CA file")?;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let roots = anchors(&bytes, t.partial_chain, now_unix());
    if roots.is_empty() {
        return Err(format!("{path}: no trust anchor"));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// The trust anchors OpenSSL would build a chain to from this PEM file.
pub(crate) fn anchors(pem: &[u8], partial_chain: bool, now: i64) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem).flatten() {
        let ok = partial_chain || der::self_issued_and_current(cert.as_ref(), now).unwrap_or(false);
        if ok {
            let _ = roots.add(cert);
        }
    }
    roots
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `ssl_verify: false`: any certificate; the handshake's own signatures are still checked
/// (the protocol needs them), as OpenSSL does with `CERT_NONE`.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Front {
    /// Send a request to `d`'s upstream: its TLS client for `https://`, else the plain one.
    pub(crate) async fn send_upstream(&self, d: &Deployment, up: Request<Body>) -> Result<Response<Incoming>, SendError> {
        let https = up.uri().scheme_str() == Some("https");
        let client = match (&d.tls, https) {
            (None, false) => return self.client.request(up).await.map_err(|_| SendError::Failed),
            (Some(t), true) => self.upstreams.by_trust.get(t).ok_or(SendError::NotConnected)?,
            // A trust for an http:// base or none for https://: not a deployment the launcher builds.
            _ => return Err(SendError::NotConnected),
        };
        client.request(up).await.map_err(|e| if e.is_connect() { SendError::NotConnected } else { SendError::Failed })
    }
}

/// Just enough DER to read a certificate's issuer, validity and subject.
mod der {
    /// (tag, content, whole element, rest)
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, head) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let end = head.checked_add(len)?;
        if end > b.len() {
            return None;
        }
        Some((tag, &b[head..end], &b[..end], &b[end..]))
    }

    /// Issuer name equal to the subject name (byte for byte) and `now` within the validity.
    pub(super) fn self_issued_and_current(cert: &[u8], now: i64) -> Option<bool> {
        let (_, cert, _, _) = element(cert)?;
        let (_, tbs, _, _) = element(cert)?;
        let mut rest = tbs;
        let (tag, _, _, r) = element(rest)?;
        if tag == 0xa0 {
            rest = r; // explicit version
            let (_, _, _, r) = element(rest)?; // serial
            rest = r;
        } else {
            rest = r; // that was the serial
        }
        let (_, _, _, r) = element(rest)?; // signature algorithm
        let (_, _, issuer, r) = element(r)?;
        let (_, validity, _, r) = element(r)?;
        let (_, _, subject, _) = element(r)?;
        let (t1, nb, _, r) = element(validity)?;
        let (t2, na, _, _) = element(r)?;
        let (not_before, not_after) = (time(t1, nb)?, time(t2, na)?);
        Some(issuer == subject && not_before <= now && now <= not_after)
    }

    /// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as unix seconds.
    fn time(tag: u8, s: &[u8]) -> Option<i64> {
        let s = std::str::from_utf8(s).ok()?.strip_suffix('Z')?;
        let (year, rest) = match tag {
            0x17 if s.len() == 12 => {
                let y: i64 = s[..2].parse().ok()?;
                (if y < 50 { 2000 + y } else { 1900 + y }, &s[2..])
            }
            0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
            _ => return None,
        };
        let num = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
        let (mo, d, h, mi, se) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
        // Days from the civil date (proleptic Gregorian).
        let y = if mo <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146097 + doe - 719468;
        Some(days * 86400 + h * 3600 + mi * 60 + se)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn times() {
            assert_eq!(super::time(0x17, b"700101000000Z"), Some(0));
            assert_eq!(super::time(0x17, b"260101000000Z"), Some(1767225600));
            assert_eq!(super::time(0x18, b"20260101000000Z"), Some(1767225600));
            assert_eq!(super::time(0x18, b"20000301000000Z"), Some(951868800));
            assert_eq!(super::time(0x17, b"2601010000Z"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made once with Python's `cryptography` (EC P-256, CA:TRUE): a root valid 2020-2120, an
    // intermediate it signed, a root that expired in 2001.
    const ROOT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBODCB36ADAgECAhR+c5Ob7BFMw3GEEbe4G+xVYzEhQjAKBggqhkjOPQQDAjAR\n\
MQ8wDQYDVQQDDAZ0IHJvb3QwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAw\n\
MDBaMBExDzANBgNVBAMMBnQgcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n\
BLcJ/DQMmFPnxR1Smc+sOv5lGMfwSb1py26qE0hSqTPg0knN2doSaEKdDS+23+PS\n\
0krfgHCRmS0CmCAfEcyNmaqjEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0E\n\
AwIDSAAwRQIgPk4JbZKXRbY0aU7zvireKPVcKC3GB+vaj3/UpKP+lWkCIQCdHNEo\n\
FEAWM/bRj5/E7QGWyG1kAVvLYvGqFp/4pSuwgQ==\n\
-----END CERTIFICATE-----\n\
";
    const INTERMEDIATE: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBQDCB56ADAgECAhRANRnlxCNYfqDthQ+hDkPDHWhM2TAKBggqhkjOPQQDAjAR\n\
MQ8wDQYDVQQDDAZ0IHJvb3QwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAw\n\
MDBaMBkxFzAVBgNVBAMMDnQgaW50ZXJtZWRpYXRlMFkwEwYHKoZIzj0CAQYIKoZI\n\
zj0DAQcDQgAE2VTS5nI2A93CvYLpv/LvSHt895ejXXmg65VGS7Lfh24PZnOP+VHR\n\
gEuPGLaDxfmnqWoZqWYQa/igTu063GdlF6MTMBEwDwYDVR0TAQH/BAUwAwEB/zAK\n\
BggqhkjOPQQDAgNIADBFAiBMn8on3hgKBlC8YQ0dtKH4vv4UTTMms774Za/LTfi8\n\
SQIhAKChw09Fc3Ik2WQAIfq26Kd3jmo60XKN5KbythK33y66\n\
-----END CERTIFICATE-----\n\
";
    const EXPIRED_ROOT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBPTCB5aADAgECAhQ3fCotjOZ+kh/nD7I8OSWYmPlSAzAKBggqhkjOPQQDAjAV\n\
MRMwEQYDVQQDDAp0IG9sZCByb290MB4XDTAwMDEwMTAwMDAwMFoXDTAxMDEwMTAw\n\
MDAwMFowFTETMBEGA1UEAwwKdCBvbGQgcm9vdDBZMBMGByqGSM49AgEGCCqGSM49\n\
AwEHA0IABHc/Q1yejuhv7w4mltoo8x2ZgdCpxoU0Q/lPty5AdeLo1IrDgjesLTRw\n\
JAS2JJ2r1OeAOqurGhmTSZWvfp7MgdajEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYI\n\
KoZIzj0EAwIDRwAwRAIgLXf7W4W/stFJqbHJhVa3j9DovtM1KmphxXf0jtWOfxUC\n\
IAaOzOpa5TpaOkm34YnXSG4Z07Jbw8vQeqIDvYKAiQOJ\n\
-----END CERTIFICATE-----\n\
";
    const NOW: i64 = 1_765_000_000; // late 2025

    fn count(pem: &str, partial: bool) -> usize {
        anchors(pem.as_bytes(), partial, NOW).len()
    }

    #[test]
    fn only_what_openssl_anchors_on() {
        // Without VERIFY_X509_PARTIAL_CHAIN OpenSSL ends a chain at a self-issued certificate
        // of the file, and checks its validity period too.
        assert_eq!(count(ROOT, false), 1);
        assert_eq!(count(INTERMEDIATE, false), 0);
        assert_eq!(count(EXPIRED_ROOT, false), 0);
        assert_eq!(count(&format!("{INTERMEDIATE}{ROOT}{EXPIRED_ROOT}"), false), 1);
        // With it, any certificate of the file.
        assert_eq!(count(&format!("{INTERMEDIATE}{ROOT}"), true), 2);
        assert_eq!(count("not a pem file", false), 0);
    }

    #[test]
    fn a_trust_without_anchor_has_no_client() {
        let dir = std::env::temp_dir().join(format!("fl-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let only_intermediate = dir.join("inter.pem");
        std::fs::write(&only_intermediate, INTERMEDIATE).unwrap();
        let root = dir.join("root.pem");
        std::fs::write(&root, ROOT).unwrap();
        let trust = |p: &std::path::Path| Trust { verify: true, ca_file: Some(p.display().to_string()), partial_chain: false };
        assert!(client_config(&trust(&only_intermediate)).is_err());
        assert!(client_config(&trust(&root)).is_ok());
        assert!(client_config(&Trust { verify: true, ca_file: None, partial_chain: false }).is_err());
        assert!(client_config(&Trust { verify: false, ca_file: None, partial_chain: false }).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
