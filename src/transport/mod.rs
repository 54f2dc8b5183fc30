//! Transports: wiring only. No business rule lives here.

pub mod http;
pub mod jsonrpc;
pub mod sessions;
pub mod stdio;
