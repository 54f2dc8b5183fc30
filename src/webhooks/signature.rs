//! The signature on every delivery, as the seed documents it: `X-Lodum-Signature:
//! sha256=<hex HMAC-SHA256 of "timestamp.rawBody">`, keyed by the endpoint's whole secret
//! (`whsec_…`), with the Unix seconds of `X-Lodum-Timestamp`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac_of(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Lodum-Signature` value for `body` sent at `timestamp_seconds`.
pub fn signature_header(secret: &str, timestamp_seconds: i64, body: &[u8]) -> String {
    let digest = mac_of(secret, &timestamp_seconds.to_string(), body).finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature is not of the form sha256=<64 hex digits>")]
    MalformedSignature,
    #[error("the timestamp is not Unix seconds")]
    MalformedTimestamp,
    #[error(
        "the timestamp is {off_by_seconds} s away from now, more than the {tolerance_seconds} s tolerance (a replay?)"
    )]
    OutsideTolerance { off_by_seconds: i64, tolerance_seconds: i64 },
    #[error("the signature does not match the body, timestamp and secret")]
    Mismatch,
}

/// Checks a delivery as a receiver should: the timestamp within `tolerance_seconds` of
/// `now_seconds`, then the HMAC compared in constant time.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_seconds: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let sent_seconds: i64 = timestamp.trim().parse().map_err(|_| VerifyError::MalformedTimestamp)?;
    let off_by_seconds = now_seconds.saturating_sub(sent_seconds).saturating_abs();
    if off_by_seconds > tolerance_seconds {
        return Err(VerifyError::OutsideTolerance { off_by_seconds, tolerance_seconds });
    }
    let digest = signature
        .trim()
        .strip_prefix("sha256=")
        .filter(|digits| digits.len() == 64)
        .and_then(|digits| hex::decode(digits).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    mac_of(secret, timestamp.trim(), body).verify_slice(&digest).map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_fails() {
        let header = signature_header("whsec_test", 1_750_000_000, b"{\"id\":\"pi_1\"}");
        // The same HMAC the seed's Node snippet computes: createHmac("sha256", secret).update(ts + "." + body).
        assert!(header.starts_with("sha256=") && header.len() == 71);
        let check = |secret: &str, timestamp: &str, body: &[u8], signature: &str| {
            verify(secret, timestamp, body, signature, 1_750_000_100, 300)
        };
        assert_eq!(check("whsec_test", "1750000000", b"{\"id\":\"pi_1\"}", &header), Ok(()));
        assert_eq!(check("whsec_other", "1750000000", b"{\"id\":\"pi_1\"}", &header), Err(VerifyError::Mismatch));
        assert_eq!(check("whsec_test", "1750000001", b"{\"id\":\"pi_1\"}", &header), Err(VerifyError::Mismatch));
        assert_eq!(check("whsec_test", "1750000000", b"{\"id\":\"pi_2\"}", &header), Err(VerifyError::Mismatch));
        assert_eq!(check("whsec_test", "1750000000", b"", "sha256=zz"), Err(VerifyError::MalformedSignature));
        assert_eq!(check("whsec_test", "soon", b"", &header), Err(VerifyError::MalformedTimestamp));
        assert!(matches!(
            verify("whsec_test", "1750000000", b"{\"id\":\"pi_1\"}", &header, 1_750_000_301, 300),
            Err(VerifyError::OutsideTolerance { .. })
        ));
    }
}
