//! `create_webhook_endpoint`: a URL that receives signed events. Its signing secret is in this
//! call's executed result and nowhere else: it is stored sealed, and replays, events, the audit
//! log and every later read leave it out.

use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::permission::Action;
use crate::engine::principal::{Mode, Principal};
use crate::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint};
use crate::limits;
use crate::ops::args::KeyRule;
use crate::ops::webhooks::{check_events, refusal_failure};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::WebhookEndpointView;
use crate::webhooks::address::{check_url, installed_policy, resolve_checked};

pub const ENTRY: Entry = Entry::write::<CreateWebhookEndpoint>();

pub struct CreateWebhookEndpoint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointArgs {
    /// https:// URL (test mode also http://localhost or http://127.0.0.1).
    #[schemars(length(max = limits::WEBHOOK_URL_MAX_CHARS))]
    pub url: String,
    /// Event types to receive, e.g. ["payment_intent.succeeded"], or ["*"] for all.
    #[schemars(length(max = limits::WEBHOOK_EVENT_TYPES_MAX), inner(length(max = limits::EVENT_TYPE_MAX_CHARS)))]
    pub events: Vec<String>,
    /// false (default): preview only. true: create.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result (without the secret).
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateWebhookEndpointArgs);

pub struct CreateWebhookEndpointCommand {
    url: String,
    events: EventSelection,
    /// `whsec_` and 64 hex digits (256 random bits). Never logged: not in `describe`, not stored
    /// but sealed.
    signing_secret: String,
}

fn new_signing_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

fn url_host(url: &str) -> String {
    reqwest::Url::parse(url).ok().and_then(|url| url.host_str().map(str::to_owned)).unwrap_or_default()
}

impl WriteOperation for CreateWebhookEndpoint {
    const SPEC: Spec = Spec {
        name: "create_webhook_endpoint",
        toolset: Toolset::Webhooks,
        title: "Create webhook endpoint",
        description: "Register a URL that receives events as signed POSTs (see the guide: headers, body, retries). The result's signing_secret (whsec_…) is shown ONCE: store it to verify deliveries. Live mode: https only, public addresses only. At most 16 per merchant and mode. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: true },
        examples: &[
            r#"{"url": "https://hooks.example.com/harepay", "events": ["payment_intent.succeeded", "payout.paid"], "confirm": true, "idempotency_key": "hook-1"}"#,
        ],
    };
    type Args = CreateWebhookEndpointArgs;
    type Command = CreateWebhookEndpointCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id", "/signing_secret"];

    fn command(args: &CreateWebhookEndpointArgs) -> Result<CreateWebhookEndpointCommand, Failure> {
        let events = check_events(&args.events)?;
        // The rules that hold in every mode; the mode's own run in `check_for_principal`.
        check_url(&args.url, Mode::Test, &installed_policy()).map_err(refusal_failure)?;
        Ok(CreateWebhookEndpointCommand { url: args.url.clone(), events, signing_secret: new_signing_secret() })
    }

    async fn check_for_principal(principal: &Principal, args: &CreateWebhookEndpointArgs) -> Result<(), Failure> {
        let mode = principal.scope.mode;
        let policy = installed_policy();
        let url = check_url(&args.url, mode, &policy).map_err(refusal_failure)?;
        if mode == Mode::Live
            && crate::webhooks::address::literal_ip(&url).is_none()
            && let Some(host) = url.host_str()
        {
            let port = url.port_or_known_default().unwrap_or(443);
            resolve_checked(&policy, mode, host, port).await.map_err(refusal_failure)?;
        }
        Ok(())
    }

    fn describe(command: &CreateWebhookEndpointCommand) -> String {
        format!(
            "create a webhook endpoint at host {} for {}",
            limits::echo(&url_host(&command.url)),
            command.events.stored_text()
        )
    }

    fn message(endpoint: &WebhookEndpointView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would create a webhook endpoint for {} with a new signing secret.", endpoint.url),
            _ => format!(
                "Created webhook endpoint {} for {}. Store signing_secret now: it is not shown again.",
                endpoint.id, endpoint.url
            ),
        }
    }
}

impl WriteCommand for CreateWebhookEndpointCommand {
    type View = WebhookEndpointView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<WebhookEndpointView>, AppError> {
        if session.list_webhook_endpoints(&actor.scope)?.len() >= limits::WEBHOOK_ENDPOINTS_PER_SCOPE_MAX {
            return Err(AppError::WebhookEndpointLimitReached { max: limits::WEBHOOK_ENDPOINTS_PER_SCOPE_MAX });
        }
        let seal_key = crate::webhooks::seal::installed().ok_or_else(|| AppError::Internal {
            detail: "no webhook seal key is installed in this process".to_owned(),
        })?;
        let id = context.ids.next_id("we");
        let endpoint = WebhookEndpoint {
            secret_sealed: seal_key.seal(self.signing_secret.as_bytes(), &id),
            id,
            scope: actor.scope.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            consecutive_failures: 0,
            after_event_seq: session.newest_event_seq()?,
            created_at_ms: context.now_ms,
            updated_at_ms: context.now_ms,
        };
        session.insert_webhook_endpoint(&endpoint)?;
        let stored = WebhookEndpointView::new(&endpoint);
        let stored_json = serde_json::to_string(&stored).expect("views serialize");
        emit_json(session, context, &actor.scope, "webhook_endpoint.created", &endpoint.id, stored_json.clone())?;
        // The caller sees the secret; the replay snapshot (`view_json`) does not keep it.
        let view = WebhookEndpointView { signing_secret: Some(self.signing_secret.clone()), ..stored };
        Ok(Applied { view, view_json: stored_json, object_id: endpoint.id, touched_assets: Vec::new(), audit_note: None })
    }
}
