//! `list_products`: products, newest first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, page_request};
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};
use crate::store::ProductFilter;
use crate::views::ProductView;

pub const ENTRY: Entry = Entry::read::<ListProducts>();

pub struct ListProducts;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProductsArgs {
    /// true: only active products; false: only archived ones; omit for both.
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

impl ReadOperation for ListProducts {
    const SPEC: Spec = Spec {
        name: "list_products",
        toolset: Toolset::Catalog,
        title: "List products",
        description: "List products, newest first. Filter by active; page with limit and starting_after.",
        action: Action::Read,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"active": true, "limit": 5, "starting_after": "prod_0190b5a4c2d37e4f8a9b0c1d2e3f4a5b"}"#],
    };
    type Args = ListProductsArgs;
    type Output = ListResult<ProductView>;

    fn validate(args: &ListProductsArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(
        context: &OpContext,
        principal: &Principal,
        args: ListProductsArgs,
    ) -> Result<ListResult<ProductView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let filter = ProductFilter { active: args.active };
        let scope = principal.scope.clone();
        let products = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| Ok(store.get_product(&scope, cursor)?.is_some()))?;
                Ok(store.list_products(&scope, &filter, &page)?)
            })
            .await?;
        let data = products.items.iter().map(ProductView::from_engine).collect();
        Ok(ListResult::new(data, products.has_more, |product: &ProductView| product.id.clone()))
    }
}
