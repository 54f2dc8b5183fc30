//! Write commands: load → decide (engine) → save, for one command inside the writer's
//! transaction. Each command runs in its own savepoint; its ledger postings, idempotency
//! record, audit record and events are saved with it or not at all.

use crate::app::UuidIds;
use crate::app::error::AppError;
use crate::app::write::{BalanceChange, Command, SimulatedOutcome, ToolWrite, WriteOutcome};
use crate::engine::IdSource;
use crate::engine::error::EngineError;
use crate::engine::identity::owner_skeleton;
use crate::engine::ledger::{AccountKind, Balances, LedgerTransaction};
use crate::engine::money::AssetRef;
use crate::engine::payment::{self, PaymentIntent, PaymentStatus};
use crate::engine::payout::{self, Payout, PayoutStatus, SpendLimit, SpendSoFar};
use crate::engine::principal::{Principal, Scope};
use crate::engine::rail::later_ms;
use crate::engine::rules::PaymentRules;
use crate::store::{AuditRecord, EventRecord, IdempotencyRecord, StoreWrite};
use crate::views::{PaymentIntentView, PayoutView, RefundResultView, RefundView};

/// What a command changed, for the caller and the audit log.
struct Applied {
    response_json: String,
    object_id: String,
    touched_assets: Vec<AssetRef>,
    /// What a checker reading the audit log should notice (e.g. a payout held as structuring).
    audit_note: Option<String>,
}

pub(crate) fn apply_tool_write(
    session: &mut dyn StoreWrite,
    rules: &PaymentRules,
    ids: &mut UuidIds,
    now_ms: i64,
    write: ToolWrite,
) -> Result<WriteOutcome, AppError> {
    let scope = write.actor.scope.clone();
    let idempotency_key = write.idempotency.as_ref().map(|idempotency| idempotency.key.clone());
    session.savepoint()?;
    let result = decide_and_save(session, rules, ids, now_ms, &write);
    let mut audit_note = None;
    let (outcome, audit_outcome, object_id) = match result {
        Ok(Decided::Replay(record)) => {
            session.release_savepoint()?;
            let object_id = record.object_id.clone();
            (Ok(WriteOutcome::Replayed { response_json: record.response_json }), "replayed", object_id)
        }
        Ok(Decided::Applied(applied)) if !write.confirm => {
            audit_note = applied.audit_note.clone();
            let after = session.balances(&scope, &applied.touched_assets)?;
            session.rollback_to_savepoint()?;
            let before = session.balances(&scope, &applied.touched_assets)?;
            let balance_changes = balance_changes(&applied.touched_assets, &before, &after);
            (Ok(WriteOutcome::Preview { response_json: applied.response_json, balance_changes }), "previewed", None)
        }
        Ok(Decided::Applied(applied)) => {
            audit_note = applied.audit_note.clone();
            if let Some(idempotency) = &write.idempotency {
                session.insert_idempotency(&IdempotencyRecord {
                    scope: scope.clone(),
                    key: idempotency.key.clone(),
                    operation: write.tool.to_owned(),
                    request_sha256_hex: idempotency.request_sha256_hex.clone(),
                    object_id: Some(applied.object_id.clone()),
                    response_json: applied.response_json.clone(),
                    created_at_ms: now_ms,
                })?;
            }
            session.release_savepoint()?;
            (Ok(WriteOutcome::Executed { response_json: applied.response_json }), "executed", Some(applied.object_id))
        }
        Err(error) => {
            session.rollback_to_savepoint()?;
            (Err(error), "refused", None)
        }
    };
    let (error_type, detail) = match &outcome {
        Err(error) => (Some(error.code()), error.to_string()),
        Ok(_) => match audit_note {
            Some(note) => (None, format!("{}; {note}", describe(&write.command))),
            None => (None, describe(&write.command)),
        },
    };
    let record = audit_record(
        ids,
        &write.actor,
        write.tool,
        audit_outcome,
        error_type,
        object_id,
        idempotency_key,
        detail,
        now_ms,
    );
    session.append_audit(&record)?;
    outcome
}

