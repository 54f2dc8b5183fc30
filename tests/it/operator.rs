//! The operator's command line: demo keys exist only where someone asked for the demo, and a
//! secret key never travels on the command line (where every user sees it in the process list).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::json;
use tokio::process::Command;

use crate::http::HttpServer;
use crate::support::{Harepay, MAKER_KEY, binary};

#[tokio::test]
async fn http_on_an_empty_database_creates_no_key_and_says_how_to_make_one() {
    let harepay = Harepay::new();
    let server = HttpServer::start_without_demo(&harepay, &[]);
    assert!(server.startup_messages.contains("harepay keys create --db"), "{}", server.startup_messages);
    assert!(server.startup_messages.contains("--new-merchant"), "{}", server.startup_messages);
    let response = reqwest::Client::new()
        .post(&server.url)
        .header("authorization", format!("Bearer {MAKER_KEY}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "the demo key does not exist");
    drop(server);

    for read_only_command in [&["keys", "list"][..], &["verify"]] {
        assert!(harepay.cli(read_only_command).status.success());
    }
    let keys = harepay.cli(&["keys", "list"]);
    assert!(String::from_utf8_lossy(&keys.stdout).trim().is_empty(), "no key was created");

    // A key for "the demo merchant" when there is none: a clear refusal naming the way out.
    let refused = harepay.cli(&["keys", "create", "--owner", "alice"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("no demo merchant") && message.contains("--new-merchant"), "{message}");
    assert!(String::from_utf8_lossy(&harepay.cli(&["keys", "list"]).stdout).trim().is_empty());

    let created = harepay.cli(&["keys", "create", "--owner", "alice", "--new-merchant", "Alice's shop"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let listing = String::from_utf8_lossy(&harepay.cli(&["keys", "list"]).stdout).into_owned();
    assert_eq!(listing.lines().count(), 1, "only the key asked for: {listing}");
    assert!(!listing.contains("mch_demo"), "{listing}");

    // `--demo` on a database with real merchants adds no well-known key to it, and says so.
    let server = HttpServer::start_without_demo(&harepay, &["--demo"]);
    assert!(server.startup_messages.contains("only made on an empty database"), "{}", server.startup_messages);
    drop(server);
    assert_eq!(String::from_utf8_lossy(&harepay.cli(&["keys", "list"]).stdout).lines().count(), 1);

    // On an empty database `--demo` asks for the demo, and gets it.
    let fresh = Harepay::new();
    let server = HttpServer::start_without_demo(&fresh, &["--demo"]);
    assert!(server.startup_messages.contains("created the demo merchant"), "{}", server.startup_messages);
    let listing = String::from_utf8_lossy(&fresh.cli(&["keys", "list"]).stdout).into_owned();
    assert!(listing.contains("mch_demo"), "{listing}");
}

#[tokio::test]
async fn a_secret_key_on_the_command_line_is_refused_with_the_reason() {
    let harepay = Harepay::new();
    for args in [&["stdio", "--secret-key", MAKER_KEY][..], &["payouts", "pending", "--secret-key", MAKER_KEY]] {
        let output = harepay.cli(args);
        assert!(!output.status.success(), "{args:?}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains("process list"), "{args:?}: {message}");
        assert!(message.contains("HAREPAY_SECRET_KEY") && message.contains("--secret-key-file"), "{message}");
        assert!(output.stdout.is_empty());
    }
    assert!(!String::from_utf8_lossy(&harepay.cli(&["stdio", "--help"]).stdout).contains("--secret-key "));
}

fn key_file(directory: &tempfile::TempDir, contents: &str, mode: u32) -> String {
    let path = directory.path().join(format!("key-{mode:o}"));
    std::fs::File::create(&path).unwrap().write_all(contents.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_secret_key_is_read_from_a_file_without_its_newline() {
    let harepay = Harepay::new();
    let directory = tempfile::tempdir().unwrap();
    let private = key_file(&directory, &format!("{MAKER_KEY}\n"), 0o600);
    let mut command = Command::new(binary());
    command
        .args(["stdio", "--secret-key-file", &private])
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_LOG", "warn")
        .env_remove("HAREPAY_SECRET_KEY")
        .stderr(Stdio::null());
    let client = harepay.connect_command(command).await;
    let me = client.call("whoami", json!({})).await;
    assert_eq!(me["owner"], "demo-maker", "{me}");
    client.close().await;

    // From the environment too, for `payouts`; a file anyone can read works with a warning.
    let shared = key_file(&directory, &format!("{MAKER_KEY}\n"), 0o644);
    let listed = harepay.cli_env(&["payouts", "pending"], &[("HAREPAY_SECRET_KEY_FILE", &shared)]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(String::from_utf8_lossy(&listed.stderr).contains("readable by every user"));
    let quiet = harepay.cli_env(&["payouts", "pending"], &[("HAREPAY_SECRET_KEY_FILE", &private)]);
    assert!(quiet.status.success() && quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));

    // Two sources, an empty file, or no key at all: refused plainly.
    let both = harepay
        .cli_env(&["payouts", "pending"], &[("HAREPAY_SECRET_KEY_FILE", &private), ("HAREPAY_SECRET_KEY", MAKER_KEY)]);
    assert!(String::from_utf8_lossy(&both.stderr).contains("keep one"), "{both:?}");
    let empty = key_file(&directory, "\n", 0o600);
    let nothing = harepay.cli_env(&["payouts", "pending"], &[("HAREPAY_SECRET_KEY_FILE", &empty)]);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("one key"), "{nothing:?}");
    let none = harepay.cli(&["payouts", "pending"]);
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("HAREPAY_SECRET_KEY"));
}

/// Idempotency records are kept at least a day: a shorter retention, by flag or environment, is
/// refused when the server starts.
#[test]
fn a_retention_of_idempotency_records_under_a_day_is_refused() {
    let harepay = Harepay::new();
    let by_flag: (&[&str], &[(&str, &str)]) = (&["stdio", "--idempotency-retention-hours", "23"], &[]);
    let by_environment: (&[&str], &[(&str, &str)]) = (&["stdio"], &[("HAREPAY_IDEMPOTENCY_RETENTION_HOURS", "0")]);
    for (args, environment) in [by_flag, by_environment] {
        let refused = harepay.cli_env(args, environment);
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{message}");
        assert!(message.contains("--idempotency-retention-hours") && message.contains("24 to"), "{message}");
    }
}

/// The `mcpServers` entry of the stdio hint, parsed (the JSON between `{` and `}` on lines of
/// their own).
fn hint_entry(text: &str) -> serde_json::Value {
    let text = text.replace('\r', "");
    let start = text.find("\n{\n").expect("an mcpServers entry") + 1;
    let end = text[start..].find("\n}\n").expect("the entry closes") + start + 2;
    serde_json::from_str(&text[start..end]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", &text[start..end]))
}

#[test]
fn stdio_colours_its_logs_and_explains_itself_only_on_a_terminal() {
    let harepay = Harepay::new();
    // Started by a client: stdin and stderr are pipes. Plain logs, no hint.
    let output = std::process::Command::new(binary())
        .arg("stdio")
        .env("HAREPAY_DB", &harepay.db)
        .env("HAREPAY_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("HAREPAY_SECRET_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("serving MCP on stdio"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in a pipe: {stderr:?}");
    assert!(!stderr.contains("mcpServers"), "a hint for a client that started it: {stderr}");

    // Started by a person: util-linux `script` gives it a terminal for stdin, stdout and stderr.
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is not installed: the terminal half of this test is skipped");
        return;
    }
    let terminal_dir = tempfile::tempdir().unwrap();
    let (database, _terminal_database) = crate::backend::installation_database(terminal_dir.path(), "terminal.db");
    let command_line = format!(
        "HAREPAY_DB='{}' HAREPAY_LOG=info '{}' stdio",
        database.display(),
        std::path::absolute(binary()).unwrap().display()
    );
    let output = std::process::Command::new("script")
        .args(["--quiet", "--flush", "--return", "--command", &command_line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("HAREPAY_SECRET_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(terminal.contains("\u{1b}["), "a terminal gets colour: {terminal:?}");
    let entry = hint_entry(&terminal);
    let server = &entry["mcpServers"]["harepay"];
    assert_eq!(server["command"], std::path::absolute(binary()).unwrap().display().to_string(), "{terminal}");
    assert_eq!(server["args"], json!(["stdio"]));
    assert_eq!(server["env"]["HAREPAY_DB"], database.display().to_string());
    assert_eq!(server["env"]["HAREPAY_SECRET_KEY"], MAKER_KEY, "the demo key, published anyway");
}
