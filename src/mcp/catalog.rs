//! The generated contract: `tools/<name>.json` for every tool, `llms.txt` and `docs/guide.md`,
//! made from the tool registry, and the MCP resources that serve them. `harepay catalog write`
//! rewrites them; `harepay catalog check` and a test fail when the checked-in files drift from the
//! code.

use std::path::{Path, PathBuf};

use crate::limits;
use crate::mcp::{RegisteredTool, registry};
use crate::ops::Toolset;

/// The catalog entry of one tool, as written to `tools/<name>.json`.
pub fn tool_json(registered: &RegisteredTool) -> String {
    let tool = &registered.tool;
    let annotations = tool.annotations.as_ref();
    let value = serde_json::json!({
        "name": tool.name,
        "title": tool.title,
        "toolset": registered.entry.spec.toolset.code(),
        "permission": registered.entry.spec.action.code(),
        "description": tool.description,
        "annotations": {
            "readOnlyHint": annotations.and_then(|a| a.read_only_hint),
            "destructiveHint": annotations.and_then(|a| a.destructive_hint),
            "idempotentHint": annotations.and_then(|a| a.idempotent_hint),
            "openWorldHint": annotations.and_then(|a| a.open_world_hint),
        },
        "inputSchema": *tool.input_schema,
        "outputSchema": tool.output_schema.as_deref(),
    });
    let mut text = serde_json::to_string_pretty(&value).expect("catalog serializes");
    text.push('\n');
    text
}

/// Problems with a tool's definition that must never ship: a missing annotation, title,
/// description or output schema.
pub fn definition_problems(registered: &RegisteredTool) -> Vec<String> {
    let tool = &registered.tool;
    let mut problems = Vec::new();
    let annotations = tool.annotations.clone().unwrap_or_default();
    for (hint, value) in [
        ("readOnlyHint", annotations.read_only_hint),
        ("destructiveHint", annotations.destructive_hint),
        ("idempotentHint", annotations.idempotent_hint),
        ("openWorldHint", annotations.open_world_hint),
    ] {
        if value.is_none() {
            problems.push(format!("{}: annotation {hint} is not set", tool.name));
        }
    }
    if tool.title.as_deref().unwrap_or_default().is_empty() {
        problems.push(format!("{}: no title", tool.name));
    }
    if tool.description.as_deref().unwrap_or_default().len() < 40 {
        problems.push(format!("{}: the description is missing or too short to act on", tool.name));
    }
    if tool.output_schema.is_none() {
        problems.push(format!("{}: no output schema", tool.name));
    }
    problems
}

/// The size of a `tools/list` result listing `tools`, as a client receives it (compact JSON).
pub fn tool_list_bytes(tools: &[rmcp::model::Tool]) -> usize {
    let result = rmcp::model::ListToolsResult::with_all_items(tools.to_vec());
    serde_json::to_vec(&result).map_or(0, |bytes| bytes.len())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub const GUIDE_URI: &str = "harepay://docs/guide.md";
pub const SECURITY_URI: &str = "harepay://docs/security.md";
pub const README_URI: &str = "harepay://docs/readme.md";

/// Where an agent reads a tool's catalog entry (`tools/<name>.json`) over MCP.
pub fn tool_uri(name: &str) -> String {
    format!("harepay://tools/{name}.json")
}

/// llms.txt (llmstxt.org): an H1, the blockquote summary, the conventions every call follows and
/// what harepay does not do yet, then H2 sections that are lists of links: the guide, every tool
/// with its arguments, and optional reading. Links are `harepay://` resources, so they work from
/// the MCP resource as from the file.
pub fn llms_txt() -> String {
    llms_txt_cached().to_owned()
}

/// llms.txt, made once per process (`GET /llms.txt` is served without a key).
pub fn llms_txt_cached() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(make_llms_txt)
}

fn make_llms_txt() -> String {
    let mut text = String::new();
    text.push_str("# harepay\n\n");
    text.push_str(
        "> An MCP server with an embedded payment engine. An AI agent reads freely and moves a merchant's money only \
         with explicit confirmation and an idempotency key. Amounts are integers in minor units; every movement is a \
         balanced double-entry ledger transaction.\n\n",
    );
    text.push_str(&format!(
        "Conventions every call follows (the guide has the details):\n\n\
         - Money is `{{\"amount\": 1000000, \"currency\": \"NGN\"}}` (₦10,000.00): an integer count of the currency's \
         minor unit, never a float or a string. Results add `display` (\"₦10,000.00\") for people; never parse it.\n\
         - A write tool changes nothing without `confirm: true`: it returns `outcome: \"preview\"`, the object as it \
         would be and the balances before and after. Money-moving writes with `confirm: true` need an \
         `idempotency_key`; a retry with the same key and arguments returns `outcome: \"replayed\"` and moves nothing \
         again.\n\
         - A failure is a result with `isError: true` and `{{\"error\": {{\"type\", \"message\", \"param\"}}}}`: act \
         on `error.type`; `param` is the argument at fault as a dotted path (`amount.currency`).\n\
         - Result fields are always present (null when empty). An object shown as \"Same shape as in get_payout\" has \
         the fields of that tool's output schema.\n\
         - Lists are newest first: `limit` 1–{list_max} (default {list_default}); pass `next_starting_after` as \
         `starting_after` for the next page.\n\
         - Test keys (`sk_test_…`) see test objects only; test payments settle by themselves after a few seconds and \
         `simulate_payment` decides one now. A payout at or above its currency's approval threshold waits for another \
         person's approver key (`whoami` shows the thresholds and your spend limits).\n\
         - Quickstart: `create_payment_intent {{\"amount\": {{\"amount\": 1000000, \"currency\": \"NGN\"}}, \
         \"method\": \"bank_transfer\", \"rail\": \"rubies\", \"confirm\": true, \"idempotency_key\": \"order-1001\"}}`, \
         then `list_payments`, then `get_balance {{\"asset\": \"NGN\"}}`.\n\
         - Not yet: no live rails (payment instructions are simulated; live payments never settle and live payouts \
         are never sent), no webhook delivery (events are recorded: poll `list_events`), no live prepaid top-ups, no disputes, no OAuth (keys come from the operator).\n\n\
         ## Docs\n\n\
         - [Guide for agents]({GUIDE_URI}): connecting, keys, modes and roles, money and fees, writes, idempotency, \
         errors and limits, results, payments, payouts and approval, customers and prepaid balances, products and \
         prices, invoices (worked example: customer → invoice → finalize → pay → partial and over-payment), usage \
         billing (worked example with `--toolsets default,catalog,billing`: customer → usage price with an allowance \
         → subscription → report_usage → overage_invoice → pay_invoice, or auto-charge from topup_prepaid), \
         disputes, API keys (expiry, caps, key tools).\n\n",
        list_max = limits::LIST_LIMIT_MAX,
        list_default = limits::LIST_LIMIT_DEFAULT,
    ));
    text.push_str("## Tools\n\n");
    for registered in registry() {
        let tool = &registered.tool;
        let kind = if registered.is_read_only() { "read" } else { "write" };
        text.push_str(&format!(
            "- [{name}]({uri}): {toolset}, {kind}. {description} Arguments: {arguments}.\n",
            name = tool.name,
            uri = tool_uri(&tool.name),
            toolset = match registered.entry.spec.toolset {
                toolset if toolset.enabled_by_default() => toolset.code().to_owned(),
                toolset => format!("{} (opt-in toolset)", toolset.code()),
            },
            description = one_line(tool.description.as_deref().unwrap_or_default()),
            arguments = arguments_summary(&tool.input_schema),
        ));
    }
    text.push_str(&format!(
        "\n## Optional\n\n\
         - [Security model]({SECURITY_URI}): who holds which key, what each control stops and what it does not.\n\
         - [Operator's README]({README_URI}): running harepay, configuration, keys and the operator commands.\n"
    ));
    text
}