enum Decided {
    Replay(IdempotencyRecord),
    Applied(Applied),
}

fn decide_and_save(
    session: &mut dyn StoreWrite,
    rules: &PaymentRules,
    ids: &mut UuidIds,
    now_ms: i64,
    write: &ToolWrite,
) -> Result<Decided, AppError> {
    let scope = &write.actor.scope;
    if write.confirm
        && let Some(idempotency) = &write.idempotency
        && let Some(record) = session.get_idempotency(scope, &idempotency.key)?
    {
        if record.operation == write.tool && record.request_sha256_hex == idempotency.request_sha256_hex {
            return Ok(Decided::Replay(record));
        }
        return Err(AppError::IdempotencyKeyReused { key: idempotency.key.clone(), first_operation: record.operation });
    }
    let applied = match &write.command {
        Command::CreatePaymentIntent(request) => {
            let payment = payment::create_payment_intent(scope, request.clone(), rules, ids.next_id("pi"), now_ms)?;
            session.insert_payment(&payment)?;
            emit_payment_event(session, ids, &payment, "payment_intent.created", now_ms)?;
            payment_applied(&payment)
        }
        Command::RefundPayment { payment_intent_id, amount_minor, reason } => {
            let payment = load_payment(session, scope, payment_intent_id)?;
            let mut balances = session.balances(scope, &[payment.credit_asset()])?;
            let (payment, refund, transaction) =
                payment::refund_payment(&payment, *amount_minor, reason.clone(), &mut balances, ids, now_ms)?;
            session.insert_refund(&refund)?;
            session.update_payment(&payment)?;
            session.post_ledger_transaction(scope, &transaction, now_ms)?;
            let result = RefundResultView {
                refund: RefundView::from_engine(&refund),
                payment_intent: PaymentIntentView::from_engine(&payment),
            };
            let response_json = serde_json::to_string(&result).expect("views serialize");
            let payload = serde_json::to_string(&result.refund).expect("views serialize");
            emit_event(session, ids, scope, "charge.refunded", &refund.id, payload, now_ms)?;
            Applied {
                response_json,
                object_id: refund.id.clone(),
                touched_assets: vec![payment.credit_asset()],
                audit_note: None,
            }
        }
        Command::CancelPaymentIntent { payment_intent_id } => {
            let payment = load_payment(session, scope, payment_intent_id)?;
            let canceled = payment::cancel_payment_intent(&payment, now_ms)?;
            session.update_payment(&canceled)?;
            emit_payment_event(session, ids, &canceled, "payment_intent.canceled", now_ms)?;
            payment_applied(&canceled)
        }
        Command::SimulatePayment { payment_intent_id, outcome } => {
            let payment = load_payment(session, scope, payment_intent_id)?;
            if scope.mode != crate::engine::principal::Mode::Test {
                return Err(EngineError::TestModeOnly { action: "simulate_payment" }.into());
            }
            let settled = match outcome {
                SimulatedOutcome::Succeeded => settle_payment(session, ids, &payment, now_ms)?,
                SimulatedOutcome::Failed => fail_payment(session, ids, &payment, "simulated failure", now_ms)?,
            };
            payment_applied(&settled)
        }
        Command::CreatePayout(request) => {
            let asset = request.amount.asset;
            let actor = &write.actor;
            let (limit, spent) = load_payout_history(session, rules, actor, request.amount, now_ms)?;
            let mut balances = session.balances(scope, &[asset])?;
            let created = payout::create_payout(
                actor,
                request.clone(),
                &rules.approvals,
                limit,
                spent,
                &mut balances,
                ids,
                now_ms,
                rules.test_auto_settle_after_ms,
            )?;
            session.insert_payout(&created.payout)?;
            session.post_ledger_transaction(scope, &created.reservation, now_ms)?;
            // The events carry the payout exactly as the caller gets it: serialize it once.
            let mut applied = payout_applied(&created.payout);
            applied.audit_note = structuring_note(&created.payout, actor, spent);
            let payout_id = &created.payout.id;
            emit_event(session, ids, scope, "payout.created", payout_id, applied.response_json.clone(), now_ms)?;
            if created.approval_required {
                let payload = applied.response_json.clone();
                emit_event(session, ids, scope, "payout.pending_approval", payout_id, payload, now_ms)?;
            }
            applied
        }
        Command::CancelPayout { payout_id } => {
            let current = load_payout(session, scope, payout_id)?;
            let mut balances = session.balances(scope, &[current.amount.asset])?;
            let (canceled, release) = payout::cancel_payout(&current, &write.actor, &mut balances, ids, now_ms)?;
            session.update_payout(&canceled)?;
            session.post_ledger_transaction(scope, &release, now_ms)?;
            emit_payout_event(session, ids, &canceled, "payout.canceled", now_ms)?;
            payout_applied(&canceled)
        }
        Command::ApprovePayout { payout_id, reason } => {
            let current = load_payout(session, scope, payout_id)?;
            let approved = payout::approve_payout(
                &current,
                &write.actor,
                reason.clone(),
                now_ms,
                rules.test_auto_settle_after_ms,
            )?;
            session.update_payout(&approved)?;
            emit_payout_event(session, ids, &approved, "payout.approved", now_ms)?;
            emit_payout_event(session, ids, &approved, "payout.processing", now_ms)?;
            payout_applied(&approved)
        }
        Command::RejectPayout { payout_id, reason } => {
            let current = load_payout(session, scope, payout_id)?;
            let mut balances = session.balances(scope, &[current.amount.asset])?;
            let (rejected, release) =
                payout::reject_payout(&current, &write.actor, reason.clone(), &mut balances, ids, now_ms)?;
            session.update_payout(&rejected)?;
            session.post_ledger_transaction(scope, &release, now_ms)?;
            emit_payout_event(session, ids, &rejected, "payout.rejected", now_ms)?;
            payout_applied(&rejected)
        }
    };
    Ok(Decided::Applied(applied))
}

