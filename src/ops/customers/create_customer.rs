//! `create_customer`: someone the merchant bills.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::WriteContext;
use crate::app::error::AppError;
use crate::app::write::{Applied, Outcome, WriteCommand, emit_json};
use crate::engine::customer::{self, NewCustomer};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{KeyRule, check_metadata, optional_text};
use crate::ops::customers::email_domain;
use crate::ops::{Entry, Failure, Hints, Kind, Spec, Toolset, WriteOperation, write_args};
use crate::store::StoreWrite;
use crate::views::CustomerView;

pub const ENTRY: Entry = Entry::write::<CreateCustomer>();

pub struct CreateCustomer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerArgs {
    /// e.g. "ada@example.com" (ASCII; see the guide).
    #[schemars(length(max = limits::EMAIL_MAX_CHARS))]
    pub email: String,
    #[serde(default)]
    #[schemars(length(max = limits::NAME_MAX_CHARS))]
    pub name: Option<String>,
    /// e.g. "+2348012345678".
    #[serde(default)]
    #[schemars(length(max = limits::PHONE_MAX_CHARS))]
    pub phone: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "crate::ops::args::metadata_schema")]
    pub metadata: BTreeMap<String, String>,
    /// false (default): preview only. true: create.
    #[serde(default)]
    pub confirm: bool,
    /// Optional: a key makes retries return the first result.
    #[serde(default)]
    #[schemars(length(max = limits::IDEMPOTENCY_KEY_MAX_CHARS))]
    pub idempotency_key: Option<String>,
}
write_args!(CreateCustomerArgs);

pub struct CreateCustomerCommand(pub NewCustomer);

impl WriteOperation for CreateCustomer {
    const SPEC: Spec = Spec {
        name: "create_customer",
        toolset: Toolset::Customers,
        title: "Create customer",
        description: "Create a customer to bill (email required). It starts with no prepaid balance. Previews unless confirm: true.",
        action: Action::Manage,
        kind: Kind::Write(KeyRule::Optional),
        hints: Hints { destructive: false, idempotent: false, open_world: false },
        examples: &[r#"{"email": "ada@example.com", "name": "Ada Obi", "phone": "+2348012345678", "metadata": {"crm": "42"}, "confirm": true, "idempotency_key": "customer-ada"}"#],
    };
    type Args = CreateCustomerArgs;
    type Command = CreateCustomerCommand;

    const PREVIEW_OMITS: &'static [&'static str] = &["/id"];

    fn command(args: &CreateCustomerArgs) -> Result<CreateCustomerCommand, Failure> {
        let request = NewCustomer {
            email: args.email.clone(),
            name: optional_text(args.name.clone(), "name", limits::NAME_MAX_CHARS)?,
            phone: optional_text(args.phone.clone(), "phone", limits::PHONE_MAX_CHARS)?,
            metadata: check_metadata(args.metadata.clone())?,
        };
        // The rules that need no stored state, checked before the writer: an address or a phone
        // number that cannot be one is refused here.
        customer::validate_email(&request.email).map_err(AppError::from)?;
        if let Some(phone) = &request.phone {
            customer::validate_phone(phone).map_err(AppError::from)?;
        }
        Ok(CreateCustomerCommand(request))
    }

    fn describe(command: &CreateCustomerCommand) -> String {
        format!("create a customer with an email at {}", email_domain(&command.0.email))
    }

    fn message(customer: &CustomerView, outcome: Outcome) -> String {
        match outcome {
            Outcome::Preview => format!("Would create a customer with email {}.", customer.email),
            _ => format!("Created customer {} ({}).", customer.id, customer.email),
        }
    }
}

impl WriteCommand for CreateCustomerCommand {
    type View = CustomerView;

    fn apply(
        &self,
        actor: &Principal,
        session: &mut dyn StoreWrite,
        context: &mut WriteContext<'_>,
    ) -> Result<Applied<CustomerView>, AppError> {
        let id = context.ids.next_id("cus");
        let customer = customer::create_customer(&actor.scope, self.0.clone(), id, context.now_ms)?;
        session.insert_customer(&customer)?;
        let applied = Applied::new(CustomerView::new(&customer, &[]), &customer.id, Vec::new());
        emit_json(session, context, &actor.scope, "customer.created", &customer.id, applied.view_json.clone())?;
        Ok(applied)
    }
}
