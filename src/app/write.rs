//! The one path every operation's write takes inside the writer's transaction: replay or refuse
//! a used idempotency key, run the command's load → decide → save in its own savepoint, undo it
//! again for a preview (measuring the balances it would change), keep the idempotency record,
//! and write the audit record — of every attempt, refused ones included. An executed command's
//! audit record is written in its savepoint, with the rest of what it saved.
//!
//! A command is typed (`WriteCommand`): its result travels back to the caller as the view it
//! built, and JSON is made here only for what is stored (the replay snapshot and events).

use serde::Serialize;

use crate::app::error::AppError;
use crate::app::writer::WriteContext;
use crate::engine::ledger::{AccountKind, Balances};
use crate::engine::money::AssetRef;
use crate::engine::permission::Action;
use crate::engine::principal::{Principal, Scope};
use crate::store::{AuditRecord, EventRecord, IdempotencyRecord, StoreError, StoreWrite};

/// One operation's load → decide → save, run by the writer inside its savepoint.
pub trait WriteCommand: Send + Sync + 'static {
    /// What the caller gets back: the object as saved (or as it would be, for a preview).
    type View: Serialize + Send + 'static;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<Self::View>, AppError>;
}

/// What a command changed.
pub struct Applied<V> {
    pub view: V,
    /// The view as stored for replays (and, where the command already made it for an event,
    /// the same text): made once.
    pub view_json: String,
    /// The object the audit record names.
    pub object_id: String,
    /// The assets whose balances a preview reports.
    pub touched_assets: Vec<AssetRef>,
    /// What a checker reading the audit log should notice (e.g. a payout held as structuring).
    pub audit_note: Option<String>,
}

impl<V: Serialize> Applied<V> {
    pub fn new(view: V, object_id: &str, touched_assets: Vec<AssetRef>) -> Applied<V> {
        let view_json = serde_json::to_string(&view).expect("views serialize");
        Applied { view, view_json, object_id: object_id.to_owned(), touched_assets, audit_note: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyInput {
    pub key: String,
    /// SHA-256 of the operation name and its canonical arguments (without `confirm` and the key).
    pub request_sha256_hex: String,
}

/// A write asked for by an authenticated key, through any face.
pub struct ToolWrite<C> {
    pub actor: Principal,
    /// The operation's name, as the audit log and idempotency records name it.
    pub operation: &'static str,
    /// The permission it needs (`permission::role_may`).
    pub action: Action,
    /// Without `confirm` nothing is saved but the audit record: the caller gets a preview.
    pub confirm: bool,
    pub idempotency: Option<IdempotencyInput>,
    /// The audit log's line for the request, made before it reaches the writer.
    pub description: String,
    pub command: C,
}

/// A balance before and after a command, for previews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceChange {
    pub asset: AssetRef,
    pub account: AccountKind,
    pub before_minor: i64,
    pub after_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `confirm` was false: what would have happened, then undone.
    Preview,
    Executed,
    /// The idempotency key was used before with the same request: the first result, again.
    Replayed,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Preview => "preview",
            Outcome::Executed => "executed",
            Outcome::Replayed => "replayed",
        }
    }
}

/// What a write answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome<V> {
    Preview {
        view: V,
        balance_changes: Vec<BalanceChange>,
    },
    Executed {
        view: V,
    },
    /// The stored snapshot of the first result, passed on as it is.
    Replayed {
        stored_json: String,
    },
}

impl<V> WriteOutcome<V> {
    pub fn outcome(&self) -> Outcome {
        match self {
            WriteOutcome::Preview { .. } => Outcome::Preview,
            WriteOutcome::Executed { .. } => Outcome::Executed,
            WriteOutcome::Replayed { .. } => Outcome::Replayed,
        }
    }
}

enum Decided<V> {
    Replay(IdempotencyRecord),
    Applied(Applied<V>),
}

