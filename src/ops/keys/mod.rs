//! Toolset `keys`: the merchant's API keys, for admin keys only (`Action::ManageKeys`), and
//! opt-in (`--toolsets default,keys`). A key's secret is shown once, in the answer that created
//! it; nothing else, a list, a replay or the audit log, ever holds it or its hash.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::ApiKeyRecord;

crate::ops::operations!(create_key, list_keys, revoke_key);

/// An API key as tools show it: never the secret or its hash, only its last four characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyView {
    pub id: String,
    /// "test" or "live".
    pub mode: String,
    /// admin, maker, approver or read_only.
    pub role: String,
    pub owner: String,
    /// The last four characters of the secret, to tell keys apart.
    pub last4: String,
    /// active, expired or revoked.
    pub status: String,
    pub created_at_ms: i64,
    /// null: never expires.
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// The key that created this one through create_key; null: the operator's command line.
    pub created_by_key_id: Option<String>,
}

impl ApiKeyView {
    pub fn new(key: &ApiKeyRecord, now_ms: i64) -> ApiKeyView {
        let status = if key.revoked_at_ms.is_some() {
            "revoked"
        } else if crate::engine::api_key::is_expired(key.expires_at_ms, now_ms) {
            "expired"
        } else {
            "active"
        };
        ApiKeyView {
            id: key.id.clone(),
            mode: key.mode.code().to_owned(),
            role: key.role.code().to_owned(),
            owner: key.owner.clone(),
            last4: key.key_last4.clone(),
            status: status.to_owned(),
            created_at_ms: key.created_at_ms,
            expires_at_ms: key.expires_at_ms,
            revoked_at_ms: key.revoked_at_ms,
            created_by_key_id: key.created_by_key_id.clone(),
        }
    }
}
