//! The guide's section on webhooks (llms.txt and docs/guide.md): what is sent, how it is signed,
//! when it is retried, and how a receiver checks it.

use crate::limits;

pub fn section() -> String {
    format!(
        "## Webhooks\n\n\
         - Toolset `webhooks` (opt-in: `--toolsets default,webhooks`): `create_webhook_endpoint {{url, events}}` \
         returns the endpoint's `signing_secret` (`whsec_…`) once, in its executed result; harepay stores it sealed and \
         never shows it again (a replay returns the endpoint without it). Live mode: `https://` only \
         (`webhook_url_must_be_https`), and no URL that resolves to a loopback, private, link-local, CGNAT, unique-local \
         or cloud-metadata address (`webhook_url_not_allowed`, checked at creation and again before every delivery) \
         unless the operator allow-lists it. Test mode also takes `http://localhost` and `http://127.0.0.1`. At most \
         {endpoints_max} endpoints per merchant and mode (`webhook_endpoint_limit_reached`).\n\
         - Each event of the outbox (`list_events`) is POSTed to every enabled endpoint that takes its type, after the \
         endpoint was created. The body is the event's object exactly as `list_events` shows it in `data` (e.g. \
         `{{\"id\": \"pi_…\", \"status\": \"succeeded\", …}}`), as raw JSON bytes with `Content-Type: application/json`. \
         Headers:\n\n\
         ```\n\
         X-Lodum-Event:     payment_intent.succeeded\n\
         X-Lodum-Event-Id:  evt_…            (the same on every retry and redelivery: de-duplicate by it)\n\
         X-Lodum-Timestamp: 1750000000        (Unix seconds of the attempt)\n\
         X-Lodum-Signature: sha256=<hex HMAC-SHA256 of \"timestamp.rawBody\", keyed by the whole whsec_… secret>\n\
         ```\n\n\
         - A 2xx within {timeout_s} s is success. Anything else (another status, a redirect, which is never followed, \
         a timeout, a refused address) is retried: the wait after the n-th failure is base × 2^(n−1), at most the cap, \
         ±{jitter}% jitter; a 429's `Retry-After` (seconds) lengthens it, up to an hour. Defaults: base {base_s} s, cap {cap_h} h \
         (30 s, 1 min, 2 min, 4 min, … 4 h 16 min, then 6 h); the operator sets them with `harepay http \
         --webhook-retry-base-ms N --webhook-retry-cap-ms N`. A delivery gets {attempts} attempts, then is `failed`. \
         {failures} failed attempts in a row disable the endpoint and emit `webhook_endpoint.disabled`; \
         `update_webhook_endpoint {{enabled: true}}` turns it back on. Delivery is at least once and survives \
         restarts; each endpoint gets its oldest due delivery first, one request at a time. Only `harepay http` runs \
         the delivery worker.\n\
         - `list_webhook_deliveries` shows every attempt (status code, error, the first {excerpt} characters of the \
         answer, next retry), to the endpoint's merchant only; `redeliver_event` sends an event again with the same \
         event id. Events: `webhook_endpoint.created`, `.updated`, `.deleted`, `.disabled`.\n\
         - Verify on the raw body before parsing it, and refuse timestamps more than 5 minutes from now (replays). \
         `harepay webhooks verify --secret whsec_… --timestamp T --signature sha256=… < body` does the same check.\n\n\
         ```js\n\
         import crypto from \"crypto\";\n\
         function verify(secret, timestamp, rawBody, signature) {{\n\
         \x20 if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;\n\
         \x20 const mac = crypto.createHmac(\"sha256\", secret);\n\
         \x20 mac.update(timestamp + \".\" + rawBody);\n\
         \x20 const expected = \"sha256=\" + mac.digest(\"hex\");\n\
         \x20 return expected.length === signature.length &&\n\
         \x20   crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));\n\
         }}\n\
         // verify(SECRET, headers[\"x-lodum-timestamp\"], rawBody, headers[\"x-lodum-signature\"]);\n\
         ```\n\n\
         ```python\n\
         import hashlib, hmac, time\n\
         def verify(secret: str, timestamp: str, raw_body: bytes, signature: str) -> bool:\n\
         \x20   if abs(time.time() - int(timestamp)) > 300:\n\
         \x20       return False\n\
         \x20   mac = hmac.new(secret.encode(), timestamp.encode() + b\".\" + raw_body, hashlib.sha256)\n\
         \x20   return hmac.compare_digest(\"sha256=\" + mac.hexdigest(), signature)\n\
         ```\n\n",
        endpoints_max = limits::WEBHOOK_ENDPOINTS_PER_SCOPE_MAX,
        timeout_s = limits::WEBHOOK_REQUEST_TIMEOUT_MS / 1000,
        jitter = limits::WEBHOOK_RETRY_JITTER_PERCENT,
        base_s = limits::WEBHOOK_RETRY_BASE_DEFAULT_MS / 1000,
        cap_h = limits::WEBHOOK_RETRY_CAP_DEFAULT_MS / 3_600_000,
        attempts = limits::WEBHOOK_DELIVERY_MAX_ATTEMPTS,
        failures = limits::WEBHOOK_CONSECUTIVE_FAILURES_MAX,
        excerpt = limits::WEBHOOK_RESPONSE_EXCERPT_MAX_CHARS,
    )
}
