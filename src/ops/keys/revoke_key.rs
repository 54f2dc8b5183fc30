//! `revoke_key`: a key of this merchant and mode stops working at its next call, on every
//! transport (keys are authenticated per call on stdio and per request over HTTP).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::keys::revoke_key_in_scope;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::keys::ApiKeyView;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;

pub const ENTRY: Entry = Entry::write::<RevokeKey>();

pub struct RevokeKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKeyArgs {
    /// The key, `key_…` (list_keys shows them).
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: revoke.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(RevokeKeyArgs);

pub struct RevokeKeyCommand {
    pub key_id: String,
}

impl WriteOperation for RevokeKey {
    const SPEC: Spec = Spec {
        name: "revoke_key",
        toolset: Toolset::Keys,
        title: "Revoke API key",
        description: "Revoke an API key of your merchant and mode: it is refused from its next call on, also in open sessions. Cannot be undone. Previews unless confirm: true.",
        action: Action::ManageKeys,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "key_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true}"#],
    };
    type Args = RevokeKeyArgs;
    type Command = RevokeKeyCommand;

    fn command(args: &RevokeKeyArgs) -> Result<RevokeKeyCommand, Failure> {
        Ok(RevokeKeyCommand { key_id: check_object_id(&args.id, "key_", "id")? })
    }

    fn describe(command: &RevokeKeyCommand) -> String {
        format!("revoke key {}", command.key_id)
    }

    fn message(key: &ApiKeyView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would revoke {} key {} of {} (…{}).", key.role, key.id, key.owner, key.last4),
            _ => format!("Revoked {} key {} of {}: it is refused from its next call on.", key.role, key.id, key.owner),
        }
    }
}

impl WriteCommand for RevokeKeyCommand {
    type View = ApiKeyView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<ApiKeyView>, AppError> {
        let key = revoke_key_in_scope(session, context.now_ms, actor, &self.key_id)?;
        Ok(Applied::new(ApiKeyView::new(&key, context.now_ms), &key.id, Vec::new()))
    }
}
