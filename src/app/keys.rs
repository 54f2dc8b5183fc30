//! Merchants and API keys. A secret key is shown once, when it is made; only its SHA-256 is
//! stored. Keys are long random strings, so a fast hash is the right tool (no password stretching
//! is needed), and lookups by hash are one index probe.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::app::error::AppError;
use crate::app::writer::WriteContext;
use crate::engine::IdSource;
use crate::engine::api_key::{KeyExpiry, check_active_key_cap, check_creation_rate, creation_rate_lookback};
use crate::engine::principal::{Mode, Principal, Role, Scope};
use crate::store::{ApiKeyRecord, AuditRecord, MerchantRecord, StoreWrite};

/// The demo merchant made on first start, so the quickstart works with no set-up.
pub const DEMO_MERCHANT_ID: &str = "mch_demo";
pub const DEMO_MAKER_KEY: &str = "sk_test_demo";
pub const DEMO_APPROVER_KEY: &str = "sk_test_demo_approver";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// Creates the demo merchant and its two test keys when the database has no merchant.
    BootstrapDemoIfEmpty,
    CreateKey(NewApiKey),
    RevokeKey {
        key_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// An existing merchant id, or `None` to create a merchant named `new_merchant_name`.
    pub merchant_id: Option<String>,
    pub new_merchant_name: Option<String>,
    pub mode: Mode,
    pub role: Role,
    pub owner: String,
    pub key_sha256_hex: String,
    pub key_last4: String,
    /// Spend limits per currency for payouts made with this key.
    pub spend_limits: Vec<(crate::engine::money::AssetRef, crate::engine::payout::SpendLimit)>,
    /// When the key stops working, decided against the writer's clock.
    pub expiry: KeyExpiry,
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Parses `NGN:max_per_payout=100000,max_per_day=500000` (minor units) into one currency's limit.
pub fn parse_spend_limit(
    text: &str,
) -> Result<(crate::engine::money::AssetRef, crate::engine::payout::SpendLimit), String> {
    let (code, rules) = text
        .split_once(':')
        .ok_or(format!("limit {text:?} must look like NGN:max_per_payout=100000,max_per_day=500000"))?;
    let asset = crate::engine::money::Asset::lookup(code).ok_or(format!("unknown currency {code:?} in limit"))?;
    let mut limit = crate::engine::payout::SpendLimit::default();
    for rule in rules.split(',').filter(|rule| !rule.is_empty()) {
        let (name, value) = rule.split_once('=').ok_or(format!("limit rule {rule:?} needs name=minor_units"))?;
        let value: i64 = value
            .parse()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or(format!("limit {rule:?} must be a positive integer of minor units"))?;
        match name {
            "max_per_payout" => limit.max_per_payout_minor = Some(value),
            "max_per_day" => limit.max_per_day_minor = Some(value),
            other => return Err(format!("unknown limit {other:?}: use max_per_payout or max_per_day")),
        }
    }
    Ok((asset, limit))
}

/// A fresh secret key: the mode's prefix and 32 random alphanumeric characters (~190 bits).
pub fn generate_secret_key(mode: Mode) -> String {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect();
    format!("{}{random}", mode.key_prefix())
}

pub fn last4(secret: &str) -> String {
    secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect()
}

/// Key management happens at the command line, by whoever operates the server.
fn operator_audit(
    ids: &mut dyn IdSource,
    scope: Scope,
    tool: &str,
    key_id: &str,
    detail: String,
    now_ms: i64,
) -> AuditRecord {
    AuditRecord {
        id: ids.next_id("aud"),
        scope,
        key_id: "operator".to_owned(),
        actor_owner: "operator (harepay keys)".to_owned(),
        tool: tool.to_owned(),
        outcome: "executed".to_owned(),
        error_type: None,
        object_id: Some(key_id.to_owned()),
        idempotency_key: None,
        detail,
        created_at_ms: now_ms,
        request_id: None,
    }
}

pub(crate) fn apply_admin(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    command: AdminCommand,
) -> Result<String, AppError> {
    let now_ms = context.now_ms;
    let ids = &mut *context.ids;
    match command {
        AdminCommand::BootstrapDemoIfEmpty => {
            if session.count_merchants()? > 0 {
                return Ok("exists".to_owned());
            }
            session.insert_merchant(&MerchantRecord {
                id: DEMO_MERCHANT_ID.to_owned(),
                name: "Demo Merchant".to_owned(),
                created_at_ms: now_ms,
            })?;
            for (secret, role, owner) in
                [(DEMO_MAKER_KEY, Role::Maker, "demo-maker"), (DEMO_APPROVER_KEY, Role::Approver, "demo-approver")]
            {
                session.insert_api_key(&ApiKeyRecord {
                    id: ids.next_id("key"),
                    merchant_id: DEMO_MERCHANT_ID.to_owned(),
                    merchant_name: "Demo Merchant".to_owned(),
                    mode: Mode::Test,
                    role,
                    owner: owner.to_owned(),
                    owner_skeleton: crate::engine::identity::owner_skeleton(owner),
                    key_sha256_hex: sha256_hex(secret),
                    key_last4: last4(secret),
                    created_at_ms: now_ms,
                    revoked_at_ms: None,
                    expires_at_ms: None,
                    created_by_key_id: None,
                    accountable_owner: None,
                })?;
            }
            Ok("created".to_owned())
        }
        AdminCommand::CreateKey(new_key) => {
            let owner = crate::engine::identity::normalize_owner_name(&new_key.owner)
                .map_err(|error| AppError::invalid("owner", error.to_string()))?;
            let merchant_id = match (&new_key.merchant_id, &new_key.new_merchant_name) {
                (Some(merchant_id), _) => {
                    if !session.merchant_exists(merchant_id)? {
                        return Err(AppError::invalid("merchant", format!("no merchant {merchant_id:?}")));
                    }
                    merchant_id.clone()
                }
                (None, Some(name)) => {
                    let merchant_id = ids.next_id("mch");
                    session.insert_merchant(&MerchantRecord {
                        id: merchant_id.clone(),
                        name: name.clone(),
                        created_at_ms: now_ms,
                    })?;
                    merchant_id
                }
                (None, None) => return Err(AppError::invalid("merchant", "name a merchant or a new merchant")),
            };
            // The operator is bounded by the cap only, not by the rate of keys made through tools.
            check_active_key_cap(session.count_active_api_keys(&merchant_id, now_ms)?)?;
            let expires_at_ms = expires_at_ms(&new_key.expiry, now_ms)?;
            let key_id = ids.next_id("key");
            session.insert_api_key(&ApiKeyRecord {
                id: key_id.clone(),
                merchant_id: merchant_id.clone(),
                merchant_name: String::new(),
                mode: new_key.mode,
                role: new_key.role,
                owner_skeleton: crate::engine::identity::owner_skeleton(&owner),
                owner: owner.clone(),
                key_sha256_hex: new_key.key_sha256_hex,
                key_last4: new_key.key_last4.clone(),
                created_at_ms: now_ms,
                revoked_at_ms: None,
                expires_at_ms,
                created_by_key_id: None,
                accountable_owner: None,
            })?;
            for (asset, limit) in &new_key.spend_limits {
                session.set_spend_limit(&key_id, asset, *limit)?;
            }
            let scope = Scope { merchant_id: merchant_id.clone(), mode: new_key.mode };
            let detail = format!(
                "created {} key {key_id} (…{}) for {}{}{}",
                new_key.role.code(),
                new_key.key_last4,
                owner,
                if new_key.spend_limits.is_empty() { "" } else { " with spend limits" },
                expires_at_ms.map(|at| format!(", expiring at {at} ms")).unwrap_or_default()
            );
            session.append_audit(&operator_audit(ids, scope, "keys.create", &key_id, detail, now_ms))?;
            Ok(format!("{key_id} {merchant_id}"))
        }
        AdminCommand::RevokeKey { key_id } => {
            if session.revoke_api_key(&key_id, now_ms)? {
                let revoked = session.list_api_keys()?.into_iter().find(|key| key.id == key_id);
                if let Some(key) = revoked {
                    let scope = Scope { merchant_id: key.merchant_id.clone(), mode: key.mode };
                    let detail =
                        format!("revoked {} key {key_id} (…{}) of {}", key.role.code(), key.key_last4, key.owner);
                    session.append_audit(&operator_audit(ids, scope, "keys.revoke", &key_id, detail, now_ms))?;
                }
                Ok(format!("revoked {key_id}"))
            } else {
                Err(AppError::invalid("key_id", format!("no active key {key_id:?}")))
            }
        }
    }
}

/// The moment a new key expires, or why the requested expiry cannot be: named after the argument
/// the caller gave.
fn expires_at_ms(expiry: &KeyExpiry, now_ms: i64) -> Result<Option<i64>, AppError> {
    let param = match expiry {
        KeyExpiry::At { .. } => "expires_at",
        KeyExpiry::Never | KeyExpiry::After { .. } => "expires_in",
    };
    Ok(expiry.expires_at_ms(now_ms, param)?)
}

/// A key an admin key asks for through a tool, in its own merchant and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolKeyRequest {
    pub role: Role,
    /// Already normalized (`identity::normalize_owner_name`).
    pub owner: String,
    pub expiry: KeyExpiry,
}

