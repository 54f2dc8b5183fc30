//! `list_payments`: payment intents, newest first, filtered.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::disputes::refundable_beside_holds_minor;
use crate::engine::ledger::AccountKind;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, optional_text, page_request};
use crate::ops::payments::PaymentStatusInput;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{PageRequest, PaymentFilter};
use crate::views::PaymentIntentView;

pub const ENTRY: Entry = Entry::read::<ListPayments>();

pub struct ListPayments;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPaymentsArgs {
    /// Only payments in this status.
    #[serde(default)]
    pub status: Option<PaymentStatusInput>,
    /// Only payments of this customer reference.
    #[serde(default)]
    #[schemars(length(max = limits::CUSTOMER_MAX_CHARS))]
    pub customer: Option<String>,
    /// Only payments created at or after this time (Unix milliseconds).
    #[serde(default)]
    pub created_gte_ms: Option<i64>,
    /// Only payments created before this time (Unix milliseconds).
    #[serde(default)]
    pub created_lt_ms: Option<i64>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListPaymentsArgs {
    pub(crate) fn query(&self) -> Result<(PaymentFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let filter = PaymentFilter {
            status: self.status.map(PaymentStatusInput::to_engine),
            customer: optional_text(self.customer.clone(), "customer", limits::CUSTOMER_MAX_CHARS)?,
            created_gte_ms: self.created_gte_ms,
            created_lt_ms: self.created_lt_ms,
        };
        Ok((filter, page))
    }
}

impl ReadOperation for ListPayments {
    const SPEC: Spec = Spec {
        name: "list_payments",
        toolset: Toolset::Payments,
        title: "List payments",
        description: "List payment intents, newest first. Filter by status, customer or creation time; page with \
                      limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"status": "succeeded", "customer": "cus_1", "created_gte_ms": 0, "limit": 5, "starting_after": "pi_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListPaymentsArgs;
    type Output = ListResult<PaymentIntentView>;

    fn validate(args: &ListPaymentsArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListPaymentsArgs,
    ) -> Result<ListResult<PaymentIntentView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let (payments, refundable_minors, balances) = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_payment(&scope, cursor)?.is_some()))?;
                // Balances that cannot be read (a damaged ledger, reported by system_status) allow
                // no refund now; the payments themselves are still listed.
                let payments = store.list_payments(&scope, &filter, &page)?;
                // One indexed lookup of dispute and invoice per payment with something left to
                // refund, at most a page's worth.
                let refundable_minors = payments
                    .items
                    .iter()
                    .map(|payment| refundable_beside_holds_minor(store, payment))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((payments, refundable_minors, store.list_balance_rows(&scope).unwrap_or_default()))
            })
            .await?;
        let available_minor = |payment: &crate::engine::payment::PaymentIntent| {
            let asset = payment.credit_asset();
            balances
                .iter()
                .find(|row| row.asset.code == asset.code && row.account == AccountKind::Available)
                .map_or(0, |row| row.balance_minor)
        };
        let data = payments
            .items
            .iter()
            .zip(refundable_minors)
            .map(|(payment, refundable_minor)| PaymentIntentView::now(payment, refundable_minor, available_minor(payment)))
            .collect();
        Ok(ListResult::new(data, payments.has_more, |payment: &PaymentIntentView| payment.id.clone()))
    }
}
