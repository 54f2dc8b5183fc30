//! Webhook retries by the injected clock: an app on a fresh SQLite file whose time the test moves
//! by hand, the real delivery worker (stepped one pass at a time, and once spawned on its timer),
//! and a local receiver that fails. An attempt happens only when the clock reaches the delivery's
//! next attempt; the waits are the published schedule (base × 2^(n−1), ±jitter, at most the cap,
//! computed here from the limits); the tenth failure in a row disables the endpoint with its event
//! and nothing more is sent however far the clock moves; a 429's Retry-After defers the next
//! attempt by the injected clock, within its bound. Nothing waits in real time for the schedule.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use harepay::app::App;
use harepay::engine::SequentialIds;
use harepay::engine::principal::{Mode, Principal};
use harepay::engine::rules::PaymentRules;
use harepay::engine::webhook::RetrySchedule;
use harepay::limits::{
    WEBHOOK_CONSECUTIVE_FAILURES_MAX, WEBHOOK_DELIVERY_MAX_ATTEMPTS, WEBHOOK_POLL_INTERVAL_MS,
    WEBHOOK_RETRY_AFTER_MAX_MS, WEBHOOK_RETRY_BASE_DEFAULT_MS, WEBHOOK_RETRY_CAP_DEFAULT_MS,
    WEBHOOK_RETRY_JITTER_PERCENT,
};
use harepay::ops::OpContext;
use harepay::webhooks::worker::{SteppedWorker, WorkerSettings, spawn_worker};
use serde_json::{Value, json};

use crate::app_layer::ManualClock;
use crate::support::MAKER_KEY;
use crate::webhooks::{eventually, seed_signature};

/// A Unix time in milliseconds, so that `X-Lodum-Timestamp` reads like one.
const CLOCK_START_MS: i64 = 1_750_000_000_000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One request the receiver got: every header and the raw body.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }
}

/// What the receiver answers on a path: a status and, for some, a `Retry-After`. Any other path
/// gets a 500.
#[derive(Clone, Copy)]
struct Answer {
    status: u16,
    retry_after: Option<&'static str>,
}

#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    answers: Arc<HashMap<&'static str, Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answers: &[(&'static str, Answer)]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            address: listener.local_addr().unwrap(),
            answers: Arc::new(answers.iter().copied().collect()),
            received: Arc::default(),
        };
        let router = axum::Router::new().route("/{path}", axum::routing::post(receive)).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        receiver
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.address.port())
    }

    fn requests_to(&self, path: &str) -> Vec<Received> {
        self.received.lock().unwrap().iter().filter(|request| request.path == path).cloned().collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = receiver.answers.get(path.as_str()).copied().unwrap_or(Answer { status: 500, retry_after: None });
    receiver.received.lock().unwrap().push(Received { path, headers, body });
    let mut response = Response::builder().status(answer.status);
    if let Some(seconds) = answer.retry_after {
        response = response.header("retry-after", seconds);
    }
    response.body(Body::from("not now")).unwrap()
}

/// An app with a manual clock on a fresh SQLite file, and the demo maker (test mode) calling its
/// tools in process.
struct ClockedApp {
    _dir: tempfile::TempDir,
    app: App,
    clock: Arc<ManualClock>,
    maker: Principal,
}

impl ClockedApp {
    async fn new() -> ClockedApp {
        let dir = tempfile::tempdir().unwrap();
        // The worker opens endpoint secrets with the process's seal key; the first installed stays.
        let seal_key = harepay::webhooks::seal::load_or_create(&dir.path().join("seal-key")).unwrap();
        harepay::webhooks::seal::install(seal_key);
        let store = crate::backend::open_store(&dir.path().join("harepay.db"));
        let clock = Arc::new(ManualClock(AtomicI64::new(CLOCK_START_MS)));
        let app = App::with_store(store, PaymentRules::default(), clock.clone(), Box::new(SequentialIds::default()));
        app.bootstrap_demo_if_empty().await.unwrap();
        let maker = app.authenticate(MAKER_KEY).await.unwrap();
        assert_eq!(maker.scope.mode, Mode::Test, "test mode takes a loopback receiver");
        ClockedApp { _dir: dir, app, clock, maker }
    }

