//! The event outbox.
//!
//! Across processes: appends only. Each event records its writing transaction (`xid`, by the
//! column's default), which the webhook fan-out uses so that an event with a smaller `seq` that
//! commits later is never skipped past.

use postgres::Row;

use crate::engine::principal::Scope;
use crate::store::postgres::rows::{get, into_page};
use crate::store::postgres::session::PgSession;
use crate::store::{EventFilter, EventRecord, EventsRead, EventsWrite, Page, PageRequest, StoreResult};

/// Events are always read within one scope, so the scope comes from the query.
fn event_from_row(row: &Row, scope: &Scope) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: get(row, "id")?,
        scope: scope.clone(),
        event_type: get(row, "type")?,
        object_id: get(row, "object_id")?,
        payload_json: get(row, "payload_json")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

impl EventsRead for PgSession<'_> {
    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM events WHERE merchant_id = $1 AND mode = $2 AND id = $3) AS found",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        get(&row, "found")
    }

    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>> {
        let rows = self.db().query(
            "SELECT id, type, object_id, payload_json, created_at_ms FROM events \
             WHERE merchant_id = $1 AND mode = $2 AND ($3::text IS NULL OR type = $3::text) \
             AND ($4::text IS NULL OR object_id = $4::text) \
             AND ($5::text IS NULL OR seq < (SELECT seq FROM events WHERE id = $5::text)) ORDER BY seq DESC LIMIT $6",
            &[
                &scope.merchant_id,
                &scope.mode.code(),
                &filter.event_type,
                &filter.object_id,
                &page.starting_after,
                &(i64::from(page.limit) + 1),
            ],
        )?;
        let events = rows.iter().map(|row| event_from_row(row, scope)).collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(events, page.limit))
    }
}

impl EventsWrite for PgSession<'_> {
    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()> {
        self.insert_ahead(
            "INSERT INTO events (id, merchant_id, mode, type, object_id, payload_json, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &record.id,
                &record.scope.merchant_id,
                &record.scope.mode.code(),
                &record.event_type,
                &record.object_id,
                &record.payload_json,
                &record.created_at_ms,
            ],
            "events",
        )
    }
}