/// What the payout rules need to know about recent payouts, loading only what applies: a
/// person's spend only under a daily limit, the merchant's only under a merchant limit, the
/// person's payouts just under the threshold only when this one is too.
fn load_payout_history(
    session: &dyn StoreWrite,
    rules: &PaymentRules,
    actor: &Principal,
    amount: crate::engine::money::Money,
    now_ms: i64,
) -> Result<(SpendLimit, SpendSoFar), AppError> {
    let asset = amount.asset;
    let scope = &actor.scope;
    let owner_skeleton = owner_skeleton(&actor.owner);
    let since_ms = now_ms - crate::limits::SPEND_LIMIT_WINDOW_MS;
    let limit = session
        .owner_spend_limits(scope, &owner_skeleton)?
        .into_iter()
        .find(|(limited_asset, _)| limited_asset.code == asset.code)
        .map(|(_, limit)| limit)
        .unwrap_or_default();
    let mut spent = SpendSoFar::default();
    if limit.max_per_day_minor.is_some() {
        let (_, total_minor) =
            session.owner_payout_spend_since(scope, &owner_skeleton, asset, since_ms, 1..i64::MAX)?;
        spent.owner_last_24h_minor = total_minor;
    }
    if rules.approvals.merchant_max_per_day_minor(asset).is_some() {
        spent.merchant_last_24h_minor = session.merchant_payout_spend_since(scope, asset, since_ms)?;
    }
    if let Some(threshold_minor) = rules.approvals.threshold_minor(asset)
        && rules.approvals.is_just_under_threshold(amount)
    {
        let band_floor_minor =
            i64::try_from(i128::from(threshold_minor) * i128::from(crate::limits::STRUCTURING_BAND_PERCENT) / 100)
                .unwrap_or(threshold_minor);
        let (count, total_minor) = session.owner_payout_spend_since(
            scope,
            &owner_skeleton,
            asset,
            since_ms,
            band_floor_minor..threshold_minor,
        )?;
        spent.owner_just_under_count = count;
        spent.owner_just_under_minor = total_minor;
    }
    Ok((limit, spent))
}