pub(crate) fn apply_tool_write<C: WriteCommand>(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    write: ToolWrite<C>,
) -> Result<WriteOutcome<C::View>, AppError> {
    let scope = write.actor.scope.clone();
    // A confirmed command is kept with its idempotency record, or undone whole when refused; a
    // preview is applied, measured and undone.
    let decided = if write.confirm {
        // On PostgreSQL another server may hold what the command needs (a deadlock broken by the
        // database, a lock wait past its timeout): the savepoint undid the attempt and released
        // its locks, so it is tried again, a bounded number of times.
        let mut retries_left = crate::limits::CONTENTION_RETRIES_MAX;
        loop {
            let attempt = session.in_savepoint(|tx| {
                let decided = decide_and_save(tx, context, &write)?;
                if let Decided::Applied(applied) = &decided {
                    // The audit record first: a backend that sends writes ahead sends it with the
                    // idempotency record's insert, whose answer is awaited.
                    let entry = audit_entry(
                        &write,
                        Outcome::Executed,
                        Some(applied.object_id.clone()),
                        applied.audit_note.as_deref(),
                    );
                    tx.append_audit(&entry.into_record(context))?;
                    if let Some(idempotency) = &write.idempotency {
                        insert_idempotency_record(tx, context, &write, idempotency, applied)?;
                    }
                }
                Ok((decided, None))
            });
            match attempt {
                Err(AppError::DatabaseBusy { detail }) if retries_left > 0 => {
                    retries_left -= 1;
                    tracing::debug!(%detail, retries_left, operation = write.operation, "write met contention; trying again");
                }
                other => break other,
            }
        }
    } else {
        session.in_savepoint_always_undone(|tx| {
            let decided = decide_and_save(tx, context, &write)?;
            let after = match &decided {
                Decided::Applied(applied) => Some(tx.balances(&scope, &applied.touched_assets)?),
                Decided::Replay(_) => None,
            };
            Ok((decided, after))
        })
    };
    let decided = match decided {
        Err(error @ AppError::IdempotencyKeyInUse { .. }) => after_idempotency_conflict(session, &write, error),
        other => other,
    };
    let (outcome, audit_entry) = match decided {
        Ok((Decided::Replay(record), _)) => {
            let entry = audit_entry(&write, Outcome::Replayed, record.object_id, None);
            (Ok(WriteOutcome::Replayed { stored_json: record.response_json }), Some(entry))
        }
        Ok((Decided::Applied(applied), Some(after))) => {
            let entry = audit_entry(&write, Outcome::Preview, None, applied.audit_note.as_deref());
            let before = session.balances(&scope, &applied.touched_assets)?;
            let balance_changes = balance_changes(&applied.touched_assets, &before, &after);
            (Ok(WriteOutcome::Preview { view: applied.view, balance_changes }), Some(entry))
        }
        // Its audit record was written in its savepoint.
        Ok((Decided::Applied(applied), None)) => (Ok(WriteOutcome::Executed { view: applied.view }), None),
        Err(error) => {
            let record = AuditEntry::refused(&write.actor, write.operation, &error)
                .idempotency_key(write.idempotency.as_ref().map(|i| i.key.as_str()));
            session.append_audit(&record.into_record(context))?;
            return Err(error);
        }
    };
    if let Some(entry) = audit_entry {
        session.append_audit(&entry.into_record(context))?;
    }
    outcome
}

/// The audit record of a write that was not refused.
fn audit_entry<C>(
    write: &ToolWrite<C>,
    outcome: Outcome,
    object_id: Option<String>,
    audit_note: Option<&str>,
) -> AuditEntry {
    let detail = match audit_note {
        Some(note) => format!("{}; {note}", write.description),
        None => write.description.clone(),
    };
    let mut entry = AuditEntry::new(&write.actor, write.operation, outcome.audit_code(), detail);
    entry.object_id = object_id;
    entry.idempotency_key = write.idempotency.as_ref().map(|i| i.key.clone());
    entry
}

