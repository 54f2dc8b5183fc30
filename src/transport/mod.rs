//! Transports: wiring only. No business rule lives here.

pub mod http;
pub mod stdio;
