//! `get_customer`: one customer with its prepaid balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::customers::{customer_view, load_customer};
use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::check_object_id;
use crate::ops::{Entry, Failure, Hints, Kind, OpContext, ReadOperation, Spec, Toolset};
use crate::views::CustomerView;

pub const ENTRY: Entry = Entry::read::<GetCustomer>();

pub struct GetCustomer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCustomerArgs {
    /// The customer id, `cus_…`.
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub id: String,
}

impl ReadOperation for GetCustomer {
    const SPEC: Spec = Spec {
        name: "get_customer",
        toolset: Toolset::Customers,
        title: "Get customer",
        description: "Retrieve one customer, archived or not, with its prepaid balance in every currency (prepaid_balances) and in NGN (prepaid_ngn).",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"id": "cus_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = GetCustomerArgs;
    type Output = CustomerView;

    fn validate(args: &GetCustomerArgs) -> Result<(), Failure> {
        check_object_id(&args.id, "cus_", "id").map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: GetCustomerArgs) -> Result<CustomerView, Failure> {
        let id = check_object_id(&args.id, "cus_", "id")?;
        let scope = principal.scope.clone();
        let view = context
            .app
            .read(move |store| {
                let customer = load_customer(store, &scope, &id)?;
                customer_view(store, &customer)
            })
            .await?;
        Ok(view)
    }
}
