//! The event outbox.

use rusqlite::{Row, params};

use crate::engine::principal::Scope;
use crate::store::sqlite::rows::into_page;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{EventFilter, EventRecord, EventsRead, EventsWrite, Page, PageRequest, StoreResult};

/// Events are always read within one scope, so the scope comes from the query.
fn event_from_row(row: &Row<'_>, scope: &Scope) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: row.get(0)?,
        scope: scope.clone(),
        event_type: row.get(1)?,
        object_id: row.get(2)?,
        payload_json: row.get(3)?,
        created_at_ms: row.get(4)?,
    })
}

impl<T: HasConnection> EventsRead for T {
    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3)")?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], |row| row.get(0))?)
    }

    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT id, type, object_id, payload_json, created_at_ms FROM events \
             WHERE merchant_id = ?1 AND mode = ?2 AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR object_id = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM events WHERE id = ?5)) ORDER BY seq DESC LIMIT ?6",
        )?;
        let rows = statement.query_map(
            params![
                scope.merchant_id,
                scope.mode.code(),
                filter.event_type,
                filter.object_id,
                page.starting_after,
                i64::from(page.limit) + 1
            ],
            |row| event_from_row(row, scope),
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }
}

impl EventsWrite for SqliteWrite<'_> {
    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO events (id, merchant_id, mode, type, object_id, payload_json, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.id,
                record.scope.merchant_id,
                record.scope.mode.code(),
                record.event_type,
                record.object_id,
                record.payload_json,
                record.created_at_ms
            ])?;
        Ok(())
    }
}
