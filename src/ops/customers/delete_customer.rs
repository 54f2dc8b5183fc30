//! `delete_customer`: archive a customer; its history stays.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::customers::{customer_view, load_customer_for_update};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::customer;
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_object_id};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::CustomerView;

pub const ENTRY: Entry = Entry::write::<DeleteCustomer>();

pub struct DeleteCustomer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteCustomerArgs {
    /// The customer to archive, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    /// false (default): preview only. true: archive.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(DeleteCustomerArgs);

pub struct DeleteCustomerCommand {
    pub customer_id: String,
}

impl WriteOperation for DeleteCustomer {
    const SPEC: Spec = Spec {
        name: "delete_customer",
        toolset: Toolset::Customers,
        title: "Delete (archive) customer",
        description: "Archive a customer: it stays readable with its history and prepaid balance, but can no longer be updated, topped up, invoiced or subscribed. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: true, idempotent: true, open_world: false },
        examples: &[r#"{"id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "confirm": true}"#],
    };
    type Args = DeleteCustomerArgs;
    type Command = DeleteCustomerCommand;

    fn command(args: &DeleteCustomerArgs) -> Result<DeleteCustomerCommand, Failure> {
        Ok(DeleteCustomerCommand { customer_id: check_object_id(&args.id, "cus_", "id")? })
    }

    fn describe(command: &DeleteCustomerCommand) -> String {
        format!("archive {}", command.customer_id)
    }

    fn message(customer: &CustomerView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would archive" } else { "Archived" };
        format!("{verb} customer {} ({}); its history and prepaid balance stay.", customer.id, customer.email)
    }
}

impl WriteCommand for DeleteCustomerCommand {
    type View = CustomerView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<CustomerView>, AppError> {
        let found = load_customer_for_update(session, &actor.scope, &self.customer_id)?;
        let archived = customer::archive_customer(&found, context.now_ms)?;
        session.update_customer(&archived)?;
        let applied = Applied::new(customer_view(session, &archived)?, &archived.id, Vec::new());
        emit_json(session, context, &actor.scope, "customer.deleted", &archived.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