/// The audit log's words for a payout held because it completes a split just under the
/// threshold, so that the checker sees the parts, not only this one.
fn structuring_note(payout: &Payout, actor: &Principal, spent: SpendSoFar) -> Option<String> {
    let approval = payout.approval.as_ref().filter(|a| a.trigger == payout::ApprovalTrigger::Structuring)?;
    let asset = payout.amount.asset;
    let total_minor = spent.owner_just_under_minor.saturating_add(payout.amount.amount_minor);
    Some(format!(
        "structuring suspected: {} payouts just under the {} approval threshold by {} in 24 hours total {}; this one waits for approval",
        spent.owner_just_under_count.saturating_add(1),
        asset.display(approval.threshold_minor),
        actor.owner,
        asset.display(total_minor)
    ))
}

fn payout_applied(payout: &Payout) -> Applied {
    Applied {
        response_json: serde_json::to_string(&PayoutView::from_engine(payout)).expect("views serialize"),
        object_id: payout.id.clone(),
        touched_assets: vec![payout.amount.asset],
        audit_note: None,
    }
}

pub(crate) fn load_payout(session: &dyn StoreWrite, scope: &Scope, id: &str) -> Result<Payout, AppError> {
    session.get_payout(scope, id)?.ok_or_else(|| EngineError::NotFound { object: "payout", id: id.to_owned() }.into())
}

fn emit_payout_event(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    payout: &Payout,
    event_type: &str,
    now_ms: i64,
) -> Result<(), AppError> {
    let payload = serde_json::to_string(&PayoutView::from_engine(payout)).expect("views serialize");
    emit_event(session, ids, &payout.scope, event_type, &payout.id, payload, now_ms)
}

fn payment_applied(payment: &PaymentIntent) -> Applied {
    Applied {
        response_json: serde_json::to_string(&PaymentIntentView::from_engine(payment)).expect("views serialize"),
        object_id: payment.id.clone(),
        touched_assets: vec![payment.credit_asset()],
        audit_note: None,
    }
}

pub(crate) fn load_payment(session: &dyn StoreWrite, scope: &Scope, id: &str) -> Result<PaymentIntent, AppError> {
    session
        .get_payment(scope, id)?
        .ok_or_else(|| EngineError::NotFound { object: "payment_intent", id: id.to_owned() }.into())
}

/// Takes a payment all the way to `succeeded`, through `processing` when it is still waiting.
pub(crate) fn settle_payment(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    payment: &PaymentIntent,
    now_ms: i64,
) -> Result<PaymentIntent, AppError> {
    let scope = payment.scope.clone();
    let mut balances = session.balances(&scope, &[payment.credit_asset()])?;
    let mut current = payment.clone();
    let mut transactions: Vec<LedgerTransaction> = Vec::new();
    if current.status == PaymentStatus::RequiresAction {
        let (processing, transaction) = payment::mark_processing(&current, &mut balances, ids, now_ms)?;
        transactions.push(transaction);
        current = processing;
        emit_payment_event(session, ids, &current, "payment_intent.processing", now_ms)?;
    }
    let (succeeded, transaction) = payment::mark_succeeded(&current, &mut balances, ids, now_ms)?;
    transactions.push(transaction);
    for transaction in &transactions {
        session.post_ledger_transaction(&scope, transaction, now_ms)?;
    }
    session.update_payment(&succeeded)?;
    emit_payment_event(session, ids, &succeeded, "payment_intent.succeeded", now_ms)?;
    Ok(succeeded)
}

fn fail_payment(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    payment: &PaymentIntent,
    reason: &str,
    now_ms: i64,
) -> Result<PaymentIntent, AppError> {
    let scope = payment.scope.clone();
    let mut balances = session.balances(&scope, &[payment.credit_asset()])?;
    let (failed, reversal) = payment::mark_failed(payment, reason, &mut balances, ids, now_ms)?;
    if let Some(transaction) = reversal {
        session.post_ledger_transaction(&scope, &transaction, now_ms)?;
    }
    session.update_payment(&failed)?;
    emit_payment_event(session, ids, &failed, "payment_intent.payment_failed", now_ms)?;
    Ok(failed)
}

