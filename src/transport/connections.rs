//! What one connection and one client address may hold: the size of a request head, and how
//! many connections one address may keep open, so that one client cannot take every slot of
//! `--max-connections` (trickling headers, say) while others wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::limits;
use crate::rate_limit::rate_limit_address;

/// Open connections per client address (IPv6 by /64, as the rate limit counts them).
#[derive(Debug)]
pub struct ConnectionsPerAddress {
    max_per_address: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionsPerAddress {
    pub fn new(max_per_address: usize) -> Arc<ConnectionsPerAddress> {
        Arc::new(ConnectionsPerAddress { max_per_address, open: Mutex::new(HashMap::new()) })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Every change is one statement: the counts stay consistent under a panic elsewhere.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for one more connection from `address`, held until dropped; `None` when the
    /// address has all it may have.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        let address = rate_limit_address(address);
        let mut open = self.open();
        let count = open.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot { connections: self.clone(), address })
    }

    pub fn max_per_address(&self) -> usize {
        self.max_per_address
    }
}

/// One open connection's place in its address's count.
#[derive(Debug)]
pub struct AddressSlot {
    connections: Arc<ConnectionsPerAddress>,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.connections.open();
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// What a connection over its address's cap is told before it is closed: the request has not
/// been read, so this is written at once, as is, and the connection closed.
pub fn too_many_connections_response(max_per_address: usize) -> Vec<u8> {
    let body = serde_json::json!({"error": {
        "type": "too_many_connections",
        "message": format!(
            "this address has {max_per_address} connections open, the most allowed: reuse one (keep-alive) or close one"
        ),
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\nx-frame-options: DENY\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The size of a request head as it came: the request line and every header line.
fn head_bytes(request: &Request) -> usize {
    let request_line = request.method().as_str().len() + request.uri().to_string().len() + "  HTTP/1.1\r\n".len();
    let headers: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.as_bytes().len() + 4).sum();
    request_line + headers
}

/// 431 with a JSON error for a head over [`limits::HTTP_REQUEST_HEAD_MAX_BYTES`] (hyper itself
/// answers a bare 431 beyond its buffer, `limits::HTTP_CONNECTION_BUFFER_MAX_BYTES`).
pub async fn refuse_oversized_heads(request: Request, next: Next) -> Response {
    if head_bytes(&request) <= limits::HTTP_REQUEST_HEAD_MAX_BYTES {
        return next.run(request).await;
    }
    super::http_error::error_response(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_headers_too_large",
        format!(
            "the request line and headers are limited to {} KiB together",
            limits::HTTP_REQUEST_HEAD_MAX_BYTES >> 10
        ),
        serde_json::Value::Null,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_capped_and_others_are_not_and_slots_come_back() {
        let connections = ConnectionsPerAddress::new(2);
        let first: IpAddr = "127.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..2).map(|_| connections.admit(first).unwrap()).collect();
        assert!(connections.admit(first).is_none());
        let other = connections.admit("127.0.0.2".parse().unwrap());
        assert!(other.is_some(), "another address has its own count");
        drop(slots);
        assert!(!connections.open().contains_key(&first), "no count is kept for an address with nothing open");
        assert!(connections.admit(first).is_some());
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let connections = ConnectionsPerAddress::new(1);
        let _held = connections.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(connections.admit("2001:db8::2".parse().unwrap()).is_none(), "same /64");
        assert!(connections.admit("2001:db8:0:1::1".parse().unwrap()).is_some(), "another /64");
    }

    #[test]
    fn the_refusal_is_a_whole_http_answer_with_the_security_headers() {
        let response = String::from_utf8(too_many_connections_response(64)).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        for header in ["x-content-type-options: nosniff", "cache-control: no-store", "x-frame-options: DENY"] {
            assert!(head.contains(header), "{header}");
        }
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["type"], "too_many_connections");
    }
}
