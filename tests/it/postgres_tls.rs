//! TLS to PostgreSQL: the URL decides (libpq's `sslmode` and `sslrootcert`), and whenever TLS is
//! used the server's certificate must chain to the trusted CA and name the host. Each attack a man
//! in the middle could try is refused: a certificate from another CA, a certificate for another
//! name, a server that declines TLS under `sslmode=require`; and a bad `sslrootcert` stops
//! harepay at start-up with the file's name, never the URL's password. The test cluster
//! (tests/postgres/cluster.sh) offers TLS with a CA of its own.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::backend::{TestDatabase, blocking};
use crate::support::{Harepay, MAKER_KEY};

/// The test cluster's TLS files: the CA that signed the server's certificate (for localhost and
/// 127.0.0.1), and a CA that signed nothing the server shows.
struct ClusterCertificates {
    ca_file: String,
    other_ca_file: String,
}

impl ClusterCertificates {
    /// None (after saying so) without a cluster, or on a cluster started without TLS, unless
    /// PostgreSQL tests are required (./test.sh), when a missing CA is a failure.
    fn from_env() -> Option<ClusterCertificates> {
        crate::backend::postgres_url()?;
        match (std::env::var("HAREPAY_TEST_POSTGRES_CA_FILE"), std::env::var("HAREPAY_TEST_POSTGRES_OTHER_CA_FILE")) {
            (Ok(ca_file), Ok(other_ca_file)) => Some(ClusterCertificates { ca_file, other_ca_file }),
            _ => {
                assert!(
                    std::env::var("HAREPAY_TEST_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                    "HAREPAY_TEST_POSTGRES_CA_FILE is not set but PostgreSQL tests are required"
                );
                eprintln!(
                    "SKIPPED: PostgreSQL TLS test (the cluster's CA is not known; tests/postgres/cluster.sh sets it)"
                );
                None
            }
        }
    }
}

/// `url` with `parameters` set (replacing any of the same name) and, if given, another host. The
/// cluster URL's `sslmode=disable` is left out: each test says the mode it means, or none.
fn with_parameters(url: &str, host: Option<&str>, parameters: &[(&str, &str)]) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(name, _)| name != "sslmode" && parameters.iter().all(|(replaced, _)| name != replaced))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept).extend_pairs(parameters);
    if let Some(host) = host {
        parsed.set_host(Some(host)).unwrap();
    }
    parsed.to_string()
}

