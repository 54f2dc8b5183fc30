//! TLS to PostgreSQL, decided by the URL as libpq decides it, so that the URL harepay is given
//! works with `psql` too:
//! - `sslmode=disable`: plain TCP. `prefer` (the default): TLS when the server offers it.
//!   `require`, `verify-ca`, `verify-full`: TLS, or no connection.
//! - Whenever TLS is used, the server's certificate is verified as `verify-full` verifies it: it
//!   must chain to a trusted root and name the host in the URL (with `hostaddr`, still the host's
//!   name). No mode accepts any certificate: a connection encrypted to whoever answers would show
//!   money movements and key hashes to a man in the middle all the same. So `prefer`, `require`
//!   and `verify-ca` check more than libpq's (which skip the chain or the name).
//! - Trusted roots: the PEM file named by `sslrootcert=<path>` (libpq's parameter), else the
//!   platform's root certificates (`sslrootcert=system` asks for them explicitly, as in libpq 16).
//!
//! The driver rejects parameters it does not know and knows only `disable`, `prefer` and `require`:
//! `sslrootcert` is taken out of the URL here, and `verify-ca` and `verify-full` reach it as
//! `require` (the verification above is what they ask for). The connector serves the synchronous
//! `postgres` client and `tokio_postgres` alike (both take a `MakeTlsConnect`), and speaks rustls
//! on the aws-lc-rs provider reqwest already builds.

use std::convert::Infallible;
use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use postgres::tls::{MakeTlsConnect, TlsConnect};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::limits::POSTGRES_ROOT_CERTIFICATES_FILE_MAX_BYTES;
use crate::store::{StoreError, StoreResult};

/// `url` as the driver reads it (`postgres::Config` or `tokio_postgres::Config`), with the TLS
/// connector it asks for.
pub(crate) fn config_of<C: std::str::FromStr<Err = postgres::Error>>(url: &str) -> StoreResult<(C, TlsConnector)> {
    let (driver_url, connector) = driver_url_and_connector(url)?;
    let config = driver_url.parse().map_err(|error| StoreError::Backend(format!("not a PostgreSQL URL: {error}")))?;
    Ok((config, connector))
}

/// A synchronous client on `url`, with the TLS it asks for (for one-off connections: the
/// benchmark's, creating and dropping databases).
pub fn connect(url: &str) -> StoreResult<postgres::Client> {
    let (config, connector) = config_of::<postgres::Config>(url)?;
    Ok(config.connect(connector)?)
}

/// The URL as the driver reads it (`postgres::Config` or `tokio_postgres::Config`), and the TLS
/// connector for it. A bad `sslrootcert` file is an error here, naming the file (never the URL,
/// which may carry a password).
pub(crate) fn driver_url_and_connector(url: &str) -> StoreResult<(String, TlsConnector)> {
    let settings = TlsSettings::of_url(url);
    let (roots, roots_shown) = match &settings.roots {
        TrustedRoots::File(path) => (roots_from_file(Path::new(path))?, format!("the sslrootcert file {path}")),
        // The connector of a plain connection is never asked to verify anything.
        TrustedRoots::Platform if settings.plain => (RootCertStore::empty(), String::new()),
        TrustedRoots::Platform => (platform_roots(), "the platform's root certificates".to_owned()),
    };
    Ok((settings.driver_url, TlsConnector::new(roots, roots_shown)?))
}

