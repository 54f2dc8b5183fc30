//! An invoice collected through a payment intent, and where the money of an invoice goes when it
//! is not simply paid.
//!
//! ```text
//! pay_invoice         one live intent per invoice: for what remains, expiring with the invoice
//! receipt             the credit it adds (in the invoice's currency) is applied to the invoice
//! over-payment        the excess: available ──► customer_prepaid:cus_…   (invoice.overpaid)
//! void / expiry       the live intent is canceled; what it received:
//!                     pending ──► customer_prepaid:cus_…                   (never lost)
//! ```
//! The rules:
//! - The intent asks for the invoice's `amount_remaining`, in its currency; paid in crypto for a
//!   fiat invoice, it asks for the smallest crypto amount that converts (at the locked rate,
//!   rounding down) to at least that, and its settlement is fixed at exactly what remains, so that
//!   receiving the quoted amount pays the invoice exactly and receipts in pieces credit what one
//!   receipt would (`PaymentIntent::credit_for_received_minor`). Its fee is the rail's fee on
//!   that settlement. Its `expires_at` is the invoice's: a receipt at or after it is refused by
//!   the intent itself, so a payment racing the expiry either pays first or moves no money.
//! - A receipt is applied to the invoice in the same transaction, as the credit it adds:
//!   `credit(received after) − credit(received before)`.
//! - The excess of an over-payment stays with the merchant as the customer's credit: after the
//!   intent settles it moves from `available` to the customer's prepaid balance in the invoice's
//!   currency, and the invoice records it (`amount_overpaid`).
//! - An invoice voided or expired while its intent holds part of the payment does not send it
//!   back: the part received moves from `pending` straight to the customer's prepaid balance,
//!   and the intent is canceled. The invoice keeps `amount_paid` as the record, and
//!   `amount_credited_to_prepaid_minor` says where that money is.

use std::collections::BTreeMap;

use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::invoice::{Invoice, InvoiceStatus, open_crypto_payment_window, too_large};
use crate::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, LedgerTransactionBuilder};
use crate::engine::money::{AssetRef, Money, Network};
use crate::engine::payment::{self, NewPaymentIntent, PaymentIntent, PaymentMethod, PaymentStatus};
use crate::engine::rail::Rail;
use crate::engine::rules::PaymentRules;
use crate::limits::AMOUNT_MAX_MINOR;

/// The ledger reason of an over-payment's excess credited to the customer.
pub const OVERPAYMENT_CREDIT_REASON: &str = "invoice.overpayment_credited";

/// The ledger reason of a partial payment credited to the customer when its invoice closed.
pub const RECEIPTS_CREDIT_REASON: &str = "invoice.receipts_credited";

/// How the payer will pay an invoice: any method and rail a payment intent accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePaymentRequest {
    pub method: PaymentMethod,
    pub rail: Rail,
    /// The asset the payer sends, when it is not the invoice's currency: a crypto asset for a
    /// fiat invoice, credited as the invoice's currency at a rate locked now.
    pub pay_currency: Option<AssetRef>,
    /// Required for an on-chain asset.
    pub network: Option<Network>,
}

/// The refusal of a payment for an invoice that takes none now.
fn not_payable(invoice: &Invoice, now_ms: i64) -> EngineError {
    EngineError::InvoiceNotPayable {
        invoice_id: invoice.id.clone(),
        status: invoice.status_at(now_ms).code(),
        amount_display: invoice.currency.display(invoice.amount_remaining_minor()),
    }
}

