//! HTTPS for the fakes: a certificate authority the test makes (rcgen), leaf
//! certificates it issues, and a listener that serves an axum app over rustls. The
//! gateway trusts the CA only through `SSL_CERT_FILE`, as an operator's private CA is.

use super::TempDir;
use axum::Router;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate authority of the test's own, its certificate written to a PEM file.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate: what `SSL_CERT_FILE` names.
    pub pem_path: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = TempDir::new();
        let pem_path = dir.0.join("ca.pem");
        std::fs::write(&pem_path, cert.pem()).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            pem_path,
            _dir: dir,
        }
    }

    /// A server identity for `names` (DNS names or IP addresses), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Identity(Arc::new(config))
    }
}

/// What a fake presents: a certificate and its key.
#[derive(Clone)]
pub struct Identity(Arc<rustls::ServerConfig>);

/// Accepts TCP connections and completes their TLS handshakes; a client that refuses
/// the certificate is dropped and the next one accepted.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `app` over TLS on loopback, port 0; the base URL (`https://localhost:PORT`).
pub async fn serve_tls(app: Router, identity: &Identity) -> String {
    let tcp = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("https://localhost:{}", tcp.local_addr().unwrap().port());
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(identity.0.clone()),
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
