//! `create_key`: an admin key makes another key of its merchant and mode. Bounded three ways, all
//! decided in the write from the database: the merchant's active-key cap, the rate of keys made
//! through tools (`key_creation_rate_exceeded` with `retry_after_ms`), and the lifetime range.
//! The new key answers to its creator's owner for maker-checker and spend limits, so an agent
//! cannot mint a "second person" to approve its own payouts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::keys::{ToolKeyRequest, create_key_for_tool};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::api_key::KeyExpiry;
use crate::engine::permission::Action;
use crate::engine::principal::{Principal, Role};
use crate::limits;
use crate::ops::args::KeyRule;
use crate::ops::keys::ApiKeyView;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;

pub const ENTRY: Entry = Entry::write::<CreateKey>();

pub struct CreateKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyRoleInput {
    Admin,
    Maker,
    Approver,
    ReadOnly,
}

impl KeyRoleInput {
    fn role(self) -> Role {
        match self {
            KeyRoleInput::Admin => Role::Admin,
            KeyRoleInput::Maker => Role::Maker,
            KeyRoleInput::Approver => Role::Approver,
            KeyRoleInput::ReadOnly => Role::ReadOnly,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyArgs {
    pub role: KeyRoleInput,
    /// The person or service the key is for, e.g. "billing-bot".
    #[schemars(length(max = limits::OWNER_MAX_CHARS))]
    pub owner: String,
    /// Lifetime: "90s", "45m", "12h" or "30d" (at most 730d). Omit both for no expiry.
    #[serde(default)]
    #[schemars(length(max = limits::API_KEY_EXPIRES_IN_MAX_CHARS))]
    pub expires_in: Option<String>,
    /// Or an RFC 3339 time, e.g. "2026-03-01T12:00:00Z".
    #[serde(default)]
    #[schemars(length(max = limits::API_KEY_EXPIRES_AT_MAX_CHARS))]
    pub expires_at: Option<String>,
    /// false (default): preview only. true: create.
    #[serde(default)]
    pub confirm: bool,
    /// Optional; a replay does not show the secret again.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateKeyArgs);

/// The new key and its secret: the one answer that ever holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewApiKeyView {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The secret key (sk_test_… or sk_live_…), shown once: store it now.
    pub secret: String,
}

pub struct CreateKeyCommand(pub ToolKeyRequest);

impl WriteOperation for CreateKey {
    const SPEC: Spec = Spec {
        name: "create_key",
        toolset: Toolset::Keys,
        title: "Create API key",
        description: "Create an API key in your merchant and mode; the secret is in this answer only. At most 25 active keys per merchant (max_keys_reached); at most 3 per 10 minutes and 10 per hour through tools (key_creation_rate_exceeded, retry_after_ms). The new key answers to your key's owner for approvals and spend limits. Previews unless confirm: true.",
        action: Action::ManageKeys,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: false },
        examples: &[r#"{"role": "read_only", "owner": "reporting-bot", "expires_in": "30d", "confirm": true}"#],
    };
    type Args = CreateKeyArgs;
    type Command = CreateKeyCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id", "/secret", "/last4"];

    fn command(args: &CreateKeyArgs) -> Result<CreateKeyCommand, Failure> {
        let owner = crate::engine::identity::normalize_owner_name(&args.owner)
            .map_err(|error| Failure::invalid("owner", error.to_string()))?;
        let param = if args.expires_at.is_some() && args.expires_in.is_none() { "expires_at" } else { "expires_in" };
        let expiry = KeyExpiry::parse(args.expires_in.as_deref(), args.expires_at.as_deref())
            .map_err(|message| Failure::invalid(param, message))?;
        Ok(CreateKeyCommand(ToolKeyRequest { role: args.role.role(), owner, expiry }))
    }

    fn describe(command: &CreateKeyCommand) -> String {
        let expiry = match &command.0.expiry {
            KeyExpiry::Never => "no expiry".to_owned(),
            KeyExpiry::After { lifetime_ms } => format!("expiring {} s after creation", lifetime_ms / 1000),
            KeyExpiry::At { expires_at_ms } => format!("expiring at {expires_at_ms} ms"),
        };
        format!("create a {} key for {}, {expiry}", command.0.role.code(), command.0.owner)
    }

    fn message(key: &NewApiKeyView, outcome: Outcome) -> String {
        let key = &key.key;
        match outcome {
            Outcome::Preview => format!("Would create a {} {} key for {}.", key.mode, key.role, key.owner),
            _ => format!(
                "Created {} key {} for {} (…{}). The secret is shown in this answer only: store it now.",
                key.role, key.id, key.owner, key.last4
            ),
        }
    }
}

impl WriteCommand for CreateKeyCommand {
    type View = NewApiKeyView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<NewApiKeyView>, AppError> {
        let (record, secret) = create_key_for_tool(session, context, actor, &self.0)?;
        let key = ApiKeyView::new(&record, context.now_ms);
        // What a replay answers: the key without its secret, which is kept nowhere.
        let view_json = serde_json::to_string(&key).expect("views serialize");
        Ok(Applied {
            view: NewApiKeyView { key, secret },
            view_json,
            object_id: record.id,
            touched_assets: Vec::new(),
            audit_note: None,
        })
    }
}
