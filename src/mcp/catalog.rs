//! The generated contract: `tools/<name>.json` for every tool and `llms.txt`, both made from the
//! tool registry. `harepay catalog write` rewrites them; `harepay catalog check` and a test fail
//! when the checked-in files drift from the code.

use std::path::{Path, PathBuf};

use crate::limits;
use crate::mcp::{RegisteredTool, Toolset, registry};

/// The catalog entry of one tool, as written to `tools/<name>.json`.
pub fn tool_json(registered: &RegisteredTool) -> String {
    let tool = &registered.tool;
    let annotations = tool.annotations.as_ref();
    let value = serde_json::json!({
        "name": tool.name,
        "title": tool.title,
        "toolset": registered.toolset.code(),
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

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// llms.txt (llmstxt.org): what harepay is, its conventions, and every tool in one line.
pub fn llms_txt() -> String {
    let mut text = String::new();
    text.push_str("# harepay\n\n");
    text.push_str(
        "> An MCP server with an embedded payment engine. An AI agent reads freely and moves money only with explicit \
         confirmation and an idempotency key. Amounts are integers in minor units; every movement is a balanced \
         double-entry ledger transaction.\n\n",
    );
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
         - This guide is also served as the MCP resource `harepay://docs/llms.txt`.\n\n\
         ## Keys, modes and roles\n\n\
         - Keys look like `sk_test_…` or `sk_live_…`. A test key sees only test objects, a live key only live ones.\n\
         - Roles: `maker` (the default: creates payments, refunds and payouts), `approver` (decides payouts awaiting \
         approval, nothing else), `admin` (both), `read_only` (sees only read tools). \
         `harepay keys create|list|revoke` manages keys; an unknown or revoked key is refused before any tool runs.\n\
         - The server flags `--read-only` and `--toolsets a,b` narrow the tool list further; read-only wins.\n\n\
         ## Money\n\n\
         - `{{\"amount\": 1000000, \"currency\": \"NGN\"}}` is ₦10,000.00: an integer count of the currency's minor unit. \
         Floats, strings, zero, negatives and amounts above {max} are refused with `invalid_request`.\n\
         - Currencies: NGN, USD, EUR, GBP, KES, GHS, ZAR, CAD, JMD (2 decimals), XOF (0), USDC and USDT (6; networks TRON, \
         ETHEREUM, SOLANA, BASE), BTC (8; network BITCOIN). Crypto amounts need `network`.\n\
         - Results show money as `{{amount, currency, display}}`; `display` (\"₦10,000.00\") is for people, never parse it.\n\
         - Fees: `ceil(amount × bps / 10000) + fixed`, per rail, deducted on success. Crypto settled as fiat \
         (`settle_as`) converts at a rate locked at creation: `floor(amount × rate)`.\n\
         - Balances per currency: `available` (can be refunded or paid out), `pending` (received, not settled), \
         `reserved` (held for payouts). No balance, the merchant's or the ledger's own, can pass ±2^63 − 1 minor units: \
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
         `invalid_request`, `not_found`, `insufficient_funds`, `balance_overflow`, `invalid_state`, \
         `refund_exceeds_remaining`, `idempotency_key_reused`, `idempotency_key_in_use`, `forbidden`, `limit_exceeded`, `rate_limited`, `approval_expired`, \
         `confirmation_declined`, `confirmation_unavailable`, `confirmation_invalid`, `test_mode_only`, \
         `authentication_failed`, `internal_error`. \
         Unknown tools and JSON-RPC of the wrong shape are protocol errors: bytes that are not JSON get -32700; a \
         message over {message_mib} MiB, or a request whose id is not a string or a 64-bit integer, gets -32600.\n\
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
         ## Payments\n\n\
         - Statuses: `requires_action` (see `next_action`: a virtual bank account, a crypto deposit address, or a card \
         checkout URL) → `processing` → `succeeded` | `failed`; or `canceled` while still `requires_action`.\n\
         - Methods and rails: `card` on `card`; `bank_transfer` on `rubies` or `partna`; `crypto` on `partna`.\n\
         - Test mode: a payment settles by itself a few seconds after creation; `simulate_payment` forces `succeeded` \
         or `failed` now. Live mode never settles by itself.\n\
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
         - Test mode: the simulated rail pays a payout a few seconds after it is due; bank account `0000000000` fails.\n\n",
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
    ));
    text.push_str("## Tools\n\n");
    let tools = registry();
    for toolset in Toolset::ALL {
        text.push_str(&format!("### {} — {}\n\n", toolset.code(), toolset.description()));
        for registered in tools.iter().filter(|registered| registered.toolset == toolset) {
            let kind = if registered.is_read_only() { "read" } else { "write" };
            text.push_str(&format!(
                "- [{name}](tools/{name}.json) ({kind}): {description}\n",
                name = registered.tool.name,
                description = one_line(registered.tool.description.as_deref().unwrap_or_default()),
            ));
        }
        text.push('\n');
    }
    text
}

/// Every generated file: path relative to the repository root, and its content.
pub fn generated_files() -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = registry()
        .iter()
        .map(|registered| (PathBuf::from(format!("tools/{}.json", registered.tool.name)), tool_json(registered)))
        .collect();
    files.push((PathBuf::from("llms.txt"), llms_txt()));
    files
}

/// Writes the catalog under `root`, removing tool files of tools that no longer exist.
pub fn write(root: &Path) -> std::io::Result<()> {
    let tools_dir = root.join("tools");
    std::fs::create_dir_all(&tools_dir)?;
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

    #[test]
    fn every_tool_sets_every_annotation_explicitly() {
        for registered in registry() {
            assert_eq!(definition_problems(&registered), Vec::<String>::new());
        }
    }

    #[test]
    fn registry_has_the_contracted_tool_names() {
        let names: Vec<String> = registry().iter().map(|r| format!("{}:{}", r.toolset.code(), r.tool.name)).collect();
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
