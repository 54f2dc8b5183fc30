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

/// How long the first result of an idempotency key is kept, in hours: a retry with the key
/// within this time gets it back. At least a day (Stripe keeps keys 24 hours: a client's
/// retries of one request span minutes to hours), at most ten years.
pub const IDEMPOTENCY_RETENTION_DEFAULT_HOURS: u32 = 24;
pub const IDEMPOTENCY_RETENTION_MIN_HOURS: u32 = 24;
pub const IDEMPOTENCY_RETENTION_MAX_HOURS: u32 = 10 * 365 * 24;

/// Idempotency records past their retention one scheduler tick deletes, oldest first, in one
/// write of their own: up to 10,000 a second at the 200 ms tick, each write a few milliseconds.
pub const IDEMPOTENCY_PURGE_BATCH_MAX_RECORDS: u32 = 2_000;

/// The window of a key's `max_per_day` spend limit: the rolling 24 hours before now.
pub const SPEND_LIMIT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Owner names of API keys: 1 to 100 characters after normalization.
pub const OWNER_MAX_CHARS: usize = 100;

/// A payout of at least this share of its currency's approval threshold (and below it) is "just
/// under" the threshold; such payouts by one person that together reach the threshold within
/// `SPEND_LIMIT_WINDOW_MS` wait for approval as a split payout (structuring).
pub const STRUCTURING_BAND_PERCENT: u32 = 25;

/// How long a payout waits for approval, unless configured otherwise.
pub const APPROVAL_EXPIRY_DEFAULT_MS: i64 = 72 * 60 * 60 * 1000;

/// List pages: `limit` is 1 to 100, 10 when omitted.
pub const LIST_LIMIT_MAX: u32 = 100;
pub const LIST_LIMIT_DEFAULT: u32 = 10;

/// What the tool list may cost every agent's context: the whole `tools/list` result for an admin
/// key (who sees every tool), on average per tool. The peers publish no output schemas and average
/// 0.9–1.9 KB; harepay keeps its output schemas and stays within this (a catalog test).
pub const TOOL_LIST_AVERAGE_MAX_BYTES_PER_TOOL: usize = 2_000;

/// Customers (`create_customer`): an email address is at most 254 characters (RFC 5321's path
/// limit less its brackets), its local part at most 64 and each domain label at most 63; a phone
/// number is at most 32 characters with 5 to 15 digits (E.164's most).
pub const EMAIL_MAX_CHARS: usize = 254;
pub const EMAIL_LOCAL_PART_MAX_CHARS: usize = 64;
pub const EMAIL_DOMAIN_LABEL_MAX_CHARS: usize = 63;
pub const PHONE_MAX_CHARS: usize = 32;
pub const PHONE_MIN_DIGITS: usize = 5;
pub const PHONE_MAX_DIGITS: usize = 15;

/// Names of customers and products.
pub const NAME_MAX_CHARS: usize = 255;

/// A product's unit label ("seat", "license"): Stripe's limit.
pub const UNIT_LABEL_MAX_CHARS: usize = 12;

/// The longest billing interval a price may have: three years (Stripe's limit), as 1,095 days,
/// 156 weeks, 36 months or 3 years. An interval's name (`semi-annual`) or unit (`month`) is at most
/// 16 characters: longer cannot be one, and is refused by the input guard unread.
pub const PRICE_INTERVAL_MAX_DAYS: u32 = 1_095;
pub const PRICE_INTERVAL_MAX_WEEKS: u32 = 156;
pub const PRICE_INTERVAL_MAX_MONTHS: u32 = 36;
pub const PRICE_INTERVAL_MAX_YEARS: u32 = 3;
pub const PRICE_INTERVAL_NAME_MAX_CHARS: usize = 16;

/// A price's free trial: at most two years (Stripe's limit).
pub const TRIAL_PERIOD_MAX_DAYS: u32 = 730;

/// A usage price's free allowance per period, and any count of units: up to 2^53 − 1, the largest
/// integer every JSON client represents exactly.
pub const USAGE_UNITS_MAX: i64 = (1_i64 << 53) - 1;

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
/// The same on PostgreSQL: each command's savepoint that writes is a subtransaction, and a server
/// process keeps the ids of at most 64 of them in shared memory (`PGPROC_MAX_CACHED_SUBXIDS`);
/// past that every other session's visibility checks of the group's rows read `pg_subtrans`.
pub const POSTGRES_GROUP_COMMIT_MAX_COMMANDS: usize = 64;