/// The guide behind llms.txt: every convention in full.
pub fn guide_md() -> String {
    let mut text = String::new();
    text.push_str("# harepay: guide for agents\n\n");
    text.push_str(&format!(
        "## Connecting\n\n\
         - Run `harepay stdio` as an MCP server (Claude Desktop, Cursor: see mcp-config.example.json). It reads the API \
         key from `HAREPAY_SECRET_KEY` (or the file named by `HAREPAY_SECRET_KEY_FILE`; never from the command line) \
         and the SQLite file from `HAREPAY_DB`.\n\
         - Or run `harepay http --listen 127.0.0.1:8787` and connect to `http://127.0.0.1:8787/mcp` (streamable HTTP) \
         with `Authorization: Bearer sk_…` on every request; a missing or unknown key is answered 401. There is no \
         OAuth: keys come from the operator (`harepay keys create`).\n\
         - `harepay stdio` on an empty database (and `harepay-tools demo`, or `--demo`) creates a demo merchant with test keys \
         `sk_test_demo` (maker) and `sk_test_demo_approver` (approver); `harepay http` creates no key by itself.\n\
         - Protocol: MCP 2026-07-28 (stateless requests) and the older session-based versions (2025-11-25 and before).\n\
         - This guide is the MCP resource `harepay://docs/guide.md`; its index, with every tool, is \
         `harepay://docs/llms.txt`.\n\n\
         ## Keys, modes and roles\n\n\
         - Keys look like `sk_test_…` or `sk_live_…`. A test key sees only test objects, a live key only live ones.\n\
         - Roles: `maker` (the default: creates payments, refunds and payouts; manages customers, products and \
         prices), `approver` (decides payouts awaiting \
         approval, nothing else), `admin` (both), `read_only` (sees only read tools). \
         `harepay keys create|list|revoke` manages keys; an unknown or revoked key is refused before any tool runs \
         (`authentication_failed`), an expired one with `key_expired` (see API keys below).\n\
         - Toolsets: {toolsets}. A server offers the default ones unless started with `--toolsets` \
         (names, `default`, `all`; e.g. `--toolsets default,catalog`, or `HAREPAY_TOOLSETS`) or `--tools`; \
         a tool outside them answers `forbidden` naming its toolset. `--read-only` narrows further and wins.\n\n\
         ## Money\n\n\
         - `{{\"amount\": 1000000, \"currency\": \"NGN\"}}` is ₦10,000.00: an integer count of the currency's minor unit. \
         Floats, strings, zero, negatives and amounts above {max} are refused with `invalid_request`.\n\
         - Currencies: NGN, USD, EUR, GBP, KES, GHS, ZAR, CAD, JMD (2 decimals), XOF (0), USDC and USDT (6; networks TRON, \
         ETHEREUM, SOLANA, BASE), BTC (8; network BITCOIN). Crypto amounts need `network`.\n\
         - Results show money as `{{amount, currency, display}}`; `display` (\"₦10,000.00\") is for people, never parse it.\n\
         - Fees: `ceil(amount × bps / 10000) + fixed`, per rail, deducted on success. Crypto settled as fiat \
         (`settle_as`) converts at a rate locked at creation: `floor(amount × rate)`.\n\
         - Balances per currency: `available` (can be refunded or paid out), `pending` (received, not settled), \
         `reserved` (held for payouts and open disputes), `owed` (disputed amounts `available` could not cover, a debt). No balance, the merchant's or the ledger's own, can pass ±2^63 − 1 minor units: \
         a write that would take one there is refused with `balance_overflow` and changes nothing.\n\n\
         ## Writes: confirm, idempotency, errors\n\n\
         - A write tool called without `confirm: true` changes nothing and returns `outcome: \"preview\"`: the object as it \
         would be, fees, and the balances before and after.\n\
         - Money-moving writes with `confirm: true` require `idempotency_key` (1–{key_max} characters, unique per operation). \
         The same key with the same arguments returns the original result with `outcome: \"replayed\"` and moves nothing; \
         with other arguments it is `idempotency_key_reused`; while the first is still running, `idempotency_key_in_use`. \
         Keys are kept at least 24 hours.\n\
         - Errors are tool results with `isError: true` and `{{\"error\": {{\"type\", \"message\", \"param\"}}}}` (`param` names the argument at fault, when one is). \
         Every output schema allows this envelope besides the tool's result. Types: \
         `invalid_request`, `not_found`, `insufficient_funds`, `insufficient_prepaid_balance`, `balance_overflow`, \
         `invalid_state`, `invalid_interval`, `period_out_of_range`, `invoice_not_payable`, `amount_too_large`, \
         `event_id_reused`, \
         `refund_exceeds_remaining`, `idempotency_key_reused`, `idempotency_key_in_use`, `forbidden`, `limit_exceeded`, `rate_limited`, `approval_expired`, \
         `confirmation_declined`, `confirmation_unavailable`, `confirmation_invalid`, `test_mode_only`, \
         `payment_already_disputed`, `dispute_exceeds_remaining`, `evidence_past_due`, `evidence_already_submitted`, \
         `webhook_url_must_be_https`, `webhook_url_not_allowed`, `webhook_endpoint_limit_reached`, \
         `authentication_failed`, `key_expired`, `max_keys_reached`, `key_creation_rate_exceeded`, `database_busy`, `internal_error`. \
         Unknown tools and JSON-RPC of the wrong shape are protocol errors: bytes that are not JSON get -32700; a \
         message over {message_mib} MiB, or a request whose id is not a string or a 64-bit integer, gets -32600 (over HTTP: status 413, and the error also says `\"type\": \"payload_too_large\"`).\n\
         - Rate limits: a key may make {key_rate} calls a second with bursts of {key_burst} unless the operator set \
         otherwise. Over that a call fails with `rate_limited` and `retry_after_ms`: wait that long, then retry the same \
         call (same `idempotency_key`). Over HTTP the answer is status 429 with `Retry-After` (seconds).\n\
         - Input is bounded: each string argument has a `maxLength` in the tool's input schema, and arguments over \
         {arguments_max_kib} KiB in all or nested deeper than {depth_max} levels are refused, with `invalid_request` \
         naming the argument, before anything runs or is stored. Messages quote at most {echo_max} characters of an input; \
         the audit log keeps an oversized idempotency key as a prefix and its SHA-256.\n\
         - Human confirmation: a server run with `--confirm=elicit` does not trust `confirm: true` alone. It previews the \
         write, asks the human through MCP elicitation (the input-required result of 2026-07-28, or an \
         `elicitation/create` request on older sessions), and runs it only on an explicit accept \
         (`confirmation_declined` otherwise; `confirmation_unavailable` when the client cannot elicit). On \
         2026-07-28 the `requestState` is sealed and bound to the key, tool and arguments, usable once, for \
         {confirm_minutes} minutes by default; a call with a state or answers the server did not issue for it is \
         `confirmation_invalid`. Elicitation proves that the client confirmed, not that a verified person did: \
         the control for large payouts is maker-checker approval by a second person's approver key.\n\
         - Every write attempt (executed, previewed, replayed, refused) is in the audit log; every state change emits an \
         event. Both commit in the same transaction as the change.\n\
         - Lists are newest first: `limit` 1–{list_max} (default {list_default}), `starting_after`, `has_more`, \
         `next_starting_after`.\n\n\
         ## Results\n\n\
         - Every field a result lists is always present; a field with no value is null.\n\
         - Writes return `{{outcome, object, balance_changes, message}}`: `outcome` is `preview` (nothing saved; \
         `balance_changes` lists each merchant balance the call would change: `{{account, before, after}}`, \
         `account` being available, pending or reserved), `executed` or \
         `replayed`; `object` is the object as saved (for a preview, as it would be).\n\
         - Output schemas describe an object in full once per toolset: elsewhere it reads \"Same shape as in \
         get_payout\" (or another read tool), whose output schema has its fields.\n\
         - Ids: `pi_…` payment intents, `re_…` refunds, `dp_…` disputes, `po_…` payouts, `cus_…` customers, \
         `prod_…` products, `price_…` prices, `inv_…` invoices, `sub_…` subscriptions, `ltx_…` ledger transactions, \
         `evt_…` events, `aud_…` audit records. \
         Times are Unix milliseconds (`…_ms`).\n\n\
         ## Payments\n\n\
         - Statuses: `requires_action` (see `next_action`: a virtual bank account, a crypto deposit address, or a card \
         checkout URL) → `processing` → `succeeded` | `failed`; or `canceled` while still `requires_action`.\n\
         - A payer may send less than `amount` (`partially_paid`: held in `pending`, `next_action` kept for the rest) \
         or more (credited whole, fee on what was received, event `payment_intent.overpaid`); `amount_received` says \
         what came. With `expires_in_ms`, an intent not paid in full by `expires_at_ms` becomes `expired` and what it \
         received goes back to the payer; a payment arriving after that is refused.\n\
         - Methods and rails: `card` on `card`; `bank_transfer` on `rubies` or `partna`; `crypto` on `partna`.\n\
         - Test mode: a payment settles by itself a few seconds after creation; `simulate_payment` forces `succeeded` \
         (with `amount` to pay part or more) or `failed` now. Live mode never settles by itself.\n\
         - Quickstart: `create_payment_intent` with `{{\"amount\": {{\"amount\": 1000000, \"currency\": \"NGN\"}}, \
         \"method\": \"bank_transfer\", \"rail\": \"rubies\", \"confirm\": true, \"idempotency_key\": \"order-1001\"}}`, \
         then `list_payments`, then `get_balance {{\"asset\": \"NGN\"}}`.\n\n\
         ## Payouts and maker-checker approval\n\n\
         - `create_payout` reserves the amount (`available` → `reserved`) or fails with `insufficient_funds` and changes \
         nothing. Destinations: `{{\"kind\": \"bank\", \"account_no\", \"bank_code\", \"account_name\"?}}` (NGN: 10-digit \
         NUBAN) or `{{\"kind\": \"crypto_wallet\", \"address\", \"network\"}}`.\n\
         - Statuses: `pending` → `processing` → `paid` | `failed` (funds released); `cancel_payout` while `pending` or \
         `pending_approval`.\n\
         - A payout at or above its currency's approval threshold (see `whoami`) is created `pending_approval` with its \
         funds reserved. Another person's `approver` (or `admin`) key approves it (→ `processing`) or rejects it \
         (→ `canceled`, funds released, reason recorded); the key owners must be different people, compared as \
         identities (case, spacing, invisible characters and look-alike letters do not make a second person), so \
         nobody approves their own payout. A payout just under the threshold that, with the same person's other \
         payouts just under it in 24 h, reaches the threshold also waits (`approval.trigger: \"structuring\"`): \
         splitting a payout does not avoid the checker. Unanswered approvals expire (default 72 h) and release the funds. Only approver and admin keys see \
         `approve_payout` and `reject_payout`; a human can also decide with `harepay payouts approve|reject ID`.\n\
         - Keys may carry spend limits per currency (`max_per_payout`, `max_per_day` over a rolling 24 h). A limit \
         binds the person: the strictest limit on any of the owner's keys applies to what they pay out through all \
         their keys. A merchant may also have a daily limit over all keys (`whoami`). Exceeding one is \
         `limit_exceeded`, naming the limit and what remains.\n\
         - Test mode: the simulated rail pays a payout a few seconds after it is due; bank account `0000000000` fails.\n\n\
         ## Customers and prepaid balances\n\n\
         - `create_customer` needs an `email`: ASCII only (write an internationalized domain in punycode), one `@`, \
         a local part of letters, digits, dots and ``!#$%&'*+/=?^_`{{|}}~-`` (no quotes, comments or display names), a \
         domain of at least two labels ending in letters; {email_max} characters at most. A look-alike letter or an \
         invisible character is refused, not stored. `phone` is 5–15 digits with an optional `+` and spaces, \
         hyphens, dots or parentheses. `list_customers` filters by email without regard to letter case.\n\
         - A customer belongs to the merchant and mode of the key that made it; any other key gets `not_found`.\n\
         - `delete_customer` archives: the customer stays readable (`archived: true`) with its history and prepaid \
         balance, but cannot be updated, topped up, invoiced or subscribed again (`invalid_state`).\n\
         - Each customer has a prepaid balance per currency: a ledger account of its own (never below zero, \
         checked by `system_status` like every account). `get_customer` shows `prepaid_balances` and `prepaid_ngn`. \
         `topup_prepaid {{\"customer_id\", \"amount\": {{\"amount\": 100000, \"currency\": \"NGN\"}}}}` credits it in \
         test mode (confirm and an idempotency key, like every money movement); in live mode a real payment funds a \
         top-up, which harepay cannot take yet (`test_mode_only`). Usage prices with `auto_charge` are paid from it.\n\n\
         ## Catalog: products and prices\n\n\
         - Products (`name`, `description`, `unit_label`, `metadata`, `active`) are never deleted; one made with \
         `active: false` is archived: listed as such, and no new price can name it (`invalid_state`).\n\
         - Prices are immutable (`used` says a subscription bills by it; make a new price to bill differently): \
         `model` `recurring` (`unit_amount` each period) or `usage` (`included_units` free each period, then \
         `unit_amount` per unit; 0 included units bills every unit; `auto_charge` debits the overage from the \
         customer's prepaid balance, or leaves an open invoice when it cannot cover it), `currency`, `interval`, \
         optional `product_id` and `trial_period_days` (at most {trial_max}).\n\
         - `interval` is `{{\"unit\": \"day|week|month|year\", \"count\": n}}` (at most three years) or a name: \
         `weekly`, `bi-weekly`, `monthly`, `bi-monthly` (every two months), `quarterly`, `semi-annual`, `annual`. \
         Anything else is `invalid_interval`, naming the argument.\n\
         - Periods are anchored on the subscription's start and computed from it: a monthly subscription started on \
         31 January renews on the last day of February, then on 31 March.\n\n",
        max = limits::AMOUNT_MAX_MINOR,
        key_max = limits::IDEMPOTENCY_KEY_MAX_CHARS,
        confirm_minutes = limits::CONFIRMATION_EXPIRY_DEFAULT_MS / 60_000,
        message_mib = limits::JSON_RPC_MESSAGE_MAX_BYTES >> 20,
        list_max = limits::LIST_LIMIT_MAX,
        list_default = limits::LIST_LIMIT_DEFAULT,
        key_rate = limits::RATE_LIMIT_PER_KEY_PER_SECOND,
        key_burst = limits::RATE_LIMIT_PER_KEY_BURST,
        arguments_max_kib = limits::ARGUMENTS_MAX_BYTES / 1024,
        depth_max = limits::ARGUMENTS_MAX_DEPTH,
        echo_max = limits::INPUT_ECHO_MAX_CHARS,
        email_max = limits::EMAIL_MAX_CHARS,
        trial_max = limits::TRIAL_PERIOD_MAX_DAYS,
        toolsets = Toolset::ALL
            .map(|toolset| {
                let default = if toolset.enabled_by_default() { ", default" } else { "" };
                format!("`{}` ({}{default})", toolset.code(), toolset.description())
            })
            .join("; "),
    ));
    text.push_str(&invoicing_guide());
    text.push_str(USAGE_BILLING_GUIDE);
    text.push_str(&crate::ops::disputes::guide_section());
    text.push_str(&crate::webhooks::guide::section());
    text.push_str(&api_keys_guide());
    text
}