/// Saves what an idempotency key produced. A key stored meanwhile by another writer (a unique
/// conflict) is `IdempotencyKeyInUse`, so that the command is undone and answered by
/// `after_idempotency_conflict`, never as an internal error.
fn insert_idempotency_record<C: WriteCommand>(
    session: &mut dyn StoreWrite,
    context: &WriteContext<'_>,
    write: &ToolWrite<C>,
    idempotency: &IdempotencyInput,
    applied: &Applied<C::View>,
) -> Result<(), AppError> {
    let record = IdempotencyRecord {
        scope: write.actor.scope.clone(),
        key: idempotency.key.clone(),
        operation: write.operation.to_owned(),
        request_sha256_hex: idempotency.request_sha256_hex.clone(),
        object_id: Some(applied.object_id.clone()),
        response_json: applied.view_json.clone(),
        created_at_ms: context.now_ms,
    };
    match session.insert_idempotency(&record) {
        Err(StoreError::Conflict { .. }) => Err(AppError::IdempotencyKeyInUse { key: idempotency.key.clone() }),
        other => other.map_err(AppError::from),
    }
}

/// The key was stored by another writer after this command looked it up (a backend shared by
/// several instances; SQLite's single writer rules it out), and the command was undone. The
/// caller gets what a retry would: the first result when that record is visible and was the same
/// request, `idempotency_key_reused` when it was another, `idempotency_key_in_use` until it is
/// visible.
fn after_idempotency_conflict<C: WriteCommand>(
    session: &dyn StoreWrite,
    write: &ToolWrite<C>,
    in_use: AppError,
) -> Result<(Decided<C::View>, Option<Balances>), AppError> {
    let Some(idempotency) = &write.idempotency else { return Err(in_use) };
    match session.get_idempotency(&write.actor.scope, &idempotency.key)? {
        Some(record)
            if record.operation == write.operation && record.request_sha256_hex == idempotency.request_sha256_hex =>
        {
            Ok((Decided::Replay(record), None))
        }
        Some(record) => {
            Err(AppError::IdempotencyKeyReused { key: idempotency.key.clone(), first_operation: record.operation })
        }
        None => Err(in_use),
    }
}

impl Outcome {
    fn audit_code(self) -> &'static str {
        match self {
            Outcome::Preview => "previewed",
            Outcome::Executed => "executed",
            Outcome::Replayed => "replayed",
        }
    }
}

fn decide_and_save<C: WriteCommand>(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    write: &ToolWrite<C>,
) -> Result<Decided<C::View>, AppError> {
    if write.confirm
        && let Some(idempotency) = &write.idempotency
        && let Some(record) = session.get_idempotency(&write.actor.scope, &idempotency.key)?
    {
        if record.operation == write.operation && record.request_sha256_hex == idempotency.request_sha256_hex {
            return Ok(Decided::Replay(record));
        }
        return Err(AppError::IdempotencyKeyReused { key: idempotency.key.clone(), first_operation: record.operation });
    }
    Ok(Decided::Applied(write.command.apply(&write.actor, session, context)?))
}

fn balance_changes(assets: &[AssetRef], before: &Balances, after: &Balances) -> Vec<BalanceChange> {
    let mut changes = Vec::new();
    for asset in assets {
        for account in [AccountKind::Available, AccountKind::Pending, AccountKind::Reserved, AccountKind::Owed] {
            let (before_minor, after_minor) = (before.get(account, asset), after.get(account, asset));
            if before_minor != after_minor {
                changes.push(BalanceChange { asset, account, before_minor, after_minor });
            }
        }
    }
    changes
}

/// An object whose state changes are events: its view is the event's payload.
pub trait EventSubject {
    fn scope(&self) -> &Scope;
    fn id(&self) -> &str;
    fn payload_json(&self) -> String;
}

/// Appends an event about `subject`, in the command's transaction (the outbox).
pub(crate) fn emit(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    subject: &dyn EventSubject,
    event_type: &str,
) -> Result<(), AppError> {
    emit_json(session, context, subject.scope(), event_type, subject.id(), subject.payload_json())
}

