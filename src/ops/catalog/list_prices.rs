//! `list_prices`: prices, newest first, by product.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, check_object_id, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::{PageRequest, PriceFilter};
use crate::views::PriceView;

pub const ENTRY: Entry = Entry::read::<ListPrices>();

pub struct ListPrices;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPricesArgs {
    /// Only prices of this product, `prod_…`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub product_id: Option<String>,
    /// true: only active prices; false: only inactive ones; omit for both.
    #[serde(default)]
    pub active: Option<bool>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ListPricesArgs {
    fn query(&self) -> Result<(PriceFilter, PageRequest), Failure> {
        let page = page_request(&self.limit, &self.starting_after)?;
        let product_id = match &self.product_id {
            Some(id) => Some(check_object_id(id, "prod_", "product_id")?),
            None => None,
        };
        Ok((PriceFilter { product_id, active: self.active }, page))
    }
}

impl ReadOperation for ListPrices {
    const SPEC: Spec = Spec {
        name: "list_prices",
        toolset: Toolset::Catalog,
        title: "List prices",
        description: "List prices, newest first, with model, unit_amount, included_units, auto_charge, interval and whether a subscription uses them. Filter by product_id or active; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"product_id": "prod_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b", "active": true, "limit": 5, "starting_after": "price_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListPricesArgs;
    type Output = ListResult<PriceView>;

    fn validate(args: &ListPricesArgs) -> Result<(), Failure> {
        args.query().map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListPricesArgs,
    ) -> Result<ListResult<PriceView>, Failure> {
        let (filter, page) = args.query()?;
        let scope = principal.scope.clone();
        let prices = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_price(&scope, cursor)?.is_some()))?;
                Ok(store.list_prices(&scope, &filter, &page)?)
            })
            .await?;
        let data = prices.items.iter().map(PriceView::from_engine).collect();
        Ok(ListResult::new(data, prices.has_more, |price: &PriceView| price.id.clone()))
    }
}
