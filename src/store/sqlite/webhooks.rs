//! Webhook endpoints, deliveries, attempts and the fan-out cursor (migration 14).

use rusqlite::{OptionalExtension, Row, params};

use crate::engine::principal::{Mode, Scope};
use crate::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{
    DueWebhookDelivery, FanoutEvent, Page, PageRequest, StoreResult, WebhookAttemptRecord, WebhookDeliveryFilter,
    WebhookDeliveryRecord, WebhooksRead, WebhooksWrite,
};

const ENDPOINT_COLUMNS: &str = "id, merchant_id, mode, url, event_types, secret_sealed, status, disabled_reason, \
     consecutive_failures, after_event_seq, created_at_ms, updated_at_ms";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, merchant_id, mode, event_id, status, attempts, next_attempt_at_ms, \
     last_status_code, last_error, created_at_ms, updated_at_ms";

fn scope_from_row(row: &Row<'_>) -> rusqlite::Result<Scope> {
    let mode: String = row.get("mode")?;
    Ok(Scope { merchant_id: row.get("merchant_id")?, mode: parsed(Mode::parse(&mode), "mode", &mode)? })
}

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    let status: String = row.get("status")?;
    let event_types: String = row.get("event_types")?;
    Ok(WebhookEndpoint {
        id: row.get("id")?,
        scope: scope_from_row(row)?,
        url: row.get("url")?,
        events: EventSelection::from_stored_text(&event_types),
        secret_sealed: row.get("secret_sealed")?,
        status: parsed(EndpointStatus::parse(&status), "webhook endpoint status", &status)?,
        disabled_reason: row.get("disabled_reason")?,
        consecutive_failures: row.get("consecutive_failures")?,
        after_event_seq: row.get("after_event_seq")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookDeliveryRecord> {
    Ok(WebhookDeliveryRecord {
        id: row.get("id")?,
        endpoint_id: row.get("endpoint_id")?,
        scope: scope_from_row(row)?,
        event_id: row.get("event_id")?,
        status: row.get("status")?,
        attempts: row.get("attempts")?,
        next_attempt_at_ms: row.get("next_attempt_at_ms")?,
        last_status_code: row.get("last_status_code")?,
        last_error: row.get("last_error")?,
        created_at_ms: row.get("created_at_ms")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

impl<T: HasConnection> WebhooksRead for T {
    fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3"
        );
        Ok(self
            .connection()
            .prepare_cached(&sql)?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], endpoint_from_row)
            .optional()?)
    }

    fn list_webhook_endpoints(&self, scope: &Scope) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = ?1 AND mode = ?2 \
             AND status <> 'deleted' ORDER BY created_at_ms DESC, id DESC"
        );
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map(params![scope.merchant_id, scope.mode.code()], endpoint_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn webhook_delivery_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3)",
            )?
            .query_row(params![scope.merchant_id, scope.mode.code(), id], |row| row.get(0))?)
    }

    fn list_webhook_deliveries(
        &self,
        scope: &Scope,
        filter: &WebhookDeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookDeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE merchant_id = ?1 AND mode = ?2 \
             AND (?3 IS NULL OR event_id = ?3) AND (?4 IS NULL OR endpoint_id = ?4) \
             AND (?5 IS NULL OR seq < (SELECT seq FROM webhook_deliveries WHERE id = ?5)) ORDER BY seq DESC LIMIT ?6"
        );
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![
                scope.merchant_id,
                scope.mode.code(),
                filter.event_id,
                filter.endpoint_id,
                page.starting_after,
                i64::from(page.limit) + 1
            ],
            delivery_from_row,
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }

    fn list_webhook_attempts(&self, delivery_id: &str, limit: u32) -> StoreResult<Vec<WebhookAttemptRecord>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT delivery_id, attempt, started_at_ms, duration_ms, status_code, error, response_excerpt \
             FROM webhook_delivery_attempts WHERE delivery_id = ?1 ORDER BY attempt DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![delivery_id, limit], |row| {
            Ok(WebhookAttemptRecord {
                delivery_id: row.get(0)?,
                attempt: row.get(1)?,
                started_at_ms: row.get(2)?,
                duration_ms: row.get(3)?,
                status_code: row.get(4)?,
                error: row.get(5)?,
                response_excerpt: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueWebhookDelivery>> {
        let mut statement = self.connection().prepare_cached(
            "WITH due AS ( \
               SELECT d.seq, d.id, d.endpoint_id, d.merchant_id, d.mode, d.event_id, d.attempts, \
                      ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.seq) AS endpoint_rank \
               FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at_ms <= ?1 AND e.status = 'enabled'), \
             firsts AS ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY merchant_id, mode ORDER BY seq) AS merchant_rank \
               FROM due WHERE endpoint_rank = 1) \
             SELECT f.id, f.endpoint_id, f.merchant_id, f.mode, e.url, e.secret_sealed, f.event_id, ev.type, \
                    ev.payload_json, f.attempts \
             FROM firsts f JOIN webhook_endpoints e ON e.id = f.endpoint_id JOIN events ev ON ev.id = f.event_id \
             ORDER BY f.merchant_rank, f.seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now_ms, limit], |row| {
            Ok(DueWebhookDelivery {
                delivery_id: row.get("id")?,
                endpoint_id: row.get("endpoint_id")?,
                scope: scope_from_row(row)?,
                url: row.get("url")?,
                secret_sealed: row.get("secret_sealed")?,
                event_id: row.get("event_id")?,
                event_type: row.get("type")?,
                payload_json: row.get("payload_json")?,
                attempts: row.get("attempts")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn newest_event_seq(&self) -> StoreResult<i64> {
        Ok(self
            .connection()
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
            .query_row([], |row| row.get(0))?)
    }

    fn event_seq_and_type(&self, scope: &Scope, event_id: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(self
            .connection()
            .prepare_cached("SELECT seq, type FROM events WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3")?
            .query_row(params![scope.merchant_id, scope.mode.code(), event_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?)
    }

    fn webhook_fanout_cursor(&self) -> StoreResult<i64> {
        Ok(self
            .connection()
            .prepare_cached("SELECT last_event_seq FROM webhook_fanout_cursor WHERE singleton = 1")?
            .query_row([], |row| row.get(0))?)
    }

    fn events_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<FanoutEvent>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT seq, id, merchant_id, mode, type FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after_seq, limit], |row| {
            Ok(FanoutEvent {
                seq: row.get("seq")?,
                id: row.get("id")?,
                scope: scope_from_row(row)?,
                event_type: row.get("type")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

impl WebhooksWrite for SqliteWrite<'_> {
    fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        self.connection
            .prepare_cached(&format!(
                "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                endpoint.id,
                endpoint.scope.merchant_id,
                endpoint.scope.mode.code(),
                endpoint.url,
                endpoint.events.stored_text(),
                endpoint.secret_sealed,
                endpoint.status.code(),
                endpoint.disabled_reason,
                endpoint.consecutive_failures,
                endpoint.after_event_seq,
                endpoint.created_at_ms,
                endpoint.updated_at_ms
            ])?;
        Ok(())
    }

    fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "UPDATE webhook_endpoints SET event_types = ?4, status = ?5, disabled_reason = ?6, \
                 consecutive_failures = ?7, updated_at_ms = ?8 WHERE merchant_id = ?1 AND mode = ?2 AND id = ?3",
            )?
            .execute(params![
                endpoint.scope.merchant_id,
                endpoint.scope.mode.code(),
                endpoint.id,
                endpoint.events.stored_text(),
                endpoint.status.code(),
                endpoint.disabled_reason,
                endpoint.consecutive_failures,
                endpoint.updated_at_ms
            ])?;
        Ok(())
    }

    fn set_webhook_fanout_cursor(&mut self, seq: i64) -> StoreResult<()> {
        self.connection
            .prepare_cached("UPDATE webhook_fanout_cursor SET last_event_seq = ?1 WHERE singleton = 1")?
            .execute(params![seq])?;
        Ok(())
    }

    fn insert_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(&format!(
                "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                delivery.id,
                delivery.endpoint_id,
                delivery.scope.merchant_id,
                delivery.scope.mode.code(),
                delivery.event_id,
                delivery.status,
                delivery.attempts,
                delivery.next_attempt_at_ms,
                delivery.last_status_code,
                delivery.last_error,
                delivery.created_at_ms,
                delivery.updated_at_ms
            ])?;
        Ok(())
    }

    fn get_webhook_delivery_for_update(&mut self, id: &str) -> StoreResult<Option<WebhookDeliveryRecord>> {
        Ok(self
            .connection
            .prepare_cached(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"))?
            .query_row(params![id], delivery_from_row)
            .optional()?)
    }

    fn update_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, next_attempt_at_ms = ?4, \
                 last_status_code = ?5, last_error = ?6, updated_at_ms = ?7 WHERE id = ?1",
            )?
            .execute(params![
                delivery.id,
                delivery.status,
                delivery.attempts,
                delivery.next_attempt_at_ms,
                delivery.last_status_code,
                delivery.last_error,
                delivery.updated_at_ms
            ])?;
        Ok(())
    }

    fn insert_webhook_attempt(&mut self, attempt: &WebhookAttemptRecord) -> StoreResult<()> {
        self.connection
            .prepare_cached(
                "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at_ms, duration_ms, status_code, \
                 error, response_excerpt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                attempt.delivery_id,
                attempt.attempt,
                attempt.started_at_ms,
                attempt.duration_ms,
                attempt.status_code,
                attempt.error,
                attempt.response_excerpt
            ])?;
        Ok(())
    }

    fn cancel_pending_webhook_deliveries(&mut self, endpoint_id: &str, now_ms: i64) -> StoreResult<u32> {
        let changed = self
            .connection
            .prepare_cached(
                "UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at_ms = NULL, updated_at_ms = ?2 \
                 WHERE endpoint_id = ?1 AND status = 'pending'",
            )?
            .execute(params![endpoint_id, now_ms])?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }
}
