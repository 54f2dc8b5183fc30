//! `run_billing`: close every subscription period that has ended and issue its invoice, once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::scheduler::absorb_batch;
use crate::app::error::AppError;
use crate::app::scheduler::{ScheduledWork, run_scheduled_work};
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::retry::RetryPolicy;
use crate::limits;
use crate::ops::args::KeyRule;
use crate::ops::{Entry, Failure, Hints, JsonObject, Kind, OpContext, OpFuture, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::billing::BillingRunView;

/// A write whose first batch runs in the tool's own transaction (so a preview lists what it would
/// invoice), followed by further batches, each a write of its own, until nothing is due.
pub const ENTRY: Entry = Entry { call: call_run_billing, ..Entry::write::<RunBilling>() };

pub struct RunBilling;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBillingArgs {
    /// false (default): preview the first batch. true: run.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a run is idempotent by itself (each period is closed once).
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(RunBillingArgs);

pub struct RunBillingCommand;

impl WriteOperation for RunBilling {
    const SPEC: Spec = Spec {
        name: "run_billing",
        toolset: Toolset::Billing,
        title: "Run billing",
        description: "Close every subscription period that has ended and issue its invoice (recurring fee plus usage not billed yet), each exactly once however often it runs. The scheduler does it too; this runs it now and reports what it did. Previews the first batch unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"confirm": true}"#],
    };
    type Args = RunBillingArgs;
    type Command = RunBillingCommand;

    fn command(_args: &RunBillingArgs) -> Result<RunBillingCommand, Failure> {
        Ok(RunBillingCommand)
    }

    fn describe(_command: &RunBillingCommand) -> String {
        "run billing: close ended subscription periods and issue their invoices".to_owned()
    }

    fn message(run: &BillingRunView, outcome: Outcome) -> String {
        let (close, issue) = if outcome == Outcome::Preview { ("Would close", "issue") } else { ("Closed", "issued") };
        let more = if run.more_due { " (first batch; more are due)" } else { "" };
        let failures =
            if run.failures > 0 { format!("; {} failed and will be retried", run.failures) } else { String::new() };
        format!("{close} {} periods and {issue} {} invoices{more}{failures}.", run.periods_closed, run.invoices_issued)
    }
}

impl WriteCommand for RunBillingCommand {
    type View = BillingRunView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<BillingRunView>, AppError> {
        let run = first_batch(actor, session, context)?;
        Ok(Applied::new(run, &actor.scope.merchant_id, Vec::new()))
    }
}

/// One batch of the caller's scope, in the caller's transaction.
pub(crate) fn first_batch(
    actor: &Principal,
    session: &mut dyn StoreWrite,
    context: &mut WriteContext<'_>,
) -> Result<BillingRunView, AppError> {
    let work = ScheduledWork::Billing { scope: Some(actor.scope.clone()) };
    let batch = run_scheduled_work(session, context, work, &RetryPolicy::default())?;
    let mut run = BillingRunView::default();
    absorb_batch(&mut run, &batch);
    run.more_due = !session.due_subscriptions(context.now_ms, Some(&actor.scope), None, 1)?.is_empty();
    Ok(run)
}

fn call_run_billing(context: &OpContext, principal: Principal, arguments: JsonObject) -> OpFuture<'_> {
    Box::pin(async move {
        let mut result = crate::ops::call_write::<RunBilling>(context, principal.clone(), arguments).await?;
        continue_billing(context, &principal, &mut result, "/object").await?;
        if let Some(run) = result.pointer("/object").cloned().and_then(|run| serde_json::from_value(run).ok())
            && result["outcome"] == "executed"
        {
            result["message"] = serde_json::Value::String(RunBilling::message(&run, Outcome::Executed));
        }
        Ok(result)
    })
}

/// After a confirmed call (executed or replayed), runs the batches still due in the caller's
/// scope and adds them to the run at `pointer` in the result.
pub(crate) async fn continue_billing(
    context: &OpContext,
    principal: &Principal,
    result: &mut serde_json::Value,
    pointer: &str,
) -> Result<(), Failure> {
    if result["outcome"] == "preview" {
        return Ok(());
    }
    let mut run: BillingRunView =
        result.pointer(pointer).cloned().and_then(|run| serde_json::from_value(run).ok()).unwrap_or_default();
    context.app.run_billing_batches(Some(principal.scope.clone()), &mut run).await?;
    if let Some(slot) = result.pointer_mut(pointer) {
        *slot = serde_json::to_value(&run).expect("views serialize");
    }
    Ok(())
}
