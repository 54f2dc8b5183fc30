//! Every limit harepay enforces, in one place. A limit that is not named here does not exist.
//!
//! Units are last in names: `_minor` is an amount in an asset's minor unit, `_ms` milliseconds,
//! `_chars` characters (Unicode scalar values), `_bytes` bytes.

/// The largest amount accepted anywhere, in minor units: 2^53 − 1, the largest integer every JSON
/// client (JavaScript included) represents exactly.
pub const AMOUNT_MAX_MINOR: i64 = (1_i64 << 53) - 1;

/// The smallest amount a money-moving command accepts. Zero-value payments are refused.
pub const AMOUNT_MIN_MINOR: i64 = 1;

/// Idempotency keys: 1 to 255 characters, as Stripe allows.
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// The window of a key's `max_per_day` spend limit: the rolling 24 hours before now.
pub const SPEND_LIMIT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a payout waits for approval, unless configured otherwise.
pub const APPROVAL_EXPIRY_DEFAULT_MS: i64 = 72 * 60 * 60 * 1000;

/// List pages: `limit` is 1 to 100, 10 when omitted.
pub const LIST_LIMIT_MAX: u32 = 100;
pub const LIST_LIMIT_DEFAULT: u32 = 10;

/// Free text an agent may attach.
pub const DESCRIPTION_MAX_CHARS: usize = 500;
pub const CUSTOMER_MAX_CHARS: usize = 255;
pub const REASON_MAX_CHARS: usize = 500;

/// Metadata: at most 50 keys, keys up to 40 characters, values up to 500 (Stripe's limits).
pub const METADATA_MAX_KEYS: usize = 50;
pub const METADATA_KEY_MAX_CHARS: usize = 40;
pub const METADATA_VALUE_MAX_CHARS: usize = 500;

/// Object ids handed to tools: longer than this cannot be one of ours.
pub const OBJECT_ID_MAX_CHARS: usize = 64;

/// Codes an agent names: currency or asset codes (NGN, USDC), networks (ETHEREUM) and event types
/// (payment_intent.payment_failed). Longer than these cannot be one of ours.
pub const ASSET_CODE_MAX_CHARS: usize = 8;
pub const NETWORK_CODE_MAX_CHARS: usize = 16;
pub const EVENT_TYPE_MAX_CHARS: usize = 64;

/// Payout destinations: an IBAN is at most 34 characters, a bank code 6 digits, a bech32 address
/// 90 characters.
pub const BANK_ACCOUNT_NO_MAX_CHARS: usize = 34;
pub const BANK_CODE_MAX_CHARS: usize = 6;
pub const BANK_ACCOUNT_NAME_MAX_CHARS: usize = 100;
pub const CRYPTO_ADDRESS_MAX_CHARS: usize = 90;

/// Tool arguments as a whole, checked before a tool runs: the total size (string and name bytes,
/// 8 per other value; the largest valid call, full metadata in 4-byte characters, is under
/// 120 KiB) and how deeply they nest (valid calls nest 3 deep).
pub const ARGUMENTS_MAX_BYTES: usize = 128 * 1024;
pub const ARGUMENTS_MAX_DEPTH: usize = 8;

/// Strings, names, arrays and objects the tool's input schema does not bound (unknown arguments,
/// a value of the wrong type): no valid call needs more.
pub const ARGUMENT_UNDESCRIBED_MAX_CHARS: usize = 64;
pub const ARGUMENT_UNDESCRIBED_MAX_ENTRIES: usize = 64;

/// What an error message quotes of an input: this many characters, then "…".
pub const INPUT_ECHO_MAX_CHARS: usize = 32;

/// Error messages an agent reads. Messages are written shorter; this is the backstop.
pub const ERROR_MESSAGE_MAX_CHARS: usize = 500;

/// What the audit log keeps of an attempt: its detail (what was asked, or why it was refused) up
/// to this length, and of an idempotency key over its limit a prefix of this length plus the
/// key's SHA-256, so that an oversized refused call cannot fill the disk.
pub const AUDIT_DETAIL_MAX_CHARS: usize = 1_000;
pub const AUDIT_KEY_PREFIX_CHARS: usize = 32;

/// Commands the writer commits together in one durable transaction (group commit).
pub const GROUP_COMMIT_MAX_COMMANDS: usize = 512;

/// How often the test-mode simulator looks for payments that are due.
pub const SIMULATOR_TICK_MS: u64 = 200;

/// `text` cut to at most `max_chars` characters, the last of them "…" when it was cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.len() <= max_chars || text.char_indices().nth(max_chars).is_none() {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// An input as an error message quotes it: in quotes with escapes, at most
/// `INPUT_ECHO_MAX_CHARS` characters of it, then "…". A message never echoes a whole oversized
/// input back to the agent (or into the audit log).
pub fn echo(input: &str) -> String {
    match input.char_indices().nth(INPUT_ECHO_MAX_CHARS) {
        None => format!("{input:?}"),
        Some((end, _)) => format!("{:?}…", &input[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_short_text_and_cuts_long_text_to_the_limit() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("₦₦₦₦", 4), "₦₦₦₦", "characters, not bytes");
        assert_eq!(truncate_chars("₦₦₦₦₦", 4), "₦₦₦…");
        assert_eq!(truncate_chars(&"x".repeat(10_000), 10).chars().count(), 10);
    }

    #[test]
    fn an_echo_quotes_a_short_prefix() {
        assert_eq!(echo("NGN"), "\"NGN\"");
        assert_eq!(echo(&"x".repeat(32)), format!("\"{}\"", "x".repeat(32)));
        assert_eq!(echo(&"x".repeat(200_000)), format!("\"{}\"…", "x".repeat(32)));
        assert_eq!(echo("a\u{202e}b"), "\"a\\u{202e}b\"", "invisible characters are escaped");
    }
}
