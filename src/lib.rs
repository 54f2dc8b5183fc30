//! harepay: an MCP server with an embedded payment engine. See ARCHITECTURE.md for the map.

pub mod engine;
pub mod limits;
pub mod store;
pub mod views;
pub mod app;
pub mod mcp;
pub mod transport;
pub mod demo;
pub mod bench;
