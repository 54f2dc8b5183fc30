//! harepay: an MCP server with an embedded payment engine. See ARCHITECTURE.md for the map.
//! This crate is the server; the demo and the benchmark are in `crates/harepay-tools`.

pub mod app;
pub mod cpu;
pub mod engine;
pub mod limits;
pub mod mcp;
pub mod ops;
pub mod rate_limit;
pub mod store;
pub mod transport;
pub mod views;
pub mod webhooks;