/// Appends an event whose payload is already JSON (one serialization shared with the result).
pub(crate) fn emit_json(
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
    scope: &Scope,
    event_type: &str,
    object_id: &str,
    payload_json: String,
) -> Result<(), AppError> {
    session.append_event(&EventRecord {
        id: context.ids.next_id("evt"),
        scope: scope.clone(),
        event_type: event_type.to_owned(),
        object_id: object_id.to_owned(),
        payload_json,
        created_at_ms: context.now_ms,
    })?;
    Ok(())
}

/// Who the audit log names for decisions harepay makes itself (expiries, rail outcomes).
pub const SYSTEM_ACTOR: &str = "harepay";

/// An audit record before it has its id and time. Every record passes through `into_record`,
/// which bounds what it keeps.
pub(crate) struct AuditEntry {
    pub scope: Scope,
    pub key_id: String,
    pub actor_owner: String,
    pub operation: String,
    pub outcome: &'static str,
    pub error_type: Option<String>,
    pub object_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub detail: String,
    pub request_id: Option<String>,
}

impl AuditEntry {
    pub fn new(actor: &Principal, operation: &str, outcome: &'static str, detail: String) -> AuditEntry {
        AuditEntry {
            scope: actor.scope.clone(),
            key_id: actor.key_id.clone(),
            actor_owner: actor.owner.clone(),
            operation: operation.to_owned(),
            outcome,
            error_type: None,
            object_id: None,
            idempotency_key: None,
            detail,
            request_id: actor.request_id.clone(),
        }
    }

    pub fn refused(actor: &Principal, operation: &str, error: &AppError) -> AuditEntry {
        let mut entry = AuditEntry::new(actor, operation, "refused", error.to_string());
        entry.error_type = Some(error.code().to_owned());
        entry
    }

    /// A decision harepay made itself (an expiry, a rail outcome), about `object_id`.
    pub fn system(
        scope: &Scope,
        operation: &str,
        object_id: &str,
        outcome: &'static str,
        detail: String,
    ) -> AuditEntry {
        AuditEntry {
            scope: scope.clone(),
            key_id: "system".to_owned(),
            actor_owner: SYSTEM_ACTOR.to_owned(),
            operation: operation.to_owned(),
            outcome,
            error_type: None,
            object_id: Some(object_id.to_owned()),
            idempotency_key: None,
            detail,
            request_id: None,
        }
    }

    pub fn idempotency_key(mut self, key: Option<&str>) -> AuditEntry {
        self.idempotency_key = key.map(str::to_owned);
        self
    }

    pub fn into_record(self, context: &mut WriteContext<'_>) -> AuditRecord {
        AuditRecord {
            id: context.ids.next_id("aud"),
            scope: self.scope,
            key_id: self.key_id,
            actor_owner: self.actor_owner,
            tool: self.operation,
            outcome: self.outcome.to_owned(),
            error_type: self.error_type,
            object_id: self.object_id,
            idempotency_key: self.idempotency_key.map(|key| audit_idempotency_key(&key)),
            detail: crate::limits::truncate_chars(&self.detail, crate::limits::AUDIT_DETAIL_MAX_CHARS),
            created_at_ms: context.now_ms,
            request_id: self.request_id,
        }
    }
}

/// What the audit log keeps of an idempotency key: the key itself when it is within its limit;
/// otherwise (a refused call) a short prefix and the SHA-256 of the whole key, enough to match it
/// against a client's logs without storing megabytes.
fn audit_idempotency_key(key: &str) -> String {
    use crate::limits::{AUDIT_KEY_PREFIX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS};
    if key.len() <= IDEMPOTENCY_KEY_MAX_CHARS || key.chars().count() <= IDEMPOTENCY_KEY_MAX_CHARS {
        return key.to_owned();
    }
    let prefix: String = key.chars().take(AUDIT_KEY_PREFIX_CHARS).collect();
    format!("{prefix}… sha256:{}", crate::app::keys::sha256_hex(key))
}