/// How often the scheduler looks for due work: approval expiries, and in test mode the
/// simulated rails.
pub const SIMULATOR_TICK_MS: u64 = 200;

/// One JSON-RPC message: a stdio line or an HTTP request body (with or without `Content-Length`;
/// 413 beyond). A larger one is refused without being read into memory. A request of harepay is a
/// few KiB; the seeds say 1 MB.
pub const JSON_RPC_MESSAGE_MAX_BYTES: usize = 1 << 20;

/// JSON values in one JSON-RPC message (counted as opened arrays and objects plus separators,
/// before it is parsed): beyond, -32600 without parsing it. Parsed JSON takes up to ~20 times
/// the text of small values (1 MiB of `0,` is 500,000 values, ~16 MB parsed), so this keeps a
/// parsed message within a small multiple of its text. harepay's largest valid call has about
/// 150 values.
pub const JSON_RPC_MESSAGE_MAX_VALUES: usize = 10_000;

/// JSON-RPC method names. The longest MCP method is under 40 bytes; a request whose method is
/// longer is refused (-32601) with a short error that quotes a prefix of it, instead of being
/// echoed whole, and such a notification is dropped.
pub const JSON_RPC_METHOD_MAX_BYTES: usize = 128;

/// Messages waiting between the stdio reader, the server and the stdout writer, and the bytes of
/// the stdin lines waiting for the server (kept as read, parsed one at a time as the server takes
/// them: parsed JSON of small values takes up to ~20 times its text). Beyond either the reader
/// stops reading stdin, and it also waits while stdout is full, so a client that floods requests
/// or never reads its answers makes the server hold no more.
pub const STDIO_QUEUE_MAX_MESSAGES: usize = 64;
pub const STDIO_QUEUE_MAX_BYTES: usize = 4 * JSON_RPC_MESSAGE_MAX_BYTES;

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

/// Of those, what one key may hold: a key that answers very many questions fills its own share,
/// not the whole store (it is refused `confirmation_unavailable` until its answers expire).
pub const CONFIRMATION_USED_NONCES_PER_KEY_MAX: usize = 2_000;

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

/// Lapsed payment intents one scheduler tick expires (what they received goes back), in a write
/// of their own, merchants in turns.
pub const SCHEDULER_PAYMENT_EXPIRY_BATCH_MAX_STEPS: u32 = 200;

/// At most this many open invoices expired per scheduler write (each with its payment intent),
/// merchants in turns, in a write of their own.
pub const SCHEDULER_INVOICE_EXPIRY_BATCH_MAX_STEPS: u32 = 200;

/// Disputes past their evidence due date closed as lost per scheduler write, merchants in turns,
/// in a write of their own.
pub const SCHEDULER_OVERDUE_DISPUTE_BATCH_MAX_STEPS: u32 = 200;

/// A payment intent's own expiry (`expires_in_ms`): at least a second, so that a test-mode agent
/// can walk the expiry branch without waiting, at most 30 days (Pepay's invoices default to 12
/// hours), so that no virtual account or deposit address is held open for long. No expiry unless
/// asked for.
pub const PAYMENT_INTENT_EXPIRY_MIN_MS: i64 = 1_000;
pub const PAYMENT_INTENT_EXPIRY_MAX_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// What one payment intent may receive in all, as a multiple of its amount. A payer may send less
/// (the intent waits for the rest) or more (credited whole, reported as an over-payment); ten
/// times the amount is a mistake to send back, not a payment, and it is refused.
pub const PAYMENT_RECEIVED_MAX_MULTIPLE: i64 = 10;

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

/// Open HTTP connections from one client address (IPv6 by /64), so that one client cannot hold
/// every slot of `HTTP_MAX_CONNECTIONS`: a connection beyond is answered 503 and closed at once.
/// Off with the per-address rate limit (`--rate-limit-per-ip off`), behind a reverse proxy
/// whose address every client shares, and when `--max-connections` is no more than this.
pub const HTTP_MAX_CONNECTIONS_PER_ADDRESS: usize = 64;

/// A request head (request line and headers): beyond, 431 with a JSON error. Clients send under
/// 2 KiB; a `Host` or `Origin` header, and what the log may quote of one, stays small.
pub const HTTP_REQUEST_HEAD_MAX_BYTES: usize = 16 * 1024;

/// The most one connection's read buffer may hold (hyper's default is ~400 KiB): a head that
/// does not fit (hyper checks after each read, so a little more arrives) is answered with a
/// bare 431 by hyper and the connection closed.
pub const HTTP_CONNECTION_BUFFER_MAX_BYTES: usize = 64 * 1024;