    fn now_ms(&self) -> i64 {
        self.clock.0.load(Ordering::SeqCst)
    }

    fn set_clock(&self, at_ms: i64) {
        self.clock.0.store(at_ms, Ordering::SeqCst);
    }

    /// Calls a tool as the maker, as the faces do; it must succeed.
    async fn call(&self, tool: &str, arguments: Value) -> Value {
        let entry = harepay::ops::find(tool).unwrap_or_else(|| panic!("no tool {tool}"));
        let context = OpContext { app: self.app.clone(), visibility: Default::default() };
        let object = arguments.as_object().cloned().expect("arguments are an object");
        (entry.call)(&context, self.maker.clone(), object).await.unwrap_or_else(|failure| panic!("{tool}: {failure:?}"))
    }

    /// A confirmed endpoint for `events`: its id and the signing secret shown at creation.
    async fn create_endpoint(&self, url: &str, events: Value) -> (String, String) {
        let created =
            self.call("create_webhook_endpoint", json!({"url": url, "events": events, "confirm": true})).await;
        let object = &created["object"];
        (object["id"].as_str().unwrap().to_owned(), object["signing_secret"].as_str().unwrap().to_owned())
    }

    /// The endpoint's deliveries, as `list_webhook_deliveries` shows them (none before the fan-out).
    async fn deliveries_to(&self, endpoint_id: &str) -> Vec<Value> {
        let listed = self.call("list_webhook_deliveries", json!({"endpoint_id": endpoint_id})).await;
        listed["data"].as_array().unwrap().clone()
    }

    /// The endpoint's one delivery.
    async fn delivery_to(&self, endpoint_id: &str) -> Value {
        let deliveries = self.deliveries_to(endpoint_id).await;
        assert_eq!(deliveries.len(), 1, "one delivery per event and endpoint: {deliveries:?}");
        deliveries[0].clone()
    }

    async fn endpoint(&self, endpoint_id: &str) -> Value {
        let listed = self.call("list_webhook_endpoints", json!({})).await;
        listed["data"].as_array().unwrap().iter().find(|endpoint| endpoint["id"] == endpoint_id).unwrap().clone()
    }

    async fn events_of_type(&self, event_type: &str) -> Vec<Value> {
        self.call("list_events", json!({"type": event_type})).await["data"].as_array().unwrap().clone()
    }
}

/// The published wait after the `failed_attempts`-th failure (llms.txt, `harepay http --help`):
/// base × 2^(n−1), at most the cap, moved by up to ±`WEBHOOK_RETRY_JITTER_PERCENT`, and still at
/// most the cap.
fn published_wait_bounds_ms(failed_attempts: u32) -> RangeInclusive<i64> {
    let backoff_ms = (WEBHOOK_RETRY_BASE_DEFAULT_MS << (failed_attempts - 1)).min(WEBHOOK_RETRY_CAP_DEFAULT_MS);
    let jitter_ms = backoff_ms * WEBHOOK_RETRY_JITTER_PERCENT / 100;
    (backoff_ms - jitter_ms)..=(backoff_ms + jitter_ms).min(WEBHOOK_RETRY_CAP_DEFAULT_MS)
}