/// The guide's section on key lifecycle: expiry, the active-key cap, and keys made through tools.
fn api_keys_guide() -> String {
    let day_ms = 24 * 60 * 60 * 1000;
    let windows: Vec<String> = limits::API_KEY_CREATIONS_BY_TOOLS_MAX
        .iter()
        .map(|(window_ms, max)| format!("{max} in any {} minutes", window_ms / 60_000))
        .collect();
    format!(
        "## API keys\n\n\
         - A key may expire: `harepay keys create --expires-in 30d` (`90s`, `45m`, `12h`, `30d`; at most {max_days} \
         days) or `--expires-at 2026-03-01T12:00:00Z` (RFC 3339; a time in the past or more than {max_days} days ahead \
         is refused). From that moment every call with it fails with `key_expired`, in sessions already open too (a \
         key is checked on every stdio call and every HTTP request; over HTTP the answer is 401 with \
         `{{\"error\": {{\"type\": \"key_expired\"}}}}`). `whoami` shows `expires_at_ms`.\n\
         - A merchant has at most {cap} active keys, test and live together (revoked and expired keys do not count): \
         the next is `max_keys_reached`, for `harepay keys create` too.\n\
         - Toolset `keys` (opt-in, admin keys only): `create_key {{\"role\", \"owner\", \"expires_in\"?, \
         \"expires_at\"?}}` makes a key in your merchant and mode and shows its secret in that answer only (a \
         replay with the same idempotency key shows the key without it); `list_keys` shows status and the last four \
         characters, never a secret or its hash; `revoke_key` takes effect at the key's next call. Owner names \
         follow the operator's rules (look-alike letters, invisible characters and mixed scripts are refused).\n\
         - Keys made through tools are rate-limited per merchant: {windows} (counted from the database, across \
         restarts and servers); over that, `key_creation_rate_exceeded` with `retry_after_ms`. The operator's \
         `harepay keys create` is bounded by the cap only.\n\
         - A key made through a tool answers to its creator's owner for approvals and spend limits: minting a key \
         for another name does not make a second person who could approve your payouts.\n",
        max_days = limits::API_KEY_LIFETIME_MAX_MS / day_ms,
        cap = limits::API_KEYS_ACTIVE_MAX_PER_MERCHANT,
        windows = windows.join(" and "),
    )
}

