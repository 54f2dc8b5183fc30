//! Merchants and API keys.

use rusqlite::{OptionalExtension, Row, params};

use crate::engine::principal::{Mode, Role, Scope};
use crate::store::sqlite::rows::{into_page, parsed};
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{ApiKeyRecord, MerchantKeysRead, MerchantKeysWrite, MerchantRecord, Page, PageRequest, StoreResult};

const API_KEY_SELECT: &str = "SELECT k.id, k.merchant_id, m.name, k.mode, k.role, k.owner, k.key_sha256_hex, \
     k.key_last4, k.created_at_ms, k.revoked_at_ms, k.owner_skeleton, k.expires_at_ms, k.created_by_key_id, \
     k.accountable_owner FROM api_keys k JOIN merchants m ON m.id = k.merchant_id";

fn api_key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let mode: String = row.get(3)?;
    let role: String = row.get(4)?;
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        merchant_id: row.get(1)?,
        merchant_name: row.get(2)?,
        mode: parsed(Mode::parse(&mode), "mode", &mode)?,
        role: parsed(Role::parse(&role), "role", &role)?,
        owner: row.get(5)?,
        key_sha256_hex: row.get(6)?,
        key_last4: row.get(7)?,
        created_at_ms: row.get(8)?,
        revoked_at_ms: row.get(9)?,
        owner_skeleton: row.get(10)?,
        expires_at_ms: row.get(11)?,
        created_by_key_id: row.get(12)?,
        accountable_owner: row.get(13)?,
    })
}

impl<T: HasConnection> MerchantKeysRead for T {
    fn count_merchants(&self) -> StoreResult<i64> {
        Ok(self.connection().query_row("SELECT COUNT(*) FROM merchants", [], |row| row.get(0))?)
    }

    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool> {
        Ok(self.connection().query_row(
            "SELECT EXISTS (SELECT 1 FROM merchants WHERE id = ?1)",
            [merchant_id],
            |row| row.get(0),
        )?)
    }

    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} WHERE k.key_sha256_hex = ?1");
        Ok(self.connection().prepare_cached(&sql)?.query_row([key_sha256_hex], api_key_from_row).optional()?)
    }

    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} ORDER BY k.created_at_ms, k.id");
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map([], api_key_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{API_KEY_SELECT} WHERE k.id = ?1");
        Ok(self.connection().prepare_cached(&sql)?.query_row([key_id], api_key_from_row).optional()?)
    }

    fn list_api_keys_page(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<ApiKeyRecord>> {
        let sql = format!(
            "{API_KEY_SELECT} WHERE k.merchant_id = ?1 AND k.mode = ?2 \
             AND (?3 IS NULL OR k.rowid < (SELECT rowid FROM api_keys WHERE id = ?3)) ORDER BY k.rowid DESC LIMIT ?4"
        );
        let limit_plus_one = i64::from(page.limit) + 1;
        let mut statement = self.connection().prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![scope.merchant_id, scope.mode.code(), page.starting_after, limit_plus_one],
            api_key_from_row,
        )?;
        Ok(into_page(rows.collect::<rusqlite::Result<Vec<_>>>()?, page.limit))
    }

    fn count_active_api_keys(&self, merchant_id: &str, now_ms: i64) -> StoreResult<i64> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT COUNT(*) FROM api_keys WHERE merchant_id = ?1 AND revoked_at_ms IS NULL \
             AND (expires_at_ms IS NULL OR expires_at_ms > ?2)",
            )?
            .query_row(params![merchant_id, now_ms], |row| row.get(0))?)
    }

    fn api_key_creations_by_tools_since(&self, merchant_id: &str, since_ms: i64, limit: u32) -> StoreResult<Vec<i64>> {
        let mut statement = self.connection().prepare_cached(
            "SELECT created_at_ms FROM api_keys WHERE merchant_id = ?1 AND created_at_ms > ?2 \
             AND created_by_key_id IS NOT NULL ORDER BY created_at_ms DESC LIMIT ?3",
        )?;
        let rows = statement.query_map(params![merchant_id, since_ms, limit], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
    }
}

impl MerchantKeysWrite for SqliteWrite<'_> {
    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO merchants (id, name, created_at_ms) VALUES (?1, ?2, ?3)",
            params![merchant.id, merchant.name, merchant.created_at_ms],
        )?;
        Ok(())
    }

    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.connection.execute(
            "INSERT INTO api_keys (id, merchant_id, mode, role, owner, key_sha256_hex, key_last4, created_at_ms, revoked_at_ms, \
             owner_skeleton, expires_at_ms, created_by_key_id, accountable_owner) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                key.id,
                key.merchant_id,
                key.mode.code(),
                key.role.code(),
                key.owner,
                key.key_sha256_hex,
                key.key_last4,
                key.created_at_ms,
                key.revoked_at_ms,
                key.owner_skeleton,
                key.expires_at_ms,
                key.created_by_key_id,
                key.accountable_owner
            ],
        )?;
        Ok(())
    }

    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool> {
        let changed = self.connection.execute(
            "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
            params![key_id, now_ms],
        )?;
        Ok(changed == 1)
    }
}
