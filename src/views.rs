//! The public JSON representation of harepay's objects. One definition serves MCP tool results,
//! the snapshots idempotent replays return, and event payloads, so the three cannot drift.
//! Engine types are converted here, at the boundary; the engine itself knows no JSON.

pub mod billing;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::money::AssetRef;
use crate::engine::payment::{NextAction, PaymentIntent, Refund};

/// An amount of money: an integer count of the currency's minor unit, never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MoneyView {
    /// Integer amount in the currency's minor unit (kobo, cents, USDC base units).
    pub amount: i64,
    /// Currency or asset code, e.g. "NGN", "USDC".
    pub currency: String,
    /// The amount formatted for people, e.g. "₦10,000.00". Never parse this.
    pub display: String,
}

impl MoneyView {
    pub fn new(asset: AssetRef, amount_minor: i64) -> MoneyView {
        MoneyView { amount: amount_minor, currency: asset.code.to_owned(), display: asset.display(amount_minor) }
    }
}

/// What the payer must do to complete the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NextActionView {
    /// Transfer the exact amount to this virtual bank account.
    BankTransfer { bank_name: String, account_number: String, account_name: String },
    /// Send the exact crypto amount to this address on this network.
    CryptoDeposit { address: String, network: String },
    /// Send the payer to this hosted card checkout page.
    CardCheckout { url: String },
}

