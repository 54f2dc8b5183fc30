//! What operations on customers, and later invoices and subscriptions, share: loading a customer
//! in the caller's scope (a customer of another merchant or mode is `not_found`, like one that
//! does not exist) and its view with its prepaid balances.

use crate::app::error::AppError;
use crate::engine::customer::Customer;
use crate::engine::principal::Scope;
use crate::store::{StoreRead, StoreWrite};
use crate::views::CustomerView;

pub(crate) fn load_customer(session: &dyn StoreRead, scope: &Scope, id: &str) -> Result<Customer, AppError> {
    session.get_customer(scope, id)?.ok_or_else(|| AppError::not_found("customer", id))
}

/// The customer a decision changes (or moves prepaid money of), read for update.
pub(crate) fn load_customer_for_update(
    session: &mut dyn StoreWrite,
    scope: &Scope,
    id: &str,
) -> Result<Customer, AppError> {
    session.get_customer_for_update(scope, id)?.ok_or_else(|| AppError::not_found("customer", id))
}

/// The customer as results and events show it: with every prepaid balance as stored now.
pub(crate) fn customer_view(session: &dyn StoreRead, customer: &Customer) -> Result<CustomerView, AppError> {
    let prepaid = session.customer_prepaid_balances(&customer.scope, &customer.id)?;
    Ok(CustomerView::new(customer, &prepaid))
}
