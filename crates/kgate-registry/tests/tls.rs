//! The registry client's TLS settings (`schema.registry.ssl.ca.location`,
//! `.certificate.location`, `.key.location`) against kgate's registry behind a TLS front:
//! server verification by a CA bundle, and mutual TLS.

use std::path::PathBuf;
use std::sync::Arc;

use kgate_formats::FormatError;
use kgate_formats::registry::{
    HttpSchemaRegistry, RegistryClientConfig, SchemaRegistry, SchemaText,
};
use kgate_formats::schema::SchemaType;
use kgate_testkit::{TestCluster, unique_name};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn cert_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/certs")
        .join(name)
}

/// Accepts TLS on 127.0.0.1:0 (asking for a client certificate signed by the test CA
/// when `mutual`) and relays each connection to the plain registry at `backend`; returns
/// the front's `https://` URL. The relay ends with the test's runtime.
async fn tls_front(backend: &str, mutual: bool) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert_path("server.pem"))
            .expect("server.pem")
            .collect::<Result<_, _>>()
            .expect("server certificate");
    let key = PrivateKeyDer::from_pem_file(cert_path("server.key")).expect("server.key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let config = if mutual {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(cert_path("ca.pem")).expect("ca.pem") {
            roots.add(ca.expect("CA certificate")).expect("add CA");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    }
    .with_single_cert(chain, key)
    .expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the TLS front");
    let addr = listener.local_addr().expect("front address");
    let backend = backend.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                // A refused handshake is what some tests expect: nothing to relay then.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://{addr}")
}

fn client(url: &str, ca: bool, client_cert: bool) -> Result<HttpSchemaRegistry, FormatError> {
    HttpSchemaRegistry::new(&RegistryClientConfig {
        urls: url.to_string(),
        ssl_ca_location: ca.then(|| cert_path("ca.pem")),
        ssl_certificate_location: client_cert.then(|| cert_path("client.pem")),
        ssl_key_location: client_cert.then(|| cert_path("client.key")),
        ..RegistryClientConfig::default()
    })
}

fn avro(text: &str) -> SchemaText {
    SchemaText {
        schema: text.to_string(),
        schema_type: SchemaType::Avro,
        references: Vec::new(),
    }
}

/// Registers, fetches by id, by version and looks up through `registry`.
async fn round_trip(registry: &HttpSchemaRegistry, subject: &str) {
    let schema = avro(r#"{"type":"record","name":"T","fields":[{"name":"a","type":"int"}]}"#);
    let id = registry.register(subject, &schema).await.expect("register");
    let fetched = registry.schema_by_id(id).await.expect("schema by id");
    assert!(fetched.schema.contains("\"a\""), "{fetched:?}");
    let latest = registry
        .subject_version(subject, None)
        .await
        .expect("latest version");
    assert_eq!((latest.id, latest.version), (id, 1));
    let found = registry.lookup(subject, &schema).await.expect("lookup");
    assert_eq!(found.id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_over_tls_is_trusted_through_the_ca_bundle() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let url = tls_front(&cluster.registry_url(), false).await;

    let trusting = client(&url, true, false).expect("client");
    round_trip(&trusting, &unique_name("tls-subject")).await;

    // Without the CA bundle the test CA is unknown: the registry is unreachable, never
    // silently trusted.
    let untrusting = client(&url, false, false).expect("client");
    let err = untrusting
        .subject_version(&unique_name("tls-none"), None)
        .await
        .expect_err("an unknown CA must fail");
    assert!(
        matches!(err, FormatError::RegistryUnavailable(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().to_ascii_lowercase().contains("certificate"),
        "{err}"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate() {
    let cluster = TestCluster::builder().with_registry().start().await;
    let url = tls_front(&cluster.registry_url(), true).await;

    let with_cert = client(&url, true, true).expect("client");
    round_trip(&with_cert, &unique_name("mtls-subject")).await;

    let without_cert = client(&url, true, false).expect("client");
    let err = without_cert
        .subject_version(&unique_name("mtls-none"), None)
        .await
        .expect_err("a registry asking for a client certificate refuses one without");
    assert!(
        matches!(err, FormatError::RegistryUnavailable(_)),
        "{err:?}"
    );

    // A certificate without its key, or files that are not PEM, are refused up front.
    let half = HttpSchemaRegistry::new(&RegistryClientConfig {
        urls: url.clone(),
        ssl_certificate_location: Some(cert_path("client.pem")),
        ..RegistryClientConfig::default()
    });
    assert!(half.is_err());
    let not_pem = HttpSchemaRegistry::new(&RegistryClientConfig {
        urls: url,
        ssl_ca_location: Some(cert_path("README.md")),
        ..RegistryClientConfig::default()
    });
    assert!(
        not_pem
            .err()
            .is_some_and(|e| e.to_string().contains("ca.location"))
    );
    cluster.stop().await;
}
