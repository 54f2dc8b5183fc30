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

/// Owner names of API keys: 1 to 100 characters after normalization.
pub const OWNER_MAX_CHARS: usize = 100;

/// A payout of at least this share of its currency's approval threshold (and below it) is "just
/// under" the threshold; such payouts by one person that together reach the threshold within
/// `SPEND_LIMIT_WINDOW_MS` wait for approval as a split payout (structuring).
pub const STRUCTURING_BAND_PERCENT: u32 = 50;

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

/// How often the scheduler looks for due work: approval expiries, and in test mode the
/// simulated rails.
pub const SIMULATOR_TICK_MS: u64 = 200;

/// One JSON-RPC message: a stdio line or an HTTP request body (with or without `Content-Length`;
/// 413 beyond). A larger one is refused without being read into memory. A request of harepay is a
/// few KiB; the seeds say 1 MB.
pub const JSON_RPC_MESSAGE_MAX_BYTES: usize = 1 << 20;

/// Messages waiting between the stdio reader, the server and the stdout writer. Beyond this the
/// reader stops reading stdin, so a client that floods requests or never reads its answers makes
/// the server hold no more.
pub const STDIO_QUEUE_MAX_MESSAGES: usize = 64;

/// At exit, how long the stdio writer may take to write answers already queued.
pub const STDIO_EXIT_FLUSH_MS: u64 = 5_000;

/// How long a human's answer to a `--confirm=elicit` question stays usable (the sealed
/// `requestState` of protocol 2026-07-28), unless configured otherwise, and the most it may be
/// configured to: an answer is a decision about one write now, not a standing permission.
pub const CONFIRMATION_EXPIRY_DEFAULT_MS: i64 = 10 * 60 * 1000;
pub const CONFIRMATION_EXPIRY_MAX_MS: i64 = 60 * 60 * 1000;

/// Answers used within their expiry that the server remembers, to refuse a second use. When this
/// many are remembered, a new answer is refused (`confirmation_unavailable`) rather than the
/// memory grown; entries leave as their answers expire.
pub const CONFIRMATION_USED_NONCES_MAX: usize = 100_000;

/// Tries of one failing scheduled step (an expiry, a simulated settlement or payout step), the
/// first included, before it is parked: no longer picked, with an audit record and an event.
pub const SCHEDULER_STEP_MAX_ATTEMPTS: u32 = 8;

/// The wait before the second try of a failed scheduled step; it doubles with each failure.
pub const SCHEDULER_RETRY_BACKOFF_BASE_MS: i64 = 1_000;

/// The longest wait between two tries of a failed scheduled step.
pub const SCHEDULER_RETRY_BACKOFF_MAX_MS: i64 = 5 * 60 * 1000;

/// Approval expiries one scheduler tick runs, in their own transaction, before any test-mode work.
pub const SCHEDULER_EXPIRY_BATCH_MAX_STEPS: u32 = 200;

/// Simulated payment settlements, and separately simulated payout steps, one tick runs. Each
/// batch takes merchants in turns, so a merchant alone gets all of it and many share it fairly.
pub const SCHEDULER_TEST_RAIL_BATCH_MAX_STEPS: u32 = 100;

/// A scheduler warning of one kind is logged at most once per this interval; the next line
/// says how many were suppressed.
pub const SCHEDULER_LOG_INTERVAL_MS: i64 = 10_000;

/// Parked steps `harepay verify` lists one by one; beyond this it gives the count.
pub const SCHEDULER_PARKED_STEPS_LISTED_MAX: u32 = 100;

/// What a retry record, its audit record and its event keep of a step's error.
pub const SCHEDULER_ERROR_DETAIL_MAX_CHARS: usize = 300;

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
