//! `whoami`: this key, what it may do here, and the limits that bind it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::money::Asset;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::account::NoArgs;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::MoneyView;

pub const ENTRY: Entry = Entry::read::<WhoAmI>();

pub struct WhoAmI;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LimitsView {
    pub amount_min_minor: i64,
    pub amount_max_minor: i64,
    pub idempotency_key_max_chars: usize,
    pub list_limit_max: u32,
}

/// A key's payout spend limit in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpendLimitView {
    pub currency: String,
    /// Largest single payout; null is unlimited.
    pub max_per_payout: Option<MoneyView>,
    /// Most in payouts over any rolling 24 hours; null is unlimited.
    pub max_per_day: Option<MoneyView>,
    /// Payouts by this key's owner, through any of their keys, in the last 24 hours (failed and
    /// canceled ones excluded).
    pub spent_last_24h: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmIView {
    pub merchant_id: String,
    pub merchant_name: String,
    /// "test" or "live": a key sees only objects of its own mode.
    pub mode: String,
    /// admin, maker, approver or read_only.
    pub role: String,
    pub key_id: String,
    /// The person or service the key was issued to.
    pub owner: String,
    /// When this key stops working (Unix ms; calls then fail with key_expired); null: never.
    pub expires_at_ms: Option<i64>,
    /// Whether this key may call write tools on this server.
    pub can_write: bool,
    /// The tools this key sees here.
    pub tools: Vec<String>,
    pub limits: LimitsView,
    /// The payout spend limits that bind this key, per currency that has one: the strictest set
    /// on any key of its owner, counted over all their keys.
    pub spend_limits: Vec<SpendLimitView>,
    /// Payouts at or above these amounts need a second person's approval.
    pub approval_thresholds: Vec<MoneyView>,
    /// The most the whole merchant may pay out per currency in a rolling day (all keys).
    pub merchant_daily_payout_limits: Vec<MoneyView>,
    /// How long a payout waits for approval before it expires, in milliseconds.
    pub approval_expiry_ms: i64,
}

impl ReadOperation for WhoAmI {
    const SPEC: Spec = Spec {
        name: "whoami",
        toolset: Toolset::Account,
        title: "Who am I",
        description: "Who this API key is: merchant, mode (test/live), role, owner, when it expires, the tools it can \
                      use here, its payout spend limits, the approval thresholds, and the other limits that apply.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{}"#],
    };
    type Args = NoArgs;
    type Output = WhoAmIView;

    async fn run(context: &OpContext, principal: &Principal, _: NoArgs) -> Result<WhoAmIView, Failure> {
        let visible: Vec<_> = context.visibility.visible(principal).collect();
        let tools = visible.iter().map(|entry| entry.spec.name.to_owned()).collect();
        let can_write = visible.iter().any(|entry| !entry.spec.is_read());
        let scope = principal.scope.clone();
        let owner = principal.owner_skeleton.clone();
        let since_ms = context.app.now_ms() - limits::SPEND_LIMIT_WINDOW_MS;
        let spend_limits = context
            .app
            .read(move |store| {
                let mut views = Vec::new();
                for (asset, limit) in store.owner_spend_limits(&scope, &owner)? {
                    let (_, spent_minor) = store.owner_payout_spend_since(&scope, &owner, asset, since_ms, 1..i64::MAX)?;
                    views.push(SpendLimitView {
                        currency: asset.code.to_owned(),
                        max_per_payout: limit.max_per_payout_minor.map(|minor| MoneyView::new(asset, minor)),
                        max_per_day: limit.max_per_day_minor.map(|minor| MoneyView::new(asset, minor)),
                        spent_last_24h: MoneyView::new(asset, spent_minor),
                    });
                }
                Ok(views)
            })
            .await?;
        let approvals = &context.app.rules().approvals;
        Ok(WhoAmIView {
            merchant_id: principal.scope.merchant_id.clone(),
            merchant_name: principal.merchant_name.clone(),
            mode: principal.scope.mode.code().to_owned(),
            role: principal.role.code().to_owned(),
            key_id: principal.key_id.clone(),
            owner: principal.owner.clone(),
            expires_at_ms: principal.expires_at_ms,
            can_write,
            tools,
            limits: LimitsView {
                amount_min_minor: limits::AMOUNT_MIN_MINOR,
                amount_max_minor: limits::AMOUNT_MAX_MINOR,
                idempotency_key_max_chars: limits::IDEMPOTENCY_KEY_MAX_CHARS,
                list_limit_max: limits::LIST_LIMIT_MAX,
            },
            spend_limits,
            approval_thresholds: money_views(&approvals.threshold_minor_by_asset),
            merchant_daily_payout_limits: money_views(&approvals.merchant_max_per_day_minor_by_asset),
            approval_expiry_ms: approvals.expiry_ms,
        })
    }
}

fn money_views(minor_by_asset: &BTreeMap<&'static str, i64>) -> Vec<MoneyView> {
    minor_by_asset.iter().map(|(code, minor)| MoneyView::new(Asset::from_stored_code(code), *minor)).collect()
}
