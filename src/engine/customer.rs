//! Customers: who a merchant bills. A customer belongs to one merchant in one mode, has an email
//! address (required, checked by a strict rule below), an optional name and phone, metadata, and a
//! prepaid balance per currency that is a ledger account of its own (`engine::prepaid`).
//!
//! Deleting a customer archives it: its history (payments, invoices, ledger postings) stays, it
//! can still be read, and nothing new can start for it: no update, no top-up, and later no new
//! invoice or subscription (`ensure_active`).

use std::collections::BTreeMap;

use crate::engine::error::EngineError;
use crate::engine::principal::Scope;
use crate::limits;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub scope: Scope,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// When `delete_customer` archived it; `None` while active.
    pub archived_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Customer {
    pub fn is_archived(&self) -> bool {
        self.archived_at_ms.is_some()
    }

    /// Refuses `action` on an archived customer (`invalid_state`): an archived customer keeps its
    /// history but starts nothing new.
    pub fn ensure_active(&self, action: &'static str) -> Result<(), EngineError> {
        if self.is_archived() {
            return Err(EngineError::InvalidState {
                object: "customer",
                id: self.id.clone(),
                status: "archived",
                action,
            });
        }
        Ok(())
    }

    /// What `list_customers` filters by: the address with ASCII letters lowercased (addresses
    /// are ASCII by `validate_email`), so `Ada@Example.com` finds `ada@example.com`.
    pub fn email_lookup(&self) -> String {
        email_lookup(&self.email)
    }
}

pub fn email_lookup(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// A validated request to create a customer (texts already bounded by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// What `update_customer` changes: each field given replaces the stored one; `metadata`, when
/// given, replaces the whole map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl CustomerChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.name.is_none() && self.phone.is_none() && self.metadata.is_none()
    }
}

pub fn create_customer(scope: &Scope, request: NewCustomer, id: String, now_ms: i64) -> Result<Customer, EngineError> {
    Ok(Customer {
        id,
        scope: scope.clone(),
        email: validate_email(&request.email)?,
        name: request.name.map(|name| validate_name(&name)).transpose()?,
        phone: request.phone.map(|phone| validate_phone(&phone)).transpose()?,
        metadata: request.metadata,
        archived_at_ms: None,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
    })
}

pub fn update_customer(customer: &Customer, changes: CustomerChanges, now_ms: i64) -> Result<Customer, EngineError> {
    customer.ensure_active("update_customer")?;
    if changes.is_empty() {
        return Err(EngineError::invalid("email", "give at least one of email, name, phone or metadata to change"));
    }
    let mut updated = customer.clone();
    if let Some(email) = changes.email {
        updated.email = validate_email(&email)?;
    }
    if let Some(name) = changes.name {
        updated.name = Some(validate_name(&name)?);
    }
    if let Some(phone) = changes.phone {
        updated.phone = Some(validate_phone(&phone)?);
    }
    if let Some(metadata) = changes.metadata {
        updated.metadata = metadata;
    }
    updated.updated_at_ms = now_ms;
    Ok(updated)
}

/// `delete_customer`: archives an active customer. Archiving twice is `invalid_state`, so that a
/// caller learns the customer was already gone.
pub fn archive_customer(customer: &Customer, now_ms: i64) -> Result<Customer, EngineError> {
    customer.ensure_active("delete_customer")?;
    let mut archived = customer.clone();
    archived.archived_at_ms = Some(now_ms);
    archived.updated_at_ms = now_ms;
    Ok(archived)
}

