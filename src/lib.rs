//! harepay: an MCP server with an embedded payment engine. See ARCHITECTURE.md for the map.

pub mod app;
pub mod bench;
pub mod cpu;
pub mod demo;
pub mod engine;
pub mod limits;
pub mod mcp;
pub mod ops;
pub mod rate_limit;
pub mod store;
pub mod transport;
pub mod views;