/// A warning about requests refused for their `Host` or `Origin` is logged at most once per
/// this interval and kind; the next one says how many were suppressed.
pub const HTTP_REFUSAL_LOG_INTERVAL_MS: i64 = 10_000;

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

/// An `initialize` request over HTTP, which opens a session of the older protocol. rmcp keeps
/// the client's initialize parameters for the session's life as parsed JSON (up to ~20 times
/// their text for JSON of small values, e.g. a large `capabilities.experimental`), so this
/// bounds what a session holds: about 100 KiB, and about 250 KiB with an initialize at the
/// limit (measured). Clients send a few hundred bytes; beyond, 413.
pub const HTTP_INITIALIZE_MAX_BYTES: usize = 8 * 1024;

/// Sessions of the older protocol (2025-11-25 and before) open at once, per key and in total.
/// Each holds at most ~250 KiB (see `HTTP_INITIALIZE_MAX_BYTES`), so the defaults bound all
/// sessions to ~250 MB and one key's to ~25 MB; clients of 2026-07-28 need none.
pub const HTTP_SESSIONS_MAX_PER_KEY: usize = 100;
pub const HTTP_SESSIONS_MAX_TOTAL: usize = 1_000;

/// A session with no request for this long is closed and its memory freed.
pub const HTTP_SESSION_IDLE_EXPIRY_MS: u64 = 120_000;

/// On SIGTERM or Ctrl-C, how long answers in progress may take before the server stops anyway.
pub const HTTP_SHUTDOWN_GRACE_MS: u64 = 5_000;

/// `GET /readyz`: a readiness answer is reused this long, so that probes at any rate cost the
/// writer at most one empty transaction per interval.
pub const READINESS_CHECK_REUSE_MS: u64 = 1_000;

/// `GET /readyz`: a writer that has not answered in this long is "not ready" (a stuck disk).
pub const READINESS_CHECK_TIMEOUT_MS: u64 = 2_000;

/// `X-Request-Id` from a caller is kept when it is at most this long and made of letters, digits
/// and `-_.:`; otherwise harepay makes its own. It lands in logs and audit records.
pub const REQUEST_ID_MAX_CHARS: usize = 64;
/// Invoices: at most this many line items (Stripe allows 250 per invoice; a harepay invoice is
/// written by an agent or a billing run, which adds one or two), each described in 1 to this many
/// characters, with a quantity of 1 to this many units. Amounts are bounded by `AMOUNT_MAX_MINOR`:
/// a line and the invoice's total alike.
pub const INVOICE_MAX_LINE_ITEMS: usize = 100;
pub const INVOICE_LINE_DESCRIPTION_MAX_CHARS: usize = 500;
pub const INVOICE_LINE_QUANTITY_MAX_UNITS: i64 = 1_000_000_000_000;

/// How long an invoice may stay payable once finalized (Pepay's `expires_in`): at least a minute,
/// at most 90 days. An invoice to be paid in crypto that names no expiry gets the default, 12 hours
/// (Pepay's), so that a deposit address quoted at a rate does not stay open for ever.
pub const INVOICE_EXPIRES_IN_MIN_MS: i64 = 60 * 1000;
pub const INVOICE_EXPIRES_IN_MAX_MS: i64 = 90 * 24 * 60 * 60 * 1000;
pub const INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS: i64 = 12 * 60 * 60 * 1000;

/// How far ahead an invoice's `due_date` may lie: about five years, so that due-date arithmetic
/// and comparisons never come near the i64 range.
pub const INVOICE_DUE_DATE_MAX_AHEAD_MS: i64 = 5 * 366 * 24 * 60 * 60 * 1000;

/// An invoice created without a `due_date` is due this long after its creation (30 days, as
/// Stripe's `days_until_due` defaults).
pub const INVOICE_DUE_DATE_DEFAULT_AHEAD_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Metered usage: one report counts 1 to this many units, and a subscription period counts at
/// most `USAGE_PERIOD_MAX_UNITS` (2^53 − 1, what every JSON client reads exactly); a report that
/// would pass it is refused whole. A price's free allowance (`included_units`) is at most that too.
pub const USAGE_REPORT_QUANTITY_MAX_UNITS: i64 = 1_000_000_000_000;
pub const USAGE_PERIOD_MAX_UNITS: i64 = (1_i64 << 53) - 1;

/// Subscriptions: a period invoice is due this many days after its period closes (an overage
/// invoice the same); an open invoice past it makes its subscription `past_due`.
pub const SUBSCRIPTION_INVOICE_DAYS_UNTIL_DUE: u32 = 7;