/// Cancels a payout whose approval window closed unanswered and releases its funds.
pub(crate) fn expire_approval(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    payout: &Payout,
    now_ms: i64,
) -> Result<(), AppError> {
    let mut balances = session.balances(&payout.scope, &[payout.amount.asset])?;
    let (expired, release) = payout::expire_approval(payout, &mut balances, ids, now_ms)?;
    session.update_payout(&expired)?;
    session.post_ledger_transaction(&payout.scope, &release, now_ms)?;
    let detail = format!(
        "expired {}: nobody approved or rejected it in time; {} released",
        expired.id,
        expired.amount.display()
    );
    session.append_audit(&system_audit_record(ids, &expired.scope, "expire_approval", &expired.id, detail, now_ms))?;
    emit_payout_event(session, ids, &expired, "payout.expired", now_ms)
}

/// The simulated payout rail: pending → processing → paid (or failed for the test account
/// 0000000000), one step each time the payout falls due.
pub(crate) fn advance_test_payout(
    session: &mut dyn StoreWrite,
    rules: &PaymentRules,
    ids: &mut UuidIds,
    current: &Payout,
    now_ms: i64,
) -> Result<(), AppError> {
    let scope = &current.scope;
    match current.status {
        PayoutStatus::Pending => {
            let next_step_at_ms = rules.test_auto_settle_after_ms.map(|after_ms| later_ms(now_ms, after_ms));
            let processing = payout::mark_payout_processing(current, now_ms, next_step_at_ms)?;
            session.update_payout(&processing)?;
            emit_payout_event(session, ids, &processing, "payout.processing", now_ms)
        }
        PayoutStatus::Processing => {
            let mut balances = session.balances(scope, &[current.amount.asset])?;
            let (finished, transaction, event_type) = if payout::simulated_rail_fails(&current.destination) {
                let (failed, release) = payout::mark_payout_failed(
                    current,
                    "the bank rejected the account (test account 0000000000)",
                    &mut balances,
                    ids,
                    now_ms,
                )?;
                let detail = format!(
                    "{} failed on rail {}: {}; {} released",
                    failed.id,
                    failed.rail.code(),
                    failed.failure_reason.as_deref().unwrap_or_default(),
                    failed.amount.display()
                );
                session.append_audit(&system_audit_record(ids, scope, "payout_rail", &failed.id, detail, now_ms))?;
                (failed, release, "payout.failed")
            } else {
                let (paid, transaction) = payout::mark_payout_paid(current, &mut balances, ids, now_ms)?;
                (paid, transaction, "payout.paid")
            };
            session.update_payout(&finished)?;
            session.post_ledger_transaction(scope, &transaction, now_ms)?;
            emit_payout_event(session, ids, &finished, event_type, now_ms)
        }
        _ => {
            // Decided elsewhere since it fell due: nothing left to simulate.
            let mut settled = current.clone();
            settled.simulate_at_ms = None;
            session.update_payout(&settled)?;
            Ok(())
        }
    }
}

fn emit_payment_event(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    payment: &PaymentIntent,
    event_type: &str,
    now_ms: i64,
) -> Result<(), AppError> {
    let payload = serde_json::to_string(&PaymentIntentView::from_engine(payment)).expect("views serialize");
    emit_event(session, ids, &payment.scope, event_type, &payment.id, payload, now_ms)
}

