//! Human confirmation of writes through MCP elicitation (`--confirm=elicit`).
//!
//! With `--confirm=argument` (the default) a write runs when the agent passes `confirm: true`.
//! With `--confirm=elicit`, `confirm: true` is not enough: before the write runs, the server
//! previews it and asks the human through the client, showing what will happen, and goes on only
//! on an explicit accept. This is a policy over every write tool, so it lives here once rather
//! than in each tool:
//! - protocol 2026-07-28 (stateless): the call returns an input-required result holding the
//!   elicitation; the client asks the human and calls again with the answer, which is bound to
//!   the exact request by `requestState`;
//! - older session protocols: the server sends `elicitation/create` to the client and waits.
//!
//! A client that cannot elicit gets `confirmation_unavailable`, saying how to run the server.

use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequests, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{ElicitationError, RequestContext};
use rmcp::{ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::mcp::HarepayServer;
use crate::mcp::common::{ToolFailure, canonical_json};

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
    Refuse(ToolFailure),
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

fn is_stateless_protocol(context: &RequestContext<RoleServer>) -> bool {
    context.protocol_version().is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// Binds an answer to the exact call it was asked for: tool and canonical arguments.
fn request_state(request: &CallToolRequestParams) -> String {
    let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
    let digest = Sha256::digest(format!("{}\n{}", request.name, canonical_json(&arguments)).as_bytes());
    format!("harepay-confirm:{}", hex::encode(digest))
}

fn refusal(error_type: &str, message: impl Into<String>) -> Gate {
    Gate::Refuse(ToolFailure::new(error_type, message, None))
}

fn declined(why: &str) -> Gate {
    refusal("confirmation_declined", format!("the human {why}; nothing was done. Ask them before trying again."))
}

impl HarepayServer {
    /// Decides whether a write with `confirm: true` may run, asking the human when the server
    /// runs with `--confirm=elicit`.
    pub(crate) async fn confirmation_gate(
        &self,
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
        let expected_state = request_state(request);
        if is_stateless_protocol(context)
            && let Some(answer) = request.input_responses.as_ref().and_then(|responses| responses.get(INPUT_KEY))
        {
            if request.request_state.as_deref() != Some(expected_state.as_str()) {
                return Ok(refusal(
                    "confirmation_declined",
                    "the confirmation does not match this request; nothing was done",
                ));
            }
            return Ok(match serde_json::from_value::<ElicitResult>(answer.clone()) {
                Ok(result) => match result.action {
                    ElicitationAction::Accept => {
                        let ticked = result.content.and_then(|c| serde_json::from_value::<HumanConfirmation>(c).ok());
                        if ticked.is_some_and(|c| c.confirm) { Gate::Proceed } else { declined("did not tick confirm") }
                    }
                    ElicitationAction::Decline => declined("declined"),
                    ElicitationAction::Cancel => declined("cancelled"),
                    _ => declined("gave an answer harepay does not know"),
                },
                Err(error) => refusal("invalid_request", format!("unreadable confirmation answer: {error}")),
            });
        }
        // Show the human what will happen: the tool's own preview.
        let message = match self.preview_for_human(request, context).await? {
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
            return Ok(Gate::Ask(InputRequiredResult::new(Some(requests), Some(expected_state)).into()));
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

    /// Runs the tool with `confirm: false` and words its preview for a person. An error result
    /// (bad input, insufficient funds) comes back as is.
    async fn preview_for_human(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Result<String, CallToolResponse>, ErrorData> {
        let mut preview_request = request.clone();
        let mut arguments = preview_request.arguments.take().unwrap_or_default();
        arguments.insert("confirm".to_owned(), serde_json::Value::Bool(false));
        preview_request.arguments = Some(arguments);
        preview_request.input_responses = None;
        preview_request.request_state = None;
        let response = self.tool_router.call(ToolCallContext::new(self, preview_request, context.clone())).await?;
        let CallToolResponse::Complete(result) = &response else { return Ok(Err(response)) };
        if result.is_error == Some(true) {
            return Ok(Err(response));
        }
        let preview = result.structured_content.clone().unwrap_or_default();
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
        Ok(Ok(message))
    }
}