/// Starts collecting what remains of `invoice` through a new payment intent with the id `id`:
/// the intent, and the invoice linked to it (a crypto payment also opens the invoice's default
/// payment window when it has none). Refused when the invoice takes no payment now (a draft,
/// paid, void, expired or past its `expires_at`). The caller hands out a live intent the invoice
/// already has instead (`is_live`).
pub fn start_invoice_payment(
    invoice: &Invoice,
    request: InvoicePaymentRequest,
    rules: &PaymentRules,
    id: String,
    now_ms: i64,
) -> Result<(Invoice, PaymentIntent), EngineError> {
    let remaining_minor = invoice.amount_remaining_minor();
    if !invoice.status_at(now_ms).accepts_payment() || remaining_minor == 0 {
        return Err(not_payable(invoice, now_ms));
    }
    let mut linked = match (request.method, invoice.status) {
        (PaymentMethod::Crypto, InvoiceStatus::Open) => open_crypto_payment_window(invoice, now_ms)?,
        _ => invoice.clone(),
    };
    let pay_asset = request.pay_currency.unwrap_or(invoice.currency);
    let (amount_minor, settle_as) = if pay_asset.code == invoice.currency.code {
        (remaining_minor, None)
    } else {
        (crypto_amount_for(pay_asset, invoice.currency, remaining_minor, rules)?, Some(invoice.currency))
    };
    let new_intent = NewPaymentIntent {
        amount: Money::new(pay_asset, amount_minor)?,
        network: request.network,
        method: request.method,
        rail: request.rail,
        settle_as,
        customer: Some(invoice.customer_id.clone()),
        description: Some(format!("Invoice {}", invoice.id)),
        metadata: BTreeMap::from([("invoice_id".to_owned(), invoice.id.clone())]),
        expires_in_ms: None,
    };
    let mut intent = payment::create_payment_intent(&invoice.scope, new_intent, rules, id, now_ms)?;
    if let Some(settlement) = intent.settlement.as_mut() {
        assert!(settlement.amount_minor >= remaining_minor, "the quoted crypto amount covers what remains");
        settlement.amount_minor = remaining_minor;
        intent.fee_minor = rules.fees.fee_minor(intent.rail, invoice.currency, remaining_minor);
    }
    intent.expires_at_ms = linked.expires_at_ms;
    linked.payment_intent_id = Some(intent.id.clone());
    linked.updated_at_ms = now_ms;
    Ok((linked, intent))
}

/// The smallest amount of `pay_asset` that converts to at least `target_minor` of `currency` at
/// the configured rate (conversions round down): `ceil(target × D / N)` for a rate of `N / D`
/// minor units of `currency` per minor unit of `pay_asset`.
fn crypto_amount_for(
    pay_asset: AssetRef,
    currency: AssetRef,
    target_minor: i64,
    rules: &PaymentRules,
) -> Result<i64, EngineError> {
    if !pay_asset.is_crypto() || currency.is_crypto() {
        return Err(EngineError::invalid(
            "pay_currency",
            format!(
                "an invoice in {} is paid in {0}; pay_currency names a crypto asset credited as a fiat invoice's currency",
                currency.code
            ),
        ));
    }
    let rate = rules.fx.get(pay_asset, currency).ok_or_else(|| {
        EngineError::invalid("pay_currency", format!("no {}/{} rate is configured", pay_asset.code, currency.code))
    })?;
    let numerator = rate.numerator * currency.minor_per_major();
    let denominator = rate.denominator * pay_asset.minor_per_major();
    let needed = (i128::from(target_minor) * denominator + numerator - 1) / numerator;
    i64::try_from(needed)
        .ok()
        .filter(|needed| (1..=AMOUNT_MAX_MINOR).contains(needed))
        .ok_or_else(|| too_large(pay_asset, "pay_currency", "crypto amount for what remains"))
}

/// Whether `intent` is one pay_invoice should hand out again rather than make a second: it still
/// waits for the payer and its expiry has not come.
pub fn is_live(intent: &PaymentIntent, now_ms: i64) -> bool {
    intent.status.awaits_payer() && !intent.lapsed_at(now_ms)
}

/// What a receipt that took `before` to `after` credits, in the invoice's currency (the intent's
/// credited asset): `None` when it credited nothing (a settlement of money already received).
pub fn receipt_credit(before: &PaymentIntent, after: &PaymentIntent) -> Option<Money> {
    let credited_minor = after.credit_for_received_minor(after.amount_received_minor)
        - before.credit_for_received_minor(before.amount_received_minor);
    (credited_minor > 0).then_some(Money { asset: after.credit_asset(), amount_minor: credited_minor })
}