/// Creates a key asked for through a tool by `creator`: in the creator's merchant and mode,
/// within the active-key cap and the creation rate (both read from the database in this write,
/// so they hold across restarts and processes), answering to the creator's owner for
/// maker-checker and spend limits. Returns the stored key and its secret, which exists nowhere
/// else.
pub(crate) fn create_key_for_tool(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    creator: &Principal,
    request: &ToolKeyRequest,
) -> Result<(ApiKeyRecord, String), AppError> {
    let now_ms = context.now_ms;
    let merchant_id = &creator.scope.merchant_id;
    let (lookback_ms, most) = creation_rate_lookback();
    let recent = session.api_key_creations_by_tools_since(merchant_id, now_ms - lookback_ms, most)?;
    check_creation_rate(now_ms, &recent)?;
    check_active_key_cap(session.count_active_api_keys(merchant_id, now_ms)?)?;
    let expires_at_ms = expires_at_ms(&request.expiry, now_ms)?;
    let creator_record = session
        .get_api_key(&creator.key_id)?
        .ok_or_else(|| AppError::Internal { detail: format!("the creating key {} is not stored", creator.key_id) })?;
    let accountable_owner = creator_record.accountable_owner.unwrap_or(creator_record.owner);
    let secret = generate_secret_key(creator.scope.mode);
    let record = ApiKeyRecord {
        id: context.ids.next_id("key"),
        merchant_id: merchant_id.clone(),
        merchant_name: creator.merchant_name.clone(),
        mode: creator.scope.mode,
        role: request.role,
        owner: request.owner.clone(),
        owner_skeleton: creator.owner_skeleton.clone(),
        key_sha256_hex: sha256_hex(&secret),
        key_last4: last4(&secret),
        created_at_ms: now_ms,
        revoked_at_ms: None,
        expires_at_ms,
        created_by_key_id: Some(creator.key_id.clone()),
        accountable_owner: Some(accountable_owner),
    };
    session.insert_api_key(&record)?;
    Ok((record, secret))
}

/// Revokes a key of `actor`'s merchant and mode; another scope's key is `not_found`, like one
/// that does not exist.
pub(crate) fn revoke_key_in_scope(
    session: &mut dyn StoreWrite,
    now_ms: i64,
    actor: &Principal,
    key_id: &str,
) -> Result<ApiKeyRecord, AppError> {
    let not_found = || crate::engine::error::EngineError::NotFound { object: "API key", id: key_id.to_owned() };
    let key = session
        .get_api_key(key_id)?
        .filter(|key| key.merchant_id == actor.scope.merchant_id && key.mode == actor.scope.mode);
    let Some(mut key) = key else { return Err(not_found().into()) };
    if key.revoked_at_ms.is_some() {
        return Err(crate::engine::error::EngineError::InvalidState {
            object: "API key",
            id: key.id,
            status: "revoked",
            action: "revoking",
        }
        .into());
    }
    session.revoke_api_key(key_id, now_ms)?;
    key.revoked_at_ms = Some(now_ms);
    Ok(key)
}
