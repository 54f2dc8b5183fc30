//! Merchants and API keys.

use rusqlite::{OptionalExtension, Row, params};

use crate::engine::principal::{Mode, Role};
use crate::store::sqlite::rows::parsed;
use crate::store::sqlite::session::{HasConnection, SqliteWrite};
use crate::store::{ApiKeyRecord, MerchantKeysRead, MerchantKeysWrite, MerchantRecord, StoreResult};

const API_KEY_SELECT: &str = "SELECT k.id, k.merchant_id, m.name, k.mode, k.role, k.owner, k.key_sha256_hex, \
     k.key_last4, k.created_at_ms, k.revoked_at_ms, k.owner_skeleton FROM api_keys k JOIN merchants m ON m.id = k.merchant_id";

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
             owner_skeleton) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                key.owner_skeleton
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
