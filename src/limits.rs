//! Every limit harepay enforces, in one place. A limit that is not named here does not exist.
//!
//! Units are last in names: `_minor` is an amount in an asset's minor unit, `_ms` milliseconds,
//! `_chars` characters (Unicode scalar values).

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

/// Commands the writer commits together in one durable transaction (group commit).
pub const GROUP_COMMIT_MAX_COMMANDS: usize = 512;

/// How often the test-mode simulator looks for payments that are due.
pub const SIMULATOR_TICK_MS: u64 = 200;

/// HTTP request bodies: at most 1 MiB, with or without `Content-Length` (413 beyond). A JSON-RPC
/// request of harepay is a few KiB; the seeds say 1 MB.
pub const HTTP_BODY_MAX_BYTES: usize = 1024 * 1024;

/// How long a connection may take to send a complete request head. hyper starts this clock
/// whenever a connection waits for a request, so it is also the keep-alive idle timeout: a
/// connection with no request in progress is closed after this long. Slow-header connections
/// (slowloris) hold a slot for at most this long.
pub const HTTP_HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// How long a request may take from its head to the head of its answer, reading its body
/// included (408 beyond). Streams already answering (SSE) are not cut.
pub const HTTP_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Open HTTP connections at once. Beyond, new connections wait in the listen backlog until one
/// closes. Below the usual 1024 file descriptors a process may hold, so the database and the
/// log always have theirs.
pub const HTTP_MAX_CONNECTIONS: usize = 512;

/// Requests per key (HTTP) or tool calls per key (stdio): a sustained rate and the burst a key
/// may spend at once (GCRA: the burst refills at the rate). 100/s is Stripe's live-mode rate.
pub const RATE_LIMIT_PER_KEY_PER_SECOND: u32 = 100;
pub const RATE_LIMIT_PER_KEY_BURST: u32 = 1_000;

/// HTTP requests per client address (IPv6 by /64), authenticated or not, so that nobody floods
/// the key check. Above the per-key limit: one address may serve several keys.
pub const RATE_LIMIT_PER_IP_PER_SECOND: u32 = 200;
pub const RATE_LIMIT_PER_IP_BURST: u32 = 2_000;

/// How often rate-limit state of keys and addresses that are back at a full burst is dropped.
pub const RATE_LIMIT_STATE_SWEEP_MS: u64 = 60_000;

/// Sessions of the older protocol (2025-11-25 and before) open at once, per key and in total.
/// Each holds tens of KiB; clients of 2026-07-28 need none.
pub const HTTP_SESSIONS_MAX_PER_KEY: usize = 100;
pub const HTTP_SESSIONS_MAX_TOTAL: usize = 1_000;

/// A session with no request for this long is closed and its memory freed.
pub const HTTP_SESSION_IDLE_EXPIRY_MS: u64 = 120_000;

/// On Ctrl-C, how long answers in progress may take before the server stops anyway.
pub const HTTP_SHUTDOWN_GRACE_MS: u64 = 5_000;
