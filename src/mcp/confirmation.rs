//! Human confirmation of writes through MCP elicitation (`--confirm=elicit`).
//!
//! With `--confirm=argument` (the default) a write runs when the agent passes `confirm: true`.
//! With `--confirm=elicit`, `confirm: true` is not enough: before the write runs, the server
//! previews it and asks the human through the client, showing what will happen, and goes on only
//! on an explicit accept. This is a policy over every write tool, so it lives here once rather
//! than in each tool:
//! - protocol 2026-07-28 (stateless): the call returns an input-required result holding the
//!   elicitation; the client asks the human and calls again with the answer and the
//!   `requestState` it was given;
//! - older session protocols: the server sends `elicitation/create` to the client and waits.
//!
//! A client that cannot elicit gets `confirmation_unavailable`, saying how to run the server.
//!
//! On 2026-07-28 the answer travels through the client, so the client could write it itself. The
//! `requestState` is therefore sealed ([`ConfirmationSeal`]): an HMAC under a per-process random
//! secret over a nonce and an expiry, bound to the key, the tool and the exact arguments, and
//! usable once. A call that brings a state or answers the server did not issue for it is refused
//! (`confirmation_invalid`) and audited. What this proves is that the client showed the question
//! and relayed an accept, not that a person read it: maker-checker approval is the control for
//! large payouts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rand::TryRngCore;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequests, InputRequiredResult, ProtocolVersion, RequestStateCodec,
    RequestStateError, SealOptions,
};
use rmcp::service::{ElicitationError, RequestContext};
use rmcp::{ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::principal::Principal;
use crate::limits;
use crate::mcp::HarepayServer;
use crate::ops::args::canonical_json;
use crate::ops::{Entry, Failure};

/// How writes are confirmed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConfirmMode {
    /// `confirm: true` in the arguments is the confirmation.
    #[default]
    Argument,
    /// The human confirms each write through MCP elicitation.
    Elicit,
}

impl ConfirmMode {
    pub fn parse(code: &str) -> Option<ConfirmMode> {
        match code {
            "argument" => Some(ConfirmMode::Argument),
            "elicit" => Some(ConfirmMode::Elicit),
            _ => None,
        }
    }
}

/// The form the human sees.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HumanConfirmation {
    /// Tick to let the assistant do exactly this.
    pub confirm: bool,
}
rmcp::elicit_safe!(HumanConfirmation);

/// The key of our question in `inputRequests` / `inputResponses`.
const INPUT_KEY: &str = "harepay_confirm_write";

pub enum Gate {
    /// Go on and run the write.
    Proceed,
    /// Ask the human: the input-required answer of protocol 2026-07-28.
    Ask(CallToolResponse),
    /// Do not run the write: the human declined, or cannot be asked. Audited by the caller.
    Refuse(Failure),
    /// The preview itself failed (bad input, insufficient funds): pass its result on as it is.
    Relay(CallToolResponse),
}