/// The guide's usage billing section: the worked example an agent can follow end to end
/// (tests/it/billing_example.rs walks exactly these calls through the binary).
const USAGE_BILLING_GUIDE: &str = "## Usage billing: a worked example\n\n\
Start the server with `--toolsets default,catalog,billing` (catalog has `create_price`, billing the \
subscription tools). Test mode; every write takes `confirm: true` and an `idempotency_key` (report_usage: \
its `event_id` makes a repeat count once).\n\n\
1. `create_customer {\"email\": \"ada@example.com\"}` → read `object.id` (`cus_…`).\n\
2. `create_price {\"model\": \"usage\", \"currency\": \"NGN\", \"unit_amount\": 100, \"included_units\": 1000, \
\"auto_charge\": false, \"interval\": \"monthly\"}` → `object.id` (`price_…`): 1,000 units free a month, then \
₦1.00 a unit.\n\
3. `create_subscription {\"customer_id\": \"cus_…\", \"price_id\": \"price_…\"}` → `object.id` (`sub_…`), \
`object.status` `active`.\n\
4. `report_usage {\"subscription_id\": \"sub_…\", \"quantity\": 1200, \"event_id\": \"usage-1\"}` → \
`object.period.used_units` 1200, `object.overage.units` 200, and `object.overage_invoice`: `id` (`inv_…`), `status` \
`open`, `total` ₦200.00 (`overage.paid_from` `open_invoice`, `open_reason` `auto_charge_off`). A later report \
bills only the new excess; `get_usage` shows the period.\n\
5. `pay_invoice {\"id\": \"inv_…\", \"method\": \"bank_transfer\", \"rail\": \"rubies\"}` → hand \
`object.next_action` to the payer; `object.payment_intent_id` is `pi_…`.\n\
6. In test mode the payer pays now: `simulate_payment {\"id\": \"pi_…\", \"outcome\": \"succeeded\"}`; then \
`get_invoice {\"id\": \"inv_…\"}` → `status` `paid`.\n\n\
Auto-charge instead: create the price with `\"auto_charge\": true` and fund the customer first with \
`topup_prepaid {\"customer_id\": \"cus_…\", \"amount\": {\"amount\": 50000, \"currency\": \"NGN\"}}`. The \
same report then returns `overage_invoice.status` `paid` and `overage.paid_from` `prepaid_balance`, and \
`get_customer` shows `prepaid_ngn` ₦300.00. When the prepaid balance cannot cover it the invoice stays `open` \
(`open_reason` `insufficient_prepaid_balance`, event `invoice.auto_charge_failed`): collect it as in steps 5–6. \
Each period's end is invoiced once by the billing run; `advance_test_clock {\"by\": \"monthly\"}` moves a test \
merchant's clock and runs what falls due. An invoice left unpaid past its due date makes the subscription \
`past_due`; paying it makes it `active` again.\n\n";

