//! Toolset `customers`: customers and their prepaid balances.

crate::ops::operations!(create_customer, delete_customer, get_customer, list_customers, topup_prepaid, update_customer);

/// The audit log's words for an email address: its domain only, so that the log names no person.
pub(crate) fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("an invalid address", |(_, domain)| domain)
}
