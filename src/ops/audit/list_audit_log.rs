//! `list_audit_log`: every write attempt, newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::AuditRecord;

pub const ENTRY: Entry = Entry::read::<ListAuditLog>();

pub struct ListAuditLog;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAuditLogArgs {
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntryView {
    /// Audit record id, `aud_…`.
    pub id: String,
    /// The API key that made the attempt.
    pub key_id: String,
    /// The key's owner.
    pub actor: String,
    pub tool: String,
    /// executed, previewed, replayed or refused; parked for a step harepay runs by itself
    /// that failed on every try.
    pub outcome: String,
    /// For refusals: the error type returned.
    pub error_type: Option<String>,
    pub object_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// What was asked, or why it was refused.
    pub detail: String,
    pub created_at_ms: i64,
    /// The HTTP request it came in (`X-Request-Id`), to find in the server's log; null on stdio.
    pub request_id: Option<String>,
}

fn audit_view(record: &AuditRecord) -> AuditEntryView {
    AuditEntryView {
        id: record.id.clone(),
        key_id: record.key_id.clone(),
        actor: record.actor_owner.clone(),
        tool: record.tool.clone(),
        outcome: record.outcome.clone(),
        error_type: record.error_type.clone(),
        object_id: record.object_id.clone(),
        idempotency_key: record.idempotency_key.clone(),
        detail: record.detail.clone(),
        created_at_ms: record.created_at_ms,
        request_id: record.request_id.clone(),
    }
}

impl ReadOperation for ListAuditLog {
    const SPEC: Spec = Spec {
        name: "list_audit_log",
        toolset: Toolset::Audit,
        title: "List audit log",
        description: "The audit log, newest first: every write attempt by this merchant's keys in this mode (executed, previewed, replayed or refused; who and why) and harepay's own decisions (approval expiries, rail failures, parked steps; actor \"harepay\").",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"limit": 10, "starting_after": "aud_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListAuditLogArgs;
    type Output = ListResult<AuditEntryView>;

    fn validate(args: &ListAuditLogArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListAuditLogArgs,
    ) -> Result<ListResult<AuditEntryView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let scope = principal.scope.clone();
        let records = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| store.audit_exists(&scope, cursor))?;
                Ok(store.list_audit(&scope, &page)?)
            })
            .await?;
        let data = records.items.iter().map(audit_view).collect();
        Ok(ListResult::new(data, records.has_more, |entry: &AuditEntryView| entry.id.clone()))
    }
}
