//! Scaling out: three `harepay http` processes on one PostgreSQL database, clients spraying
//! confirmed payments, settlements, refunds, payouts and idempotent retries across them, one
//! process killed with SIGKILL midway. Afterwards every acknowledged write exists exactly once, no
//! retry made a second effect, no balance went below its floor, and `harepay verify` passes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::backend::TestDatabase;
use crate::http::{HttpServer, stateless};
use crate::support::{Harepay, MAKER_KEY, payout_arguments};

/// A client of one server; `None` once that server was killed.
type ServerClient = Arc<tokio::sync::Mutex<Option<RunningService<RoleClient, ()>>>>;

const SERVERS: usize = 3;
const CLIENTS_PER_SERVER: usize = 3;
const ROUNDS_PER_CLIENT: usize = 30;

/// What the clients were told, by idempotency key: the object id each key produced.
#[derive(Default)]
struct Acknowledged {
    payments: BTreeMap<String, String>,
    payouts: BTreeMap<String, String>,
    refunds: BTreeMap<String, String>,
}

/// Calls `tool` on the servers still alive, starting with `preferred`; a transport failure (the
/// server was killed) moves to the next server with the SAME arguments, idempotency key
/// included, as a client behind a load balancer would. Returns the structured result.
async fn call_somewhere(clients: &[ServerClient], preferred: usize, tool: &str, arguments: &Value) -> Value {
    match try_call_somewhere(clients, preferred, tool, arguments).await {
        Ok(content) => content,
        Err(content) => panic!("{tool} {arguments} failed: {content}"),
    }
}

