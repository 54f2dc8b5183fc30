//! Endpoint signing secrets are stored sealed: XChaCha20-Poly1305 under a 256-bit key the operator
//! holds in a file (created 0600 next to the database, `<db>.seal-key`, or named by
//! `HAREPAY_SEAL_KEY_FILE`), with a random 192-bit nonce per secret and the endpoint's id as
//! associated data, so a sealed secret copied onto another endpoint does not open. A copy of the
//! database alone reveals no secret; the key file must be backed up with it.
//!
//! The key is installed once per process (one process serves one database): the tools seal with
//! it and the worker opens with it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

pub struct SealKey {
    cipher: XChaCha20Poly1305,
}

/// The process's key, made on first use from `KEY_FILE` (or given whole to `install`).
static INSTALLED: OnceLock<Result<SealKey, String>> = OnceLock::new();
static KEY_FILE: OnceLock<PathBuf> = OnceLock::new();

impl SealKey {
    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> SealKey {
        SealKey { cipher: XChaCha20Poly1305::new(bytes.into()) }
    }

    pub fn seal(&self, plaintext: &[u8], associated: &str) -> Vec<u8> {
        let mut nonce = [0_u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: associated.as_bytes() })
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        [nonce.as_slice(), sealed.as_slice()].concat()
    }

    /// None when the sealed bytes were not made by this key for `associated` (another key file, a
    /// secret moved to another endpoint, a changed byte).
    pub fn open(&self, sealed: &[u8], associated: &str) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: associated.as_bytes() }).ok()
    }
}

/// The key file beside `database`: `<database>.seal-key`.
pub fn default_key_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".seal-key");
    PathBuf::from(name)
}

/// Reads the key file (64 hex digits), or creates it, readable by its owner only, when it does
/// not exist.
pub fn load_or_create(path: &Path) -> Result<SealKey, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).ok().and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok());
            let bytes = bytes.ok_or_else(|| format!("{} does not hold 64 hex digits", path.display()))?;
            Ok(SealKey::from_bytes(&bytes))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

fn create(path: &Path) -> Result<SealKey, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0_u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    // create_new: two processes starting at once cannot both write a key; the loser reads the winner's.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match file {
        Ok(mut file) => {
            file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            tracing::info!(path = %path.display(), "created the key that seals webhook signing secrets; back it up with the database");
            Ok(SealKey::from_bytes(&bytes))
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(error) => Err(format!("cannot create {}: {error}", path.display())),
    }
}

/// Makes `key` the process's sealing key; the first installed stays.
pub fn install(key: SealKey) {
    let _ = INSTALLED.set(Ok(key));
}

/// Makes the key in `path` the process's sealing key. A file that exists is read now (a bad one
/// stops the server at start); a missing one is created when a secret is first sealed, so that a
/// server without webhooks leaves no key file behind.
pub fn install_key_file(path: &Path) -> Result<(), String> {
    if path.exists() {
        install(load_or_create(path)?);
    }
    let _ = KEY_FILE.set(path.to_owned());
    Ok(())
}

pub fn installed() -> Option<&'static SealKey> {
    let key = INSTALLED.get_or_init(|| match KEY_FILE.get() {
        Some(path) => load_or_create(path),
        None => Err("no webhook seal key file is configured in this process".to_owned()),
    });
    match key {
        Ok(key) => Some(key),
        Err(message) => {
            tracing::error!(%message, "webhook signing secrets cannot be sealed or opened");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_endpoint() {
        let key = SealKey::from_bytes(&[7; KEY_BYTES]);
        let sealed = key.seal(b"whsec_abc", "we_1");
        assert!(!sealed.windows(9).any(|window| window == b"whsec_abc"), "not stored in the clear");
        assert_eq!(key.open(&sealed, "we_1").as_deref(), Some(b"whsec_abc".as_slice()));
        assert_eq!(key.open(&sealed, "we_2"), None, "moved to another endpoint");
        assert_eq!(SealKey::from_bytes(&[8; KEY_BYTES]).open(&sealed, "we_1"), None, "another key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&tampered, "we_1"), None);
        assert_ne!(key.seal(b"whsec_abc", "we_1"), sealed, "a fresh nonce each time");
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().unwrap();
        let path = default_key_path(&directory.path().join("harepay.db"));
        let first = load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let second = load_or_create(&path).unwrap();
        assert_eq!(second.open(&first.seal(b"s", "we"), "we").as_deref(), Some(b"s".as_slice()));
        std::fs::write(&path, "short").unwrap();
        assert!(load_or_create(&path).is_err());
    }
}
