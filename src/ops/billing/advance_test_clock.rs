//! `advance_test_clock`: move the merchant's test-mode billing time forward and run what falls
//! due on the way, in time order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::scheduler::{ScheduledWork, run_scheduled_work};
use crate::engine::retry::RetryPolicy;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::engine::test_clock::{self, ClockAdvance};
use crate::limits;
use crate::ops::args::KeyRule;
use crate::ops::billing::run_billing::{continue_billing, first_batch};
use crate::ops::catalog::IntervalInput;
use crate::ops::{Entry, Failure, Hints, JsonObject, Kind, OpContext, OpFuture, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::billing::TestClockView;

/// The clock moves and the first batch of what fell due runs in the tool's transaction; further
/// batches, each a write of its own, follow until nothing is due (as `run_billing`).
pub const ENTRY: Entry = Entry { call: call_advance_test_clock, ..Entry::write::<AdvanceTestClock>() };

pub struct AdvanceTestClock;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClockArgs {
    /// Move to this time, ms since the epoch (ahead of the clock, at most 3 years).
    #[serde(default)]
    pub to: Option<i64>,
    /// Or move by an interval: e.g. {"unit": "month", "count": 1} or "annual".
    #[serde(default)]
    pub by: Option<IntervalInput>,
    /// false (default): preview. true: advance.
    #[serde(default)]
    pub confirm: bool,
    /// Required with confirm: true; a retry must not advance twice.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(AdvanceTestClockArgs);

pub struct AdvanceTestClockCommand(pub ClockAdvance);

impl WriteOperation for AdvanceTestClock {
    const SPEC: Spec = Spec {
        name: "advance_test_clock",
        toolset: Toolset::Billing,
        title: "Advance test clock",
        description: "Test mode: move this merchant's billing time forward (never back, at most 3 years a call) to a time (ms) or by an interval, running what falls due on the way: invoice expiries, then in time order trial ends, renewals and invoices, cancellations, past-due checks. Previews unless confirm: true.",
        action: Action::Initiate,
        kind: Kind::Write(KeyRule::Required),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[
            r#"{"by": {"unit": "month", "count": 1}, "confirm": true, "idempotency_key": "clock-1"}"#,
            r#"{"to": 1830000000000}"#,
        ],
    };
    type Args = AdvanceTestClockArgs;
    type Command = AdvanceTestClockCommand;

    fn command(args: &AdvanceTestClockArgs) -> Result<AdvanceTestClockCommand, Failure> {
        match (args.to, &args.by) {
            (Some(at_ms), None) => Ok(AdvanceTestClockCommand(ClockAdvance::To { at_ms })),
            (None, Some(by)) => {
                let interval = by.parse().map_err(|mut failure| {
                    failure.error.param = failure.error.param.map(|param| param.replacen("interval", "by", 1));
                    failure.error.message = failure.error.message.replace("interval", "by");
                    failure
                })?;
                Ok(AdvanceTestClockCommand(ClockAdvance::By { interval }))
            }
            _ => Err(Failure::invalid("to", "give exactly one of to (ms since the epoch) or by (an interval)")),
        }
    }

    fn describe(command: &AdvanceTestClockCommand) -> String {
        match command.0 {
            ClockAdvance::To { at_ms } => format!("advance the test clock to {at_ms} ms"),
            ClockAdvance::By { interval } => {
                format!("advance the test clock by {} {}", interval.count(), interval.unit().code())
            }
        }
    }

    fn message(clock: &TestClockView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would move" } else { "Moved" };
        format!(
            "{verb} the test clock from {} ms to {} ms; {} periods closed, {} invoices issued on the way{}.",
            clock.previous_now_ms,
            clock.now_ms,
            clock.billing.periods_closed,
            clock.billing.invoices_issued,
            if clock.billing.more_due { " (first batch shown; more fall due)" } else { "" }
        )
    }
}

impl WriteCommand for AdvanceTestClockCommand {
    type View = TestClockView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<TestClockView>, AppError> {
        let scope = &actor.scope;
        let offset_ms = session.test_clock_offset_ms(&scope.merchant_id)?;
        let previous_now_ms = test_clock::billing_now_ms(scope.mode, context.now_ms, offset_ms);
        let (offset_ms, now_ms) = test_clock::advance(scope.mode, context.now_ms, offset_ms, self.0)?;
        session.set_test_clock_offset(&scope.merchant_id, offset_ms, context.now_ms)?;
        // Invoices that expired on the way go first (a batch; the expiry sweep, which judges
        // test-mode invoices on this clock too, takes any more): billing issues no invoice with
        // an expiry, so nothing billed on the way can be among them.
        let expiries = ScheduledWork::InvoiceExpiriesInScope { scope: scope.clone() };
        run_scheduled_work(session, context, expiries, &RetryPolicy::default())?;
        let billing = first_batch(actor, session, context)?;
        let view = TestClockView { object: "test_clock".to_owned(), previous_now_ms, now_ms, offset_ms, billing };
        Ok(Applied::new(view, &scope.merchant_id, Vec::new()))
    }
}

fn call_advance_test_clock(context: &OpContext, principal: Principal, arguments: JsonObject) -> OpFuture<'_> {
    Box::pin(async move {
        let mut result = crate::ops::call_write::<AdvanceTestClock>(context, principal.clone(), arguments).await?;
        continue_billing(context, &principal, &mut result, "/object/billing").await?;
        if let Some(clock) = result.pointer("/object").cloned().and_then(|clock| serde_json::from_value(clock).ok())
            && result["outcome"] == "executed"
        {
            result["message"] = serde_json::Value::String(AdvanceTestClock::message(&clock, Outcome::Executed));
        }
        Ok(result)
    })
}