/// How many of harepay's sessions on the database at `plain_url` the server counts, and how many
/// of them it says are encrypted (`pg_stat_ssl`), asked over a connection of the test's own.
fn harepay_sessions_and_encrypted(plain_url: &str) -> (i64, i64) {
    blocking(|| {
        let mut observer = postgres::Client::connect(plain_url, postgres::NoTls).unwrap();
        let row = observer
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.datname = current_database() AND a.application_name = 'harepay' AND a.pid <> pg_backend_pid()",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    })
}

/// Waits until the server has ended every harepay session on the database (after a store was
/// dropped), so that the next count sees only the next store's.
fn wait_until_harepay_sessions_end(plain_url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while harepay_sessions_and_encrypted(plain_url).0 > 0 {
        assert!(std::time::Instant::now() < deadline, "harepay's sessions outlived its store");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_error(url: &str) -> String {
    match harepay::store::postgres::PostgresStore::open(url) {
        Ok(_) => panic!("the store opened on {url}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn harepay_over_tls_runs_a_payment_and_the_server_says_its_sessions_are_encrypted() {
    let Some(certificates) = ClusterCertificates::from_env() else { return };
    let Some(database) = TestDatabase::new() else { return };
    let tls_url =
        with_parameters(&database.url, None, &[("sslmode", "require"), ("sslrootcert", &certificates.ca_file)]);
    let harepay = Harepay::on_database(tls_url.into());
    let client = harepay.connect(MAKER_KEY).await;

    let created = client
        .call(
            "create_payment_intent",
            json!({
                "amount": {"amount": 1_000_000, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies",
                "confirm": true, "idempotency_key": "tls-1",
            }),
        )
        .await;
    let id = created["object"]["id"].as_str().unwrap().to_owned();
    let settled = client
        .call(
            "simulate_payment",
            json!({"id": id, "outcome": "succeeded", "confirm": true, "idempotency_key": "tls-2"}),
        )
        .await;
    assert_eq!(settled["object"]["status"], "succeeded", "{settled}");
    let balance = client.call("get_balance", json!({"asset": "NGN"})).await;
    assert_eq!(balance["available"]["amount"], 995_000);

    let (sessions, encrypted) = harepay_sessions_and_encrypted(&database.url);
    assert!(sessions >= 1, "harepay holds connections while it serves");
    assert_eq!(encrypted, sessions, "every harepay session is encrypted");
    client.close().await;
}

/// Every mode that uses TLS, `prefer` (the default) included, connects with the cluster's CA and
/// is encrypted; `disable` is plain, which shows the server's count tells the two apart.
#[test]
fn every_mode_with_the_right_ca_is_encrypted_and_disable_is_plain() {
    let Some(certificates) = ClusterCertificates::from_env() else { return };
    let Some(database) = TestDatabase::new() else { return };
    let ca = certificates.ca_file.as_str();
    let modes: [&[(&str, &str)]; 5] = [
        &[("sslrootcert", ca)],
        &[("sslmode", "prefer"), ("sslrootcert", ca)],
        &[("sslmode", "require"), ("sslrootcert", ca)],
        &[("sslmode", "verify-ca"), ("sslrootcert", ca)],
        &[("sslmode", "verify-full"), ("sslrootcert", ca)],
    ];
    for parameters in modes {
        let url = with_parameters(&database.url, None, parameters);
        let store =
            harepay::store::postgres::PostgresStore::open(&url).unwrap_or_else(|error| panic!("{url}: {error}"));
        let (sessions, encrypted) = harepay_sessions_and_encrypted(&database.url);
        assert!(sessions >= 1 && encrypted == sessions, "{parameters:?}: {encrypted} of {sessions} encrypted");
        drop(store);
        wait_until_harepay_sessions_end(&database.url);
    }
    let plain = with_parameters(&database.url, None, &[("sslmode", "disable"), ("sslrootcert", ca)]);
    let store = harepay::store::postgres::PostgresStore::open(&plain).unwrap();
    let (sessions, encrypted) = harepay_sessions_and_encrypted(&database.url);
    assert!(sessions >= 1 && encrypted == 0, "disable: {encrypted} of {sessions} encrypted");
    drop(store);
}

/// A server whose certificate does not chain to the trusted roots (a man in the middle's, from
/// harepay's view) is refused in every mode that would use TLS, whether the roots are another
/// CA's file or the platform's: there is no fallback to an unverified or a plain connection.
#[test]
fn a_certificate_from_another_ca_is_refused_in_every_mode() {
    let Some(certificates) = ClusterCertificates::from_env() else { return };
    let Some(database) = TestDatabase::new() else { return };
    let other = certificates.other_ca_file.as_str();
    for roots in [Some(other), None] {
        for mode in ["prefer", "require", "verify-full"] {
            let mut parameters = vec![("sslmode", mode)];
            parameters.extend(roots.map(|file| ("sslrootcert", file)));
            let url = with_parameters(&database.url, None, &parameters);
            let error = open_error(&url);
            assert!(
                error.contains("invalid peer certificate") && error.contains("UnknownIssuer"),
                "{mode}, roots {roots:?}: {error}"
            );
            // It says what the certificate was checked against.
            let roots_shown = roots.unwrap_or("the platform's root certificates");
            assert!(error.contains(roots_shown) && error.contains("sslrootcert=<file>"), "{error}");
        }
    }
    assert_eq!(harepay_sessions_and_encrypted(&database.url).0, 0, "no harepay session got in");
}

/// The right CA, the wrong name: a certificate the CA issued for another host (here, the
/// cluster's own certificate for localhost, reached under another name) is refused.
#[test]
fn a_certificate_for_another_host_name_is_refused() {
    let Some(certificates) = ClusterCertificates::from_env() else { return };
    let Some(database) = TestDatabase::new() else { return };
    let ca = certificates.ca_file.as_str();
    for mode in ["require", "verify-ca", "verify-full"] {
        let parameters = [("sslmode", mode), ("sslrootcert", ca), ("hostaddr", "127.0.0.1")];
        let impostor = with_parameters(&database.url, Some("impostor.invalid"), &parameters);
        let error = open_error(&impostor);
        assert!(error.contains("not valid for name") && error.contains("impostor.invalid"), "{mode}: {error}");
        // The same address under the name the certificate carries is accepted.
        let localhost = with_parameters(&database.url, Some("localhost"), &parameters);
        drop(
            harepay::store::postgres::PostgresStore::open(&localhost).unwrap_or_else(|error| panic!("{mode}: {error}")),
        );
    }
}

/// A stand-in server on loopback that answers TLS requests with PostgreSQL's "no" (`N`), as a
/// man in the middle stripping TLS would; returns its port and what it received after the answer.
fn server_declining_tls() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut ssl_request = [0u8; 8];
        stream.read_exact(&mut ssl_request).unwrap();
        assert_eq!(ssl_request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "PostgreSQL's SSLRequest");
        stream.write_all(b"N").unwrap();
        // What the client sends next, in the clear, until it closes (or goes quiet: it then waits
        // for an answer that never comes).
        let mut after = Vec::new();
        let mut buffer = [0u8; 1024];
        while let Ok(read) = stream.read(&mut buffer) {
            if read == 0 {
                break;
            }
            after.extend_from_slice(&buffer[..read]);
            if after.len() >= 8 {
                break;
            }
        }
        after
    });
    (port, server)
}

/// `sslmode=require` refuses a server that declines TLS and sends it nothing more: not the user
/// name, not a password. (`prefer`, libpq's default, goes on in the clear there, as libpq does:
/// only `require` and the `verify-*` modes protect against a stripped TLS.)
#[test]
fn require_refuses_a_server_that_declines_tls_and_sends_it_nothing_in_the_clear() {
    let Some(certificates) = ClusterCertificates::from_env() else { return };
    for mode in ["require", "verify-full"] {
        let (port, server) = server_declining_tls();
        let url = format!(
            "postgres://harepay:s3cret@127.0.0.1:{port}/harepay?sslmode={mode}&sslrootcert={}",
            certificates.ca_file
        );
        let error = open_error(&url);
        assert!(error.contains("server does not support TLS"), "{mode}: {error}");
        assert!(!error.contains("s3cret"), "{error}");
        assert_eq!(server.join().unwrap(), b"", "{mode}: nothing after the refused TLS request");
    }
    let (port, server) = server_declining_tls();
    let prefer =
        format!("postgres://harepay@127.0.0.1:{port}/harepay?sslmode=prefer&sslrootcert={}", certificates.ca_file);
    assert!(harepay::store::postgres::PostgresStore::open(&prefer).is_err(), "the stand-in answers nothing more");
    assert!(!server.join().unwrap().is_empty(), "prefer went on in the clear");
}

/// A missing, unreadable-as-certificates or endless `sslrootcert` stops harepay at start-up with
/// an error naming the file; the URL's password shows nowhere, and nothing panics.
#[test]
fn a_bad_sslrootcert_file_stops_harepay_naming_the_file_and_never_the_password() {
    let Some(_) = ClusterCertificates::from_env() else { return };
    let Some(cluster_url) = crate::backend::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let public_key_only = dir.path().join("public-key.pem");
    std::fs::write(&public_key_only, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let cases = [
        (dir.path().join("missing.pem"), "cannot read the sslrootcert file"),
        (not_pem, "holds no certificate"),
        (public_key_only, "holds no certificate"),
        (broken, "is not usable"),
        (std::path::PathBuf::from("/dev/zero"), "is larger than"),
    ];
    for (file, expected) in cases {
        let file = file.to_str().unwrap();
        let mut url = url::Url::parse(&with_parameters(
            &cluster_url,
            None,
            &[("sslmode", "require"), ("sslrootcert", file), ("password", "query-s3cret")],
        ))
        .unwrap();
        url.set_password(Some("s3cret")).unwrap();
        let harepay = Harepay::on_database(url.to_string().into());
        let output = harepay.cli(&["verify"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains(file), "{file}: {stderr}");
        assert!(!stderr.contains("s3cret") && !stderr.contains("panicked"), "{file}: {stderr}");
    }
}
