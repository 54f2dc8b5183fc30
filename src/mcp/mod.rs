//! The MCP server: one module per toolset, each tool's arguments, result type, annotations,
//! handler and tests side by side. This layer alone knows JSON and MCP; it turns arguments into
//! app commands and app results into tool results.
//!
//! Visibility: a key sees the tools its role may use; `--toolsets` and `--read-only` narrow that
//! further (read-only wins). A hidden tool that exists answers `forbidden`; an unknown name is a
//! protocol error.

pub mod account;
pub mod audit;
pub mod bounds;
pub mod catalog;
pub mod common;
pub mod confirmation;
#[cfg(test)]
mod fuzz_tests;
pub mod payments;
pub mod payouts;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, ContentBlock, Implementation, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::app::App;
use crate::engine::principal::{Principal, Role};
use crate::mcp::common::ToolFailure;

pub const LLMS_TXT_URI: &str = "harepay://docs/llms.txt";

/// A named group of tools, selectable with `--toolsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Toolset {
    Account,
    Payments,
    Payouts,
    Audit,
}

impl Toolset {
    pub const ALL: [Toolset; 4] = [Toolset::Account, Toolset::Payments, Toolset::Payouts, Toolset::Audit];

    pub fn code(self) -> &'static str {
        match self {
            Toolset::Account => "account",
            Toolset::Payments => "payments",
            Toolset::Payouts => "payouts",
            Toolset::Audit => "audit",
        }
    }

    pub fn parse(code: &str) -> Option<Toolset> {
        Toolset::ALL.into_iter().find(|toolset| toolset.code() == code)
    }

    pub fn description(self) -> &'static str {
        match self {
            Toolset::Account => "who you are, system health, balances",
            Toolset::Payments => "payment intents: create, list, inspect, refund, cancel, simulate (test mode)",
            Toolset::Payouts => "payouts to banks and wallets, with maker-checker approval and spend limits",
            Toolset::Audit => "the event outbox and the audit log of every write attempt",
        }
    }

    fn router(self) -> ToolRouter<HarepayServer> {
        let generated = match self {
            Toolset::Account => HarepayServer::account_tools(),
            Toolset::Payments => HarepayServer::payments_tools(),
            Toolset::Payouts => HarepayServer::payouts_tools(),
            Toolset::Audit => HarepayServer::audit_tools(),
        };
        let mut router = ToolRouter::new();
        for mut route in generated {
            // Doc comments arrive with their line breaks; agents read descriptions as one paragraph.
            if let Some(description) = &route.attr.description {
                route.attr.description = Some(description.split_whitespace().collect::<Vec<_>>().join(" ").into());
            }
            if let Some(schema) = &route.attr.output_schema {
                route.attr.output_schema = Some(Arc::new(portable(common::output_schema_with_errors(schema))));
            }
            route.attr.input_schema = Arc::new(portable((*route.attr.input_schema).clone()));
            router.add_route(route);
        }
        router
    }
}

fn portable(schema: rmcp::model::JsonObject) -> rmcp::model::JsonObject {
    let mut value = serde_json::Value::Object(schema);
    common::portable_nullables(&mut value);
    match value {
        serde_json::Value::Object(object) => object,
        _ => unreachable!("an object stays an object"),
    }
}

/// One tool of the registry, with the toolset it belongs to.
#[derive(Debug, Clone)]
pub struct RegisteredTool {
    pub toolset: Toolset,
    pub tool: Tool,
}

impl RegisteredTool {
    pub fn is_read_only(&self) -> bool {
        self.tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
    }

    /// Who may call it: everyone reads; checkers (approver, admin) decide approvals; makers
    /// (maker, admin) do every other write.
    pub fn allowed_roles(&self) -> &'static [Role] {
        if self.is_read_only() {
            &Role::ALL
        } else if payouts::CHECKER_TOOLS.contains(&self.tool.name.as_ref()) {
            &[Role::Approver, Role::Admin]
        } else {
            &[Role::Maker, Role::Admin]
        }
    }
}

/// Every tool harepay has, by toolset then name. tools/ and llms.txt are generated from this.
pub fn registry() -> Vec<RegisteredTool> {
    let mut tools = Vec::new();
    for toolset in Toolset::ALL {
        for tool in toolset.router().list_all() {
            tools.push(RegisteredTool { toolset, tool });
        }
    }
    tools
}

/// Server-wide narrowing of the tool list, from the command line.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Only read-only tools, whatever the key may do.
    pub read_only: bool,
    /// Only these toolsets; `None` is all of them.
    pub toolsets: Option<BTreeSet<Toolset>>,
    /// Whether `confirm: true` suffices or a human confirms each write by elicitation.
    pub confirm_mode: confirmation::ConfirmMode,
    /// How long a human's answer to a confirmation question stays usable (2026-07-28).
    pub confirmation_expiry_ms: i64,
    /// Tool calls per key, when the MCP layer enforces it (stdio). Over HTTP the transport
    /// takes it and limits every request before MCP sees it (429).
    pub key_rate_limiter: Option<Arc<crate::rate_limit::KeyRateLimiter>>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            read_only: false,
            toolsets: None,
            confirm_mode: confirmation::ConfirmMode::default(),
            confirmation_expiry_ms: crate::limits::CONFIRMATION_EXPIRY_DEFAULT_MS,
            key_rate_limiter: None,
        }
    }
}