/// The guide's invoicing section, with a worked example an agent can follow.
fn invoicing_guide() -> String {
    format!(
        "## Invoices\n\n\
         - An invoice bills a customer (`customer_id`, of your merchant and mode, not archived) in one `currency`: \
         `line_items` of `{{\"description\", \"quantity\", \"unit_amount\", \"price_id\"?}}` (1–{lines_max} lines; \
         `quantity` a whole number of units, `unit_amount` integer minor units, 0 for a free line; a `price_id` must \
         be a price of yours in the same currency). `amount = quantity × unit_amount`; the total is the sum of the lines. \
         A line or a total above {max} minor units is `amount_too_large`, and nothing is stored.\n\
         - Statuses: `draft` (`create_invoice`) → `open` (`finalize_invoice`; a zero total is `paid` at once) → `paid`; \
         or `void` (`void_invoice`, from draft, open or uncollectible) or `expired`. Paid, void and expired are final. \
         `due_date` (Unix ms) defaults to 30 days after creation; `expires_in` (ms, {expires_min}–{expires_max}) starts \
         at finalize and sets `expires_at_ms`.\n\
         - `pay_invoice {{\"id\", \"method\", \"rail\"}}` creates a payment intent for `amount_remaining` and returns \
         its `next_action` for the payer: any method and rail `create_payment_intent` takes, and for a fiat invoice \
         paid in crypto `method: crypto, rail: partna, pay_currency: USDC|USDT|BTC, network` (the crypto amount is \
         quoted at the locked rate and credits exactly what remains; an invoice without an expiry then expires in \
         12 hours). An invoice whose intent is still live gets that intent back (`existing_intent: true`), never a \
         second one. The intent expires with the invoice.\n\
         - What the payer sends is applied to the invoice in the same transaction: less than `amount_remaining` leaves \
         it `open` with `amount_paid` and `amount_remaining` (event `invoice.partial_payment`); the rest makes it `paid` \
         (`invoice.paid`); more makes it `paid` and the excess (`amount_overpaid`) is credited to the customer's prepaid \
         balance in the invoice's currency (`invoice.paid`, `invoice.overpaid`). A draft, paid, void or expired invoice \
         takes no payment (`invoice_not_payable`), and a payment arriving after its intent was canceled or expired is \
         refused and moves no money.\n\
         - No money is lost: voiding an invoice, or its expiry, cancels its payment intent, and what that intent had \
         already received is credited to the customer's prepaid balance (`amount_credited_to_prepaid`), not sent back \
         while the invoice counts it. An intent holding part of an invoice's payment cannot be canceled on its own \
         (`invalid_state`: void the invoice). Events: `invoice.created`, `.finalized`, `.partial_payment`, `.paid`, \
         `.overpaid`, `.voided`, `.expired`.\n\
         - `list_invoices` filters by `status` and `customer_id`; `invoice_totals` adds up count, `total`, `amount_paid` \
         and `amount_remaining` by status and currency in one database query (optionally for one `customer_id`).\n\n\
         Worked example (test mode; every write takes `confirm: true` and an `idempotency_key`):\n\n\
         1. `create_customer {{\"email\": \"ada@example.com\"}}` → `cus_…`.\n\
         2. `create_invoice {{\"customer_id\": \"cus_…\", \"currency\": \"NGN\", \"line_items\": [{{\"description\": \
         \"Design work\", \"quantity\": 2, \"unit_amount\": 2500000}}], \"expires_in\": 86400000}}` → a draft `inv_…` \
         of ₦50,000.00.\n\
         3. `finalize_invoice {{\"id\": \"inv_…\"}}` → `open`, payable for a day.\n\
         4. `pay_invoice {{\"id\": \"inv_…\", \"method\": \"bank_transfer\", \"rail\": \"rubies\"}}` → hand \
         `next_action` (a virtual bank account) to the payer.\n\
         5. The payer sends part: `simulate_payment {{\"id\": \"pi_…\", \"outcome\": \"succeeded\", \"amount\": \
         {{\"amount\": 2000000, \"currency\": \"NGN\"}}}}` → the invoice stays `open`, `amount_paid` ₦20,000.00, \
         `amount_remaining` ₦30,000.00 (`invoice.partial_payment`).\n\
         6. Then more than the rest: `simulate_payment` with `{{\"amount\": 3500000, \"currency\": \"NGN\"}}` → `paid`, \
         `amount_overpaid` ₦5,000.00, credited to the customer: `get_customer` shows `prepaid_ngn` ₦5,000.00 \
         (`invoice.paid`, `invoice.overpaid`).\n\
         7. `invoice_totals` → one `paid` NGN row with `total` ₦50,000.00 and `amount_paid` ₦55,000.00.\n\n",
        lines_max = limits::INVOICE_MAX_LINE_ITEMS,
        max = limits::AMOUNT_MAX_MINOR,
        expires_min = limits::INVOICE_EXPIRES_IN_MIN_MS,
        expires_max = limits::INVOICE_EXPIRES_IN_MAX_MS,
    )
}

