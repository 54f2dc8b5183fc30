//! Transports: wiring only. No business rule lives here.

pub mod stdio;
