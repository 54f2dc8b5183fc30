//! The store's contract for key lifecycle (migration 16), per backend: expiry, the creating key
//! and the accountable owner round trip; the active-key count leaves out revoked and expired
//! keys and counts both modes; tool-made creations are listed newest first within their window;
//! a scope's key page stays in its scope; and reopening the database keeps a tool-made key's
//! skeleton its creator's (the start-up refill of skeletons must not undo it).

use harepay::engine::identity::owner_skeleton;
use harepay::engine::principal::{Mode, Role, Scope};
use harepay::store::{ApiKeyRecord, MerchantRecord, PageRequest, Store};

fn key(id: &str, mode: Mode, created_at_ms: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        merchant_id: "mch_1".into(),
        merchant_name: "One".into(),
        mode,
        role: Role::Maker,
        owner: "alice".into(),
        owner_skeleton: owner_skeleton("alice"),
        key_sha256_hex: format!("hash-{id}"),
        key_last4: "abcd".into(),
        created_at_ms,
        revoked_at_ms: None,
        expires_at_ms: None,
        created_by_key_id: None,
        accountable_owner: None,
    }
}

#[test]
fn key_lifecycle_round_trips_counts_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    key_lifecycle_body(&|| Box::new(harepay::store::sqlite::SqliteStore::open(&path).unwrap()));
}

#[test]
fn key_lifecycle_round_trips_counts_and_survives_a_reopen_on_postgres() {
    let Some(url) = crate::backend::fresh_postgres_database() else { return };
    key_lifecycle_body(&|| Box::new(harepay::store::postgres::PostgresStore::open(&url).unwrap()));
}

/// `open` opens the same database each time it is called.
fn key_lifecycle_body(open: &dyn Fn() -> Box<dyn Store>) {
    let store = open();
    let mut session = store.begin_write().unwrap();
    session.insert_merchant(&MerchantRecord { id: "mch_1".into(), name: "One".into(), created_at_ms: 0 }).unwrap();
    session.insert_merchant(&MerchantRecord { id: "mch_2".into(), name: "Two".into(), created_at_ms: 0 }).unwrap();
    session.insert_api_key(&key("key_root", Mode::Test, 10)).unwrap();
    session.insert_api_key(&ApiKeyRecord { expires_at_ms: Some(500), ..key("key_expiring", Mode::Live, 20) }).unwrap();
    session
        .insert_api_key(&ApiKeyRecord {
            owner: "bob".into(),
            created_by_key_id: Some("key_root".into()),
            accountable_owner: Some("alice".into()),
            ..key("key_minted", Mode::Test, 30)
        })
        .unwrap();
    session
        .insert_api_key(&ApiKeyRecord {
            created_by_key_id: Some("key_root".into()),
            ..key("key_revoked", Mode::Test, 40)
        })
        .unwrap();
    assert!(session.revoke_api_key("key_revoked", 45).unwrap());
    session.insert_api_key(&ApiKeyRecord { merchant_id: "mch_2".into(), ..key("key_other", Mode::Test, 50) }).unwrap();
    session.commit().unwrap();

    let read = store.begin_read().unwrap();
    let minted = read.get_api_key("key_minted").unwrap().unwrap();
    assert_eq!(
        (minted.created_by_key_id.as_deref(), minted.accountable_owner.as_deref()),
        (Some("key_root"), Some("alice"))
    );
    assert_eq!(read.get_api_key("key_expiring").unwrap().unwrap().expires_at_ms, Some(500));
    assert_eq!(read.get_api_key("key_missing").unwrap(), None);
    // Both modes count; the revoked key never, the expiring one until its expiry.
    assert_eq!(read.count_active_api_keys("mch_1", 499).unwrap(), 3);
    assert_eq!(read.count_active_api_keys("mch_1", 500).unwrap(), 2);
    assert_eq!(read.count_active_api_keys("mch_2", 0).unwrap(), 1);
    // Tool-made creations, revoked ones included, newest first, after `since` and bounded.
    assert_eq!(read.api_key_creations_by_tools_since("mch_1", 0, 10).unwrap(), [40, 30]);
    assert_eq!(read.api_key_creations_by_tools_since("mch_1", 30, 10).unwrap(), [40]);
    assert_eq!(read.api_key_creations_by_tools_since("mch_1", 0, 1).unwrap(), [40]);
    assert!(read.api_key_creations_by_tools_since("mch_2", 0, 10).unwrap().is_empty());
    // One scope's page, newest first, with a cursor.
    let test_scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
    let first = read.list_api_keys_page(&test_scope, &PageRequest { limit: 2, starting_after: None }).unwrap();
    let ids: Vec<&str> = first.items.iter().map(|key| key.id.as_str()).collect();
    assert_eq!((ids, first.has_more), (vec!["key_revoked", "key_minted"], true));
    let next = PageRequest { limit: 2, starting_after: Some("key_minted".into()) };
    let rest = read.list_api_keys_page(&test_scope, &next).unwrap();
    assert_eq!(rest.items.iter().map(|key| key.id.as_str()).collect::<Vec<_>>(), ["key_root"]);
    assert!(!rest.has_more);
    drop(read);
    drop(store);

    // Reopening refills skeletons from what the key answers to, not the name it was given.
    let store = open();
    let read = store.begin_read().unwrap();
    assert_eq!(read.get_api_key("key_minted").unwrap().unwrap().owner_skeleton, owner_skeleton("alice"));
}