/// Where the principal of a request comes from.
#[derive(Clone)]
pub enum Credentials {
    /// stdio: one key for the whole process (`HAREPAY_SECRET_KEY`), authenticated on every call
    /// so that revoking it takes effect at once.
    Fixed(Arc<String>),
    /// HTTP: the transport authenticated the request's bearer key, once, before MCP saw the
    /// request, and put the resulting `Principal` in the request's extensions.
    AuthenticatedRequest,
}

/// The MCP server for one connection. Cheap to clone: the state is shared.
#[derive(Clone)]
pub struct HarepayServer {
    app: App,
    credentials: Credentials,
    options: Arc<ServerOptions>,
    registry: Arc<Vec<RegisteredTool>>,
    tool_router: ToolRouter<HarepayServer>,
}

impl HarepayServer {
    /// Cheap: the registry and the router (schemas included) are built once per process, so
    /// HTTP can make a server per request.
    pub fn new(app: App, credentials: Credentials, options: ServerOptions) -> HarepayServer {
        static TOOLS: OnceLock<(Arc<Vec<RegisteredTool>>, ToolRouter<HarepayServer>)> = OnceLock::new();
        let (registry, tool_router) = TOOLS
            .get_or_init(|| {
                let mut tool_router = ToolRouter::new();
                for toolset in Toolset::ALL {
                    tool_router.merge(toolset.router());
                }
                (Arc::new(registry()), tool_router)
            })
            .clone();
        HarepayServer { app, credentials, options: Arc::new(options), registry, tool_router }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The principal of this request's key: on stdio the fixed key, checked on every call so
    /// that a revoked key stops working at once; over HTTP the one the transport authenticated
    /// for this very request (it reads no header itself).
    pub async fn principal_for(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ToolFailure> {
        match &self.credentials {
            Credentials::Fixed(secret_key) => Ok(self.app.authenticate(secret_key).await?),
            Credentials::AuthenticatedRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
                .cloned()
                .ok_or_else(|| ToolFailure::new("authentication_failed", "send Authorization: Bearer sk_…", None)),
        }
    }

    fn registered(&self, name: &str) -> Option<&RegisteredTool> {
        self.registry.iter().find(|registered| registered.tool.name == name)
    }

    /// Why `principal` may not call `tool` here, if it may not.
    fn refusal_reason(&self, principal: &Principal, tool: &RegisteredTool) -> Option<String> {
        if let Some(toolsets) = &self.options.toolsets
            && !toolsets.contains(&tool.toolset)
        {
            return Some(format!(
                "{} is in toolset {}, which this server does not enable (--toolsets)",
                tool.tool.name,
                tool.toolset.code()
            ));
        }
        if tool.is_read_only() {
            return None;
        }
        if self.options.read_only {
            return Some(format!("{} changes state and this server runs with --read-only", tool.tool.name));
        }
        if !tool.allowed_roles().contains(&principal.role) {
            let allowed: Vec<&str> = tool.allowed_roles().iter().map(|role| role.code()).collect();
            return Some(format!(
                "{} is for {} keys; this key is {}",
                tool.tool.name,
                allowed.join(" or "),
                principal.role.code()
            ));
        }
        None
    }

    pub fn visible_tools(&self, principal: &Principal) -> Vec<Tool> {
        self.registry
            .iter()
            .filter(|registered| self.refusal_reason(principal, registered).is_none())
            .map(|registered| registered.tool.clone())
            .collect()
    }
}

pub fn instructions() -> String {
    format!(
        "harepay moves a merchant's money. Conventions:\n\
         - Amounts are JSON integers in the currency's minor unit ({{\"amount\": 1000000, \"currency\": \"NGN\"}} is ₦10,000.00). Never send floats or strings.\n\
         - Read tools are safe to call freely. Write tools change nothing unless called with confirm: true; without it they return a preview of what would happen (fees, balances after).\n\
         - Money-moving writes with confirm: true need an idempotency_key (1-255 chars, unique per operation). Retrying with the same key and arguments returns the original result (outcome \"replayed\") and moves nothing again.\n\
         - Errors come back as results with isError and {{\"error\": {{\"type\", \"message\", \"param\"}}}}; act on error.type.\n\
         - Lists are newest first: pass next_starting_after as starting_after for the next page.\n\
         - Test-mode payments settle by themselves after a few seconds; simulate_payment forces an outcome.\n\
         - Payouts at or above a currency's threshold wait for a different person's approver key (see whoami for thresholds and your spend limits).\n\
         The full guide is the resource {LLMS_TXT_URI}."
    )
}

impl ServerHandler for HarepayServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("harepay", env!("CARGO_PKG_VERSION")).with_title("harepay payments"))
            .with_instructions(instructions())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = self
            .principal_for(&context)
            .await
            .map_err(|failure| ErrorData::invalid_request(failure.error.message, None))?;
        let mut result = ListToolsResult::with_all_items(self.visible_tools(&principal));
        if context.protocol_version().is_some_and(|version| version >= rmcp::model::ProtocolVersion::V_2026_07_28) {
            // The list depends on the key: only this client may cache it.
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Private);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let Some(registered) = self.registered(&name).cloned() else {
            return Err(ErrorData::invalid_params(format!("unknown tool {}", crate::limits::echo(&name)), None));
        };
        let principal = match self.principal_for(&context).await {
            Ok(principal) => principal,
            Err(failure) => return Ok(failure.into_call_tool_result().into()),
        };
        if let Some(refusal) = self.rate_limit_refusal(&principal) {
            return Ok(refusal);
        }
        // Tools take the principal as `Extension<Principal>`: one key check per call.
        context.extensions.insert(principal.clone());
        if let Some(reason) = self.refusal_reason(&principal, &registered) {
            let failure = ToolFailure::new("forbidden", reason, None);
            return Ok(self.refuse(&principal, &registered, &request, failure).await);
        }
        if let Err(failure) = bounds::check_argument_bounds(&registered.tool.input_schema, request.arguments.as_ref()) {
            return Ok(self.refuse(&principal, &registered, &request, failure).await);
        }
        if !registered.is_read_only() {
            match self.confirmation_gate(&request, &context).await? {
                confirmation::Gate::Proceed => {}
                confirmation::Gate::Ask(response) | confirmation::Gate::Relay(response) => return Ok(response),
                confirmation::Gate::Refuse(failure) => {
                    return Ok(self.refuse(&principal, &registered, &request, failure).await);
                }
            }
        }
        let response = self.tool_router.call(ToolCallContext::new(self, request.clone(), context)).await?;
        Ok(self.envelope_argument_errors(response, &principal, &registered, &request).await)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let llms_txt = Resource::new(LLMS_TXT_URI, "llms.txt")
            .with_title("harepay guide for agents (llms.txt)")
            .with_description("Auth, modes, money and idempotency conventions, the confirm rule and every tool.")
            .with_mime_type("text/markdown");
        Ok(ListResourcesResult::with_all_items(vec![llms_txt]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != LLMS_TXT_URI {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", crate::limits::echo(&request.uri)),
                None,
            ));
        }
        let contents = ResourceContents::TextResourceContents {
            uri: LLMS_TXT_URI.to_owned(),
            mime_type: Some("text/markdown".to_owned()),
            text: catalog::llms_txt(),
            meta: None,
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

impl HarepayServer {
    /// Arguments that did not decode (wrong type, unknown field, bad enum value) come back from
    /// rmcp as a bare text error. Give them our envelope so agents can act on `error.type`, and
    /// audit them when the tool writes.
    async fn envelope_argument_errors(
        &self,
        response: CallToolResponse,
        principal: &Principal,
        registered: &RegisteredTool,
        request: &CallToolRequestParams,
    ) -> CallToolResponse {
        let CallToolResponse::Complete(result) = response else { return response };
        if result.is_error != Some(true) || result.structured_content.is_some() {
            return CallToolResponse::Complete(result);
        }
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text(text) => Some(text.text.clone()),
                _ => None,
            })
            .collect();
        let failure = bounds::decoding_failure(&text.join(" "), request.arguments.as_ref());
        self.refuse(principal, registered, request, failure).await
    }

