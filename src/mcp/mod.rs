//! The MCP face: the operation registry (`crate::ops`) served as MCP tools. This layer alone knows
//! MCP; it builds each tool (schemas made portable, the error envelope admitted by every output
//! schema) once per process, checks who may call what, guards the raw arguments, asks the human
//! under `--confirm=elicit`, and hands the call to the operation.
//!
//! Visibility: a key sees the operations its role may use; `--toolsets`, `--tools` and (over
//! HTTP) the `X-MCP-Tools` header narrow that further, and `--read-only` wins. A hidden tool that
//! exists answers `forbidden` (and is audited when it writes); an unknown name is a protocol error.

pub mod bounds;
pub mod catalog;
pub mod common;
pub mod confirmation;

#[cfg(test)]
mod fuzz_tests;
pub mod schema;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::app::App;
use crate::engine::principal::Principal;
use crate::ops::{Entry, Failure, OpContext, Visibility};

pub const LLMS_TXT_URI: &str = "harepay://docs/llms.txt";

/// The HTTP header a client narrows its tool list with, per request (as the GitHub MCP server).
pub const TOOLS_HEADER: &str = "x-mcp-tools";

/// Server-wide settings of the MCP face, from the command line.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `--read-only`, `--toolsets`, `--tools`.
    pub visibility: Visibility,
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
            visibility: Visibility::default(),
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

/// An operation as an MCP tool, built once per process.
pub struct RegisteredTool {
    pub entry: &'static Entry,
    pub tool: Tool,
}

impl RegisteredTool {
    pub fn is_read_only(&self) -> bool {
        self.entry.spec.is_read()
    }
}

/// Every operation as an MCP tool, in registry order. tools/ and llms.txt are generated from this.
pub fn registry() -> &'static [RegisteredTool] {
    static TOOLS: OnceLock<Vec<RegisteredTool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let entries = crate::ops::registry();
        let mut outputs: Vec<schema::ToolOutput> = entries
            .iter()
            .map(|entry| schema::ToolOutput {
                tool: entry.spec.name.to_owned(),
                read_only: entry.spec.is_read(),
                schema: portable(common::output_schema_with_errors(&(entry.output_schema)())),
            })
            .collect();
        // Objects several tools of a toolset return are described in full once among them.
        for toolset in crate::ops::Toolset::ALL {
            let in_toolset: Vec<&str> =
                entries.iter().filter(|entry| entry.spec.toolset == toolset).map(|entry| entry.spec.name).collect();
            let (mut members, others): (Vec<_>, Vec<_>) =
                std::mem::take(&mut outputs).into_iter().partition(|output| in_toolset.contains(&output.tool.as_str()));
            schema::lean_output_schemas(&mut members);
            outputs = others.into_iter().chain(members).collect();
        }
        entries
            .iter()
            .map(|entry| {
                let output = outputs.iter().find(|output| output.tool == entry.spec.name).expect("one per entry");
                RegisteredTool { entry, tool: tool_of(entry, output.schema.clone()) }
            })
            .collect()
    })
}

fn registered(name: &str) -> Option<&'static RegisteredTool> {
    registry().iter().find(|registered| registered.entry.spec.name == name)
}

fn tool_of(entry: &Entry, output_schema: rmcp::model::JsonObject) -> Tool {
    let spec = &entry.spec;
    let input_schema = schema::lean_input_schema(&portable((entry.input_schema)()));
    let annotations = ToolAnnotations::new()
        .read_only(spec.is_read())
        .destructive(spec.hints.destructive)
        .idempotent(spec.hints.idempotent)
        .open_world(spec.hints.open_world);
    Tool::new(spec.name, spec.description, Arc::new(input_schema))
        .with_title(spec.title)
        .with_raw_output_schema(Arc::new(output_schema))
        .with_annotations(annotations)
}

fn portable(schema: rmcp::model::JsonObject) -> rmcp::model::JsonObject {
    let mut value = serde_json::Value::Object(schema);
    common::portable_nullables(&mut value);
    match value {
        serde_json::Value::Object(object) => object,
        _ => unreachable!("an object stays an object"),
    }
}

/// The MCP server for one connection (or, over HTTP, one request). Cheap to clone: the state is
/// shared and the tools are built once per process.
#[derive(Clone)]
pub struct HarepayServer {
    app: App,
    credentials: Credentials,
    options: Arc<ServerOptions>,
}

