//! `list_events`: the outbox, newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{EventFilter, EventRecord};

pub const ENTRY: Entry = Entry::read::<ListEvents>();

pub struct ListEvents;

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

fn event_view(event: &EventRecord) -> Result<EventView, Failure> {
    let data = serde_json::from_str(&event.payload_json).map_err(|error| {
        Failure::new("internal_error", format!("event {} payload unreadable: {error}", event.id), None)
    })?;
    Ok(EventView {
        id: event.id.clone(),
        event_type: event.event_type.clone(),
        object_id: event.object_id.clone(),
        data,
        created_at_ms: event.created_at_ms,
    })
}

impl ReadOperation for ListEvents {
    const SPEC: Spec = Spec {
        name: "list_events",
        toolset: Toolset::Audit,
        title: "List events",
        description: "Events, newest first: every state change, with the object as it was. Types: payment_intent.created, .partially_paid, .processing, .succeeded, .overpaid, .payment_failed, .canceled, .expired; charge.refunded; charge.dispute.created, .updated, .closed; customer.created, .updated, .deleted, .prepaid_topped_up; customer.subscription.created, .updated, .deleted; usage.reported; product.created; price.created; invoice.created, .finalized, .partial_payment, .paid, .overpaid, .overpayment_credited, .receipts_credited, .auto_charge_failed, .voided, .expired; payout.created, .pending_approval, .approved, .rejected, .expired, .canceled, .processing, .paid, .failed; webhook_endpoint.created, .updated, .deleted, .disabled; scheduler.step_parked (a step harepay runs itself failed on every try). Webhook endpoints receive these as signed POSTs.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"type": "payment_intent.succeeded", "object_id": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "limit": 10}"#],
    };
    type Args = ListEventsArgs;
    type Output = ListResult<EventView>;

    fn validate(args: &ListEventsArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: ListEventsArgs) -> Result<ListResult<EventView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = EventFilter { event_type: args.event_type, object_id: args.object_id };
        let scope = principal.scope.clone();
        let events = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| store.event_exists(&scope, cursor))?;
                Ok(store.list_events(&scope, &filter, &page)?)
            })
            .await?;
        let data = events.items.iter().map(event_view).collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult::new(data, events.has_more, |event: &EventView| event.id.clone()))
    }
}