/// A usage report's `event_id`: 1 to this many characters (Lago's `transaction_id`, Stripe's
/// meter event identifier are shorter).
pub const USAGE_EVENT_ID_MAX_CHARS: usize = 255;

/// Test clocks: one advance moves a merchant's test-mode billing time at most three years (the
/// longest billing interval, so one call reaches any renewal) and never past the end of year
/// 9999, so the work an advance causes is bounded and every date stays in the calendar.
pub const TEST_CLOCK_ADVANCE_MAX_MS: i64 = 3 * 366 * 24 * 60 * 60 * 1000;
pub const TEST_CLOCK_LATEST_MS: i64 = 253_402_300_799_999;

/// Subscription periods one billing batch closes, each a write of its own: memory stays
/// constant however many subscriptions are due, and other writes interleave between batches.
pub const BILLING_BATCH_MAX_PERIODS: u32 = 256;

/// Billing batches one scheduler tick runs at most: a backlog of due periods (one merchant's test
/// clock, or everyone's after downtime) is worked off tick after tick, so that the expiries and the
/// test rails of every merchant, which the same tick runs, are never held up longer than this.
pub const SCHEDULER_BILLING_MAX_BATCHES_PER_TICK: u32 = 4;

/// Periods `report_usage` closes itself when the billing run has not yet caught up with a
/// subscription (normally 0 or 1): beyond, the report waits for the billing run.
pub const USAGE_REPORT_CATCH_UP_MAX_PERIODS: u32 = 64;
/// Disputes: how long a merchant has to submit evidence after a dispute opens (card networks
/// give about a week), and the window a test-mode `simulate_dispute` may set instead, so that a
/// test can reach the due date without a clock: from a second to 30 days.
pub const DISPUTE_EVIDENCE_DUE_DEFAULT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
pub const DISPUTE_EVIDENCE_DUE_MIN_MS: i64 = 1_000;
pub const DISPUTE_EVIDENCE_DUE_MAX_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Evidence: each text field, each file reference (an id or URL of a document the merchant
/// keeps; harepay stores no files), how many references, and all text fields together, so that
/// a dispute's stored evidence stays small however often it is staged.
pub const DISPUTE_EVIDENCE_TEXT_MAX_CHARS: usize = 5_000;
pub const DISPUTE_EVIDENCE_FILE_REFERENCE_MAX_CHARS: usize = 500;
pub const DISPUTE_EVIDENCE_FILE_REFERENCES_MAX: usize = 10;
pub const DISPUTE_EVIDENCE_TOTAL_MAX_CHARS: usize = 20_000;

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

/// API keys (HandyPay's key limits): at most 25 active keys per merchant, both modes together
/// (active: not revoked and not expired), for the operator's `harepay keys create` too.
pub const API_KEYS_ACTIVE_MAX_PER_MERCHANT: i64 = 25;

/// Keys an admin key may create through tools per merchant: 3 in any 10 minutes and 10 in any
/// hour (HandyPay), counted from the database, so restarts and several servers on one database
/// change nothing. The operator's command line is bounded by the active-key cap only.
pub const API_KEY_CREATIONS_BY_TOOLS_MAX: [(i64, u32); 2] = [(10 * 60 * 1000, 3), (60 * 60 * 1000, 10)];

/// A key's lifetime (`expires_in`, `expires_at`): from a second to two years. A key that must
/// live longer has no expiry and is revoked by hand.
pub const API_KEY_LIFETIME_MIN_MS: i64 = 1_000;
pub const API_KEY_LIFETIME_MAX_MS: i64 = 730 * 24 * 60 * 60 * 1000;

/// `expires_in` ("90s", "12h", "30d") and `expires_at` (RFC 3339) as text.
pub const API_KEY_EXPIRES_IN_MAX_CHARS: usize = 16;
pub const API_KEY_EXPIRES_AT_MAX_CHARS: usize = 40;
// Webhooks (migration 14): endpoints, the delivery worker and its retry schedule.

/// A webhook endpoint's URL: at most 2,048 characters (what browsers and most proxies accept).
pub const WEBHOOK_URL_MAX_CHARS: usize = 2_048;
/// Event types one endpoint subscribes to by name (or `*` for all).
pub const WEBHOOK_EVENT_TYPES_MAX: usize = 32;
/// Endpoints a merchant may have in one mode (enabled or disabled; deleted ones do not count): a
/// flood of endpoints cannot multiply every event into thousands of requests.
pub const WEBHOOK_ENDPOINTS_PER_SCOPE_MAX: usize = 16;
/// Consecutive failed attempts (any delivery) after which an endpoint is disabled (HandyPay: 10).
pub const WEBHOOK_CONSECUTIVE_FAILURES_MAX: u32 = 10;
/// Attempts one delivery gets in all before it is `failed` (a redelivery starts a new one).
pub const WEBHOOK_DELIVERY_MAX_ATTEMPTS: u32 = 16;
/// The wait after a delivery's first failure; each further failure doubles it, with ±10 % jitter,
/// up to the cap: 30 s, 1 min, 2 min, … 4 h 16 min, then 6 h. `--webhook-retry-base-ms` and
/// `--webhook-retry-cap-ms` override them.
pub const WEBHOOK_RETRY_BASE_DEFAULT_MS: i64 = 30_000;
pub const WEBHOOK_RETRY_CAP_DEFAULT_MS: i64 = 6 * 60 * 60 * 1000;
/// Jitter around each wait, in percent either way, so that endpoints failing together do not
/// retry in lockstep.
pub const WEBHOOK_RETRY_JITTER_PERCENT: i64 = 10;
/// A receiver's `Retry-After` on 429 is honoured up to this long (beyond the cap: the receiver asked).
pub const WEBHOOK_RETRY_AFTER_MAX_MS: i64 = 60 * 60 * 1000;
/// Connecting to a receiver (DNS excluded), and the whole request from connect to the last byte read.
pub const WEBHOOK_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub const WEBHOOK_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Resolving a receiver's host name.
pub const WEBHOOK_DNS_TIMEOUT_MS: u64 = 5_000;
/// Bytes of a receiver's answer read (and kept, cut to `WEBHOOK_RESPONSE_EXCERPT_MAX_CHARS`); the
/// rest is never read.
pub const WEBHOOK_RESPONSE_READ_MAX_BYTES: usize = 16 * 1024;
pub const WEBHOOK_RESPONSE_EXCERPT_MAX_CHARS: usize = 200;
/// Requests in flight at once over all endpoints; each endpoint has at most one.
pub const WEBHOOK_CONCURRENT_REQUESTS_MAX: usize = 32;
/// Events one fan-out write turns into deliveries.
pub const WEBHOOK_FANOUT_BATCH_MAX_EVENTS: u32 = 500;
/// How often the worker looks for due deliveries when nothing woke it.
pub const WEBHOOK_POLL_INTERVAL_MS: u64 = 100;
/// Attempts `list_webhook_deliveries` shows per delivery (the most recent).
pub const WEBHOOK_ATTEMPTS_LISTED_MAX: u32 = 20;
/// How far a signature's timestamp may be from now for `harepay webhooks verify` (replays).
pub const WEBHOOK_SIGNATURE_TOLERANCE_DEFAULT_SECONDS: i64 = 5 * 60;

/// PostgreSQL: connections one process holds at most (the writer's, readers', the scheduler's).
pub const POSTGRES_MAX_CONNECTIONS: usize = 16;
/// PostgreSQL: how long a session waits for a free connection before it fails.
pub const POSTGRES_CONNECTION_WAIT_MS: u64 = 5_000;
/// PostgreSQL: writes a session queues to send with its next statement (one round trip) before
/// it sends them at once: bounds the queue's memory and one pipeline's size.
pub const POSTGRES_DEFERRED_WRITES_MAX: usize = 64;
/// PostgreSQL: how long connecting may take.
pub const POSTGRES_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// PostgreSQL: how long a statement waits for a row lock another process holds (then the
/// command fails as contention and nothing of it is kept), as SQLite's busy timeout.
pub const POSTGRES_LOCK_TIMEOUT_MS: u64 = 5_000;
/// PostgreSQL: a session idle inside a transaction this long (a stuck or paused process) is ended
/// by the server, so its row locks cannot block the other processes for longer.
pub const POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 60_000;
/// PostgreSQL: the largest `sslrootcert` file read (a bundle of every public CA is about 220 KB), so
/// that a URL naming a device or a huge file fails at start-up instead of filling memory.
pub const POSTGRES_ROOT_CERTIFICATES_FILE_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// PostgreSQL: how many times a tool's write is tried again, in the same group, when another
/// process held what it needed (a deadlock or a lock wait past the timeout) before it answers
/// `database_busy`.
pub const CONTENTION_RETRIES_MAX: u32 = 3;
/// How long `database_busy` tells the caller to wait before retrying.
pub const DATABASE_BUSY_RETRY_AFTER_MS: u64 = 100;

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