impl HarepayServer {
    async fn call_tool_in_span(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(registered) = registered(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}", crate::limits::echo(&request.name)),
                None,
            ));
        };
        let principal = match self.principal_for(&context).await {
            Ok(principal) => principal,
            Err(failure) => return Ok(failure_result(failure).into()),
        };
        if let Some(refusal) = self.rate_limit_refusal(&principal) {
            return Ok(refusal);
        }
        context.extensions.insert(principal.clone());
        if let Some(reason) = self.visibility_for(&context).refusal(&principal, &registered.entry.spec) {
            let failure = Failure::new("forbidden", reason, None);
            return Ok(self.refuse(&principal, registered, &request, failure).await);
        }
        if let Err(failure) = bounds::check_argument_bounds(&registered.tool.input_schema, request.arguments.as_ref()) {
            return Ok(self.refuse(&principal, registered, &request, failure).await);
        }
        if !registered.is_read_only() {
            match self.confirmation_gate(registered.entry, &principal, &request, &context).await? {
                confirmation::Gate::Proceed => {}
                confirmation::Gate::Ask(response) | confirmation::Gate::Relay(response) => return Ok(response),
                confirmation::Gate::Refuse(failure) => {
                    return Ok(self.refuse(&principal, registered, &request, failure).await);
                }
            }
        }
        let arguments = request.arguments.clone().unwrap_or_default();
        let result = match self.run_operation(registered.entry, principal, arguments, &context).await {
            Ok(value) => CallToolResult::structured(value),
            Err(failure) => failure_result(failure),
        };
        Ok(result.into())
    }

    pub fn new(app: App, credentials: Credentials, options: ServerOptions) -> HarepayServer {
        HarepayServer { app, credentials, options: Arc::new(options) }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The principal of this request's key: on stdio the fixed key, checked on every call so
    /// that a revoked key stops working at once; over HTTP the one the transport authenticated
    /// for this very request (it reads no header itself).
    pub async fn principal_for(&self, context: &RequestContext<RoleServer>) -> Result<Principal, Failure> {
        match &self.credentials {
            Credentials::Fixed(secret_key) => Ok(self.app.authenticate(secret_key).await?),
            Credentials::AuthenticatedRequest => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
                .cloned()
                .ok_or_else(|| Failure::new("authentication_failed", "send Authorization: Bearer sk_…", None)),
        }
    }

    /// The server's visibility, narrowed by this request's `X-MCP-Tools` header when it has one.
    fn visibility_for(&self, context: &RequestContext<RoleServer>) -> Arc<Visibility> {
        let requested = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.headers.get(TOOLS_HEADER))
            .and_then(|value| value.to_str().ok())
            .map(parse_tool_names);
        let mut visibility = self.options.visibility.clone();
        if let Some(requested) = requested {
            visibility.tools = Some(match visibility.tools {
                Some(enabled) => enabled.intersection(&requested).cloned().collect(),
                None => requested,
            });
        }
        Arc::new(visibility)
    }

    fn operation_context(&self, context: &RequestContext<RoleServer>) -> OpContext {
        OpContext { app: self.app.clone(), visibility: self.visibility_for(context) }
    }

    /// Runs one operation as `principal` and answers as MCP: structured content, or the error
    /// envelope with `isError`.
    pub(crate) async fn run_operation(
        &self,
        entry: &Entry,
        principal: Principal,
        arguments: rmcp::model::JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<serde_json::Value, Failure> {
        let operation_context = self.operation_context(context);
        (entry.call)(&operation_context, principal, arguments).await
    }
}

/// `a, b ,c` → {a, b, c}; names that are no tool simply match nothing.
pub fn parse_tool_names(text: &str) -> BTreeSet<String> {
    text.split(',').map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned).collect()
}

pub fn failure_result(failure: Failure) -> CallToolResult {
    CallToolResult::structured_error(serde_json::to_value(&failure).expect("errors serialize"))
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
        let visibility = self.visibility_for(&context);
        let tools = registry()
            .iter()
            .filter(|registered| visibility.refusal(&principal, &registered.entry.spec).is_none())
            .map(|registered| registered.tool.clone())
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        if context.protocol_version().is_some_and(|version| version >= rmcp::model::ProtocolVersion::V_2026_07_28) {
            // The list depends on the key: only this client may cache it.
            result = result.with_ttl_ms(0).with_cache_scope(CacheScope::Private);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        registered(name).map(|registered| registered.tool.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        use tracing::Instrument;
        // rmcp may run the call on a task of its own: the span carries the HTTP request id there
        // (the transport put it in the request's principal).
        let request_id = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .and_then(|principal| principal.request_id.clone());
        // At error level so that the span is on every line whatever the filter.
        let span = tracing::error_span!(
            "tool",
            name = %crate::limits::echo(&request.name),
            request_id = request_id.as_deref().unwrap_or_default()
        );
        self.call_tool_in_span(request, context).instrument(span).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = catalog::resources()
            .into_iter()
            .map(|resource| {
                Resource::new(resource.uri, resource.name)
                    .with_title(resource.title)
                    .with_description(resource.description)
                    .with_mime_type(resource.mime_type)
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let resource = catalog::resources().into_iter().find(|resource| resource.uri == request.uri);
        let (Some(resource), Some(text)) = (resource, catalog::resource_text(&request.uri)) else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {}", crate::limits::echo(&request.uri)),
                None,
            ));
        };
        let contents = ResourceContents::TextResourceContents {
            uri: resource.uri,
            mime_type: Some(resource.mime_type.to_owned()),
            text,
            meta: None,
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

impl HarepayServer {
    /// Answers a call with `failure` before its operation ran, auditing the attempt when the
    /// operation writes (every write attempt, refused ones too, is in the audit log).
    async fn refuse(
        &self,
        principal: &Principal,
        registered: &RegisteredTool,
        request: &CallToolRequestParams,
        failure: Failure,
    ) -> CallToolResponse {
        if !registered.is_read_only() {
            let idempotency_key = request
                .arguments
                .as_ref()
                .and_then(|arguments| arguments.get("idempotency_key"))
                .and_then(|key| key.as_str())
                .map(str::to_owned);
            let (error_type, message) = (failure.error.error_type.clone(), failure.error.message.clone());
            self.app.record_refusal(principal, registered.entry.spec.name, idempotency_key, error_type, message).await;
        }
        failure_result(failure).into()
    }

    /// The per-key limit, as a tool error the agent can act on: `rate_limited` with
    /// `retry_after_ms`. Not audited: writing an audit row per refused call would turn a flood
    /// into writes.
    fn rate_limit_refusal(&self, principal: &Principal) -> Option<CallToolResponse> {
        let limited = self.options.key_rate_limiter.as_ref()?.check(&principal.key_id).err()?;
        let mut failure = Failure::new("rate_limited", limited.message("for this key"), None);
        failure.error.retry_after_ms = Some(limited.retry_after_ms);
        Some(failure_result(failure).into())
    }
}
