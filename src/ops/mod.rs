//! Operations: the unit harepay is built from. Each operation (`create_payout`, `get_payment`, …)
//! lives in one file under `ops/<toolset>/` that declares, side by side: its `Spec` (name,
//! toolset, title, description, the permission it needs, read or write with its idempotency
//! rule, behaviour hints), its argument and result types (their JSON Schema is derived), and its
//! work — a read's query, or a write's validation (off the writer thread), load → decide → save
//! (on it), audit line and result message — with its tests or a pointer to them.
//!
//! Every face is derived from the registry below and writes no rule of its own: the MCP tool list
//! and calls (`mcp`), the checked-in catalog `tools/*.json` and `llms.txt`, the role-scoped
//! visibility, `--read-only`, `--toolsets` and `--tools`. A REST face would map each `Spec` to a
//! route and call the same `Entry::call`.

pub mod account;
pub mod args;
pub mod audit;
pub mod billing;
pub mod catalog;
pub mod customers;
pub mod decode;
pub mod disputes;
pub mod failure;
pub mod invoices;
pub mod keys;
pub mod payments;
pub mod payouts;
pub mod webhooks;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::app::write::{BalanceChange, IdempotencyInput, Outcome, ToolWrite, WriteCommand, WriteOutcome};
use crate::engine::permission::{Action, role_may, roles_allowed};
use crate::engine::principal::Principal;
pub use crate::ops::args::KeyRule;
pub use crate::ops::failure::{ErrorBody, Failure};
use crate::views::MoneyView;

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A named group of operations, selectable with `--toolsets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Toolset {
    Account,
    Payments,
    Payouts,
    Customers,
    Catalog,
    Invoices,
    Billing,
    Disputes,
    Webhooks,
    Keys,
    Audit,
}

impl Toolset {
    pub const ALL: [Toolset; 11] = [
        Toolset::Account,
        Toolset::Payments,
        Toolset::Payouts,
        Toolset::Customers,
        Toolset::Catalog,
        Toolset::Invoices,
        Toolset::Billing,
        Toolset::Disputes,
        Toolset::Webhooks,
        Toolset::Keys,
        Toolset::Audit,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Toolset::Account => "account",
            Toolset::Payments => "payments",
            Toolset::Payouts => "payouts",
            Toolset::Customers => "customers",
            Toolset::Catalog => "catalog",
            Toolset::Invoices => "invoices",
            Toolset::Billing => "billing",
            Toolset::Audit => "audit",
            Toolset::Disputes => "disputes",
            Toolset::Keys => "keys",
            Toolset::Webhooks => "webhooks",
        }
    }

    pub fn parse(code: &str) -> Option<Toolset> {
        Toolset::ALL.into_iter().find(|toolset| toolset.code() == code)
    }

    /// Offered when the operator names no toolsets. Every tool costs an agent's context window and
    /// some clients stop reading a stdio message at 64 KiB, so setup-time and bookkeeping toolsets
    /// are opt-in (`--toolsets default,catalog` or `--toolsets all`).
    pub fn enabled_by_default(self) -> bool {
        match self {
            Toolset::Account | Toolset::Payments | Toolset::Payouts | Toolset::Customers | Toolset::Invoices => true,
            Toolset::Catalog
            | Toolset::Billing
            | Toolset::Disputes
            | Toolset::Webhooks
            | Toolset::Keys
            | Toolset::Audit => false,
        }
    }

    pub fn defaults() -> BTreeSet<Toolset> {
        Toolset::ALL.into_iter().filter(|toolset| toolset.enabled_by_default()).collect()
    }

    /// Parses `--toolsets`: toolset names plus the shorthands `default` and `all`.
    pub fn parse_selection<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<BTreeSet<Toolset>, String> {
        let mut selected = BTreeSet::new();
        for name in names {
            match name.trim() {
                "all" => selected.extend(Toolset::ALL),
                "default" => selected.extend(Toolset::defaults()),
                code => {
                    let toolset = Toolset::parse(code).ok_or_else(|| {
                        let known: Vec<&str> = Toolset::ALL.iter().map(|toolset| toolset.code()).collect();
                        format!("unknown toolset {code:?}; known: {}, default, all", known.join(", "))
                    })?;
                    selected.insert(toolset);
                }
            }
        }
        Ok(selected)
    }

    pub fn description(self) -> &'static str {
        match self {
            Toolset::Account => "who you are, system health, balances",
            Toolset::Payments => "payment intents: create, list, inspect, refund, cancel, simulate (test mode)",
            Toolset::Payouts => "payouts to banks and wallets, with maker-checker approval and spend limits",
            Toolset::Customers => "customers and their prepaid balances: create, update, list, archive, top up",
            Toolset::Catalog => "products and prices (recurring or usage, with allowances and billing intervals)",
            Toolset::Invoices => {
                "invoices with line items: create, finalize, pay (partial and over-payment), void, list, totals"
            }
            Toolset::Billing => "subscriptions, metered usage with allowances and overage, billing runs, test clocks",
            Toolset::Audit => "the event outbox and the audit log of every write attempt",
            Toolset::Disputes => "disputes of payments: list, inspect, answer with evidence, simulate (test mode)",
            Toolset::Keys => "the merchant's API keys, for admin keys: create (rate-limited, capped), list, revoke",
            Toolset::Webhooks => "signed webhook endpoints that receive the events, and their deliveries",
        }
    }
}

/// Whether an operation reads or writes, and for a write whether a confirmed call needs an
/// idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write(KeyRule),
}

/// How a write behaves, for clients that decide what to ask a human (MCP tool annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// It may undo or end something (a cancel, a refund, money out).
    pub destructive: bool,
    /// Repeating it (with its idempotency key) changes nothing more.
    pub idempotent: bool,
    /// It reaches outside harepay (a payer, a bank, a chain).
    pub open_world: bool,
}

impl Hints {
    /// What every read is.
    pub const READ: Hints = Hints { destructive: false, idempotent: true, open_world: false };
}

/// What an operation is, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    pub toolset: Toolset,
    pub title: &'static str,
    /// For agents: what it does and what they need to know to call it, in one paragraph.
    pub description: &'static str,
    pub action: Action,
    pub kind: Kind,
    pub hints: Hints,
    /// Valid calls, as JSON arguments: documentation for agents, and seeds for the fuzz tests
    /// (each must pass the operation's validation).
    pub examples: &'static [&'static str],
}

impl Spec {
    pub fn is_read(&self) -> bool {
        self.kind == Kind::Read
    }
}

/// What a running operation may use.
#[derive(Clone)]
pub struct OpContext {
    pub app: App,
    pub visibility: Arc<Visibility>,
}

/// A read: a query against one consistent snapshot.
pub trait ReadOperation: Send + Sync + 'static {
    const SPEC: Spec;
    type Args: DeserializeOwned + JsonSchema + Send + 'static;
    type Output: Serialize + JsonSchema + Send + 'static;

    /// The checks of the arguments that need no stored state (`run` relies on them having
    /// passed): ids, codes, pages.
    fn validate(_args: &Self::Args) -> Result<(), Failure> {
        Ok(())
    }

    fn run(
        context: &OpContext,
        principal: &Principal,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Failure>> + Send;
}

/// The two arguments every write takes besides its own.
pub trait WriteArgs {
    /// false: a preview that saves nothing; true: do it.
    fn confirm(&self) -> bool;
    fn idempotency_key(&self) -> Option<&str>;
}

/// A write: validated here, then load → decide → save by its `Command` on the writer thread.
pub trait WriteOperation: Send + Sync + 'static {
    const SPEC: Spec;
    type Args: DeserializeOwned + JsonSchema + Serialize + WriteArgs + Send + Sync + 'static;
    type Command: WriteCommand<View: JsonSchema>;

    /// Checks the arguments and turns them into the command; a refusal here is audited.
    fn command(args: &Self::Args) -> Result<Self::Command, Failure>;

    /// The audit log's line for the request.
    fn describe(command: &Self::Command) -> String;

    /// What happened, or for a preview what would happen, in a sentence or two.
    fn message(view: &<Self::Command as WriteCommand>::View, outcome: Outcome) -> String;

    /// Checks that need the caller's key and may wait (a DNS lookup), after `command` and before
    /// the writer; a refusal here is audited. Most operations need none.
    fn check_for_principal(
        _principal: &Principal,
        _args: &Self::Args,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        async { Ok(()) }
    }

    /// What a preview leaves out of the object because it would not exist yet: the new object's
    /// id and its payment instructions (JSON pointers into the object, e.g. `/id`). A preview
    /// says what would be created; it hands out nothing an agent could act on.
    const PREVIEW_OMITS: &'static [&'static str] = &[];
}

pub type OpFuture<'a> = Pin<Box<dyn Future<Output = Result<serde_json::Value, Failure>> + Send + 'a>>;

/// One operation of the registry, type-erased for the faces.
#[derive(Clone, Copy)]
pub struct Entry {
    pub spec: Spec,
    pub input_schema: fn() -> JsonObject,
    pub output_schema: fn() -> JsonObject,
    /// Decodes the JSON arguments, runs the operation as `principal`, and answers its result as
    /// JSON (made here, once). Visibility is the face's to check first (`Visibility::refusal`).
    pub call: for<'a> fn(&'a OpContext, Principal, JsonObject) -> OpFuture<'a>,
    /// What `call` checks of the arguments before it reads or writes anything: decoding, and the
    /// operation's own checks (for a write, its idempotency key and command). For tests.
    pub validate: fn(JsonObject) -> Result<(), Failure>,
}

impl Entry {
    pub const fn read<O: ReadOperation>() -> Entry {
        Entry {
            spec: O::SPEC,
            input_schema: input_schema::<O::Args>,
            output_schema: output_schema::<O::Output>,
            call: call_read::<O>,
            validate: validate_read::<O>,
        }
    }

    pub const fn write<O: WriteOperation>() -> Entry {
        Entry {
            spec: O::SPEC,
            input_schema: input_schema::<O::Args>,
            output_schema: write_output_schema::<O>,
            call: call_write::<O>,
            validate: validate_write::<O>,
        }
    }
}

/// Every operation harepay has, by toolset then as each toolset lists them.
pub fn registry() -> &'static [Entry] {
    static REGISTRY: OnceLock<Vec<Entry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut entries = Vec::new();
        for toolset in Toolset::ALL {
            entries.extend_from_slice(match toolset {
                Toolset::Account => account::OPERATIONS,
                Toolset::Payments => payments::OPERATIONS,
                Toolset::Payouts => payouts::OPERATIONS,
                Toolset::Customers => customers::OPERATIONS,
                Toolset::Catalog => catalog::OPERATIONS,
                Toolset::Invoices => invoices::OPERATIONS,
                Toolset::Billing => billing::OPERATIONS,
                Toolset::Audit => audit::OPERATIONS,
                Toolset::Disputes => disputes::OPERATIONS,
                Toolset::Keys => keys::OPERATIONS,
                Toolset::Webhooks => webhooks::OPERATIONS,
            });
        }
        entries
    })
}

pub fn find(name: &str) -> Option<&'static Entry> {
    registry().iter().find(|entry| entry.spec.name == name)
}

/// Declares a toolset's operation modules and its `OPERATIONS`, in the order they are listed.
/// Each module defines `ENTRY`.
macro_rules! operations {
    ($($module:ident),+ $(,)?) => {
        $(pub mod $module;)+
        pub const OPERATIONS: &[$crate::ops::Entry] = &[$($module::ENTRY),+];
    };
}
pub(crate) use operations;

/// Implements `WriteArgs` for an argument struct with the usual `confirm: bool` and
/// `idempotency_key: Option<String>` fields.
macro_rules! write_args {
    ($args:ty) => {
        impl $crate::ops::WriteArgs for $args {
            fn confirm(&self) -> bool {
                self.confirm
            }

            fn idempotency_key(&self) -> Option<&str> {
                self.idempotency_key.as_deref()
            }
        }
    };
}
pub(crate) use write_args;

/// Which operations a server offers: `--read-only`, `--toolsets`, `--tools` (and over HTTP the
/// `X-MCP-Tools` header), on top of what each key's role allows. Read-only wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visibility {
    pub read_only: bool,
    /// Only these toolsets; `None` is all of them.
    pub toolsets: Option<BTreeSet<Toolset>>,
    /// Only these operations by name; `None` is all of them.
    pub tools: Option<BTreeSet<String>>,
}

impl Visibility {
    /// Why `principal` may not call `spec` here, if it may not.
    pub fn refusal(&self, principal: &Principal, spec: &Spec) -> Option<String> {
        if let Some(toolsets) = &self.toolsets
            && !toolsets.contains(&spec.toolset)
        {
            return Some(format!(
                "{} is in toolset {}, which this server does not enable (--toolsets)",
                spec.name,
                spec.toolset.code()
            ));
        }
        if let Some(tools) = &self.tools
            && !tools.contains(spec.name)
        {
            return Some(format!("{} is not among the tools this server or request enables (--tools)", spec.name));
        }
        if !spec.is_read() && self.read_only {
            return Some(format!("{} changes state and this server runs with --read-only", spec.name));
        }
        if !role_may(principal.role, spec.action) {
            let allowed: Vec<&str> = roles_allowed(spec.action).into_iter().map(|role| role.code()).collect();
            return Some(format!(
                "{} is for {} keys; this key is {}",
                spec.name,
                allowed.join(" or "),
                principal.role.code()
            ));
        }
        None
    }

    pub fn visible(&self, principal: &Principal) -> impl Iterator<Item = &'static Entry> + '_ {
        let principal = principal.clone();
        registry().iter().filter(move |entry| self.refusal(&principal, &entry.spec).is_none())
    }
}

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListResult<T> {
    pub data: Vec<T>,
    /// True when more items follow: call again with `starting_after` = `next_starting_after`.
    pub has_more: bool,
    pub next_starting_after: Option<String>,
}

impl<T> ListResult<T> {
    pub fn new(data: Vec<T>, has_more: bool, id_of: impl Fn(&T) -> String) -> ListResult<T> {
        let next_starting_after = if has_more { data.last().map(id_of) } else { None };
        ListResult { data, has_more, next_starting_after }
    }
}

/// `balance_changes` in output schemas: an array of objects, its fields (`account`, `before`,
/// `after`) told once in the guide. Spelled out, it was about 200 bytes in every write tool's
/// schema, the largest part every agent pays for again and again.
fn balance_changes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "array", "items": {"type": "object"}})
}

/// One balance before and after a previewed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceChangeView {
    /// available, pending, reserved or owed (below zero: a debt).
    pub account: String,
    pub before: MoneyView,
    pub after: MoneyView,
}

impl BalanceChangeView {
    fn from_app(change: &BalanceChange) -> BalanceChangeView {
        BalanceChangeView {
            account: change.account.code().to_owned(),
            before: MoneyView::new(change.asset, change.before_minor),
            after: MoneyView::new(change.asset, change.after_minor),
        }
    }
}

/// The result of every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WriteResult<T> {
    /// "preview" (confirm was false: nothing was saved), "executed", or "replayed" (the
    /// idempotency key was used before with the same arguments: this is the original result and
    /// nothing moved again).
    pub outcome: String,
    /// The object as saved (executed, replayed), or as it would be (preview: without the id and
    /// the payment instructions of an object not created yet).
    pub object: T,
    /// Preview only: the merchant balances this call would change, before and after.
    #[schemars(schema_with = "balance_changes_schema")]
    pub balance_changes: Vec<BalanceChangeView>,
    /// What happened, or for a preview what would happen and how to confirm.
    pub message: String,
}

fn input_schema<T: JsonSchema>() -> JsonObject {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    strip_root_annotations(generator.into_root_schema_for::<T>())
}

/// For the serialize contract: what the server writes.
fn output_schema<T: JsonSchema>() -> JsonObject {
    let generator = schemars::generate::SchemaSettings::draft2020_12().for_serialize().into_generator();
    strip_root_annotations(generator.into_root_schema_for::<T>())
}

/// The root's title and description are the Rust type's name and doc: noise to an agent.
fn strip_root_annotations(schema: schemars::Schema) -> JsonObject {
    let serde_json::Value::Object(mut object) = schema.to_value() else {
        unreachable!("a root schema is an object");
    };
    object.remove("title");
    object.remove("description");
    object
}

/// A write's result: what a preview omits is optional in the object's schema.
fn write_output_schema<O: WriteOperation>() -> JsonObject {
    let mut schema = output_schema::<WriteResult<<O::Command as WriteCommand>::View>>();
    for pointer in O::PREVIEW_OMITS {
        make_optional(&mut schema, pointer);
    }
    schema
}

/// Drops the field at `pointer` (below the result's `object`) from its definition's `required`.
fn make_optional(schema: &mut JsonObject, pointer: &str) {
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some((field, parents)) = segments.split_last() else { return };
    let definition_of = |node: &serde_json::Value| -> Option<String> {
        let reference =
            node.get("$ref").or_else(|| node.get("anyOf")?.as_array()?.iter().find_map(|branch| branch.get("$ref")))?;
        Some(reference.as_str()?.trim_start_matches("#/$defs/").to_owned())
    };
    let Some(mut name) = schema.get("properties").and_then(|p| p.get("object")).and_then(definition_of) else {
        return;
    };
    for parent in parents {
        let next = schema
            .get("$defs")
            .and_then(|d| d.get(&name))
            .and_then(|d| d.get("properties"))
            .and_then(|p| p.get(*parent));
        match next.and_then(definition_of) {
            Some(next_name) => name = next_name,
            None => return,
        }
    }
    let required = schema
        .get_mut("$defs")
        .and_then(|definitions| definitions.get_mut(&name))
        .and_then(|definition| definition.get_mut("required"))
        .and_then(|required| required.as_array_mut());
    if let Some(required) = required {
        required.retain(|name| name != field);
    }
}

/// Removes the field at `pointer` from a preview's object.
fn omit(object: &mut serde_json::Value, pointer: &str) {
    let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(serde_json::Value::Object(parent)) = object.pointer_mut(parent) {
        parent.remove(field);
    }
}

/// Decodes an operation's arguments: a failure is an `invalid_request` naming the argument, in
/// words an agent can act on.
pub fn decode_arguments<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, Failure> {
    decode::decode_arguments(&arguments)
}

fn validate_read<O: ReadOperation>(arguments: JsonObject) -> Result<(), Failure> {
    O::validate(&decode_arguments(arguments)?)
}

fn validate_write<O: WriteOperation>(arguments: JsonObject) -> Result<(), Failure> {
    let args: O::Args = decode_arguments(arguments)?;
    let Kind::Write(key_rule) = O::SPEC.kind else { unreachable!("a write operation's kind is Write") };
    args::check_idempotency_key(O::SPEC.name, args.idempotency_key(), args.confirm(), key_rule)?;
    O::command(&args).map(drop)
}

fn call_read<O: ReadOperation>(context: &OpContext, principal: Principal, arguments: JsonObject) -> OpFuture<'_> {
    Box::pin(async move {
        let args: O::Args = decode_arguments(arguments)?;
        O::validate(&args)?;
        let output = O::run(context, &principal, args).await?;
        Ok(serde_json::to_value(output).expect("results serialize"))
    })
}

pub(crate) fn call_write<O: WriteOperation>(
    context: &OpContext,
    principal: Principal,
    arguments: JsonObject,
) -> OpFuture<'_> {
    Box::pin(async move {
        let given_key = arguments.get("idempotency_key").and_then(|key| key.as_str()).map(str::to_owned);
        let args: O::Args = match decode_arguments(arguments) {
            Ok(args) => args,
            Err(failure) => return Err(refuse_write(context, &principal, O::SPEC.name, given_key, failure).await),
        };
        let outcome = run_write::<O>(context, &principal, &args).await?;
        let Kind::Write(key_rule) = O::SPEC.kind else { unreachable!("a write operation's kind is Write") };
        Ok(write_result_json::<O>(outcome, key_rule))
    })
}

/// A write, typed end to end (the faces and the CLI call this): the idempotency key's rule, the
/// command's own checks, then the writer. Every refusal is audited.
pub async fn run_write<O: WriteOperation>(
    context: &OpContext,
    principal: &Principal,
    args: &O::Args,
) -> Result<WriteOutcome<<O::Command as WriteCommand>::View>, Failure> {
    let Kind::Write(key_rule) = O::SPEC.kind else { unreachable!("a write operation's kind is Write") };
    let key = args.idempotency_key().map(str::to_owned);
    let confirm = args.confirm();
    let command =
        args::check_idempotency_key(O::SPEC.name, key.as_deref(), confirm, key_rule).and_then(|()| O::command(args));
    let command = match command {
        Ok(command) => command,
        Err(failure) => return Err(refuse_write(context, principal, O::SPEC.name, key, failure).await),
    };
    if let Err(failure) = O::check_for_principal(principal, args).await {
        return Err(refuse_write(context, principal, O::SPEC.name, key, failure).await);
    }
    let idempotency =
        key.map(|key| IdempotencyInput { key, request_sha256_hex: args::request_fingerprint(O::SPEC.name, args) });
    let write = ToolWrite {
        actor: principal.clone(),
        operation: O::SPEC.name,
        action: O::SPEC.action,
        confirm,
        idempotency,
        description: O::describe(&command),
        command,
    };
    Ok(context.app.execute(write).await?)
}

async fn refuse_write(
    context: &OpContext,
    principal: &Principal,
    operation: &str,
    idempotency_key: Option<String>,
    failure: Failure,
) -> Failure {
    let (error_type, message) = (failure.error.error_type.clone(), failure.error.message.clone());
    context.app.record_refusal(principal, operation, idempotency_key, error_type, message).await;
    failure
}

/// The JSON of a write's result: made once, here. A replay passes the stored snapshot on.
fn write_result_json<O: WriteOperation>(
    outcome: WriteOutcome<<O::Command as WriteCommand>::View>,
    key_rule: KeyRule,
) -> serde_json::Value {
    let code = outcome.outcome();
    let (object, balance_changes, message) = match outcome {
        WriteOutcome::Preview { view, balance_changes } => {
            let message = format!(
                "{} Nothing was saved. To do it, call {} again with the same arguments and confirm: true{}.",
                O::message(&view, Outcome::Preview),
                O::SPEC.name,
                if key_rule == KeyRule::Required {
                    " and an idempotency_key (a unique string per operation)"
                } else {
                    ""
                }
            );
            let changes = balance_changes.iter().map(BalanceChangeView::from_app).collect();
            let mut object = serde_json::to_value(view).expect("views serialize");
            for pointer in O::PREVIEW_OMITS {
                omit(&mut object, pointer);
            }
            (object, changes, message)
        }
        WriteOutcome::Executed { view } => {
            let message = O::message(&view, Outcome::Executed);
            (serde_json::to_value(view).expect("views serialize"), Vec::new(), message)
        }
        WriteOutcome::Replayed { stored_json } => {
            let object = serde_json::from_str(&stored_json).unwrap_or(serde_json::Value::Null);
            let message = "Replayed: this idempotency key was already used with these arguments; this is the first \
                           result and nothing moved again."
                .to_owned();
            (object, Vec::new(), message)
        }
    };
    let result = WriteResult { outcome: code.code().to_owned(), object, balance_changes, message };
    serde_json::to_value(result).expect("results serialize")
}
