//! Row helpers every backend shares: unknown stored codes, and list pages.

use crate::engine::money::{Asset, AssetRef};
use crate::store::{Page, StoreError, StoreResult};

pub fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

pub fn asset_of(code: &str) -> StoreResult<AssetRef> {
    Asset::lookup(code).ok_or_else(|| corrupt("asset", code))
}

/// Applies `limit + 1` to learn `has_more` without a second query.
pub fn into_page<T>(mut items: Vec<T>, limit: u32) -> Page<T> {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page { items, has_more }
}
