//! `list_keys`: the keys of this merchant and mode, newest first, never a secret or its hash.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::permission::Action;
use crate::engine::principal::Principal;
use crate::limits;
use crate::ops::args::{PageLimit, check_cursor, page_request};
use crate::ops::keys::ApiKeyView;
use crate::ops::{Entry, Failure, Hints, Kind, ListResult, OpContext, ReadOperation, Spec, Toolset};

pub const ENTRY: Entry = Entry::read::<ListKeys>();

pub struct ListKeys;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListKeysArgs {
    /// Page size.
    #[serde(default)]
    pub limit: Option<PageLimit>,
    /// Cursor: the previous page's `next_starting_after`.
    #[serde(default)]
    #[schemars(length(max = limits::OBJECT_ID_MAX_CHARS))]
    pub starting_after: Option<String>,
}

impl ReadOperation for ListKeys {
    const SPEC: Spec = Spec {
        name: "list_keys",
        toolset: Toolset::Keys,
        title: "List API keys",
        description: "List this merchant's API keys in your mode, newest first, with status (active, expired, revoked) and the last 4 characters; never a secret. Page with limit and starting_after.",
        action: Action::ManageKeys,
        kind: Kind::Read,
        hints: Hints::READ,
        examples: &[r#"{"limit": 25}"#],
    };
    type Args = ListKeysArgs;
    type Output = ListResult<ApiKeyView>;

    fn validate(args: &ListKeysArgs) -> Result<(), Failure> {
        page_request(&args.limit, &args.starting_after).map(drop)
    }

    async fn run(context: &OpContext, principal: &Principal, args: ListKeysArgs) -> Result<ListResult<ApiKeyView>, Failure> {
        let page = page_request(&args.limit, &args.starting_after)?;
        let scope = principal.scope.clone();
        let now_ms = context.app.now_ms();
        let (views, has_more) = context
            .app
            .read(move |store| {
                check_cursor(&page, |cursor| {
                    Ok(store.get_api_key(cursor)?.is_some_and(|key| key.merchant_id == scope.merchant_id && key.mode == scope.mode))
                })?;
                let keys = store.list_api_keys_page(&scope, &page)?;
                let views = keys.items.iter().map(|key| ApiKeyView::new(key, now_ms)).collect::<Vec<_>>();
                Ok((views, keys.has_more))
            })
            .await?;
        Ok(ListResult::new(views, has_more, |key: &ApiKeyView| key.id.clone()))
    }
}