/// Every argument of a tool in one line, from its input schema: `name` (required) or `name?`,
/// with its allowed values, its fields, or its type when it is not a string.
fn arguments_summary(schema: &serde_json::Map<String, serde_json::Value>) -> String {
    let parts = properties_summary(schema, schema.get("$defs"));
    if parts.is_empty() { "none".to_owned() } else { parts.join("; ") }
}

fn properties_summary(
    schema: &serde_json::Map<String, serde_json::Value>,
    definitions: Option<&serde_json::Value>,
) -> Vec<String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(serde_json::Value::as_array)
        .map(|names| names.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(serde_json::Value::as_object) else { return Vec::new() };
    // Required arguments first, in their declared order; then the optional ones.
    let mut names: Vec<&str> = required.iter().copied().filter(|name| properties.contains_key(*name)).collect();
    names.extend(properties.keys().map(String::as_str).filter(|name| !required.contains(name)));
    names
        .into_iter()
        .map(|name| {
            let marker = if required.contains(&name) { "" } else { "?" };
            format!("{name}{marker}{}", value_summary(&properties[name], definitions))
        })
        .collect()
}

fn value_summary(schema: &serde_json::Value, definitions: Option<&serde_json::Value>) -> String {
    let schema = match schema.get("$ref").and_then(serde_json::Value::as_str) {
        Some(reference) => definitions
            .and_then(|definitions| definitions.get(reference.trim_start_matches("#/$defs/")))
            .unwrap_or(schema),
        None => schema,
    };
    if let Some(values) = schema.get("enum").and_then(serde_json::Value::as_array) {
        let values: Vec<String> =
            values.iter().map(|value| value.as_str().map_or(value.to_string(), str::to_owned)).collect();
        return format!(": {}", values.join("|"));
    }
    if let Some(value) = schema.get("const") {
        return format!(": {value}");
    }
    if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(serde_json::Value::as_array) {
        let branches: Vec<String> =
            branches.iter().map(|branch| value_summary(branch, definitions).trim_start().to_owned()).collect();
        return format!(" {}", branches.join(" or "));
    }
    if let Some(object) = schema.as_object().filter(|object| object.contains_key("properties")) {
        return format!(" {{{}}}", properties_summary(object, definitions).join(", "));
    }
    let range = match (schema.get("minimum").and_then(|m| m.as_u64()), schema.get("maximum").and_then(|m| m.as_u64())) {
        // Small ranges (a page size) are worth a word; money's 2^53 − 1 is in the guide.
        (Some(minimum), Some(maximum)) if maximum <= 1_000_000 => format!(" {minimum}–{maximum}"),
        _ => String::new(),
    };
    match schema.get("type").and_then(serde_json::Value::as_str) {
        Some("object") => ": object of strings".to_owned(),
        Some("integer") => format!(": integer{range}"),
        Some(kind @ ("number" | "boolean" | "array")) => format!(": {kind}"),
        _ => String::new(),
    }
}

/// A document harepay serves as an MCP resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogResource {
    pub uri: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub mime_type: &'static str,
}

/// Every resource: llms.txt first, the documents it links, and each tool's catalog entry.
pub fn resources() -> Vec<CatalogResource> {
    let document = |uri: &str, name: &str, title: &str, description: &str| CatalogResource {
        uri: uri.to_owned(),
        name: name.to_owned(),
        title: title.to_owned(),
        description: description.to_owned(),
        mime_type: "text/markdown",
    };
    let mut resources = vec![
        document(
            crate::mcp::LLMS_TXT_URI,
            "llms.txt",
            "harepay for agents (llms.txt)",
            "The conventions every call follows, what harepay does not do yet, and every tool with its arguments.",
        ),
        document(GUIDE_URI, "guide.md", "harepay guide for agents", "Every convention in full."),
        document(
            SECURITY_URI,
            "security.md",
            "harepay security model",
            "Who holds which key, what each control stops.",
        ),
        document(README_URI, "readme.md", "harepay README", "Running harepay, configuration, keys, operator commands."),
    ];
    resources.extend(registry().iter().map(|registered| CatalogResource {
        uri: tool_uri(&registered.tool.name),
        name: format!("{}.json", registered.tool.name),
        title: format!("{} (catalog entry)", registered.tool.name),
        description: "The tool's name, annotations, description and input and output schemas.".to_owned(),
        mime_type: "application/json",
    }));
    resources
}