/// Moves an over-payment's `excess_minor` from the merchant's available balance to the
/// customer's prepaid balance in the invoice's currency.
pub fn credit_overpayment(
    invoice: &Invoice,
    excess_minor: i64,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
) -> Result<LedgerTransaction, EngineError> {
    let transaction = LedgerTransactionBuilder::new()
        .transfer(
            AccountKind::Available,
            LedgerAccount::customer_prepaid(&invoice.customer_id),
            invoice.currency,
            excess_minor,
        )
        .finish(ids.next_id("ltx"), &invoice.id, OVERPAYMENT_CREDIT_REASON);
    balances.apply(&transaction)?;
    Ok(transaction)
}

/// Cancels the intent of an invoice that is being voided or expired. What it received (all of
/// it applied to the invoice) moves from `pending` to the customer's prepaid balance rather than
/// back to the payer; `None` when it received nothing.
pub fn cancel_for_closed_invoice(
    invoice: &Invoice,
    intent: &PaymentIntent,
    balances: &mut Balances,
    ids: &mut dyn IdSource,
    now_ms: i64,
) -> Result<(PaymentIntent, Option<LedgerTransaction>), EngineError> {
    if intent.amount_received_minor == 0 {
        return payment::cancel_payment_intent(intent, balances, ids, now_ms);
    }
    if intent.status != PaymentStatus::PartiallyPaid {
        return Err(EngineError::InvalidState {
            object: "payment_intent",
            id: intent.id.clone(),
            status: intent.status.code(),
            action: "cancel",
        });
    }
    let credited_minor = intent.credit_for_received_minor(intent.amount_received_minor);
    assert_eq!(intent.credit_asset().code, invoice.currency.code, "an invoice's intent credits its currency");
    assert_eq!(credited_minor, invoice.amount_paid_minor, "everything the invoice was paid came through its intent");
    let transaction = LedgerTransactionBuilder::new()
        .transfer(
            AccountKind::Pending,
            LedgerAccount::customer_prepaid(&invoice.customer_id),
            invoice.currency,
            credited_minor,
        )
        .finish(ids.next_id("ltx"), &invoice.id, RECEIPTS_CREDIT_REASON);
    balances.apply(&transaction)?;
    let mut canceled = intent.clone();
    canceled.status = PaymentStatus::Canceled;
    canceled.next_action = None;
    canceled.auto_settle_at_ms = None;
    canceled.updated_at_ms = now_ms;
    Ok((canceled, Some(transaction)))
}

/// Where the invoice's money that did not pay it went: the customer's prepaid balance holds the
/// excess of a paid invoice, and all that a void or expired one was paid.
pub fn amount_credited_to_prepaid_minor(invoice: &Invoice) -> i64 {
    match invoice.status {
        InvoiceStatus::Paid => invoice.amount_overpaid_minor(),
        InvoiceStatus::Void | InvoiceStatus::Expired => invoice.amount_paid_minor,
        InvoiceStatus::Draft | InvoiceStatus::Open | InvoiceStatus::Uncollectible => 0,
    }
}