#[derive(Debug, PartialEq, Eq)]
struct TlsSettings {
    driver_url: String,
    roots: TrustedRoots,
    /// `sslmode=disable`.
    plain: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum TrustedRoots {
    Platform,
    /// The `sslrootcert` path, percent-decoded.
    File(String),
}

impl TlsSettings {
    /// Reads libpq's TLS parameters of `url`'s query and leaves the rest of the URL exactly as it
    /// is (the driver decodes it). Like the driver, the last of a repeated parameter counts.
    fn of_url(url: &str) -> TlsSettings {
        let Some((base, query)) = url.split_once('?') else {
            return TlsSettings { driver_url: url.to_owned(), roots: TrustedRoots::Platform, plain: false };
        };
        let mut kept: Vec<&str> = Vec::new();
        let mut roots = TrustedRoots::Platform;
        let mut plain = false;
        for parameter in query.split('&') {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            match name {
                "sslrootcert" if value.is_empty() || value == "system" => roots = TrustedRoots::Platform,
                "sslrootcert" => roots = TrustedRoots::File(value.into_owned()),
                "sslmode" => {
                    plain = value == "disable";
                    let verifies = value == "verify-ca" || value == "verify-full";
                    kept.push(if verifies { "sslmode=require" } else { parameter });
                }
                _ => kept.push(parameter),
            }
        }
        let driver_url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        TlsSettings { driver_url, roots, plain }
    }
}

/// Every certificate of the PEM file at `path`, each a trusted root. A missing, unreadable or
/// oversized file, a file that is not PEM or holds no certificate, or a certificate that cannot be
/// a root is an error naming the file: a server could not be verified against it.
fn roots_from_file(path: &Path) -> StoreResult<RootCertStore> {
    let shown = path.display();
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(POSTGRES_ROOT_CERTIFICATES_FILE_MAX_BYTES + 1).read_to_end(&mut pem))
        .map_err(|error| StoreError::Backend(format!("cannot read the sslrootcert file {shown}: {error}")))?;
    if pem.len() as u64 > POSTGRES_ROOT_CERTIFICATES_FILE_MAX_BYTES {
        return Err(StoreError::Backend(format!(
            "the sslrootcert file {shown} is larger than {POSTGRES_ROOT_CERTIFICATES_FILE_MAX_BYTES} bytes: \
             not a file of root certificates"
        )));
    }
    let mut roots = RootCertStore::empty();
    for (index, certificate) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let certificate = certificate
            .map_err(|error| StoreError::Backend(format!("the sslrootcert file {shown} is not valid PEM: {error}")))?;
        roots.add(certificate).map_err(|error| {
            StoreError::Backend(format!(
                "certificate {} of the sslrootcert file {shown} is not usable: {error}",
                index + 1
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(format!(
            "the sslrootcert file {shown} holds no certificate (PEM blocks \"-----BEGIN CERTIFICATE-----\")"
        )));
    }
    Ok(roots)
}

/// The platform's root certificates, read once per process (the store and every test database
/// ask for them).
fn platform_roots() -> RootCertStore {
    static PLATFORM_ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    PLATFORM_ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                // Not an error yet: the server may not offer TLS (`prefer`), or the URL may say
                // `sslmode=disable`. One that does will be refused, and this says why.
                tracing::warn!(
                    errors = ?found.errors,
                    "no platform root certificates found: a PostgreSQL server offering TLS will be refused \
                     unless the URL names its CA with sslrootcert=<file>"
                );
            }
            roots
        })
        .clone()
}

/// Makes the TLS session of each new connection, for the synchronous and the async driver alike;
/// cheap to clone (the settings are shared). A certificate it refuses comes with what it was
/// checked against and what the URL can change: the operator's next step, not only rustls' word.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    rustls: MakeRustlsConnect,
    roots_shown: Arc<str>,
}

impl TlsConnector {
    fn new(roots: RootCertStore, roots_shown: String) -> StoreResult<TlsConnector> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| StoreError::Backend(format!("TLS settings for PostgreSQL: {error}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // PostgreSQL's ALPN name, which libpq 17 sends and a server in direct TLS negotiation
        // (`sslnegotiation=direct`) requires; older servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(TlsConnector { rustls: MakeRustlsConnect::new(config), roots_shown: roots_shown.into() })
    }
}

impl<S> MakeTlsConnect<S> for TlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = ExplainedTlsConnect<<MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect>;
    type Error = Infallible;

    fn make_tls_connect(&mut self, host_name: &str) -> Result<Self::TlsConnect, Infallible> {
        let rustls = MakeTlsConnect::<S>::make_tls_connect(&mut self.rustls, host_name)?;
        Ok(ExplainedTlsConnect { rustls, roots_shown: self.roots_shown.clone() })
    }
}

/// One connection's TLS handshake (rustls'), whose refusal of the server's certificate is explained.
pub(crate) struct ExplainedTlsConnect<T> {
    rustls: T,
    roots_shown: Arc<str>,
}

impl<S, T> TlsConnect<S> for ExplainedTlsConnect<T>
where
    T: TlsConnect<S, Error = std::io::Error>,
    T::Future: Send + 'static,
{
    type Stream = T::Stream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<T::Stream>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let handshake = self.rustls.connect(stream);
        let roots_shown = self.roots_shown;
        Box::pin(async move { handshake.await.map_err(|error| explained(error, &roots_shown)) })
    }
}

