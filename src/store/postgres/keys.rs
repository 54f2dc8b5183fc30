//! Merchants and API keys.
//!
//! Across processes: the two counting reads that guard a limit on key creation (the active-key
//! cap and the creation rate) first lock the merchant's row when they run in a write session, so
//! that a second process creating a key for the same merchant waits for the first to commit and
//! then counts its key. `FOR NO KEY UPDATE` serializes those guards without blocking inserts that
//! only reference the merchant (a foreign key check takes `FOR KEY SHARE`).

use postgres::Row;

use crate::engine::principal::{Mode, Role, Scope};
use crate::store::postgres::rows::{get, inserted_or_conflict, into_page, parsed};
use crate::store::postgres::session::PgSession;
use crate::store::{ApiKeyRecord, MerchantKeysRead, MerchantKeysWrite, MerchantRecord, Page, PageRequest, StoreResult};

const API_KEY_SELECT: &str = "SELECT k.id, k.merchant_id, m.name, k.mode, k.role, k.owner, k.key_sha256_hex, \
     k.key_last4, k.created_at_ms, k.revoked_at_ms, k.owner_skeleton, k.expires_at_ms, k.created_by_key_id, \
     k.accountable_owner FROM api_keys k JOIN merchants m ON m.id = k.merchant_id";

fn api_key_from_row(row: &Row) -> StoreResult<ApiKeyRecord> {
    let mode: String = get(row, "mode")?;
    let role: String = get(row, "role")?;
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        merchant_id: get(row, "merchant_id")?,
        merchant_name: get(row, "name")?,
        mode: parsed(Mode::parse(&mode), "mode", &mode)?,
        role: parsed(Role::parse(&role), "role", &role)?,
        owner: get(row, "owner")?,
        key_sha256_hex: get(row, "key_sha256_hex")?,
        key_last4: get(row, "key_last4")?,
        created_at_ms: get(row, "created_at_ms")?,
        revoked_at_ms: get(row, "revoked_at_ms")?,
        owner_skeleton: get(row, "owner_skeleton")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        created_by_key_id: get(row, "created_by_key_id")?,
        accountable_owner: get(row, "accountable_owner")?,
    })
}

fn api_keys_from_rows(rows: Vec<Row>) -> StoreResult<Vec<ApiKeyRecord>> {
    rows.iter().map(api_key_from_row).collect()
}

impl PgSession<'_> {
    /// In a write session, holds the merchant's row until the session ends, so that a limit
    /// counted over its keys stays true until this session's key is committed. A read session
    /// decides nothing and takes no lock.
    fn lock_merchant_for_key_limits(&self, merchant_id: &str) -> StoreResult<()> {
        if self.is_write {
            self.db().query_opt("SELECT 1 FROM merchants WHERE id = $1 FOR NO KEY UPDATE", &[&merchant_id])?;
        }
        Ok(())
    }
}