/// The attempts of the first pass that fans a new event out, at the injected clock's same
/// instant. On SQLite that is the first pass. PostgreSQL's fan-out passes an event once every
/// transaction older than it on the server has ended (tests on the cluster's other databases run
/// theirs), so a pass or a few may find nothing yet; the clock does not move meanwhile.
async fn first_fanout_pass(worker: &SteppedWorker) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let made = worker.run_pass().await;
        if made > 0 || !crate::backend::on_postgres() || std::time::Instant::now() > deadline {
            return made;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Moves the clock to 1 ms before `next_attempt_at_ms`, where a pass sends nothing to `path`, then
/// to it, where one pass sends exactly one request to `path` and another pass none.
async fn step_to_next_attempt(
    clocked: &ClockedApp,
    worker: &SteppedWorker,
    receiver: &Receiver,
    path: &str,
    next_attempt_at_ms: i64,
) {
    let sent_before = receiver.requests_to(path).len();
    clocked.set_clock(next_attempt_at_ms - 1);
    worker.run_pass().await;
    assert_eq!(receiver.requests_to(path).len(), sent_before, "nothing to {path} 1 ms before its next attempt");
    clocked.set_clock(next_attempt_at_ms);
    worker.run_pass().await;
    worker.run_pass().await;
    assert_eq!(receiver.requests_to(path).len(), sent_before + 1, "exactly one attempt to {path} at its time");
}

/// Checks one failed attempt's record and the wait it scheduled; returns the next attempt's time.
async fn next_attempt_after_failure(
    clocked: &ClockedApp,
    endpoint_id: &str,
    failed_attempts: u32,
    attempted_at_ms: i64,
) -> i64 {
    let delivery = clocked.delivery_to(endpoint_id).await;
    assert_eq!(
        (delivery["status"].as_str(), delivery["attempts"].as_u64()),
        (Some("pending"), Some(failed_attempts.into()))
    );
    let last = &delivery["attempt_history"][0];
    assert_eq!(
        (last["started_at_ms"].as_i64(), last["status_code"].as_u64()),
        (Some(attempted_at_ms), Some(500)),
        "{delivery}"
    );
    let next_attempt_at_ms = delivery["next_attempt_at_ms"].as_i64().unwrap();
    let waited_ms = next_attempt_at_ms - attempted_at_ms;
    let bounds = published_wait_bounds_ms(failed_attempts);
    assert!(bounds.contains(&waited_ms), "after failure {failed_attempts}: {waited_ms} ms is outside {bounds:?}");
    next_attempt_at_ms
}

#[tokio::test]
async fn failed_deliveries_wait_the_published_schedule_by_the_injected_clock_and_the_tenth_failure_disables() {
    let receiver = Receiver::start(&[]).await;
    let clocked = ClockedApp::new().await;
    let (endpoint_id, secret) =
        clocked.create_endpoint(&receiver.url("failing"), json!(["payment_intent.created"])).await;
    let payment = json!({"amount": {"amount": 500_000, "currency": "NGN"}, "method": "bank_transfer", "rail": "rubies", "confirm": true, "idempotency_key": "order-1"});
    clocked.call("create_payment_intent", payment).await;
    let [event] = &clocked.events_of_type("payment_intent.created").await[..] else { panic!("one payment event") };
    let settings = WorkerSettings::default();
    assert_eq!(
        settings.schedule,
        RetrySchedule { base_ms: WEBHOOK_RETRY_BASE_DEFAULT_MS, cap_ms: WEBHOOK_RETRY_CAP_DEFAULT_MS },
        "the worker's default is the published schedule"
    );
    let worker = SteppedWorker::new(clocked.app.clone(), settings);

    assert_eq!(first_fanout_pass(&worker).await, 1, "a new event's first attempt is due at once");
    let mut attempted_at_ms = vec![clocked.now_ms()];
    for failed_attempts in 1..WEBHOOK_CONSECUTIVE_FAILURES_MAX {
        let next_at_ms = next_attempt_after_failure(&clocked, &endpoint_id, failed_attempts, clocked.now_ms()).await;
        step_to_next_attempt(&clocked, &worker, &receiver, "failing", next_at_ms).await;
        attempted_at_ms.push(next_at_ms);
    }

    // The tenth failure in a row disables the endpoint, with its event; the delivery stays
    // pending (it has attempts left), yet nothing is sent however far the clock moves.
    let tenth_at_ms = clocked.now_ms();
    let after_tenth_ms =
        next_attempt_after_failure(&clocked, &endpoint_id, WEBHOOK_CONSECUTIVE_FAILURES_MAX, tenth_at_ms).await;
    let endpoint = clocked.endpoint(&endpoint_id).await;
    assert_eq!((endpoint["status"].as_str(), endpoint["consecutive_failures"].as_u64()), (Some("disabled"), Some(10)));
    let disabled = clocked.events_of_type("webhook_endpoint.disabled").await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["object_id"], endpoint_id.as_str());
    assert_eq!(disabled[0]["data"]["status"], "disabled");
    for at_ms in [after_tenth_ms, after_tenth_ms + DAY_MS, after_tenth_ms + 365 * DAY_MS] {
        clocked.set_clock(at_ms);
        assert_eq!(worker.run_pass().await, 0, "no attempt to a disabled endpoint at {at_ms}");
    }
    assert_eq!(receiver.requests_to("failing").len(), WEBHOOK_CONSECUTIVE_FAILURES_MAX as usize);

    // Every attempt was the same event, signed as the seed says with the secret shown at creation,
    // stamped with the injected clock's time of that attempt.
    let received = receiver.requests_to("failing");
    for (request, at_ms) in received.iter().zip(&attempted_at_ms) {
        assert_eq!(request.header("x-lodum-event-id"), event["id"].as_str().unwrap());
        assert_eq!(request.header("x-lodum-event"), "payment_intent.created");
        let timestamp = request.header("x-lodum-timestamp");
        assert_eq!(timestamp, (at_ms / 1000).to_string(), "the attempt's time by the injected clock");
        assert_eq!(request.header("x-lodum-signature"), seed_signature(&secret, timestamp, &request.body));
        assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), event["data"], "the event's object");
    }

    // Enabled again, the delivery goes on to its last attempt, the waits now held at the cap.
    let enabled = json!({"id": endpoint_id, "enabled": true, "confirm": true});
    clocked.call("update_webhook_endpoint", enabled).await;
    assert_eq!(worker.run_pass().await, 1, "the overdue attempt goes at once");
    for failed_attempts in WEBHOOK_CONSECUTIVE_FAILURES_MAX + 1..WEBHOOK_DELIVERY_MAX_ATTEMPTS {
        let next_at_ms = next_attempt_after_failure(&clocked, &endpoint_id, failed_attempts, clocked.now_ms()).await;
        step_to_next_attempt(&clocked, &worker, &receiver, "failing", next_at_ms).await;
    }
    let exhausted = clocked.delivery_to(&endpoint_id).await;
    assert_eq!(exhausted["status"], "failed", "{exhausted}");
    assert_eq!(exhausted["attempts"], WEBHOOK_DELIVERY_MAX_ATTEMPTS);
    assert_eq!(exhausted["next_attempt_at_ms"], Value::Null);
    let endpoint = clocked.endpoint(&endpoint_id).await;
    let failures_since_enabled = WEBHOOK_DELIVERY_MAX_ATTEMPTS - WEBHOOK_CONSECUTIVE_FAILURES_MAX;
    assert_eq!(
        (endpoint["status"].as_str(), endpoint["consecutive_failures"].as_u64()),
        (Some("enabled"), Some(failures_since_enabled.into()))
    );
    clocked.set_clock(clocked.now_ms() + 365 * DAY_MS);
    assert_eq!(worker.run_pass().await, 0, "a failed delivery is not tried again");
    assert_eq!(receiver.requests_to("failing").len(), WEBHOOK_DELIVERY_MAX_ATTEMPTS as usize);
    assert_eq!(clocked.events_of_type("payment_intent.created").await.len(), 1, "no event was re-created");
}

