//! What operations on the catalog share: loading a product in the caller's scope (another
//! merchant's or mode's is `not_found`).

use crate::app::error::AppError;
use crate::engine::catalog::Product;
use crate::engine::principal::Scope;
use crate::store::StoreWrite;

pub(crate) fn load_product_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Product, AppError> {
    let found = session.get_product_for_update(scope, id)?;
    found.ok_or_else(|| AppError::not_found("product", id))
}
