//! `update_customer`: change a customer's email, name, phone or metadata.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::customers::{customer_view, load_customer_for_update};
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::customer::{self, CustomerChanges};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_metadata, check_object_id, optional_text};
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::CustomerView;

pub const ENTRY: Entry = Entry::write::<UpdateCustomer>();

pub struct UpdateCustomer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerArgs {
    /// The customer, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
    #[serde(default)]
    #[schemars(length(max = limits::EMAIL_MAX_CHARS))]
    pub email: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::NAME_MAX_CHARS))]
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(length(max = limits::PHONE_MAX_CHARS))]
    pub phone: Option<String>,
    /// Replaces the whole map.
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// false (default): preview only. true: update.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(UpdateCustomerArgs);

pub struct UpdateCustomerCommand {
    pub customer_id: String,
    pub changes: CustomerChanges,
}

impl WriteOperation for UpdateCustomer {
    const SPEC: Spec = Spec {
        name: "update_customer",
        toolset: Toolset::Customers,
        title: "Update customer",
        description: "Change a customer's email, name, phone or metadata (the fields given). An archived customer cannot change. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: true, open_world: false },
        examples: &[r#"{"id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "email": "ada@new.example.com", "name": "Ada O.", "phone": "+2348012345678", "metadata": {"crm": "43"}, "confirm": true}"#],
    };
    type Args = UpdateCustomerArgs;
    type Command = UpdateCustomerCommand;

    fn command(args: &UpdateCustomerArgs) -> Result<UpdateCustomerCommand, Failure> {
        let changes = CustomerChanges {
            email: args.email.clone(),
            name: optional_text(args.name.clone(), "name", limits::NAME_MAX_CHARS)?,
            phone: optional_text(args.phone.clone(), "phone", limits::PHONE_MAX_CHARS)?,
            metadata: args.metadata.clone().map(check_metadata).transpose()?,
        };
        if changes.is_empty() {
            return Err(Failure::invalid("email", "give at least one of email, name, phone or metadata to change"));
        }
        if let Some(email) = &changes.email {
            customer::validate_email(email).map_err(AppError::from)?;
        }
        if let Some(phone) = &changes.phone {
            customer::validate_phone(phone).map_err(AppError::from)?;
        }
        Ok(UpdateCustomerCommand { customer_id: check_object_id(&args.id, "cus_", "id")?, changes })
    }

    fn describe(command: &UpdateCustomerCommand) -> String {
        let changes = &command.changes;
        let named: Vec<&str> = [
            ("email", changes.email.is_some()),
            ("name", changes.name.is_some()),
            ("phone", changes.phone.is_some()),
            ("metadata", changes.metadata.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect();
        format!("update {} of {}", named.join(", "), command.customer_id)
    }

    fn message(customer: &CustomerView, outcome: Outcome) -> String {
        let verb = if outcome == Outcome::Preview { "Would update" } else { "Updated" };
        format!("{verb} customer {} ({}).", customer.id, customer.email)
    }
}

impl WriteCommand for UpdateCustomerCommand {
    type View = CustomerView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<CustomerView>, AppError> {
        let found = load_customer_for_update(session, &actor.scope, &self.customer_id)?;
        let updated = customer::update_customer(&found, self.changes.clone(), context.now_ms)?;
        session.update_customer(&updated)?;
        let applied = Applied::new(customer_view(session, &updated)?, &updated.id, Vec::new());
        emit_json(session, context, &actor.scope, "customer.updated", &updated.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
