//! Signed webhook delivery: the operator's sealing key for endpoint secrets (`seal`), the
//! `X-Lodum-Signature` scheme (`signature`), the address rules that keep a webhook URL from
//! reaching into the operator's network (`address`), and the background worker that delivers the
//! event outbox (`worker`). The tools are in `ops/webhooks/`, the transactions in `app/webhooks.rs`.

pub mod address;
pub mod guide;
pub mod seal;
pub mod signature;
pub mod worker;
