//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::{Mode, Role, Scope};
use crate::store::{ApiKeyRecord, MerchantKeysRead, MerchantKeysWrite, MerchantRecord, Page, PageRequest, StoreResult};

use crate::store::postgres::session::PgSession;

impl MerchantKeysRead for PgSession<'_> {
    fn count_merchants(&self) -> StoreResult<i64> {
        todo!("postgres: keys")
    }
    fn merchant_exists(&self, merchant_id: &str) -> StoreResult<bool> {
        todo!("postgres: keys")
    }
    fn find_api_key_by_hash(&self, key_sha256_hex: &str) -> StoreResult<Option<ApiKeyRecord>> {
        todo!("postgres: keys")
    }
    fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        todo!("postgres: keys")
    }
    fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        todo!("postgres: keys")
    }
    fn list_api_keys_page(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<ApiKeyRecord>> {
        todo!("postgres: keys")
    }
    fn count_active_api_keys(&self, merchant_id: &str, now_ms: i64) -> StoreResult<i64> {
        todo!("postgres: keys")
    }
    fn api_key_creations_by_tools_since(&self, merchant_id: &str, since_ms: i64, limit: u32) -> StoreResult<Vec<i64>> {
        todo!("postgres: keys")
    }
}

impl MerchantKeysWrite for PgSession<'_> {
    fn insert_merchant(&mut self, merchant: &MerchantRecord) -> StoreResult<()> {
        todo!("postgres: keys")
    }
    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> StoreResult<()> {
        todo!("postgres: keys")
    }
    fn revoke_api_key(&mut self, key_id: &str, now_ms: i64) -> StoreResult<bool> {
        todo!("postgres: keys")
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