fn client_supports_form_elicitation(context: &RequestContext<RoleServer>) -> bool {
    // A capability of `{}` (neither form nor url) means form, for backward compatibility.
    context
        .client_capabilities()
        .and_then(|capabilities| capabilities.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// Whether a call claims to answer a question: it brings a `requestState` or an answer.
fn carries_an_answer(request: &CallToolRequestParams) -> bool {
    request.request_state.is_some() || request.input_responses.as_ref().is_some_and(|responses| !responses.is_empty())
}

fn is_stateless_protocol(context: &RequestContext<RoleServer>) -> bool {
    context.protocol_version().is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// Seals the `requestState` of a confirmation question and opens it when the answer comes back.
/// One per process (see [`ConfirmationSeal::for_this_process`]): a restart invalidates every
/// question in flight, which costs the human one more click and keeps the secret out of storage.
pub struct ConfirmationSeal {
    codec: RequestStateCodec,
    used_nonces: Mutex<UsedNonces>,
}

/// What the sealed state carries. The binding (key, tool, arguments) is authenticated as
/// associated data, not stored: the retry must present the same call to open it.
#[derive(Debug, Serialize, Deserialize)]
struct SealedQuestion {
    /// 128 random bits, hex: what makes the answer usable once.
    nonce: String,
    expires_at_ms: i64,
}

/// Why a returned `requestState` is not accepted. Only `NotIssued` can be reached without a
/// state the server sealed, so the finer reasons tell a forger nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealRefusal {
    /// Forged, tampered with, from another process, or issued for another key, tool or arguments.
    NotIssued,
    Expired,
    AlreadyUsed,
    /// [`limits::CONFIRMATION_USED_NONCES_MAX`] answers are remembered: refuse rather than grow.
    TooManyOutstanding,
}

/// Nonces of answers already used, until they expire, counted per key: one key answering many
/// questions fills its own share, never the process's memory for everyone.
#[derive(Default)]
struct UsedNonces {
    nonces: HashSet<u128>,
    /// The same nonces ordered by expiry, with the key that used each, so that pruning takes only
    /// what has expired.
    by_expiry: BTreeSet<(i64, u128, String)>,
    used_by_key: HashMap<String, usize>,
}

/// How many answers a store remembers: in all, and per key.
#[derive(Debug, Clone, Copy)]
struct NonceCapacity {
    total: usize,
    per_key: usize,
}

impl UsedNonces {
    fn use_once(
        &mut self,
        key_id: &str,
        nonce: u128,
        expires_at_ms: i64,
        now_ms: i64,
        capacity: NonceCapacity,
    ) -> Result<(), SealRefusal> {
        while let Some((expiry_ms, _, _)) = self.by_expiry.first()
            && *expiry_ms < now_ms
        {
            let (_, oldest, owner) = self.by_expiry.pop_first().expect("a first entry");
            self.nonces.remove(&oldest);
            if let Some(count) = self.used_by_key.get_mut(&owner) {
                *count -= 1;
                if *count == 0 {
                    self.used_by_key.remove(&owner);
                }
            }
        }
        if self.nonces.contains(&nonce) {
            return Err(SealRefusal::AlreadyUsed);
        }
        let used_by_this_key = self.used_by_key.get(key_id).copied().unwrap_or(0);
        if self.nonces.len() >= capacity.total || used_by_this_key >= capacity.per_key {
            return Err(SealRefusal::TooManyOutstanding);
        }
        self.nonces.insert(nonce);
        self.by_expiry.insert((expires_at_ms, nonce, key_id.to_owned()));
        *self.used_by_key.entry(key_id.to_owned()).or_default() += 1;
        Ok(())
    }
}

/// What a sealed state is bound to: the key that asked, the tool, and its arguments in canonical
/// JSON (so key order does not matter, and every other change does).
pub fn confirmation_binding(key_id: &str, tool: &str, arguments: &serde_json::Value) -> Vec<u8> {
    format!("harepay/confirm-write/v1\n{key_id}\n{tool}\n{}", canonical_json(arguments)).into_bytes()
}

impl ConfirmationSeal {
    /// `secret` must have at least 32 bytes of entropy.
    pub fn new(secret: &[u8]) -> Result<ConfirmationSeal, RequestStateError> {
        Ok(ConfirmationSeal { codec: RequestStateCodec::try_new(secret)?, used_nonces: Mutex::default() })
    }

    /// The process's seal, its 32-byte secret drawn from the operating system's random source on
    /// first use. Process-wide because HTTP builds a server per request.
    pub fn for_this_process() -> &'static ConfirmationSeal {
        static SEAL: OnceLock<ConfirmationSeal> = OnceLock::new();
        SEAL.get_or_init(|| {
            let mut secret = [0_u8; 32];
            rand::rngs::OsRng.try_fill_bytes(&mut secret).expect("the operating system's random source is readable");
            ConfirmationSeal::new(&secret).expect("a 32-byte secret is long enough")
        })
    }

    pub fn seal(&self, binding: &[u8], now_ms: i64, expiry_ms: i64) -> String {
        let question = SealedQuestion {
            nonce: format!("{:032x}", rand::random::<u128>()),
            expires_at_ms: now_ms.saturating_add(expiry_ms),
        };
        // The codec's own expiry (wall clock) doubles ours (the app's clock): either refuses.
        let options = SealOptions::new()
            .associated_data(binding)
            .ttl(Duration::from_millis(u64::try_from(expiry_ms).unwrap_or(0)));
        self.codec.seal_json_with(&question, &options).expect("the question serializes")
    }

    /// Accepts `sealed` once, if this seal issued it for `binding` (which names `key_id`) and it
    /// has not expired.
    pub fn open_once(&self, sealed: &str, key_id: &str, binding: &[u8], now_ms: i64) -> Result<(), SealRefusal> {
        let question: SealedQuestion = self.codec.open_json_with(sealed, binding).map_err(|error| match error {
            RequestStateError::Expired => SealRefusal::Expired,
            _ => SealRefusal::NotIssued,
        })?;
        if now_ms > question.expires_at_ms {
            return Err(SealRefusal::Expired);
        }
        let nonce = u128::from_str_radix(&question.nonce, 16).map_err(|_| SealRefusal::NotIssued)?;
        let mut used = self.used_nonces.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let capacity = NonceCapacity {
            total: limits::CONFIRMATION_USED_NONCES_MAX,
            per_key: limits::CONFIRMATION_USED_NONCES_PER_KEY_MAX,
        };
        used.use_once(key_id, nonce, question.expires_at_ms, now_ms, capacity)
    }
}

fn refusal(error_type: &str, message: impl Into<String>) -> Gate {
    Gate::Refuse(Failure::new(error_type, message, None))
}

fn invalid_confirmation(why: &str) -> Gate {
    refusal(
        "confirmation_invalid",
        format!(
            "{why}; nothing was done. Call the tool again with the same arguments and without requestState or \
             inputResponses to ask the human."
        ),
    )
}

fn seal_refusal(reason: SealRefusal) -> Gate {
    match reason {
        SealRefusal::NotIssued => {
            invalid_confirmation("this requestState was not issued by this server for this key, tool and arguments")
        }
        SealRefusal::Expired => invalid_confirmation("this confirmation has expired"),
        SealRefusal::AlreadyUsed => {
            invalid_confirmation("this confirmation was already used; each answer is good for one call")
        }
        SealRefusal::TooManyOutstanding => refusal(
            "confirmation_unavailable",
            "too many confirmations were answered in the last minutes for this server to remember another; nothing \
             was done. Try again later.",
        ),
    }
}

fn declined(why: &str) -> Gate {
    refusal("confirmation_declined", format!("the human {why}; nothing was done. Ask them before trying again."))
}

impl HarepayServer {
    /// Decides whether a write with `confirm: true` may run, asking the human when the server
    /// runs with `--confirm=elicit`.
    pub(crate) async fn confirmation_gate(
        &self,
        entry: &Entry,
        principal: &Principal,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Gate, ErrorData> {
        if self.options.confirm_mode == ConfirmMode::Argument {
            return Ok(Gate::Proceed);
        }
        let confirmed =
            request.arguments.as_ref().and_then(|a| a.get("confirm")).and_then(|c| c.as_bool()) == Some(true);
        if !confirmed {
            // A preview changes nothing: no human is needed.
            return Ok(Gate::Proceed);
        }
        if !client_supports_form_elicitation(context) {
            return Ok(refusal(
                "confirmation_unavailable",
                "this harepay server asks a human to confirm every write through MCP elicitation (--confirm=elicit), \
                 and this client does not support elicitation. Nothing was done. Use a client that supports \
                 elicitation, or have the operator run `harepay stdio --confirm=argument` to accept confirm: true \
                 from the agent.",
            ));
        }
        let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
        let binding = confirmation_binding(&principal.key_id, &request.name, &arguments);
        if is_stateless_protocol(context) && carries_an_answer(request) {
            return Ok(self.gate_on_answer(request, &principal.key_id, &binding));
        }
        // Show the human what will happen: the tool's own preview.
        let message = match self.preview_for_human(entry, principal, request, context).await {
            Ok(message) => message,
            // The write would be refused anyway: say so without bothering the human.
            Err(response) => return Ok(Gate::Relay(response)),
        };
        if is_stateless_protocol(context) {
            let schema = ElicitationSchema::from_type::<HumanConfirmation>()
                .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
            let mut requests = InputRequests::new();
            requests.insert(
                INPUT_KEY.to_owned(),
                InputRequest::Elicitation(ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
                    meta: None,
                    message,
                    requested_schema: schema,
                })),
            );
            let state = ConfirmationSeal::for_this_process().seal(
                &binding,
                self.app.now_ms(),
                self.options.confirmation_expiry_ms,
            );
            return Ok(Gate::Ask(InputRequiredResult::new(Some(requests), Some(state)).into()));
        }
        Ok(match context.peer.elicit::<HumanConfirmation>(message).await {
            Ok(Some(HumanConfirmation { confirm: true })) => Gate::Proceed,
            Ok(_) => declined("did not tick confirm"),
            Err(ElicitationError::UserDeclined) => declined("declined"),
            Err(ElicitationError::UserCancelled) => declined("cancelled"),
            Err(ElicitationError::CapabilityNotSupported) => refusal(
                "confirmation_unavailable",
                "this client does not support elicitation; nothing was done. Have the operator run `harepay stdio --confirm=argument`.",
            ),
            Err(error) => refusal(
                "confirmation_unavailable",
                format!("could not ask the human to confirm ({error}); nothing was done"),
            ),
        })
    }

    /// The retry of 2026-07-28: it must bring a state this server sealed for this very call, unused
    /// and unexpired, and the human's answer.
    fn gate_on_answer(&self, request: &CallToolRequestParams, key_id: &str, binding: &[u8]) -> Gate {
        let Some(state) = request.request_state.as_deref() else {
            return invalid_confirmation("inputResponses came without the requestState this server issued");
        };
        if let Err(reason) = ConfirmationSeal::for_this_process().open_once(state, key_id, binding, self.app.now_ms()) {
            return seal_refusal(reason);
        }
        let Some(answer) = request.input_responses.as_ref().and_then(|responses| responses.get(INPUT_KEY)) else {
            return invalid_confirmation(&format!("inputResponses has no answer to {INPUT_KEY}"));
        };
        match serde_json::from_value::<ElicitResult>(answer.clone()) {
            Ok(result) => match result.action {
                ElicitationAction::Accept => {
                    let ticked = result.content.and_then(|c| serde_json::from_value::<HumanConfirmation>(c).ok());
                    if ticked.is_some_and(|c| c.confirm) { Gate::Proceed } else { declined("did not tick confirm") }
                }
                ElicitationAction::Decline => declined("declined"),
                ElicitationAction::Cancel => declined("cancelled"),
                _ => declined("gave an answer harepay does not know"),
            },
            // Not echoed: the answer is the client's input, of any size.
            Err(_) => invalid_confirmation(&format!("the answer to {INPUT_KEY} is not an elicitation result")),
        }
    }

    /// Runs the tool with `confirm: false` and words its preview for a person. An error result
    /// (bad input, insufficient funds) comes back as is.
    async fn preview_for_human(
        &self,
        entry: &Entry,
        principal: &Principal,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<String, CallToolResponse> {
        let mut arguments = request.arguments.clone().unwrap_or_default();
        arguments.insert("confirm".to_owned(), serde_json::Value::Bool(false));
        let preview = match self.run_operation(entry, principal.clone(), arguments, context).await {
            Ok(preview) => preview,
            Err(failure) => return Err(crate::mcp::failure_result(failure).into()),
        };
        let mut message = format!("The assistant wants to run {}.\n", request.name);
        if let Some(summary) = preview["message"].as_str() {
            // Drop the agent-facing "how to confirm" sentence.
            message.push_str(summary.split(" Nothing was saved.").next().unwrap_or(summary));
        }
        for change in preview["balance_changes"].as_array().into_iter().flatten() {
            message.push_str(&format!(
                "\n{} {}: {} → {}",
                change["before"]["currency"].as_str().unwrap_or_default(),
                change["account"].as_str().unwrap_or_default(),
                change["before"]["display"].as_str().unwrap_or_default(),
                change["after"]["display"].as_str().unwrap_or_default()
            ));
        }
        message.push_str("\nConfirm to go ahead; decline and nothing happens.");
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const EXPIRY_MS: i64 = 600_000;

    fn seal() -> ConfirmationSeal {
        ConfirmationSeal::new(&[7_u8; 32]).unwrap()
    }

    fn binding(key_id: &str, tool: &str, amount: i64) -> Vec<u8> {
        confirmation_binding(key_id, tool, &serde_json::json!({"amount": amount, "confirm": true}))
    }

    #[test]
    fn a_sealed_question_opens_once_for_its_own_call() {
        let seal = seal();
        let issued = binding("key_a", "create_payout", 100);
        let state = seal.seal(&issued, NOW_MS, EXPIRY_MS);
        for (other, why) in [
            (binding("key_b", "create_payout", 100), "another key"),
            (binding("key_a", "refund_payment", 100), "another tool"),
            (binding("key_a", "create_payout", 101), "other arguments"),
        ] {
            assert_eq!(seal.open_once(&state, "key_a", &other, NOW_MS), Err(SealRefusal::NotIssued), "{why}");
        }
        assert_eq!(seal.open_once(&state, "key_a", &issued, NOW_MS + 1), Ok(()));
        assert_eq!(seal.open_once(&state, "key_a", &issued, NOW_MS + 2), Err(SealRefusal::AlreadyUsed));
    }

    #[test]
    fn argument_key_order_does_not_matter_and_forgeries_do_not_open() {
        let seal = seal();
        let issued = binding("key_a", "create_payout", 100);
        let reordered =
            confirmation_binding("key_a", "create_payout", &serde_json::json!({"confirm": true, "amount": 100}));
        assert_eq!(issued, reordered);
        let state = seal.seal(&issued, NOW_MS, EXPIRY_MS);
        let other_process = ConfirmationSeal::new(&[8_u8; 32]).unwrap();
        assert_eq!(other_process.open_once(&state, "key_a", &issued, NOW_MS), Err(SealRefusal::NotIssued));
        let mut tampered = state.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        for forged in [String::from_utf8(tampered).unwrap(), "rs1.AAAA.BBBB".to_owned(), String::new()] {
            assert_eq!(seal.open_once(&forged, "key_a", &issued, NOW_MS), Err(SealRefusal::NotIssued), "{forged}");
        }
    }

    #[test]
    fn an_answer_expires_on_the_injected_clock() {
        let seal = seal();
        let issued = binding("key_a", "create_payout", 100);
        let state = seal.seal(&issued, NOW_MS, EXPIRY_MS);
        assert_eq!(seal.open_once(&state, "key_a", &issued, NOW_MS + EXPIRY_MS + 1), Err(SealRefusal::Expired));
        assert_eq!(
            seal.open_once(&state, "key_a", &issued, NOW_MS + EXPIRY_MS),
            Ok(()),
            "the last millisecond still counts"
        );
    }

    #[test]
    fn used_nonces_are_bounded_and_leave_as_they_expire() {
        let mut used = UsedNonces::default();
        let capacity = NonceCapacity { total: 2, per_key: 2 };
        assert_eq!(used.use_once("key_a", 1, NOW_MS + 10, NOW_MS, capacity), Ok(()));
        assert_eq!(used.use_once("key_b", 2, NOW_MS + 20, NOW_MS, capacity), Ok(()));
        let full = used.use_once("key_c", 3, NOW_MS + 30, NOW_MS, capacity);
        assert_eq!(full, Err(SealRefusal::TooManyOutstanding), "full: refuse");
        assert_eq!(used.use_once("key_a", 1, NOW_MS + 10, NOW_MS, capacity), Err(SealRefusal::AlreadyUsed));
        // Once nonce 1 has expired it is forgotten (its state would be refused as expired anyway).
        assert_eq!(used.use_once("key_c", 3, NOW_MS + 30, NOW_MS + 11, capacity), Ok(()));
        assert_eq!(used.nonces.len(), 2);
        assert_eq!(used.by_expiry.len(), 2);
        assert_eq!(used.used_by_key.get("key_a"), None, "an expired key's count leaves with it");
    }

    #[test]
    fn one_key_fills_only_its_own_share() {
        let mut used = UsedNonces::default();
        let capacity = NonceCapacity { total: 100, per_key: 3 };
        for nonce in 0..3 {
            assert_eq!(used.use_once("greedy", nonce, NOW_MS + 10, NOW_MS, capacity), Ok(()));
        }
        let refused = used.use_once("greedy", 3, NOW_MS + 10, NOW_MS, capacity);
        assert_eq!(refused, Err(SealRefusal::TooManyOutstanding), "the greedy key is at its share");
        assert_eq!(used.use_once("someone_else", 4, NOW_MS + 10, NOW_MS, capacity), Ok(()), "others still answer");
    }
}