#[tokio::test]
async fn a_429s_retry_after_defers_the_next_attempt_by_the_injected_clock_up_to_its_bound() {
    let too_many = |retry_after| Answer { status: 429, retry_after: Some(retry_after) };
    let receiver = Receiver::start(&[
        ("busy-two-minutes", too_many("120")),
        ("busy-a-day", too_many("86400")),
        ("busy-a-second", too_many("1")),
        ("unavailable-two-minutes", Answer { status: 503, retry_after: Some("120") }),
    ])
    .await;
    let clocked = ClockedApp::new().await;
    let mut endpoints = HashMap::new();
    for path in ["busy-two-minutes", "busy-a-day", "busy-a-second", "unavailable-two-minutes"] {
        let (endpoint_id, _) = clocked.create_endpoint(&receiver.url(path), json!(["customer.created"])).await;
        endpoints.insert(path, endpoint_id);
    }
    clocked.call("create_customer", json!({"email": "ada@example.com", "confirm": true})).await;
    let worker = SteppedWorker::new(clocked.app.clone(), WorkerSettings::default());
    let first_at_ms = clocked.now_ms();
    assert_eq!(first_fanout_pass(&worker).await, 4, "one attempt per endpoint");
    let next_attempt_at_ms = |path: &'static str| {
        let endpoint_id = endpoints[path].clone();
        let clocked = &clocked;
        async move { clocked.delivery_to(&endpoint_id).await["next_attempt_at_ms"].as_i64().unwrap() }
    };

    // The receiver asked for two minutes, more than the schedule's first wait: it gets them.
    let two_minutes_ms = 120_000;
    assert!(two_minutes_ms > *published_wait_bounds_ms(1).end());
    assert_eq!(next_attempt_at_ms("busy-two-minutes").await, first_at_ms + two_minutes_ms);
    // A day is held to the bound: a receiver cannot park its deliveries for longer.
    assert_eq!(next_attempt_at_ms("busy-a-day").await, first_at_ms + WEBHOOK_RETRY_AFTER_MAX_MS);
    // Retry-After never shortens the schedule, and only a 429's counts.
    for path in ["busy-a-second", "unavailable-two-minutes"] {
        let waited_ms = next_attempt_at_ms(path).await - first_at_ms;
        assert!(published_wait_bounds_ms(1).contains(&waited_ms), "{path}: waited {waited_ms} ms");
    }

    // By the injected clock: not a millisecond early, then once; the second 429 asks the same.
    step_to_next_attempt(&clocked, &worker, &receiver, "busy-two-minutes", first_at_ms + two_minutes_ms).await;
    let second_at_ms = clocked.now_ms();
    assert_eq!(next_attempt_at_ms("busy-two-minutes").await, second_at_ms + two_minutes_ms);
    step_to_next_attempt(&clocked, &worker, &receiver, "busy-a-day", first_at_ms + WEBHOOK_RETRY_AFTER_MAX_MS).await;
    let delivery = clocked.delivery_to(&endpoints["busy-a-day"]).await;
    assert_eq!(delivery["attempts"], 2);
    assert!(delivery["attempt_history"].as_array().unwrap().iter().all(|attempt| attempt["status_code"] == 429));
    let [customer_created] = &clocked.events_of_type("customer.created").await[..] else { panic!("one event") };
    for request in receiver.requests_to("busy-a-day") {
        assert_eq!(request.header("x-lodum-event-id"), customer_created["id"].as_str().unwrap());
    }
}

