//! Webhook endpoints, deliveries, attempts and the fan-out cursor.
//!
//! Across processes:
//! - The fan-out reads the outbox in the order transactions finished, not in `seq` order: with
//!   several writers, a transaction can draw a smaller `seq` and commit after one with a larger
//!   `seq` has committed, and a cursor in `seq` order would pass it for good. Every event carries
//!   its writing transaction's id (`xid`); `events_after` returns only events whose transaction is
//!   older than every transaction still running (`xid < pg_snapshot_xmin(…)`: that set never grows
//!   again), in `(xid, seq)` order, after the cursor event's own `(xid, seq)`. The cursor still
//!   stores a `seq` (the trait's, and SQLite's); its event's `xid` is looked up.
//! - In a write session the cursor row is read `FOR UPDATE`: two fan-outs (one process delivers,
//!   but a lease can change hands) run one after the other, the second from where the first left.
//! - In a write session, reading a scope's endpoints takes the scope's endpoint lock (a
//!   transaction advisory lock) and reading one endpoint locks its row `FOR UPDATE`: the count
//!   that caps a scope's endpoints holds against a concurrent create, the attempt recorder and an
//!   update or delete never write over each other, and the fan-out never hands an event to an
//!   endpoint deleted meanwhile (the delete's cancel runs after the fan-out's commit and sees
//!   its deliveries). The fan-out's endpoint read also shares-locks the rows it returns.
//! - A delivery's attempt is recorded under `get_webhook_delivery_for_update`'s row lock; which
//!   process sends it is settled by the delivery lease (`Store::holds_lease`), not here: a due
//!   delivery is read in a read-only snapshot and sent after that snapshot ends, so no row lock
//!   could cover the request.

use postgres::Row;

use crate::engine::principal::Scope;
use crate::engine::webhook::{EndpointStatus, EventSelection, WebhookEndpoint};
use crate::store::postgres::rows::{get, into_page, parsed, scope_from_row};
use crate::store::postgres::session::PgSession;
use crate::store::{
    DueWebhookDelivery, FanoutEvent, Page, PageRequest, StoreError, StoreResult, WebhookAttemptRecord,
    WebhookDeliveryFilter, WebhookDeliveryRecord, WebhooksRead, WebhooksWrite,
};

const ENDPOINT_COLUMNS: &str = "id, merchant_id, mode, url, event_types, secret_sealed, status, disabled_reason, \
     consecutive_failures, after_event_seq, created_at_ms, updated_at_ms";

const DELIVERY_COLUMNS: &str = "id, endpoint_id, merchant_id, mode, event_id, status, attempts, next_attempt_at_ms, \
     last_status_code, last_error, created_at_ms, updated_at_ms";

/// Seeds the hash of a scope into the key of its endpoint lock, apart from other advisory locks.
const ENDPOINT_LOCK_SEED: i64 = 0x7765_6268_6f6f_6b73;

/// A count or number stored as BIGINT, read back into the narrower type harepay wrote.
fn narrowed<T: TryFrom<i64>>(row: &Row, column: &str) -> StoreResult<T> {
    let value: i64 = get(row, column)?;
    parsed(T::try_from(value).ok(), column, &value.to_string())
}

fn narrowed_optional<T: TryFrom<i64>>(row: &Row, column: &str) -> StoreResult<Option<T>> {
    match get::<Option<i64>>(row, column)? {
        Some(value) => Ok(Some(parsed(T::try_from(value).ok(), column, &value.to_string())?)),
        None => Ok(None),
    }
}