pub(crate) fn emit_event(
    session: &mut dyn StoreWrite,
    ids: &mut UuidIds,
    scope: &Scope,
    event_type: &str,
    object_id: &str,
    payload_json: String,
    now_ms: i64,
) -> Result<(), AppError> {
    session.append_event(&EventRecord {
        id: ids.next_id("evt"),
        scope: scope.clone(),
        event_type: event_type.to_owned(),
        object_id: object_id.to_owned(),
        payload_json,
        created_at_ms: now_ms,
    })?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_record(
    ids: &mut UuidIds,
    actor: &Principal,
    tool: &str,
    outcome: &str,
    error_type: Option<&str>,
    object_id: Option<String>,
    idempotency_key: Option<String>,
    detail: String,
    now_ms: i64,
) -> AuditRecord {
    AuditRecord {
        id: ids.next_id("aud"),
        scope: actor.scope.clone(),
        key_id: actor.key_id.clone(),
        actor_owner: actor.owner.clone(),
        tool: tool.to_owned(),
        outcome: outcome.to_owned(),
        error_type: error_type.map(str::to_owned),
        object_id,
        idempotency_key: idempotency_key.map(|key| audit_idempotency_key(&key)),
        detail: crate::limits::truncate_chars(&detail, crate::limits::AUDIT_DETAIL_MAX_CHARS),
        created_at_ms: now_ms,
    }
}

/// What the audit log keeps of an idempotency key: the key itself when it is within its limit;
/// otherwise (a refused call) a short prefix and the SHA-256 of the whole key, enough to match it
/// against a client's logs without storing megabytes.
fn audit_idempotency_key(key: &str) -> String {
    use crate::limits::{AUDIT_KEY_PREFIX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS};
    if key.len() <= IDEMPOTENCY_KEY_MAX_CHARS || key.chars().count() <= IDEMPOTENCY_KEY_MAX_CHARS {
        return key.to_owned();
    }
    let prefix: String = key.chars().take(AUDIT_KEY_PREFIX_CHARS).collect();
    format!("{prefix}… sha256:{}", crate::app::keys::sha256_hex(key))
}

/// Who the audit log names for decisions harepay makes itself (expiries, rail outcomes).
pub const SYSTEM_ACTOR: &str = "harepay";

fn system_audit_record(
    ids: &mut UuidIds,
    scope: &Scope,
    tool: &str,
    object_id: &str,
    detail: String,
    now_ms: i64,
) -> AuditRecord {
    AuditRecord {
        id: ids.next_id("aud"),
        scope: scope.clone(),
        key_id: "system".to_owned(),
        actor_owner: SYSTEM_ACTOR.to_owned(),
        tool: tool.to_owned(),
        outcome: "executed".to_owned(),
        error_type: None,
        object_id: Some(object_id.to_owned()),
        idempotency_key: None,
        detail,
        created_at_ms: now_ms,
    }
}

fn balance_changes(assets: &[AssetRef], before: &Balances, after: &Balances) -> Vec<BalanceChange> {
    let mut changes = Vec::new();
    for asset in assets {
        for account in [AccountKind::Available, AccountKind::Pending, AccountKind::Reserved] {
            changes.push(BalanceChange {
                asset,
                account,
                before_minor: before.get(account, asset),
                after_minor: after.get(account, asset),
            });
        }
    }
    changes
}

/// One line for the audit log, in words.
fn describe(command: &Command) -> String {
    match command {
        Command::CreatePaymentIntent(request) => format!(
            "create {} {} payment of {} on {}",
            request.amount.asset.code,
            request.method.code(),
            request.amount.display(),
            request.rail.code()
        ),
        Command::RefundPayment { payment_intent_id, amount_minor, .. } => match amount_minor {
            Some(amount_minor) => format!("refund {amount_minor} minor units of {payment_intent_id}"),
            None => format!("refund the rest of {payment_intent_id}"),
        },
        Command::CancelPaymentIntent { payment_intent_id } => format!("cancel {payment_intent_id}"),
        Command::SimulatePayment { payment_intent_id, outcome } => {
            format!("simulate {outcome:?} for {payment_intent_id}")
        }
        Command::CreatePayout(request) => format!(
            "pay out {} over {} to {}",
            request.amount.display(),
            request.rail.code(),
            request.destination.describe()
        ),
        Command::CancelPayout { payout_id } => format!("cancel {payout_id}"),
        Command::ApprovePayout { payout_id, reason } => match reason {
            Some(reason) => format!("approve {payout_id}: {reason}"),
            None => format!("approve {payout_id}"),
        },
        Command::RejectPayout { payout_id, reason } => format!("reject {payout_id}: {reason}"),
    }
}