/// The text of the resource at `uri`, if harepay serves one there.
pub fn resource_text(uri: &str) -> Option<String> {
    match uri {
        crate::mcp::LLMS_TXT_URI => Some(llms_txt()),
        GUIDE_URI => Some(guide_md()),
        SECURITY_URI => Some(include_str!("../../SECURITY.md").to_owned()),
        README_URI => Some(include_str!("../../README.md").to_owned()),
        _ => {
            let name = uri.strip_prefix("harepay://tools/")?.strip_suffix(".json")?;
            registry().iter().find(|registered| registered.tool.name == name).map(tool_json)
        }
    }
}

/// Every generated file: path relative to the repository root, and its content.
pub fn generated_files() -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = registry()
        .iter()
        .map(|registered| (PathBuf::from(format!("tools/{}.json", registered.tool.name)), tool_json(registered)))
        .collect();
    files.push((PathBuf::from("llms.txt"), llms_txt()));
    files.push((PathBuf::from("docs/guide.md"), guide_md()));
    files
}

/// Writes the catalog under `root`, removing tool files of tools that no longer exist.
/// The README's tool table, between its markers.
const README_TOOLS_START: &str = "<!-- tools:start (generated by `harepay catalog write`) -->\n";
const README_TOOLS_END: &str = "<!-- tools:end -->\n";