/// Crypto received, credited in another currency at a rate locked at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementView {
    /// The gross amount credited, floor(amount × rate).
    pub amount: MoneyView,
    /// The locked rate: units of the settlement currency per one unit of the paid asset.
    pub rate: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentIntentView {
    /// Payment intent id, `pi_…`.
    pub id: String,
    pub object: String,
    /// "test" or "live".
    pub mode: String,
    pub amount: MoneyView,
    /// Blockchain network for crypto payments.
    pub network: Option<String>,
    /// card, bank_transfer or crypto.
    pub method: String,
    /// rubies, partna or card.
    pub rail: String,
    /// requires_action, partially_paid, processing, succeeded, failed, canceled or expired.
    pub status: String,
    pub next_action: Option<NextActionView>,
    pub settlement: Option<SettlementView>,
    /// What the payer sent, in `amount`'s currency: below `amount` while partially_paid, all of
    /// it (over-payments included) from processing on. Kept after it went back (failed, canceled, expired).
    pub amount_received: MoneyView,
    /// Fee deducted on success, in the credited currency; recomputed on what was received.
    pub fee: MoneyView,
    /// What the merchant is credited on success: credited amount less fee.
    pub net: MoneyView,
    /// Total refunded so far, in the credited currency.
    pub amount_refunded: MoneyView,
    /// What a refund can take now: what remains unrefunded of the credited amount, less what an
    /// open or lost dispute holds and what its invoice passed to the customer's prepaid balance,
    /// and no more than the available balance (refunds come out of available, and fees are not
    /// returned). Zero unless succeeded. In event payloads: the unrefunded amount at the time.
    pub amount_refundable: MoneyView,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub failure_reason: Option<String>,
    /// Expires unless paid in full by then, Unix milliseconds; null: never.
    pub expires_at_ms: Option<i64>,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PaymentIntentView {
    pub fn from_engine(payment: &PaymentIntent) -> PaymentIntentView {
        let credit_asset = payment.credit_asset();
        PaymentIntentView {
            id: payment.id.clone(),
            object: "payment_intent".to_owned(),
            mode: payment.scope.mode.code().to_owned(),
            amount: MoneyView::new(payment.amount.asset, payment.amount.amount_minor),
            network: payment.network.map(|network| network.code().to_owned()),
            method: payment.method.code().to_owned(),
            rail: payment.rail.code().to_owned(),
            status: payment.status.code().to_owned(),
            next_action: payment.next_action.as_ref().map(|action| match action {
                NextAction::BankTransfer { bank_name, account_number, account_name } => NextActionView::BankTransfer {
                    bank_name: bank_name.clone(),
                    account_number: account_number.clone(),
                    account_name: account_name.clone(),
                },
                NextAction::CryptoDeposit { address, network } => {
                    NextActionView::CryptoDeposit { address: address.clone(), network: network.code().to_owned() }
                }
                NextAction::CardCheckout { url } => NextActionView::CardCheckout { url: url.clone() },
            }),
            settlement: payment.settlement.as_ref().map(|settlement| SettlementView {
                amount: MoneyView::new(settlement.asset, settlement.amount_minor),
                rate: settlement.rate_text.clone(),
            }),
            amount_received: MoneyView::new(payment.amount.asset, payment.amount_received_minor),
            fee: MoneyView::new(credit_asset, payment.fee_minor),
            net: MoneyView::new(credit_asset, payment.net_minor()),
            amount_refunded: MoneyView::new(credit_asset, payment.amount_refunded_minor),
            amount_refundable: MoneyView::new(credit_asset, payment.refundable_minor()),
            customer: payment.customer.clone(),
            description: payment.description.clone(),
            metadata: payment.metadata.clone(),
            failure_reason: payment.failure_reason.clone(),
            expires_at_ms: payment.expires_at_ms,
            created_at_ms: payment.created_at_ms,
            updated_at_ms: payment.updated_at_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundView {
    /// Refund id, `re_…`.
    pub id: String,
    pub object: String,
    pub payment_intent: String,
    /// In the payment's credited currency.
    pub amount: MoneyView,
    /// succeeded.
    pub status: String,
    pub reason: Option<String>,
    pub created_at_ms: i64,
}

impl PaymentIntentView {
    /// The view as a read answers it now: `amount_refundable` is `refundable_beside_holds_minor`
    /// (what remains beside the payment's dispute and prepaid credit,
    /// `app::disputes::refundable_beside_holds_minor`) capped at the merchant's `available_minor`
    /// in the credited currency: exactly what `refund_payment` accepts.
    pub fn now(payment: &PaymentIntent, refundable_beside_holds_minor: i64, available_minor: i64) -> PaymentIntentView {
        let mut view = PaymentIntentView::from_engine(payment);
        let refundable_minor = refundable_beside_holds_minor.min(available_minor).max(0);
        view.amount_refundable = MoneyView::new(payment.credit_asset(), refundable_minor);
        view
    }
}

impl RefundView {
    pub fn from_engine(refund: &Refund) -> RefundView {
        RefundView {
            id: refund.id.clone(),
            object: "refund".to_owned(),
            payment_intent: refund.payment_intent_id.clone(),
            amount: MoneyView::new(refund.amount.asset, refund.amount.amount_minor),
            status: refund.status.code().to_owned(),
            reason: refund.reason.clone(),
            created_at_ms: refund.created_at_ms,
        }
    }
}

/// A refund together with the payment it was taken from, as it stands afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundResultView {
    pub refund: RefundView,
    pub payment_intent: PaymentIntentView,
}

/// Where a payout goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DestinationView {
    Bank { account_no: String, bank_code: String, account_name: Option<String> },
    CryptoWallet { address: String, network: String },
}

impl DestinationView {
    /// Short, non-sensitive form for people: the last four characters.
    pub fn describe(&self) -> String {
        let tail = |text: &str| text.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>();
        match self {
            DestinationView::Bank { account_no, bank_code, .. } => {
                format!("bank {bank_code} account …{}", tail(account_no))
            }
            DestinationView::CryptoWallet { address, network } => format!("{network} wallet …{}", tail(address)),
        }
    }
}

/// The maker-checker side of a payout that waits for a second person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalView {
    /// The threshold this payout met, alone or with the parts it was split from.
    pub threshold: MoneyView,
    /// Why it waits: "threshold" (at or above it) or "structuring" (just under it, and with the
    /// same person's other payouts just under it in 24 hours it reaches it; see the audit log).
    pub trigger: String,
    /// When the approval lapses and the funds are released, Unix milliseconds.
    pub expires_at_ms: i64,
    /// null while waiting; then approved, rejected or expired.
    pub decision: Option<String>,
    /// Owner of the approver key that decided.
    pub decided_by: Option<String>,
    pub decided_by_key_id: Option<String>,
    pub decided_at_ms: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PayoutView {
    /// Payout id, `po_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub amount: MoneyView,
    pub rail: String,
    pub destination: DestinationView,
    /// pending_approval, pending, processing, paid, failed or canceled.
    pub status: String,
    /// True when the payout needs a second person's approval (see approval.trigger).
    pub approval_required: bool,
    pub approval: Option<ApprovalView>,
    /// The key that created the payout, and its owner.
    pub created_by_key_id: String,
    pub created_by: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub failure_reason: Option<String>,
    pub cancellation_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl PayoutView {
    pub fn from_engine(payout: &crate::engine::payout::Payout) -> PayoutView {
        use crate::engine::payout::Destination;
        let asset = payout.amount.asset;
        PayoutView {
            id: payout.id.clone(),
            object: "payout".to_owned(),
            mode: payout.scope.mode.code().to_owned(),
            amount: MoneyView::new(asset, payout.amount.amount_minor),
            rail: payout.rail.code().to_owned(),
            destination: match &payout.destination {
                Destination::Bank { account_no, bank_code, account_name } => DestinationView::Bank {
                    account_no: account_no.clone(),
                    bank_code: bank_code.clone(),
                    account_name: account_name.clone(),
                },
                Destination::CryptoWallet { address, network } => {
                    DestinationView::CryptoWallet { address: address.clone(), network: network.code().to_owned() }
                }
            },
            status: payout.status.code().to_owned(),
            approval_required: payout.approval.is_some(),
            approval: payout.approval.as_ref().map(|approval| ApprovalView {
                threshold: MoneyView::new(asset, approval.threshold_minor),
                trigger: approval.trigger.code().to_owned(),
                expires_at_ms: approval.expires_at_ms,
                decision: approval.decision.map(|decision| decision.code().to_owned()),
                decided_by: approval.decided_by_owner.clone(),
                decided_by_key_id: approval.decided_by_key_id.clone(),
                decided_at_ms: approval.decided_at_ms,
                reason: approval.reason.clone(),
            }),
            created_by_key_id: payout.created_by_key_id.clone(),
            created_by: payout.created_by_owner.clone(),
            description: payout.description.clone(),
            metadata: payout.metadata.clone(),
            failure_reason: payout.failure_reason.clone(),
            cancellation_reason: payout.cancellation_reason.clone(),
            created_at_ms: payout.created_at_ms,
            updated_at_ms: payout.updated_at_ms,
        }
    }
}

/// The payload of a `scheduler.step_parked` event: a step harepay runs by itself (an approval
/// expiry, a simulated settlement or payout step) failed on every try and is not tried again
/// until an operator acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ParkedStepView {
    /// Always "scheduled_step".
    pub object: String,
    /// The payment or payout the step acts on.
    pub object_id: String,
    /// expire_approval, settle_test_payment, advance_test_payout or expire_payment.
    pub step: String,
    /// Tries made, all failed.
    pub attempts: u32,
    /// The error type of the last try.
    pub error_type: String,
    /// The message of the last try's error (bounded).
    pub last_error: String,
    pub parked_at_ms: i64,
}

/// A customer, with its prepaid balances as they stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CustomerView {
    /// Customer id, `cus_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// True once `delete_customer` archived it: its history stays, nothing new starts for it.
    pub archived: bool,
    pub archived_at_ms: Option<i64>,
    /// The prepaid balance in every currency the customer has one in.
    pub prepaid_balances: Vec<MoneyView>,
    /// The NGN prepaid balance (zero when none), as the seed names it.
    pub prepaid_ngn: MoneyView,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl CustomerView {
    /// `prepaid` is every prepaid balance of the customer, by asset (`customer_prepaid_balances`).
    pub fn new(customer: &crate::engine::customer::Customer, prepaid: &[(AssetRef, i64)]) -> CustomerView {
        let ngn = crate::engine::money::Asset::lookup("NGN").expect("NGN is in the registry");
        let prepaid_ngn_minor = prepaid.iter().find(|(asset, _)| asset.code == ngn.code).map_or(0, |(_, minor)| *minor);
        CustomerView {
            id: customer.id.clone(),
            object: "customer".to_owned(),
            mode: customer.scope.mode.code().to_owned(),
            email: customer.email.clone(),
            name: customer.name.clone(),
            phone: customer.phone.clone(),
            metadata: customer.metadata.clone(),
            archived: customer.is_archived(),
            archived_at_ms: customer.archived_at_ms,
            prepaid_balances: prepaid.iter().map(|(asset, minor)| MoneyView::new(asset, *minor)).collect(),
            prepaid_ngn: MoneyView::new(ngn, prepaid_ngn_minor),
            created_at_ms: customer.created_at_ms,
            updated_at_ms: customer.updated_at_ms,
        }
    }
}

/// A test-mode credit to a customer's prepaid balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrepaidTopupView {
    /// The ledger transaction that credited it, `ltx_…`.
    pub id: String,
    pub object: String,
    pub amount: MoneyView,
    /// The prepaid balance in the amount's currency before and after.
    pub balance_before: MoneyView,
    pub balance_after: MoneyView,
    /// The customer as it stands afterwards.
    pub customer: CustomerView,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductView {
    /// Product id, `prod_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub name: String,
    pub description: Option<String>,
    pub unit_label: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// False once archived.
    pub active: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl ProductView {
    pub fn from_engine(product: &crate::engine::catalog::Product) -> ProductView {
        ProductView {
            id: product.id.clone(),
            object: "product".to_owned(),
            mode: product.scope.mode.code().to_owned(),
            name: product.name.clone(),
            description: product.description.clone(),
            unit_label: product.unit_label.clone(),
            metadata: product.metadata.clone(),
            active: product.active,
            created_at_ms: product.created_at_ms,
            updated_at_ms: product.updated_at_ms,
        }
    }
}

/// How often a price bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntervalView {
    /// day, week, month or year.
    pub unit: String,
    pub count: u32,
    /// The interval's name when it has one: weekly, bi-weekly, monthly, bi-monthly, quarterly,
    /// semi-annual or annual.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PriceView {
    /// Price id, `price_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub product_id: Option<String>,
    /// recurring (unit_amount each period) or usage (unit_amount per unit beyond included_units).
    pub model: String,
    pub currency: String,
    pub unit_amount: MoneyView,
    /// Usage: units free each period (0: every unit is billed).
    pub included_units: i64,
    /// Usage: overage is debited from the customer's prepaid balance when it covers it.
    pub auto_charge: bool,
    pub interval: IntervalView,
    pub trial_period_days: u32,
    pub active: bool,
    /// True once a subscription uses it. Prices never change; make a new one instead.
    pub used: bool,
    pub created_at_ms: i64,
}

impl PriceView {
    pub fn from_engine(price: &crate::engine::catalog::Price) -> PriceView {
        PriceView {
            id: price.id.clone(),
            object: "price".to_owned(),
            mode: price.scope.mode.code().to_owned(),
            product_id: price.product_id.clone(),
            model: price.model.code().to_owned(),
            currency: price.currency.code.to_owned(),
            unit_amount: MoneyView::new(price.currency, price.unit_amount_minor),
            included_units: price.included_units,
            auto_charge: price.auto_charge,
            interval: IntervalView {
                unit: price.interval.unit().code().to_owned(),
                count: price.interval.count(),
                name: price.interval.alias().map(str::to_owned),
            },
            trial_period_days: price.trial_period_days,
            active: price.active,
            used: price.used,
            created_at_ms: price.created_at_ms,
        }
    }
}

/// One line of an invoice: `quantity × unit_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceLineView {
    pub description: String,
    /// Whole units.
    pub quantity: i64,
    pub unit_amount: MoneyView,
    pub price_id: Option<String>,
    /// quantity × unit_amount.
    pub amount: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceView {
    /// Invoice id, `inv_…`.
    pub id: String,
    pub object: String,
    pub mode: String,
    pub customer_id: String,
    /// The subscription that raised it; null for a one-off invoice.
    pub subscription_id: Option<String>,
    /// draft, open, paid, void, uncollectible or expired (an open invoice past expires_at_ms
    /// reads as expired at once).
    pub status: String,
    pub currency: String,
    pub line_items: Vec<InvoiceLineView>,
    /// The sum of the lines.
    pub subtotal: MoneyView,
    /// What the customer owes (the subtotal: no tax or discount).
    pub total: MoneyView,
    /// Everything received, an over-payment's excess included.
    pub amount_paid: MoneyView,
    /// max(0, total − amount_paid).
    pub amount_remaining: MoneyView,
    /// What was received beyond the total.
    pub amount_overpaid: MoneyView,
    /// Credited to the customer's prepaid balance: an over-payment's excess, or what a void or
    /// expired invoice had received.
    pub amount_credited_to_prepaid: MoneyView,
    /// The payment intent collecting it (pay_invoice).
    pub payment_intent_id: Option<String>,
    /// Unix ms.
    pub due_date_ms: i64,
    /// How long it stays payable once finalized; null: no expiry.
    pub expires_in_ms: Option<i64>,
    /// An open invoice expires then.
    pub expires_at_ms: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at_ms: i64,
    pub finalized_at_ms: Option<i64>,
    pub paid_at_ms: Option<i64>,
    /// When it became void, uncollectible or expired.
    pub closed_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

impl InvoiceView {
    /// The invoice as a reader sees it at `now_ms`: open past its expiry reads as expired.
    pub fn at(invoice: &crate::engine::invoice::Invoice, now_ms: i64) -> InvoiceView {
        let currency = invoice.currency;
        let money = |amount_minor: i64| MoneyView::new(currency, amount_minor);
        InvoiceView {
            id: invoice.id.clone(),
            object: "invoice".to_owned(),
            mode: invoice.scope.mode.code().to_owned(),
            customer_id: invoice.customer_id.clone(),
            subscription_id: invoice.subscription_id.clone(),
            status: invoice.status_at(now_ms).code().to_owned(),
            currency: currency.code.to_owned(),
            line_items: invoice
                .lines
                .iter()
                .map(|line| InvoiceLineView {
                    description: line.description.clone(),
                    quantity: line.quantity,
                    unit_amount: money(line.unit_amount_minor),
                    price_id: line.price_id.clone(),
                    amount: money(line.amount_minor),
                })
                .collect(),
            subtotal: money(invoice.subtotal_minor),
            total: money(invoice.total_minor),
            amount_paid: money(invoice.amount_paid_minor),
            amount_remaining: money(invoice.amount_remaining_minor()),
            amount_overpaid: money(invoice.amount_overpaid_minor()),
            amount_credited_to_prepaid: money(crate::engine::invoice_payment::amount_credited_to_prepaid_minor(
                invoice,
            )),
            payment_intent_id: invoice.payment_intent_id.clone(),
            due_date_ms: invoice.due_date_ms,
            expires_in_ms: invoice.expires_in_ms,
            expires_at_ms: invoice.expires_at_ms,
            metadata: invoice.metadata.clone(),
            created_at_ms: invoice.created_at_ms,
            finalized_at_ms: invoice.finalized_at_ms,
            paid_at_ms: invoice.paid_at_ms,
            closed_at_ms: invoice.closed_at_ms,
            updated_at_ms: invoice.updated_at_ms,
        }
    }
}

/// The invoices of one status in one currency, added up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceTotalView {
    pub status: String,
    pub currency: String,
    pub count: i64,
    /// The sum of their totals.
    pub total: MoneyView,
    /// The sum of what they were paid (over-payments included).
    pub amount_paid: MoneyView,
    /// The sum of what each still owes.
    pub amount_remaining: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceTotalsView {
    pub object: String,
    /// The customer the totals are limited to; null: every customer.
    pub customer_id: Option<String>,
    /// One row per status and currency that has invoices, by status then currency.
    pub totals: Vec<InvoiceTotalView>,
    /// All invoices counted.
    pub invoice_count: i64,
}

/// What pay_invoice answers: the invoice, and what the payer needs from the payment intent
/// collecting it (get_payment shows the intent whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InvoicePaymentView {
    pub invoice: InvoiceView,
    /// The payment intent, `pi_…`.
    pub payment_intent_id: String,
    /// The intent's status: requires_action or partially_paid while it waits for the payer.
    pub payment_status: String,
    /// What the payer sends, in the currency they pay in.
    pub amount: MoneyView,
    /// Crypto for a fiat invoice: what it credits, at the locked rate.
    pub settlement: Option<SettlementView>,
    /// Hand this to the payer.
    pub next_action: Option<NextActionView>,
    /// True when the invoice already had a live intent, returned instead of a second one.
    pub existing_intent: bool,
}
/// What a merchant answered a dispute with: text fields and references to documents it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DisputeEvidenceView {
    pub explanation: Option<String>,
    pub customer_communication: Option<String>,
    pub refund_policy: Option<String>,
    pub shipping_tracking_number: Option<String>,
    /// Ids or URLs of documents the merchant keeps (harepay stores no files).
    pub file_references: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DisputeView {
    /// Dispute id, `dp_…`.
    pub id: String,
    pub object: String,
    /// "test" or "live".
    pub mode: String,
    pub payment_intent_id: String,
    /// Held in reserved while open; in the payment's credited currency.
    pub amount: MoneyView,
    /// The part of `amount` the available balance could not cover at opening, held as a debt
    /// (the balance's `owed`).
    pub amount_owed: MoneyView,
    /// fraudulent, product_not_received, product_unacceptable, duplicate, subscription_canceled,
    /// credit_not_processed, unrecognized or general.
    pub reason: String,
    /// needs_response, under_review, won or lost.
    pub status: String,
    /// Staged until submitted; fixed from `evidence_submitted_at_ms` on.
    pub evidence: DisputeEvidenceView,
    pub evidence_submitted_at_ms: Option<i64>,
    /// Evidence is taken before this time (Unix ms), not after.
    pub evidence_due_by_ms: i64,
    /// Test mode: how the review ends once evidence is submitted (won or lost).
    pub test_outcome: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

impl DisputeView {
    pub fn from_engine(dispute: &crate::engine::dispute::Dispute) -> DisputeView {
        let evidence = &dispute.evidence;
        DisputeView {
            id: dispute.id.clone(),
            object: "dispute".to_owned(),
            mode: dispute.scope.mode.code().to_owned(),
            payment_intent_id: dispute.payment_intent_id.clone(),
            amount: MoneyView::new(dispute.amount.asset, dispute.amount.amount_minor),
            amount_owed: MoneyView::new(dispute.amount.asset, dispute.amount_owed_minor),
            reason: dispute.reason.code().to_owned(),
            status: dispute.status.code().to_owned(),
            evidence: DisputeEvidenceView {
                explanation: evidence.explanation.clone(),
                customer_communication: evidence.customer_communication.clone(),
                refund_policy: evidence.refund_policy.clone(),
                shipping_tracking_number: evidence.shipping_tracking_number.clone(),
                file_references: evidence.file_references.clone(),
            },
            evidence_submitted_at_ms: dispute.evidence_submitted_at_ms,
            evidence_due_by_ms: dispute.evidence_due_by_ms,
            test_outcome: dispute.simulated_outcome.map(|outcome| outcome.code().to_owned()),
            created_at_ms: dispute.created_at_ms,
            updated_at_ms: dispute.updated_at_ms,
            closed_at_ms: dispute.closed_at_ms,
        }
    }
}

/// A webhook endpoint. Its signing secret appears once, in the result of the call that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookEndpointView {
    /// Endpoint id, `we_…`.
    pub id: String,
    pub url: String,
    /// Event types delivered, or ["*"] for all.
    pub events: Vec<String>,
    /// enabled, disabled (by you, or by harepay after 10 failed attempts in a row) or deleted.
    pub status: String,
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row; the 10th disables the endpoint.
    pub consecutive_failures: u32,
    /// `whsec_…`: set only in create_webhook_endpoint's executed result, never again. Verify
    /// deliveries with it (see the guide); it is stored sealed.
    pub signing_secret: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl WebhookEndpointView {
    pub fn new(endpoint: &crate::engine::webhook::WebhookEndpoint) -> WebhookEndpointView {
        WebhookEndpointView {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            events: endpoint.events.names(),
            status: endpoint.status.code().to_owned(),
            disabled_reason: endpoint.disabled_reason.clone(),
            consecutive_failures: endpoint.consecutive_failures,
            signing_secret: None,
            created_at_ms: endpoint.created_at_ms,
            updated_at_ms: endpoint.updated_at_ms,
        }
    }
}