fn endpoint_from_row(row: &Row) -> StoreResult<WebhookEndpoint> {
    let status: String = get(row, "status")?;
    let event_types: String = get(row, "event_types")?;
    Ok(WebhookEndpoint {
        id: get(row, "id")?,
        scope: scope_from_row(row)?,
        url: get(row, "url")?,
        events: EventSelection::from_stored_text(&event_types),
        secret_sealed: get(row, "secret_sealed")?,
        status: parsed(EndpointStatus::parse(&status), "webhook endpoint status", &status)?,
        disabled_reason: get(row, "disabled_reason")?,
        consecutive_failures: narrowed(row, "consecutive_failures")?,
        after_event_seq: get(row, "after_event_seq")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

fn delivery_from_row(row: &Row) -> StoreResult<WebhookDeliveryRecord> {
    Ok(WebhookDeliveryRecord {
        id: get(row, "id")?,
        endpoint_id: get(row, "endpoint_id")?,
        scope: scope_from_row(row)?,
        event_id: get(row, "event_id")?,
        status: get(row, "status")?,
        attempts: narrowed(row, "attempts")?,
        next_attempt_at_ms: get(row, "next_attempt_at_ms")?,
        last_status_code: narrowed_optional(row, "last_status_code")?,
        last_error: get(row, "last_error")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

impl WebhooksRead for PgSession<'_> {
    fn get_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        let lock = if self.is_write { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1 AND mode = $2 AND id = $3{lock}"
        );
        let row = self.db().query_opt(&sql, &[&scope.merchant_id, &scope.mode.code(), &id])?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    fn list_webhook_endpoints(&self, scope: &Scope) -> StoreResult<Vec<WebhookEndpoint>> {
        if self.is_write {
            self.db().execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, $3))",
                &[&scope.merchant_id, &scope.mode.code(), &ENDPOINT_LOCK_SEED],
            )?;
        }
        let lock = if self.is_write { " FOR SHARE" } else { "" };
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1 AND mode = $2 \
             AND status <> 'deleted' ORDER BY created_at_ms DESC, id COLLATE \"C\" DESC{lock}"
        );
        self.db().query(&sql, &[&scope.merchant_id, &scope.mode.code()])?.iter().map(endpoint_from_row).collect()
    }

    fn webhook_delivery_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let row = self.db().query_one(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE merchant_id = $1 AND mode = $2 AND id = $3) \
             AS found",
            &[&scope.merchant_id, &scope.mode.code(), &id],
        )?;
        get(&row, "found")
    }

    fn list_webhook_deliveries(
        &self,
        scope: &Scope,
        filter: &WebhookDeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookDeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE merchant_id = $1 AND mode = $2 \
             AND ($3::text IS NULL OR event_id = $3) AND ($4::text IS NULL OR endpoint_id = $4) \
             AND ($5::text IS NULL OR seq < (SELECT seq FROM webhook_deliveries WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6"
        );
        let rows = self.db().query(
            &sql,
            &[
                &scope.merchant_id,
                &scope.mode.code(),
                &filter.event_id,
                &filter.endpoint_id,
                &page.starting_after,
                &(i64::from(page.limit) + 1),
            ],
        )?;
        let items = rows.iter().map(delivery_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(items, page.limit))
    }

    fn list_webhook_attempts(&self, delivery_id: &str, limit: u32) -> StoreResult<Vec<WebhookAttemptRecord>> {
        let rows = self.db().query(
            "SELECT delivery_id, attempt, started_at_ms, duration_ms, status_code, error, response_excerpt \
             FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt DESC LIMIT $2",
            &[&delivery_id, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(WebhookAttemptRecord {
                    delivery_id: get(row, "delivery_id")?,
                    attempt: narrowed(row, "attempt")?,
                    started_at_ms: get(row, "started_at_ms")?,
                    duration_ms: get(row, "duration_ms")?,
                    status_code: narrowed_optional(row, "status_code")?,
                    error: get(row, "error")?,
                    response_excerpt: get(row, "response_excerpt")?,
                })
            })
            .collect()
    }

    fn due_webhook_deliveries(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<DueWebhookDelivery>> {
        let rows = self.db().query(
            "WITH due AS ( \
               SELECT d.seq, d.id, d.endpoint_id, d.merchant_id, d.mode, d.event_id, d.attempts, \
                      ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.seq) AS endpoint_rank \
               FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at_ms <= $1 AND e.status = 'enabled'), \
             firsts AS ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY merchant_id, mode ORDER BY seq) AS merchant_rank \
               FROM due WHERE endpoint_rank = 1) \
             SELECT f.id, f.endpoint_id, f.merchant_id, f.mode, e.url, e.secret_sealed, f.event_id, ev.type, \
                    ev.payload_json, f.attempts \
             FROM firsts f JOIN webhook_endpoints e ON e.id = f.endpoint_id JOIN events ev ON ev.id = f.event_id \
             ORDER BY f.merchant_rank, f.seq LIMIT $2",
            &[&now_ms, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(DueWebhookDelivery {
                    delivery_id: get(row, "id")?,
                    endpoint_id: get(row, "endpoint_id")?,
                    scope: scope_from_row(row)?,
                    url: get(row, "url")?,
                    secret_sealed: get(row, "secret_sealed")?,
                    event_id: get(row, "event_id")?,
                    event_type: get(row, "type")?,
                    payload_json: get(row, "payload_json")?,
                    attempts: narrowed(row, "attempts")?,
                })
            })
            .collect()
    }

    /// The newest event this session sees: an endpoint created now takes the events after it,
    /// which are every event whose transaction starts after the endpoint's commit (an event
    /// still being written meanwhile may have drawn a smaller seq, and counts as before it).
    fn newest_event_seq(&self) -> StoreResult<i64> {
        let row = self.db().query_one("SELECT COALESCE(MAX(seq), 0) AS seq FROM events", &[])?;
        get(&row, "seq")
    }

    fn event_seq_and_type(&self, scope: &Scope, event_id: &str) -> StoreResult<Option<(i64, String)>> {
        let row = self.db().query_opt(
            "SELECT seq, type FROM events WHERE merchant_id = $1 AND mode = $2 AND id = $3",
            &[&scope.merchant_id, &scope.mode.code(), &event_id],
        )?;
        row.map(|row| Ok((get(&row, "seq")?, get(&row, "type")?))).transpose()
    }

    fn webhook_fanout_cursor(&self) -> StoreResult<i64> {
        let sql = if self.is_write {
            "SELECT last_event_seq FROM webhook_fanout_cursor WHERE singleton = 1 FOR UPDATE"
        } else {
            "SELECT last_event_seq FROM webhook_fanout_cursor WHERE singleton = 1"
        };
        let row = self.db().query_one(sql, &[])?;
        get(&row, "last_event_seq")
    }

    /// Events after the event `after_seq` in the order their transactions finished (see the
    /// module comment), only those of transactions older than any still running; 0 is the start.
    fn events_after(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<FanoutEvent>> {
        let cursor_xid = if after_seq == 0 {
            "0".to_owned()
        } else {
            let row = self.db().query_opt("SELECT xid::text AS xid FROM events WHERE seq = $1", &[&after_seq])?;
            let row = row.ok_or_else(|| {
                StoreError::Corrupt(format!("the webhook fan-out cursor names event seq {after_seq}, which is missing"))
            })?;
            get::<String>(&row, "xid")?
        };
        let rows = self.db().query(
            "SELECT seq, id, merchant_id, mode, type FROM events \
             WHERE (xid, seq) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY xid, seq LIMIT $3",
            &[&cursor_xid, &after_seq, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(FanoutEvent {
                    seq: get(row, "seq")?,
                    id: get(row, "id")?,
                    scope: scope_from_row(row)?,
                    event_type: get(row, "type")?,
                })
            })
            .collect()
    }
}

impl WebhooksWrite for PgSession<'_> {
    fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        self.db().execute(
            &format!(
                "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &[
                &endpoint.id,
                &endpoint.scope.merchant_id,
                &endpoint.scope.mode.code(),
                &endpoint.url,
                &endpoint.events.stored_text(),
                &endpoint.secret_sealed,
                &endpoint.status.code(),
                &endpoint.disabled_reason,
                &i64::from(endpoint.consecutive_failures),
                &endpoint.after_event_seq,
                &endpoint.created_at_ms,
                &endpoint.updated_at_ms,
            ],
        )?;
        Ok(())
    }

    fn update_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        self.db().execute(
            "UPDATE webhook_endpoints SET event_types = $4, status = $5, disabled_reason = $6, \
             consecutive_failures = $7, updated_at_ms = $8 WHERE merchant_id = $1 AND mode = $2 AND id = $3",
            &[
                &endpoint.scope.merchant_id,
                &endpoint.scope.mode.code(),
                &endpoint.id,
                &endpoint.events.stored_text(),
                &endpoint.status.code(),
                &endpoint.disabled_reason,
                &i64::from(endpoint.consecutive_failures),
                &endpoint.updated_at_ms,
            ],
        )?;
        Ok(())
    }

    fn set_webhook_fanout_cursor(&mut self, seq: i64) -> StoreResult<()> {
        self.db().execute("UPDATE webhook_fanout_cursor SET last_event_seq = $1 WHERE singleton = 1", &[&seq])?;
        Ok(())
    }

    fn insert_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        self.db().execute(
            &format!(
                "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &[
                &delivery.id,
                &delivery.endpoint_id,
                &delivery.scope.merchant_id,
                &delivery.scope.mode.code(),
                &delivery.event_id,
                &delivery.status,
                &i64::from(delivery.attempts),
                &delivery.next_attempt_at_ms,
                &delivery.last_status_code.map(i64::from),
                &delivery.last_error,
                &delivery.created_at_ms,
                &delivery.updated_at_ms,
            ],
        )?;
        Ok(())
    }

    fn get_webhook_delivery_for_update(&mut self, id: &str) -> StoreResult<Option<WebhookDeliveryRecord>> {
        let row = self.db().query_opt(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1 FOR UPDATE"),
            &[&id],
        )?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    fn update_webhook_delivery(&mut self, delivery: &WebhookDeliveryRecord) -> StoreResult<()> {
        self.db().execute(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at_ms = $4, \
             last_status_code = $5, last_error = $6, updated_at_ms = $7 WHERE id = $1",
            &[
                &delivery.id,
                &delivery.status,
                &i64::from(delivery.attempts),
                &delivery.next_attempt_at_ms,
                &delivery.last_status_code.map(i64::from),
                &delivery.last_error,
                &delivery.updated_at_ms,
            ],
        )?;
        Ok(())
    }

    fn insert_webhook_attempt(&mut self, attempt: &WebhookAttemptRecord) -> StoreResult<()> {
        self.db().execute(
            "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at_ms, duration_ms, status_code, \
             error, response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &attempt.delivery_id,
                &i64::from(attempt.attempt),
                &attempt.started_at_ms,
                &attempt.duration_ms,
                &attempt.status_code.map(i64::from),
                &attempt.error,
                &attempt.response_excerpt,
            ],
        )?;
        Ok(())
    }

    fn cancel_pending_webhook_deliveries(&mut self, endpoint_id: &str, now_ms: i64) -> StoreResult<u32> {
        let changed = self.db().execute(
            "UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at_ms = NULL, updated_at_ms = $2 \
             WHERE endpoint_id = $1 AND status = 'pending'",
            &[&endpoint_id, &now_ms],
        )?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }
}