fn readme_tools_table() -> String {
    let mut table = String::from("| toolset | default | read | write (confirm-gated) |\n|---|---|---|---|\n");
    for toolset in Toolset::ALL {
        let names = |read: bool| -> String {
            registry()
                .iter()
                .filter(|registered| registered.entry.spec.toolset == toolset && registered.is_read_only() == read)
                .map(|registered| {
                    let spec = &registered.entry.spec;
                    match spec.action {
                        crate::engine::permission::Action::DecideApproval => format!("`{}` (approver keys)", spec.name),
                        _ => format!("`{}`", spec.name),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let default = if toolset.enabled_by_default() { "yes" } else { "opt-in" };
        table.push_str(&format!("| {} | {default} | {} | {} |\n", toolset.code(), names(true), names(false)));
    }
    table
}

/// `readme` with its tool table regenerated; `None` when it has no markers.
fn readme_with_tools(readme: &str) -> Option<String> {
    let start = readme.find(README_TOOLS_START)? + README_TOOLS_START.len();
    let end = start + readme[start..].find(README_TOOLS_END)?;
    Some(format!("{}{}{}", &readme[..start], readme_tools_table(), &readme[end..]))
}

pub fn write(root: &Path) -> std::io::Result<()> {
    if let Ok(readme) = std::fs::read_to_string(root.join("README.md"))
        && let Some(updated) = readme_with_tools(&readme)
    {
        std::fs::write(root.join("README.md"), updated)?;
    }
    let tools_dir = root.join("tools");
    std::fs::create_dir_all(&tools_dir)?;
    std::fs::create_dir_all(root.join("docs"))?;
    let files = generated_files();
    for entry in std::fs::read_dir(&tools_dir)? {
        let path = entry?.path();
        let relative = PathBuf::from("tools").join(path.file_name().unwrap_or_default());
        if path.extension().is_some_and(|ext| ext == "json") && !files.iter().any(|(p, _)| *p == relative) {
            std::fs::remove_file(&path)?;
        }
    }
    for (relative, content) in files {
        std::fs::write(root.join(relative), content)?;
    }
    Ok(())
}

/// Everything that differs between the code and the files under `root`; empty when in step.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems: Vec<String> = registry().iter().flat_map(definition_problems).collect();
    match std::fs::read_to_string(root.join("README.md"))
        .ok()
        .as_deref()
        .map(|readme| (readme, readme_with_tools(readme)))
    {
        Some((readme, Some(updated))) if updated != readme => {
            problems.push("README.md's tool table is stale".to_owned())
        }
        Some((_, None)) => problems.push("README.md has no tool table markers".to_owned()),
        _ => {}
    }
    let files = generated_files();
    for (relative, expected) in &files {
        match std::fs::read_to_string(root.join(relative)) {
            Ok(actual) if actual == *expected => {}
            Ok(_) => problems.push(format!("{} is stale", relative.display())),
            Err(_) => problems.push(format!("{} is missing", relative.display())),
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("tools")) {
        for entry in entries.flatten() {
            let relative = PathBuf::from("tools").join(entry.file_name());
            if !files.iter().any(|(p, _)| *p == relative) {
                problems.push(format!("{} belongs to no tool", relative.display()));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in catalog matches the code. Set HAREPAY_UPDATE_CATALOG=1 to rewrite it.
    #[test]
    fn checked_in_catalog_matches_the_code() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("HAREPAY_UPDATE_CATALOG").is_some() {
            write(root).expect("write the catalog");
        }
        let problems = check(root);
        assert!(
            problems.is_empty(),
            "tool catalog drift (run `HAREPAY_UPDATE_CATALOG=1 cargo test catalog` or `harepay catalog write`):\n{}",
            problems.join("\n")
        );
    }

    /// What llmstxt.org asks of llms.txt: an H1, a blockquote summary, prose without headings,
    /// then H2 sections whose lines are all links (`- [name](url)` with optional notes), among
    /// them `## Tools` and, last, `## Optional`.
    fn llms_txt_problems(text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        if !lines.first().is_some_and(|line| line.starts_with("# ")) {
            problems.push("the first line is not an H1".to_owned());
        }
        if !lines.iter().skip(1).find(|line| !line.trim().is_empty()).is_some_and(|line| line.starts_with("> ")) {
            problems.push("no blockquote summary after the H1".to_owned());
        }
        let mut sections: Vec<&str> = Vec::new();
        for line in lines.iter().skip(1).filter(|line| !line.trim().is_empty()) {
            if let Some(section) = line.strip_prefix("## ") {
                sections.push(section);
            } else if line.starts_with('#') {
                problems.push(format!("a heading other than H2: {line}"));
            } else if !sections.is_empty() {
                let is_link = line
                    .strip_prefix("- [")
                    .and_then(|rest| rest.split_once("]("))
                    .and_then(|(name, rest)| rest.split_once(')').map(|(url, notes)| (name, url, notes)))
                    .is_some_and(|(name, url, notes)| {
                        !name.is_empty() && !url.is_empty() && (notes.is_empty() || notes.starts_with(": "))
                    });
                if !is_link {
                    problems.push(format!("## {} has a line that is not a link: {line}", sections[sections.len() - 1]));
                }
            }
        }
        if !sections.contains(&"Tools") {
            problems.push("no ## Tools section".to_owned());
        }
        if sections.last() != Some(&"Optional") {
            problems.push("## Optional is not the last section".to_owned());
        }
        problems
    }

    /// The link targets of llms.txt.
    fn llms_txt_links(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|line| {
                line.strip_prefix("- [")?.split_once("](")?.1.split_once(')').map(|(url, _)| url.to_owned())
            })
            .collect()
    }

    #[test]
    fn llms_txt_follows_llmstxt_org() {
        assert_eq!(llms_txt_problems(&llms_txt()), Vec::<String>::new());
        // The check itself: a prose section, a deeper heading and a missing Optional are caught.
        let broken =
            "# harepay\n\n> Summary.\n\n## Money\n\nAmounts are integers.\n\n### Tools\n\n## Tools\n\n- [a](b)\n";
        let problems = llms_txt_problems(broken);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(
            llms_txt_problems("harepay\n## Optional\n"),
            ["the first line is not an H1", "no blockquote summary after the H1", "no ## Tools section"]
        );
    }

    #[test]
    fn every_link_of_llms_txt_is_a_resource_harepay_serves() {
        let links = llms_txt_links(&llms_txt());
        assert!(links.len() > registry().len(), "{links:?}");
        let served: Vec<String> = resources().into_iter().map(|resource| resource.uri).collect();
        for link in links {
            assert!(link.starts_with("harepay://"), "{link} does not work from the MCP resource");
            assert!(served.contains(&link), "{link} is not listed");
            assert!(resource_text(&link).is_some_and(|text| !text.is_empty()), "{link} does not read");
        }
        assert_eq!(served[0], crate::mcp::LLMS_TXT_URI, "llms.txt is the first resource");
        assert_eq!(resource_text("harepay://tools/transfer_everything.json"), None);
        assert_eq!(resource_text("harepay://tools/../llms.txt"), None);
    }

    /// An agent that reads only llms.txt knows every argument of every tool, and each tool's
    /// link leads to its catalog entry.
    #[test]
    fn llms_txt_names_every_argument_of_every_tool() {
        let text = llms_txt();
        for registered in registry() {
            let name = &registered.tool.name;
            let link = format!("- [{name}]({})", tool_uri(name));
            let line =
                text.lines().find(|line| line.starts_with(&link)).unwrap_or_else(|| panic!("{name} is not listed"));
            for argument in registered
                .tool
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object())
                .into_iter()
                .flatten()
                .map(|(argument, _)| argument)
            {
                assert!(line.contains(&format!(" {argument}")), "{name}: {argument} is not named in {line}");
            }
            assert_eq!(resource_text(&tool_uri(name)), Some(tool_json(registered)));
        }
        let payout_line = text.lines().find(|line| line.starts_with("- [create_payout]")).unwrap_or_default();
        assert!(payout_line.contains("rail: rubies|partna"), "{payout_line}");
        assert!(text.contains("limit?: integer 1–100"));
        for missing in ["live rails", "webhook delivery", "live prepaid top-ups"] {
            assert!(text.contains(missing), "llms.txt does not say harepay has no {missing} yet");
        }
    }

    /// Every agent pays for the tool list in its context on every session: the list an admin key
    /// sees (every tool) stays within `TOOL_LIST_AVERAGE_MAX_BYTES_PER_TOOL` on average.
    #[test]
    fn the_tool_list_of_an_admin_key_stays_within_its_budget_per_tool() {
        let admin = crate::engine::principal::Role::Admin;
        let admin_tools: Vec<rmcp::model::Tool> = registry()
            .iter()
            .filter(|registered| crate::engine::permission::role_may(admin, registered.entry.spec.action))
            .map(|registered| registered.tool.clone())
            .collect();
        assert_eq!(admin_tools.len(), registry().len(), "an admin key sees every tool");
        let bytes = tool_list_bytes(&admin_tools);
        let average = bytes / admin_tools.len();
        let mut sizes: Vec<(usize, String)> = admin_tools
            .iter()
            .map(|tool| (tool_list_bytes(std::slice::from_ref(tool)), tool.name.to_string()))
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        assert!(
            average <= limits::TOOL_LIST_AVERAGE_MAX_BYTES_PER_TOOL,
            "tools/list for an admin key is {bytes} bytes for {} tools, {average} bytes per tool on average \
             (budget {}); largest first: {sizes:?}",
            admin_tools.len(),
            limits::TOOL_LIST_AVERAGE_MAX_BYTES_PER_TOOL
        );
    }

    /// Formats JSON Schema does not define (`uint64`, `int64`, `double`) make strict clients warn
    /// on every call; none may reach a tool list.
    #[test]
    fn no_tool_schema_has_a_non_standard_format() {
        for registered in registry() {
            let tool = &registered.tool;
            let mut found = crate::mcp::schema::non_standard_formats(&tool.input_schema);
            if let Some(output_schema) = &tool.output_schema {
                found.extend(crate::mcp::schema::non_standard_formats(output_schema));
            }
            assert!(found.is_empty(), "{}: {found:?}", tool.name);
        }
    }

    #[test]
    fn every_tool_sets_every_annotation_explicitly() {
        for registered in registry() {
            assert_eq!(definition_problems(registered), Vec::<String>::new());
        }
    }

    #[test]
    fn registry_has_the_contracted_tool_names() {
        let names: Vec<String> =
            registry().iter().map(|r| format!("{}:{}", r.entry.spec.toolset.code(), r.tool.name)).collect();
        for expected in [
            "account:system_status",
            "account:whoami",
            "account:list_balances",
            "account:get_balance",
            "payments:list_payments",
            "payments:get_payment",
            "payments:create_payment_intent",
            "payments:refund_payment",
            "payments:cancel_payment_intent",
            "payments:simulate_payment",
            "payouts:list_payouts",
            "payouts:get_payout",
            "payouts:create_payout",
            "payouts:cancel_payout",
            "payouts:list_pending_approvals",
            "payouts:approve_payout",
            "payouts:reject_payout",
            "audit:list_events",
            "audit:list_audit_log",
        ] {
            assert!(names.iter().any(|name| name == expected), "missing {expected} in {names:?}");
        }
    }
}