/// The email rule, strict on purpose (a billing address must reach someone and must not pass
/// for another): ASCII only, so a look-alike letter (Cyrillic `а`, a fullwidth `＠`) or an
/// invisible character is refused rather than stored; exactly one `@`; a local part of 1 to 64
/// characters of letters, digits and ``!#$%&'*+/=?^_`{|}~-``, with dots between them (no quoted
/// forms, no comments); a domain name of at least two labels of letters, digits and inner
/// hyphens, 1 to 63 characters each, whose last label is letters or punycode (`xn--…`): no IP
/// literals, no trailing dot; 254 characters in all. An internationalized domain is accepted in
/// its punycode form. Returns the address as given.
pub fn validate_email(email: &str) -> Result<String, EngineError> {
    let refuse = |why: &str| {
        EngineError::invalid("email", format!("email {} is not an address harepay accepts: {why}", limits::echo(email)))
    };
    if email.chars().count() > limits::EMAIL_MAX_CHARS {
        return Err(refuse(&format!("it is longer than {} characters", limits::EMAIL_MAX_CHARS)));
    }
    if !email.is_ascii() {
        return Err(refuse(
            "it has a character outside ASCII (a look-alike letter, a fullwidth sign or an invisible character); \
             write an internationalized domain in punycode",
        ));
    }
    let (local, domain) = match email.split_once('@') {
        Some((local, domain)) if !domain.contains('@') => (local, domain),
        _ => return Err(refuse("it needs exactly one @, as in name@example.com")),
    };
    check_local_part(local).map_err(&refuse)?;
    check_domain(domain).map_err(&refuse)?;
    Ok(email.to_owned())
}

fn check_local_part(local: &str) -> Result<(), &'static str> {
    const SPECIALS: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    if local.is_empty() || local.len() > limits::EMAIL_LOCAL_PART_MAX_CHARS {
        return Err("the part before @ must be 1 to 64 characters");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("dots in the part before @ go between other characters, one at a time");
    }
    if !local.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || SPECIALS.contains(&byte)) {
        return Err("the part before @ may hold only letters, digits, dots and !#$%&'*+/=?^_`{|}~-");
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs a dot, as in example.com");
    }
    for label in &labels {
        let well_formed = !label.is_empty()
            && label.len() <= limits::EMAIL_DOMAIN_LABEL_MAX_CHARS
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        if !well_formed {
            return Err("each part of the domain is 1 to 63 letters, digits or inner hyphens");
        }
    }
    let top_level = labels[labels.len() - 1];
    let top_level_ok = (top_level.len() >= 2 && top_level.bytes().all(|byte| byte.is_ascii_alphabetic()))
        || top_level.to_ascii_lowercase().starts_with("xn--");
    if !top_level_ok {
        return Err("the domain must end in a top-level domain of letters (an IP address is not accepted)");
    }
    Ok(())
}

/// A phone number: at most 32 characters of digits, spaces and `-().`, with an optional leading
/// `+`, holding 5 to 15 digits (E.164's most).
pub fn validate_phone(phone: &str) -> Result<String, EngineError> {
    let digits = phone.bytes().filter(u8::is_ascii_digit).count();
    let body = phone.strip_prefix('+').unwrap_or(phone);
    let characters_ok = body.bytes().all(|byte| byte.is_ascii_digit() || b" -().".contains(&byte));
    if phone.chars().count() > limits::PHONE_MAX_CHARS
        || !characters_ok
        || !(limits::PHONE_MIN_DIGITS..=limits::PHONE_MAX_DIGITS).contains(&digits)
    {
        return Err(EngineError::invalid(
            "phone",
            format!(
                "phone {} must be {} to {} digits, optionally with a leading + and spaces, hyphens, dots or parentheses",
                limits::echo(phone),
                limits::PHONE_MIN_DIGITS,
                limits::PHONE_MAX_DIGITS
            ),
        ));
    }
    Ok(phone.to_owned())
}