impl MerchantKeysRead for PgSession<'_> {
    fn count_merchants(&self) -> StoreResult<i64> {
        get(&self.db().query_one("SELECT COUNT(*) AS count FROM merchants", &[])?, "count")
    }

    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool> {
        let row =
            self.db().query_one("SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1) AS found", &[&merchant_id])?;
        get(&row, "found")
    }

    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} WHERE k.key_sha256_hex = $1");
        self.db().query_opt(&sql, &[&key_sha256_hex])?.as_ref().map(api_key_from_row).transpose()
    }

    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} ORDER BY k.created_at_ms, k.id COLLATE \"C\"");
        api_keys_from_rows(self.db().query(&sql, &[])?)
    }

    fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} WHERE k.id = $1");
        self.db().query_opt(&sql, &[&key_id])?.as_ref().map(api_key_from_row).transpose()
    }

    fn list_api_keys_page(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<ApiKeyRecord>> {
        // `seq` is the insertion order, as SQLite's rowid.
        let sql = format!(
            "{API_KEY_SELECT} WHERE k.merchant_id = $1 AND k.mode = $2 \
             AND ($3::text IS NULL OR k.seq < (SELECT seq FROM api_keys WHERE id = $3::text)) \
             ORDER BY k.seq DESC LIMIT $4"
        );
        let limit_plus_one = i64::from(page.limit) + 1;
        let rows =
            self.db().query(&sql, &[&scope.merchant_id, &scope.mode.code(), &page.starting_after, &limit_plus_one])?;
        Ok(into_page(api_keys_from_rows(rows)?, page.limit))
    }

    fn count_active_api_keys(&self, merchant_id: &str, now_ms: i64) -> StoreResult<i64> {
        self.lock_merchant_for_key_limits(merchant_id)?;
        let row = self.db().query_one(
            "SELECT COUNT(*) AS count FROM api_keys WHERE merchant_id = $1 AND revoked_at_ms IS NULL \
             AND (expires_at_ms IS NULL OR expires_at_ms > $2)",
            &[&merchant_id, &now_ms],
        )?;
        get(&row, "count")
    }

    fn api_key_creations_by_tools_since(&self, merchant_id: &str, since_ms: i64, limit: u32) -> StoreResult<Vec<i64>> {
        self.lock_merchant_for_key_limits(merchant_id)?;
        let rows = self.db().query(
            "SELECT created_at_ms FROM api_keys WHERE merchant_id = $1 AND created_at_ms > $2 \
             AND created_by_key_id IS NOT NULL ORDER BY created_at_ms DESC LIMIT $3",
            &[&merchant_id, &since_ms, &i64::from(limit)],
        )?;
        rows.iter().map(|row| get(row, "created_at_ms")).collect()
    }
}

impl MerchantKeysWrite for PgSession<'_> {
    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()> {
        let inserted = self.db().execute(
            "INSERT INTO merchants (id, name, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&merchant.id, &merchant.name, &merchant.created_at_ms],
        )?;
        inserted_or_conflict(inserted, "merchants")
    }

    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        // A new key of an owner brings its limits into the owner's (`owner_spend_limits`).
        self.spend_limits.borrow_mut().clear();
        let inserted = self.db().execute(
            "INSERT INTO api_keys (id, merchant_id, mode, role, owner, key_sha256_hex, key_last4, created_at_ms, \
             revoked_at_ms, owner_skeleton, expires_at_ms, created_by_key_id, accountable_owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
            &[
                &key.id,
                &key.merchant_id,
                &key.mode.code(),
                &key.role.code(),
                &key.owner,
                &key.key_sha256_hex,
                &key.key_last4,
                &key.created_at_ms,
                &key.revoked_at_ms,
                &key.owner_skeleton,
                &key.expires_at_ms,
                &key.created_by_key_id,
                &key.accountable_owner,
            ],
        )?;
        inserted_or_conflict(inserted, "api_keys")
    }

    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool> {
        let changed = self.db().execute(
            "UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
            &[&key_id, &now_ms],
        )?;
        Ok(changed == 1)
    }
}

/// Every key carries its owner's skeleton as this build computes it (as SQLite's start does).
pub(super) fn fill_owner_skeletons(client: &mut postgres::Client) -> crate::store::StoreResult<()> {
    let keys =
        client.query("SELECT id, COALESCE(accountable_owner, owner) AS owner, owner_skeleton FROM api_keys", &[])?;
    for key in keys {
        let key_id: String = key.get("id");
        let owner: String = key.get("owner");
        let stored: Option<String> = key.get("owner_skeleton");
        let skeleton = crate::engine::identity::owner_skeleton(&owner);
        if stored.as_deref() != Some(skeleton.as_str()) {
            client.execute("UPDATE api_keys SET owner_skeleton = $2 WHERE id = $1", &[&key_id, &skeleton])?;
        }
    }
    Ok(())
}
