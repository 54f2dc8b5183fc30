//! Tools around the harepay server, each an MCP client of the real `harepay` binary: the guided
//! demo and the benchmark. They live outside the server's crate so that the server is built
//! without rmcp's client side.

pub mod bench;
pub mod bench_billing;
pub mod bench_http;
pub mod bench_postgres;
pub mod bench_webhooks;
pub mod demo;
pub mod measure;