/// A refused server certificate with what it was checked against; any other error as it is.
fn explained(error: std::io::Error, roots_shown: &str) -> std::io::Error {
    let refused_certificate = error
        .get_ref()
        .and_then(|cause| cause.downcast_ref::<rustls::Error>())
        .is_some_and(|cause| matches!(cause, rustls::Error::InvalidCertificate(_)));
    if !refused_certificate {
        return error;
    }
    std::io::Error::new(
        error.kind(),
        format!(
            "{error} (the server's certificate must name the URL's host and come from a CA in {roots_shown}; \
             sslrootcert=<file> names the CA, sslmode=disable connects without TLS)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> TlsSettings {
        TlsSettings::of_url(url)
    }

    #[test]
    fn sslrootcert_is_taken_out_of_the_url_and_decoded() {
        let read =
            settings("postgres://u:p%40ss@db:5432/pay?application_name=x&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem");
        assert_eq!(read.driver_url, "postgres://u:p%40ss@db:5432/pay?application_name=x");
        assert_eq!(read.roots, TrustedRoots::File("/etc/ca dir/ca.pem".to_owned()));
        assert!(!read.plain);
        let only = settings("postgres://db/pay?sslrootcert=ca.pem");
        assert_eq!(only.driver_url, "postgres://db/pay");
    }

    #[test]
    fn verify_modes_reach_the_driver_as_require_and_other_modes_as_given() {
        for (mode, driver_mode) in [
            ("verify-full", "require"),
            ("verify-ca", "require"),
            ("require", "require"),
            ("prefer", "prefer"),
            ("disable", "disable"),
            ("bogus", "bogus"),
        ] {
            let read = settings(&format!("postgres://db/pay?sslmode={mode}&connect_timeout=3"));
            assert_eq!(read.driver_url, format!("postgres://db/pay?sslmode={driver_mode}&connect_timeout=3"));
            assert_eq!(read.plain, mode == "disable", "{mode}");
        }
        assert!(!settings("postgres://db/pay?sslmode=disable&sslmode=require").plain, "the last one counts");
    }

    #[test]
    fn the_platform_roots_serve_without_sslrootcert_or_with_system() {
        for url in ["postgres://db/pay", "postgres://db/pay?sslrootcert=system", "postgres://db/pay?sslrootcert="] {
            assert_eq!(settings(url).roots, TrustedRoots::Platform, "{url}");
        }
        assert_eq!(settings("postgres://db/pay").driver_url, "postgres://db/pay");
    }

    #[test]
    fn a_bad_root_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = roots_from_file(&missing).unwrap_err().to_string();
        assert!(error.contains("cannot read") && error.contains("missing.pem"), "{error}");

        let text = dir.path().join("text.pem");
        std::fs::write(&text, "not a certificate at all\n").unwrap();
        let error = roots_from_file(&text).unwrap_err().to_string();
        assert!(error.contains("holds no certificate") && error.contains("text.pem"), "{error}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
        let error = roots_from_file(&broken).unwrap_err().to_string();
        assert!(error.contains("not valid PEM") && error.contains("broken.pem"), "{error}");

        let not_a_certificate = dir.path().join("garbage.pem");
        std::fs::write(&not_a_certificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let error = roots_from_file(&not_a_certificate).unwrap_err().to_string();
        assert!(error.contains("certificate 1") && error.contains("garbage.pem"), "{error}");

        let endless = roots_from_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(endless.contains("larger than") && endless.contains("/dev/zero"), "{endless}");
    }

    #[test]
    fn a_refused_certificate_is_explained_and_other_errors_pass_as_they_are() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let shown = explained(refused, "the sslrootcert file /etc/ca.pem").to_string();
        assert!(shown.starts_with("invalid peer certificate: UnknownIssuer"), "{shown}");
        assert!(
            shown.contains("a CA in the sslrootcert file /etc/ca.pem") && shown.contains("sslmode=disable"),
            "{shown}"
        );
        let reset = explained(std::io::Error::from(std::io::ErrorKind::ConnectionReset), "x").to_string();
        assert_eq!(reset, std::io::Error::from(std::io::ErrorKind::ConnectionReset).to_string());
    }
}