    /// Answers a call with `failure` before its tool ran, auditing the attempt when the tool
    /// writes (every write attempt, refused ones too, is in the audit log).
    async fn refuse(
        &self,
        principal: &Principal,
        registered: &RegisteredTool,
        request: &CallToolRequestParams,
        failure: ToolFailure,
    ) -> CallToolResponse {
        if !registered.is_read_only() {
            let idempotency_key = request
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get("idempotency_key"))
                .and_then(|key| key.as_str())
                .map(str::to_owned);
            let (error_type, message) = (failure.error.error_type.clone(), failure.error.message.clone());
            self.app.record_refusal(principal, &registered.tool.name, idempotency_key, error_type, message).await;
        }
        failure.into_call_tool_result().into()
    }

    /// The per-key limit, as a tool error the agent can act on: `rate_limited` with
    /// `retry_after_ms`. Not audited: writing an audit row per refused call would turn a flood
    /// into writes.
    fn rate_limit_refusal(&self, principal: &Principal) -> Option<CallToolResponse> {
        let limited = self.options.key_rate_limiter.as_ref()?.check(&principal.key_id).err()?;
        let mut failure = ToolFailure::new("rate_limited", limited.message("for this key"), None);
        failure.error.retry_after_ms = Some(limited.retry_after_ms);
        Some(failure.into_call_tool_result().into())
    }
}