/// What of `payment`'s credit its invoice passed on to the customer's prepaid balance: the excess
/// of an over-payment, once the intent that collected it succeeded; 0 for any other payment. The
/// customer holds it as credit, so neither a refund nor a dispute of the payment may give it back
/// a second time.
pub fn credit_passed_to_prepaid_minor(payment: &PaymentIntent, invoice: Option<&Invoice>) -> i64 {
    match invoice {
        Some(invoice)
            if payment.status == PaymentStatus::Succeeded
                && invoice.payment_intent_id.as_deref() == Some(payment.id.as_str()) =>
        {
            amount_credited_to_prepaid_minor(invoice)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SequentialIds;
    use crate::engine::invoice::{NewInvoice, NewInvoiceLine, apply_payment, create_invoice, finalize_invoice};
    use crate::engine::ledger::sum_by_asset;
    use crate::engine::money::Asset;
    use crate::engine::principal::{Mode, Scope};

    const HOUR_MS: i64 = 60 * 60 * 1000;

    fn asset(code: &str) -> AssetRef {
        Asset::lookup(code).unwrap()
    }

    fn open_invoice(currency: &str, total_minor: i64, expires_in_ms: Option<i64>) -> Invoice {
        let scope = Scope { merchant_id: "mch_1".into(), mode: Mode::Test };
        let request = NewInvoice {
            customer_id: "cus_1".into(),
            currency: asset(currency),
            lines: vec![NewInvoiceLine {
                description: "Consulting".into(),
                quantity: 1,
                unit_amount_minor: total_minor,
                price_id: None,
            }],
            due_date_ms: 30 * 24 * HOUR_MS,
            expires_in_ms,
            subscription_id: None,
            metadata: BTreeMap::new(),
        };
        let draft = create_invoice(&scope, request, &mut SequentialIds::default(), 0).unwrap();
        finalize_invoice(&draft, 0).unwrap()
    }

    fn bank(
        pay_currency: Option<&str>,
        network: Option<Network>,
        method: PaymentMethod,
        rail: Rail,
    ) -> InvoicePaymentRequest {
        InvoicePaymentRequest { method, rail, pay_currency: pay_currency.map(asset), network }
    }

    fn loaded(codes: &[&str]) -> Balances {
        let mut balances = Balances::default();
        for code in codes {
            for kind in AccountKind::ALL {
                balances.set(kind, asset(code), 0);
            }
            balances.set(LedgerAccount::customer_prepaid("cus_1"), asset(code), 0);
        }
        balances
    }

    #[test]
    fn the_intent_asks_for_what_remains_and_expires_with_the_invoice() {
        let rules = PaymentRules::default();
        let invoice = open_invoice("NGN", 500_000, Some(HOUR_MS));
        let request = bank(None, None, PaymentMethod::BankTransfer, Rail::Rubies);
        let (linked, intent) = start_invoice_payment(&invoice, request, &rules, "pi_1".into(), 10).unwrap();
        assert_eq!(linked.payment_intent_id.as_deref(), Some("pi_1"));
        assert_eq!((intent.amount.amount_minor, intent.amount.asset.code), (500_000, "NGN"));
        assert_eq!(intent.expires_at_ms, Some(HOUR_MS));
        assert_eq!(intent.metadata["invoice_id"], invoice.id);
        assert_eq!(intent.customer.as_deref(), Some("cus_1"));
        assert!(is_live(&intent, HOUR_MS - 1) && !is_live(&intent, HOUR_MS));
    }

    #[test]
    fn crypto_for_a_naira_invoice_quotes_enough_and_settles_exactly_what_remains() {
        let rules = PaymentRules::default();
        for (code, network, total_minor) in
            [("USDC", Network::Tron, 500_000), ("USDC", Network::Tron, 1), ("BTC", Network::Bitcoin, 123_457)]
        {
            let invoice = open_invoice("NGN", total_minor, None);
            let request = bank(Some(code), Some(network), PaymentMethod::Crypto, Rail::Partna);
            let (linked, intent) = start_invoice_payment(&invoice, request, &rules, "pi_1".into(), 10).unwrap();
            assert_eq!(linked.expires_at_ms, Some(10 + crate::limits::INVOICE_CRYPTO_EXPIRES_IN_DEFAULT_MS));
            assert_eq!(intent.expires_at_ms, linked.expires_at_ms, "the crypto window opens on both");
            let rate = rules.fx.get(asset(code), asset("NGN")).unwrap();
            assert!(rate.convert_minor(intent.amount.amount_minor).unwrap() >= total_minor, "{code}");
            assert!(rate.convert_minor(intent.amount.amount_minor - 1).unwrap() < total_minor, "{code}: the least");
            assert_eq!(intent.settlement.as_ref().unwrap().amount_minor, total_minor);
            assert_eq!(intent.credit_for_received_minor(intent.amount.amount_minor), total_minor);
            assert_eq!(intent.fee_minor, rules.fees.fee_minor(Rail::Partna, asset("NGN"), total_minor));
        }
        let euro_invoice = open_invoice("EUR", 500_000, None);
        let no_rate = bank(Some("USDT"), Some(Network::Solana), PaymentMethod::Crypto, Rail::Partna);
        let error = start_invoice_payment(&euro_invoice, no_rate, &rules, "pi_1".into(), 10).unwrap_err();
        assert_eq!((error.param(), error.to_string().contains("USDT/EUR")), (Some("pay_currency"), true), "{error}");
        let invoice = open_invoice("NGN", 500_000, None);
        let fiat = bank(Some("USD"), None, PaymentMethod::Card, Rail::Card);
        assert_eq!(
            start_invoice_payment(&invoice, fiat, &rules, "pi_1".into(), 10).unwrap_err().param(),
            Some("pay_currency")
        );
    }

    #[test]
    fn only_an_open_invoice_with_something_left_gets_an_intent() {
        let rules = PaymentRules::default();
        let request = bank(None, None, PaymentMethod::Card, Rail::Card);
        let open = open_invoice("NGN", 1_000, Some(HOUR_MS));
        let error = start_invoice_payment(&open, request.clone(), &rules, "pi_1".into(), HOUR_MS).unwrap_err();
        assert!(matches!(error, EngineError::InvoiceNotPayable { status: "expired", .. }), "{error}");
        let (paid, _) = apply_payment(&open, Money::new(asset("NGN"), 1_000).unwrap(), 1).unwrap();
        let error = start_invoice_payment(&paid, request, &rules, "pi_1".into(), 2).unwrap_err();
        assert_eq!(error.code(), "invoice_not_payable");
    }

    #[test]
    fn a_closed_invoice_credits_what_its_intent_received_to_prepaid() {
        let rules = PaymentRules::default();
        let mut ids = SequentialIds::default();
        let invoice = open_invoice("NGN", 10_000, None);
        let request = bank(Some("USDC"), Some(Network::Tron), PaymentMethod::Crypto, Rail::Partna);
        let (_, intent) = start_invoice_payment(&invoice, request, &rules, "pi_1".into(), 1).unwrap();
        let mut balances = loaded(&["NGN", "USDC"]);
        let half = Money::new(asset("USDC"), intent.amount.amount_minor / 2).unwrap();
        let (partly, receipt) =
            payment::receive_payment(&intent, half, &rules.fees, &mut balances, &mut ids, 2).unwrap();
        let credit = receipt_credit(&intent, &partly).unwrap();
        let (invoice, _) = apply_payment(&invoice, credit, 2).unwrap();
        let (canceled, transaction) = cancel_for_closed_invoice(&invoice, &partly, &mut balances, &mut ids, 3).unwrap();
        let transaction = transaction.unwrap();
        assert!(sum_by_asset(&receipt.postings).values().all(|sum| *sum == 0));
        assert!(sum_by_asset(&transaction.postings).values().all(|sum| *sum == 0));
        assert_eq!(canceled.status, PaymentStatus::Canceled);
        assert_eq!(balances.customer_prepaid("cus_1", asset("NGN")), credit.amount_minor);
        assert_eq!(balances.get(AccountKind::Pending, asset("NGN")), 0);
        let voided = crate::engine::invoice::void_invoice(&invoice, 3).unwrap();
        assert_eq!(amount_credited_to_prepaid_minor(&voided), credit.amount_minor);

        let card = bank(None, None, PaymentMethod::Card, Rail::Card);
        let (_, untouched) =
            start_invoice_payment(&open_invoice("NGN", 10_000, None), card, &rules, "pi_2".into(), 1).unwrap();
        let (canceled, none) = cancel_for_closed_invoice(&invoice, &untouched, &mut balances, &mut ids, 3).unwrap();
        assert_eq!((canceled.status, none), (PaymentStatus::Canceled, None));
    }

    #[test]
    fn an_overpayment_excess_moves_from_available_to_prepaid() {
        let mut ids = SequentialIds::default();
        let invoice = open_invoice("NGN", 10_000, None);
        let (paid, _) = apply_payment(&invoice, Money::new(asset("NGN"), 12_500).unwrap(), 1).unwrap();
        let mut balances = loaded(&["NGN"]);
        balances.set(AccountKind::Available, asset("NGN"), 12_000);
        let transaction = credit_overpayment(&paid, paid.amount_overpaid_minor(), &mut balances, &mut ids).unwrap();
        assert_eq!(transaction.reason, OVERPAYMENT_CREDIT_REASON);
        assert_eq!(balances.customer_prepaid("cus_1", asset("NGN")), 2_500);
        assert_eq!(balances.get(AccountKind::Available, asset("NGN")), 9_500);
        assert_eq!(amount_credited_to_prepaid_minor(&paid), 2_500);
        let mut short = loaded(&["NGN"]);
        assert_eq!(credit_overpayment(&paid, 2_500, &mut short, &mut ids).unwrap_err().code(), "insufficient_funds");
    }
}