/// A customer's or a product's name: no control characters (a line break or a NUL would forge
/// lines in logs and statements).
pub fn validate_name(name: &str) -> Result<String, EngineError> {
    if name.chars().any(char::is_control) {
        return Err(EngineError::invalid("name", "name must not contain control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::principal::Mode;

    fn check_email(email: &str, accepted: bool) {
        let result = validate_email(email);
        assert_eq!(result.is_ok(), accepted, "{email:?}: {result:?}");
        if let Err(error) = result {
            assert_eq!((error.code(), error.param()), ("invalid_request", Some("email")));
            assert!(error.to_string().chars().count() < 400);
        }
    }

    #[test]
    fn the_email_rule_accepts_ordinary_addresses() {
        for email in [
            "ada@example.com",
            "Ada.Obi+billing@Mail.Example.co.uk",
            "o'neil@example.ng",
            "a@b.io",
            "x_y-z@sub-domain.example.com",
            "user@xn--bcher-kva.example",
            "user@example.xn--p1ai",
        ] {
            check_email(email, true);
        }
    }

    #[test]
    fn the_email_rule_refuses_look_alikes_and_malformed_addresses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_total =
            format!("{}@{}.com", "a".repeat(64), ["b".repeat(63), "c".repeat(63), "d".repeat(60)].join("."));
        for email in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "ada@exa@mple.com",
            "ada@exаmple.com",  // Cyrillic а
            "ada＠example.com", // fullwidth at sign
            "ada@example.com\u{200b}",
            "ada\u{202e}@example.com",
            " ada@example.com",
            "ada@example.com ",
            "Ada <ada@example.com>",
            "\"ada\"@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "ada@-example.com",
            "ada@example-.com",
            "ada@example..com",
            "ada@example.com.",
            "ada@[127.0.0.1]",
            "ada@127.0.0.1",
            "ada@example.c",
            "ada@example.c0m",
            "ada(comment)@example.com",
            "ada@exam_ple.com",
            "ada\n@example.com",
            &long_local,
            &long_label,
            &long_total,
        ] {
            check_email(email, false);
        }
    }

    #[test]
    fn phones_are_digits_with_light_punctuation() {
        for phone in ["+2348012345678", "0801 234 5678", "(080) 123-4567", "+1.555.010.9999"] {
            assert!(validate_phone(phone).is_ok(), "{phone}");
        }
        for phone in
            ["", "1234", "+", "++2348012345678", "080-CALL-NOW", "+1234567890123456", "080１２３４５６７", "0801\n234"]
        {
            assert_eq!(validate_phone(phone).unwrap_err().param(), Some("phone"), "{phone:?}");
        }
    }

    fn customer() -> Customer {
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let request = NewCustomer {
            email: "ada@example.com".into(),
            name: Some("Ada".into()),
            phone: None,
            metadata: BTreeMap::new(),
        };
        create_customer(&scope, request, "cus_1".into(), 10).unwrap()
    }

    #[test]
    fn an_archived_customer_keeps_its_data_and_changes_no_more() {
        let archived = archive_customer(&customer(), 20).unwrap();
        assert_eq!(archived.archived_at_ms, Some(20));
        assert_eq!(archived.email, "ada@example.com");
        assert_eq!(archive_customer(&archived, 30).unwrap_err().code(), "invalid_state");
        let changes = CustomerChanges { name: Some("Eve".into()), ..CustomerChanges::default() };
        assert_eq!(update_customer(&archived, changes, 30).unwrap_err().code(), "invalid_state");
        assert_eq!(archived.ensure_active("topup_prepaid").unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn an_update_changes_what_it_names_and_checks_it() {
        let changes = CustomerChanges { email: Some("Ada@New.example.com".into()), ..CustomerChanges::default() };
        let updated = update_customer(&customer(), changes, 20).unwrap();
        assert_eq!((updated.email.as_str(), updated.name.as_deref()), ("Ada@New.example.com", Some("Ada")));
        assert_eq!(updated.email_lookup(), "ada@new.example.com");
        assert_eq!(updated.updated_at_ms, 20);
        let bad = CustomerChanges { email: Some("ada@exаmple.com".into()), ..CustomerChanges::default() };
        assert_eq!(update_customer(&customer(), bad, 20).unwrap_err().param(), Some("email"));
        assert_eq!(update_customer(&customer(), CustomerChanges::default(), 20).unwrap_err().code(), "invalid_request");
        let control = CustomerChanges { name: Some("Ada\r\nBcc: x".into()), ..CustomerChanges::default() };
        assert_eq!(update_customer(&customer(), control, 20).unwrap_err().param(), Some("name"));
    }
}
