//! What a peer is told when its JSON-RPC message cannot be read, the same on stdio and HTTP.
//!
//! rmcp answers some unreadable messages and drops others in silence (bytes that are not JSON, a
//! number out of range); a client that waits for an answer then waits forever. harepay reads each
//! message itself first and answers every unreadable *request*:
//! - not JSON: -32700 with id null, as JSON-RPC 2.0 says. rmcp skips such bytes for fear of an
//!   error storm with a peer that echoes; our answer is a well-formed error response, which no
//!   peer answers, so an echo ends after one round;
//! - too large, or JSON that is not a request harepay can represent (an id that is a fraction,
//!   an object, or beyond 64 bits; a number out of range anywhere): -32600, echoing the id when
//!   it is a string or a 64-bit integer, null otherwise;
//! - an unreadable notification or response is not answered on stdio (JSON-RPC forbids answering
//!   notifications, and answering a response could start a loop between two strict peers); HTTP
//!   answers it 400, as the streamable HTTP transport asks.
//!
//! A message of more JSON values than [`limits::JSON_RPC_MESSAGE_MAX_VALUES`] gets -32600 (id null)
//! without being parsed: parsed, 1 MiB of small values would take ~16 MB.
//! A request whose method name is longer than any method can be gets -32601 quoting a prefix of
//! it (rmcp would echo the whole name: a 900 KB method made a 900 KB answer); such a
//! notification is dropped. Over HTTP, an `initialize` over [`limits::HTTP_INITIALIZE_MAX_BYTES`]
//! gets 413: its session would keep it for its life.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::RoleServer;
use rmcp::model::{ClientNotification, JsonRpcMessage};
use rmcp::service::RxJsonRpcMessage;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::limits;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;

/// A message from the client, or the error reply it gets instead (`None`: no reply).
pub type Parsed = Result<RxJsonRpcMessage<RoleServer>, Option<ErrorReply>>;

/// A JSON-RPC 2.0 error response, its members in the usual order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReply {
    jsonrpc: &'static str,
    pub id: Value,
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
}

/// Reads one message as rmcp would, answering what rmcp cannot read.
pub fn parse_client_message(message: &[u8]) -> Parsed {
    // RFC 8259 lets a parser ignore a leading byte order mark; rmcp does.
    let message = message.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(message);
    if has_more_values_than(message, limits::JSON_RPC_MESSAGE_MAX_VALUES) {
        return Err(reply_to_too_many_values(message));
    }
    let message = serde_json::from_slice(message).map_err(|_| reply_to_unreadable(message))?;
    refuse_overlong_method(message)
}

/// Whether `message` holds more than `max_values` JSON values, counted without parsing as the
/// arrays and objects it opens plus the separators between values (an upper bound of its
/// values, less one). Bytes inside strings do not count.
fn has_more_values_than(message: &[u8], max_values: usize) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut values = 0_usize;
    for &byte in message {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' | b',' => {
                values += 1;
                if values > max_values {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// The answer to a message of too many values: none for a notification or a response, -32600
/// with id null otherwise (the id is not parsed either: it could be one of the values).
fn reply_to_too_many_values(message: &[u8]) -> Option<ErrorReply> {
    let expects_no_reply =
        serde_json::from_slice::<Envelope<IgnoredAny>>(message).is_ok_and(|envelope| envelope.expects_no_reply());
    (!expects_no_reply).then(|| {
        error_reply(
            INVALID_REQUEST,
            &format!("request too complex: limit {} JSON values", limits::JSON_RPC_MESSAGE_MAX_VALUES),
            Value::Null,
        )
    })
}

/// A request whose method no method can be as long as gets -32601 quoting a prefix of it; such
/// a notification is dropped unanswered. Every known method is short: only rmcp's catch-all
/// for unknown methods can hold a long name.
fn refuse_overlong_method(message: RxJsonRpcMessage<RoleServer>) -> Parsed {
    let overlong = |method: &str| method.len() > limits::JSON_RPC_METHOD_MAX_BYTES;
    match &message {
        JsonRpcMessage::Request(request) if overlong(request.request.method()) => {
            let id = serde_json::to_value(&request.id).unwrap_or(Value::Null);
            let method = request.request.method();
            Err(Some(error_reply(METHOD_NOT_FOUND, &format!("method not found: {}", limits::echo(method)), id)))
        }
        JsonRpcMessage::Notification(notification) => match &notification.notification {
            ClientNotification::CustomNotification(custom) if overlong(&custom.method) => Err(None),
            _ => Ok(message),
        },
        _ => Ok(message),
    }
}

/// The `method` of a message, read without building anything else; `None` when it has none or
/// is not a JSON object.
pub fn method_of(message: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<Cow<'a, str>>,
    }
    serde_json::from_slice::<Method>(message).ok()?.method
}

pub fn error_reply(code: i64, message: &str, id: Value) -> ErrorReply {
    ErrorReply { jsonrpc: "2.0", id, error: ErrorObject { code, message: message.to_owned() } }
}

pub fn too_large_reply() -> ErrorReply {
    error_reply(
        INVALID_REQUEST,
        &format!("request too large: limit {} MiB", limits::JSON_RPC_MESSAGE_MAX_BYTES >> 20),
        Value::Null,
    )
}

/// 413 for an `initialize` over its own, smaller limit: a JSON-RPC error whose `error` also has
/// harepay's `type`, like every 413.
fn initialize_too_large_response() -> Response {
    let reply = error_reply(
        INVALID_REQUEST,
        &format!(
            "initialize request too large: limit {} KiB (its session keeps it for the session's life)",
            limits::HTTP_INITIALIZE_MAX_BYTES >> 10
        ),
        Value::Null,
    );
    let mut reply = serde_json::to_value(reply).expect("replies serialize");
    reply["error"]["type"] = serde_json::json!("payload_too_large");
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(reply)).into_response()
}