/// The spawned worker, on its own timer, reads the same injected clock: its poll finds nothing
/// before the retry's time, and sends it once the clock gets there.
#[tokio::test]
async fn the_spawned_worker_sends_a_retry_only_when_the_injected_clock_reaches_it() {
    let receiver = Receiver::start(&[]).await;
    let clocked = ClockedApp::new().await;
    let (endpoint_id, _) = clocked.create_endpoint(&receiver.url("failing"), json!(["customer.created"])).await;
    let worker = spawn_worker(clocked.app.clone(), WorkerSettings::default());
    clocked.call("create_customer", json!({"email": "ada@example.com", "confirm": true})).await;

    let first = eventually(20, "the first attempt recorded", || async {
        let deliveries = clocked.deliveries_to(&endpoint_id).await;
        deliveries.into_iter().find(|delivery| delivery["attempts"] == 1)
    })
    .await;
    let next_at_ms = first["next_attempt_at_ms"].as_i64().unwrap();
    assert!(published_wait_bounds_ms(1).contains(&(next_at_ms - CLOCK_START_MS)), "{first}");
    clocked.set_clock(next_at_ms - 1);
    // Several of the worker's polls go by with the retry 1 ms away.
    tokio::time::sleep(Duration::from_millis(5 * WEBHOOK_POLL_INTERVAL_MS)).await;
    assert_eq!(receiver.requests_to("failing").len(), 1, "nothing before the retry's time");
    clocked.set_clock(next_at_ms);
    eventually(20, "the retry at its time", || async { (receiver.requests_to("failing").len() == 2).then_some(()) })
        .await;
    let second = eventually(20, "the retry recorded", || async {
        let deliveries = clocked.deliveries_to(&endpoint_id).await;
        deliveries.into_iter().find(|delivery| delivery["attempts"] == 2)
    })
    .await;
    assert_eq!(second["attempt_history"][0]["started_at_ms"], next_at_ms, "sent at the injected clock's time");
    assert_eq!(clocked.deliveries_to(&endpoint_id).await.len(), 1, "one delivery, tried twice");
    worker.abort();
}