/// `call_somewhere`, with a refusal (a tool error other than a retryable one) returned as `Err`.
async fn try_call_somewhere(
    clients: &[ServerClient],
    preferred: usize,
    tool: &str,
    arguments: &Value,
) -> Result<Value, Value> {
    for attempt in 0..(clients.len() * 4) {
        let index = (preferred + attempt) % clients.len();
        let guard = clients[index].lock().await;
        let Some(client) = guard.as_ref() else { continue };
        let request =
            CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().cloned().unwrap());
        match tokio::time::timeout(Duration::from_secs(30), client.call_tool(request)).await {
            Ok(Ok(result)) => {
                let content = result.structured_content.unwrap_or_default();
                if result.is_error == Some(true) {
                    let error_type = content["error"]["type"].as_str().unwrap_or_default();
                    // A retry that raced its first attempt on another server: wait, then ask again.
                    if matches!(error_type, "idempotency_key_in_use" | "database_busy") {
                        drop(guard);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    return Err(content);
                }
                return Ok(content);
            }
            _ => {
                drop(guard);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    panic!("{tool} {arguments}: no server answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_on_one_database_survive_a_sigkill_with_every_acknowledged_write_exactly_once() {
    let Some(database) = TestDatabase::new() else { return };
    let harepay = Harepay::on_database(database.url.clone().into());
    let no_limits = ["--rate-limit-per-ip", "off", "--rate-limit-per-key", "off"];
    let mut servers = vec![HttpServer::start_with(&harepay, &no_limits)];
    for _ in 1..SERVERS {
        servers.push(HttpServer::start_without_demo(&harepay, &no_limits));
    }
    let mut clients = Vec::new();
    for server in &servers {
        clients.push(Arc::new(tokio::sync::Mutex::new(Some(server.connect(MAKER_KEY, stateless()).await))));
    }
    let clients = Arc::new(clients);

    // Funds for the payouts, through the first server.
    let funding = call_somewhere(&clients, 0, "create_payment_intent", &payment_arguments(50_000_000, "fund")).await;
    let funding_id = funding["object"]["id"].as_str().unwrap().to_owned();
    call_somewhere(&clients, 0, "simulate_payment", &settle_arguments(&funding_id, "fund-settle")).await;

    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let rounds_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for server_index in 0..SERVERS {
        for client_index in 0..CLIENTS_PER_SERVER {
            let (clients, acknowledged, rounds_done) = (clients.clone(), acknowledged.clone(), rounds_done.clone());
            tasks.push(tokio::spawn(async move {
                let tag = format!("s{server_index}c{client_index}");
                for round in 0..ROUNDS_PER_CLIENT {
                    run_round(&clients, server_index, &format!("{tag}r{round}"), &acknowledged).await;
                    rounds_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
    }
    // Midway, the last server dies without a chance to finish anything. (A client that failed
    // ends the wait: its panic is reported below instead of a wait without end.)
    let total_rounds = SERVERS * CLIENTS_PER_SERVER * ROUNDS_PER_CLIENT;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while rounds_done.load(std::sync::atomic::Ordering::SeqCst) < total_rounds / 3 {
        if tasks.iter().any(tokio::task::JoinHandle::is_finished) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a third of the rounds within 300 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = servers.pop().unwrap();
    drop(killed); // Drop sends SIGKILL and reaps the process.
    *clients[SERVERS - 1].lock().await = None;
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(300), task).await.unwrap().unwrap();
    }

    // Every acknowledged object exists, once per idempotency key, as the surviving servers see it.
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let listed_payments = list_all(&clients, "list_payments").await;
    let payments: Vec<String> =
        listed_payments.iter().map(|payment| payment["id"].as_str().unwrap().to_owned()).collect();
    let payouts: Vec<String> = list_all(&clients, "list_payouts")
        .await
        .iter()
        .map(|payout| payout["id"].as_str().unwrap().to_owned())
        .collect();
    let expected_payments: BTreeSet<&String> = acknowledged.payments.values().chain([&funding_id]).collect();
    assert_eq!(payments.iter().collect::<BTreeSet<_>>(), expected_payments, "payments: one per key, none lost");
    assert_eq!(payments.len(), expected_payments.len(), "no payment was made twice");
    let expected_payouts: BTreeSet<&String> = acknowledged.payouts.values().collect();
    assert_eq!(payouts.iter().collect::<BTreeSet<_>>(), expected_payouts, "payouts: one per key, none lost");
    assert_eq!(payouts.len(), expected_payouts.len(), "no payout was made twice");
    for (key, refund_id) in &acknowledged.refunds {
        assert!(refund_id.starts_with("re_"), "{key}: {refund_id}");
    }
    for payment in listed_payments.iter().filter(|payment| payment["id"] != funding_id.as_str()) {
        assert_eq!(payment["amount_refunded"]["amount"], 1_000, "one refund per payment, none twice: {payment}");
    }
    let balance = call_somewhere(&clients, 0, "get_balance", &json!({"asset": "NGN"})).await;
    assert!(balance["available"]["amount"].as_i64().unwrap() >= 0, "{balance}");
    let status = call_somewhere(&clients, 0, "system_status", &json!({})).await;
    assert_eq!(status["ledger"]["sound"], true, "{status}");
    let verify = harepay.cli(&["verify"]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// One round: a payment settled then partly refunded, a payout, and a retry of the payout on
/// another server that must replay, not pay again.
async fn run_round(clients: &[ServerClient], server_index: usize, key: &str, acknowledged: &Mutex<Acknowledged>) {
    let payment_key = format!("{key}-pay");
    let created =
        call_somewhere(clients, server_index, "create_payment_intent", &payment_arguments(100_000, &payment_key)).await;
    let payment_id = created["object"]["id"].as_str().unwrap().to_owned();
    acknowledged.lock().unwrap().payments.insert(payment_key, payment_id.clone());
    call_somewhere(
        clients,
        server_index + 1,
        "simulate_payment",
        &settle_arguments(&payment_id, &format!("{key}-settle")),
    )
    .await;
    let refund_key = format!("{key}-refund");
    let refund = json!({"id": payment_id, "amount": 1_000, "confirm": true, "idempotency_key": refund_key});
    let refunded = call_somewhere(clients, server_index + 2, "refund_payment", &refund).await;
    let refund_id = refunded["object"]["refund"]["id"].as_str().unwrap_or_default().to_owned();
    acknowledged.lock().unwrap().refunds.insert(refund_key, refund_id);

    let payout_key = format!("{key}-payout");
    let first = call_somewhere(clients, server_index, "create_payout", &payout_arguments(5_000, &payout_key)).await;
    let payout_id = first["object"]["id"].as_str().unwrap().to_owned();
    // The same request again on another server: the first result, never a second payout.
    let again = call_somewhere(clients, server_index + 1, "create_payout", &payout_arguments(5_000, &payout_key)).await;
    assert_eq!(again["outcome"], "replayed", "{again}");
    assert_eq!(again["object"]["id"].as_str(), Some(payout_id.as_str()), "{again}");
    acknowledged.lock().unwrap().payouts.insert(payout_key, payout_id);
}

fn payment_arguments(amount_minor: i64, idempotency_key: &str) -> Value {
    json!({
        "amount": {"amount": amount_minor, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies",
        "confirm": true, "idempotency_key": idempotency_key,
    })
}

fn settle_arguments(payment_id: &str, idempotency_key: &str) -> Value {
    json!({"id": payment_id, "outcome": "succeeded", "confirm": true, "idempotency_key": idempotency_key})
}

/// Every object a list tool returns, page by page.
async fn list_all(clients: &[ServerClient], tool: &str) -> Vec<Value> {
    let mut objects: Vec<Value> = Vec::new();
    let mut starting_after: Option<String> = None;
    loop {
        let mut arguments = json!({"limit": 100});
        if let Some(after) = &starting_after {
            arguments["starting_after"] = json!(after);
        }
        let page = call_somewhere(clients, 0, tool, &arguments).await;
        let data = page["data"].as_array().unwrap();
        objects.extend(data.iter().cloned());
        if page["has_more"] != true {
            return objects;
        }
        starting_after = objects.last().map(|object| object["id"].as_str().unwrap().to_owned());
    }
}

/// Two servers confirming payouts against one balance that covers only a third of them: each
/// decision locks the balance, so exactly the covered ones succeed across both processes, every
/// other one is refused `insufficient_funds`, and the balance never goes below zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_racing_payouts_against_one_balance_never_overdraw_it() {
    const COVERED: i64 = 40;
    const AMOUNT_MINOR: i64 = 10_000;
    let Some(database) = TestDatabase::new() else { return };
    let harepay = Harepay::on_database(database.url.clone().into());
    let no_limits = ["--rate-limit-per-ip", "off", "--rate-limit-per-key", "off"];
    let servers = [HttpServer::start_with(&harepay, &no_limits), HttpServer::start_without_demo(&harepay, &no_limits)];
    let mut clients = Vec::new();
    for server in &servers {
        for _ in 0..4 {
            clients.push(Arc::new(tokio::sync::Mutex::new(Some(server.connect(MAKER_KEY, stateless()).await))));
        }
    }
    let clients = Arc::new(clients);
    // Learn what one payout takes from `available` (its amount and any fee) from a first one.
    let funding = call_somewhere(&clients, 0, "create_payment_intent", &payment_arguments(10_000_000, "fund")).await;
    let funding_id = funding["object"]["id"].as_str().unwrap().to_owned();
    call_somewhere(&clients, 0, "simulate_payment", &settle_arguments(&funding_id, "fund-settle")).await;
    let available = |balance: &Value| balance["available"]["amount"].as_i64().unwrap();
    let before = available(&call_somewhere(&clients, 0, "get_balance", &json!({"asset": "NGN"})).await);
    call_somewhere(&clients, 0, "create_payout", &payout_arguments(AMOUNT_MINOR, "probe")).await;
    let after = available(&call_somewhere(&clients, 0, "get_balance", &json!({"asset": "NGN"})).await);
    let cost = before - after;
    assert!(cost >= AMOUNT_MINOR, "{before} → {after}");
    // Leave about COVERED payouts' worth available: pay the rest out in one payout.
    let surplus = after - cost * COVERED;
    assert!(surplus > cost, "funding too small: {after}");
    let surplus_amount = surplus - (cost - AMOUNT_MINOR);
    call_somewhere(&clients, 1, "create_payout", &payout_arguments(surplus_amount, "drain")).await;
    let left = available(&call_somewhere(&clients, 0, "get_balance", &json!({"asset": "NGN"})).await);
    let covered = usize::try_from(left / cost).unwrap();

    let mut tasks = Vec::new();
    for index in 0..(3 * covered) {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let arguments = payout_arguments(AMOUNT_MINOR, &format!("race-{index}"));
            try_call_somewhere(&clients, index % clients.len(), "create_payout", &arguments).await
        }));
    }
    let (mut paid, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(content) => {
                assert_eq!(content["outcome"], "executed", "{content}");
                paid += 1;
            }
            Err(content) => {
                assert_eq!(content["error"]["type"], "insufficient_funds", "{content}");
                refused += 1;
            }
        }
    }
    assert_eq!(paid, covered, "exactly the covered payouts, across both servers");
    assert_eq!(refused, 2 * covered);
    let end = available(&call_somewhere(&clients, 0, "get_balance", &json!({"asset": "NGN"})).await);
    assert_eq!(end, left - cost * covered as i64);
    assert!(end >= 0 && end < cost, "{end}");
    let verify = harepay.cli(&["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}
