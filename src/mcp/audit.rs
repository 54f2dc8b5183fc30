//! Toolset `audit`: the event outbox and the audit log.

use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};

use crate::engine::principal::Principal;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits;
use crate::mcp::HarepayServer;
use crate::mcp::common::{ListResult, PageLimit, ToolFailure, page_request};
use crate::store::{AuditRecord, EventFilter, EventRecord};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEventsArgs {
    /// Only events of this type, e.g. "payment_intent.succeeded".
    #[serde(default, rename = "type")]
    #[schemars(length(max = limits::EVENT_TYPE_MAX_CHARS))]
    pub event_type: Option<String>,
    /// Only events about this object, e.g. a `pi_…` id.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub object_id: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventView {
    /// Event id, `evt_…`.
    pub id: String,
    /// e.g. payment_intent.created, payment_intent.succeeded, charge.refunded.
    #[serde(rename = "type")]
    pub event_type: String,
    pub object_id: String,
    /// The object as it was when the event happened.
    pub data: serde_json::Map<String, serde_json::Value>,
    pub created_at_ms: i64,
}

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
}

fn event_view(event: &EventRecord) -> Result<EventView, ToolFailure> {
    let data = serde_json::from_str(&event.payload_json).map_err(|error| {
        ToolFailure::new("internal_error", format!("event {} payload unreadable: {error}", event.id), None)
    })?;
    Ok(EventView {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        object_id: event.object_id.clone(),
        data,
        created_at_ms: event.created_at_ms,
    })
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
    }
}

#[tool_router(router = audit_tools, vis = "pub(crate)")]
impl HarepayServer {
    /// Events, newest first: every state change, with the object as it was. Types:
    /// payment_intent.created, .processing, .succeeded, .payment_failed, .canceled;
    /// charge.refunded; payout.created, .pending_approval, .approved, .rejected, .expired,
    /// .canceled, .processing, .paid, .failed; scheduler.step_parked (a step harepay runs itself
    /// failed on every try). Nothing is pushed yet (no webhooks): poll this.
    #[tool(
        title = "List events",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_events(
        &self,
        Parameters(args): Parameters<ListEventsArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<ListResult<EventView>>, ToolFailure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = EventFilter { event_type: args.event_type, object_id: args.object_id };
        let events = self.app().list_events(&principal, filter, page).await?;
        let data = events.items.iter().map(event_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Json(ListResult::new(data, events.has_more, |event: &EventView| event.id.clone())))
    }

    /// The audit log, newest first: every write attempt by this merchant's keys in this mode
    /// (executed, previewed, replayed or refused; who and why) and harepay's own decisions
    /// (approval expiries, rail failures, parked steps; actor "harepay").
    #[tool(
        title = "List audit log",
        annotations(read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_audit_log(
        &self,
        Parameters(args): Parameters<ListAuditLogArgs>,
        Extension(principal): Extension<Principal>,
    ) -> Result<Json<ListResult<AuditEntryView>>, ToolFailure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let records = self.app().list_audit(&principal, page).await?;
        let data = records.items.iter().map(audit_view).collect();
        Ok(Json(ListResult::new(data, records.has_more, |entry: &AuditEntryView| entry.id.clone())))
    }
}