/// The members that say what a message is, every other value skipped unread (so that a number
/// out of range elsewhere does not hide the id). Each is `Some` when present, even when null.
#[derive(Deserialize)]
#[serde(bound = "Id: Deserialize<'de>")]
struct Envelope<Id> {
    #[serde(default, deserialize_with = "present")]
    id: Option<Id>,
    #[serde(default, deserialize_with = "present")]
    method: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    result: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    error: Option<IgnoredAny>,
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl<Id> Envelope<Id> {
    /// A notification (a method, no id) or a response (a result or an error, no method).
    fn expects_no_reply(&self) -> bool {
        match (&self.method, &self.id) {
            (Some(_), None) => true,
            (Some(_), Some(_)) => false,
            (None, _) => self.result.is_some() || self.error.is_some(),
        }
    }
}

/// The reply to a message rmcp could not read, or `None` when it must not be answered.
fn reply_to_unreadable(message: &[u8]) -> Option<ErrorReply> {
    let is_object = message.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{');
    if !is_object {
        return Some(match serde_json::from_slice::<IgnoredAny>(message) {
            Ok(_) => error_reply(INVALID_REQUEST, "invalid request: a message is a JSON object", Value::Null),
            Err(_) => error_reply(PARSE_ERROR, "parse error: the message is not valid JSON", Value::Null),
        });
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope<Value>>(message) {
        if envelope.expects_no_reply() {
            return None;
        }
        return Some(match envelope.id {
            Some(id @ Value::String(_)) => {
                error_reply(INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 request harepay can read", id)
            }
            Some(Value::Number(number)) if number.is_i64() => error_reply(
                INVALID_REQUEST,
                "invalid request: not a JSON-RPC 2.0 request harepay can read",
                Value::Number(number),
            ),
            Some(_) => error_reply(
                INVALID_REQUEST,
                "invalid request: the id must be a string or an integer from -2^63 to 2^63-1",
                Value::Null,
            ),
            None => error_reply(INVALID_REQUEST, "invalid request: a request needs an id and a method", Value::Null),
        });
    }
    match serde_json::from_slice::<Envelope<IgnoredAny>>(message) {
        // Well-formed, but the id itself could not be read (e.g. 1e400): there is nothing to echo.
        Ok(envelope) if envelope.expects_no_reply() => None,
        Ok(_) => Some(error_reply(
            INVALID_REQUEST,
            "invalid request: the id must be a string or an integer from -2^63 to 2^63-1",
            Value::Null,
        )),
        Err(error) if error.is_syntax() || error.is_eof() => {
            Some(error_reply(PARSE_ERROR, "parse error: the message is not valid JSON", Value::Null))
        }
        // JSON that no request can be, e.g. a member given twice.
        Err(_) => Some(error_reply(
            INVALID_REQUEST,
            "invalid request: not a JSON-RPC 2.0 request harepay can read",
            Value::Null,
        )),
    }
}

/// HTTP: a POST to /mcp whose body is not a message harepay can read gets a JSON-RPC error
/// (400, or 413 when too large) instead of rmcp's plain-text 415; one that reads goes on. An
/// `initialize` over its limit gets 413 before it is parsed.
pub async fn refuse_unreadable_http_messages(request: Request, next: Next) -> Response {
    let is_json_post = request.method() == axum::http::Method::POST
        && request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
            value.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
        });
    if !is_json_post {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, limits::JSON_RPC_MESSAGE_MAX_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(too_large_reply())).into_response(),
    };
    if bytes.len() > limits::HTTP_INITIALIZE_MAX_BYTES && method_of(&bytes).as_deref() == Some("initialize") {
        return initialize_too_large_response();
    }
    if let Err(reply) = parse_client_message(&bytes) {
        let reply = reply.unwrap_or_else(|| {
            error_reply(INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 message harepay can read", Value::Null)
        });
        return (StatusCode::BAD_REQUEST, axum::Json(reply)).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `expected`: the reply's (code, id), or `None` for no reply; a readable message is `Ok`.
    fn check(message: &str, expected: Result<(), Option<(i64, Value)>>) {
        let got = parse_client_message(message.as_bytes())
            .map(|_| ())
            .map_err(|reply| reply.map(|reply| (reply.error.code, reply.id)));
        assert_eq!(got, expected, "{message}");
    }

    #[test]
    fn every_unreadable_request_gets_an_answer_and_nothing_else_does() {
        let null = Value::Null;
        check(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, Ok(()));
        check("\u{feff}{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}", Ok(()));
        check(r#"{"jsonrpc":"2.0","id":1e400,"method":"ping"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        check(
            r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}"#,
            Err(Some((INVALID_REQUEST, null.clone()))),
        );
        check(
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#,
            Err(Some((INVALID_REQUEST, null.clone()))),
        );
        check(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        check(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        check(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        // A number out of range elsewhere does not hide a good id.
        check(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_balance","arguments":{"asset":1e400}}}"#,
            Err(Some((INVALID_REQUEST, json!(7)))),
        );
        check(
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":5}"#,
            Err(Some((INVALID_REQUEST, json!("x")))),
        );
        check("{not json", Err(Some((PARSE_ERROR, null.clone()))));
        check("\u{1}\u{2}", Err(Some((PARSE_ERROR, null.clone()))));
        check("[1,2]", Err(Some((INVALID_REQUEST, null.clone()))));
        check(r#"{"foo":"bar"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        check(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, Err(Some((INVALID_REQUEST, null.clone()))));
        check(r#"  "text""#, Err(Some((INVALID_REQUEST, null))));
        // Notifications and responses are never answered, however broken.
        check(r#"{"jsonrpc":"2.0","method":"notifications/x","params":1e400}"#, Err(None));
        check(r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":5}"#, Err(None));
        check(r#"{"jsonrpc":"2.0","id":1e400,"result":{}}"#, Err(None));
        check(r#"{"jsonrpc":"2.0","id":3,"error":"bad"}"#, Err(None));
    }

    #[test]
    fn an_overlong_method_gets_a_short_method_not_found_and_a_notification_of_one_is_dropped() {
        let at_limit = "m".repeat(limits::JSON_RPC_METHOD_MAX_BYTES);
        let over = "m".repeat(900_000);
        check(&json!({"jsonrpc": "2.0", "id": 1, "method": at_limit, "params": {}}).to_string(), Ok(()));
        check(&json!({"jsonrpc": "2.0", "method": at_limit}).to_string(), Ok(()));
        check(
            &json!({"jsonrpc": "2.0", "id": "a", "method": over, "params": {}}).to_string(),
            Err(Some((METHOD_NOT_FOUND, json!("a")))),
        );
        check(&json!({"jsonrpc": "2.0", "method": over}).to_string(), Err(None));
        let reply = parse_client_message(json!({"jsonrpc": "2.0", "id": 2, "method": over}).to_string().as_bytes())
            .unwrap_err()
            .unwrap();
        assert_eq!(reply.error.message, format!("method not found: \"{}\"…", "m".repeat(limits::INPUT_ECHO_MAX_CHARS)));
    }

    #[test]
    fn a_message_of_too_many_values_is_refused_unparsed_and_strings_do_not_count() {
        let max = limits::JSON_RPC_MESSAGE_MAX_VALUES;
        let zeros = |count: usize| vec!["0"; count].join(",");
        // `{`, `{`, the separators and the array: 4 values besides the array's separators.
        let call = |count: usize| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"whoami","arguments":{{"x":[{}]}}}}}}"#,
                zeros(count)
            )
        };
        assert!(!has_more_values_than(call(max - 10).as_bytes(), max));
        assert!(has_more_values_than(call(max).as_bytes(), max));
        check(&call(500_000), Err(Some((INVALID_REQUEST, Value::Null))));
        check(&format!(r#"{{"jsonrpc":"2.0","method":"notifications/x","params":[{}]}}"#, zeros(max + 1)), Err(None));
        let in_a_string = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"ping","params":{{"_meta":{{"pad":"{}\\\"[,{{"}}}}}}"#,
            ",".repeat(max * 2)
        );
        check(&in_a_string, Ok(()));
    }

    #[test]
    fn the_method_is_read_without_the_rest() {
        assert_eq!(
            method_of(br#"{"id":1,"method":"initialize","params":{"a":[1e400]}}"#).as_deref(),
            Some("initialize")
        );
        assert_eq!(method_of(br#"{"id":1,"result":{}}"#), None);
        assert_eq!(method_of(b"[1]"), None);
    }
}
