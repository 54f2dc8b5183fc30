//! Transports: wiring only. No business rule lives here.

pub mod connections;
pub mod host_origin;
pub mod http;
mod http_error;
pub mod jsonrpc;
pub mod sessions;
pub mod stdio;
