//! One integration test binary. Every test spawns the real `harepay` binary on a fresh SQLite
//! file and speaks MCP to it through rmcp's client over the child's stdin/stdout.

mod access;
mod app_layer;
mod billing_example;
mod billing_store;
mod catalog;
mod crash;
mod customers;
mod disputes;
mod disputes_due;
mod elicitation;
mod fuzz;
mod http;
mod identity;
mod invoice_store;
mod invoices;
mod keys;
mod keys_store;
mod ledger;
mod limits;
mod malformed;
mod money_attacks;
mod operator;
mod oversized;
mod payment_receipts;
mod payments;
mod payouts;
mod protocol;
mod scheduler;
mod serving;
mod store;
mod subscriptions;
mod support;
mod tools;
mod webhook_clock;
mod webhooks;
