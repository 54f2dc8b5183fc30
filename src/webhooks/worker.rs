//! The delivery worker: a background task of `harepay http` that fans the event outbox out into
//! deliveries and POSTs them, signed, to their endpoints.
//!
//! Deliveries are rows, so nothing is lost to a restart or a crash: a delivery whose answer was
//! not recorded is sent again (at least once; receivers de-duplicate by `X-Lodum-Event-Id`). Each
//! endpoint has at most one request in flight and gets its oldest due delivery first; at most
//! `WEBHOOK_CONCURRENT_REQUESTS_MAX` requests run at once, and the due query takes merchants in
//! turns, so one slow endpoint holds one slot (for at most the request timeout) and never the rest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::app::App;
use crate::app::webhooks::AttemptReport;
use crate::engine::principal::Mode;
use crate::engine::webhook::{JITTER_BASIS_POINTS_MAX, RetrySchedule};
use crate::limits;
use crate::store::{BackgroundJob, DueWebhookDelivery};
use crate::webhooks::address::{AddressPolicy, check_url, resolve_checked};
use crate::webhooks::signature::signature_header;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    pub schedule: RetrySchedule,
    pub policy: AddressPolicy,
    pub concurrent_requests_max: usize,
}

impl Default for WorkerSettings {
    fn default() -> WorkerSettings {
        WorkerSettings {
            schedule: RetrySchedule::default(),
            policy: AddressPolicy::default(),
            concurrent_requests_max: limits::WEBHOOK_CONCURRENT_REQUESTS_MAX,
        }
    }
}

/// Resolves a receiver's name and hands the connector only addresses the policy permits, so the
/// request goes to the address that was checked (no second lookup an attacker's DNS could answer
/// differently).
struct CheckedResolver {
    policy: AddressPolicy,
    mode: Mode,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let mode = self.mode;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve_checked(&policy, mode, &host, 0).await.map_err(|refusal| refusal.message)?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

fn http_client(policy: &AddressPolicy, mode: Mode) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_millis(limits::WEBHOOK_CONNECT_TIMEOUT_MS))
        .timeout(Duration::from_millis(limits::WEBHOOK_REQUEST_TIMEOUT_MS))
        .pool_max_idle_per_host(1)
        .user_agent(concat!("harepay-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver { policy: policy.clone(), mode }))
        .build()
        .expect("the webhook HTTP client builds")
}

struct Worker {
    app: App,
    settings: WorkerSettings,
    live_client: reqwest::Client,
    test_client: reqwest::Client,
    endpoints_in_flight: Mutex<HashSet<String>>,
    /// Endpoints whose attempt is recorded, still in `endpoints_in_flight` until the next pass
    /// begins: a pass whose read of due deliveries began before a record was committed must not
    /// take that endpoint as free, or it would send the delivery again at once from stale rows.
    attempts_recorded: Mutex<Vec<String>>,
    slots: Arc<Semaphore>,
    /// Rung when an attempt is recorded: its endpoint may have the next delivery due already.
    attempt_finished: Notify,
}

/// Starts the worker on the current runtime. It runs until the process ends.
pub fn spawn_worker(app: App, settings: WorkerSettings) -> JoinHandle<()> {
    let worker = Worker::new(app, settings);
    tokio::spawn(async move {
        loop {
            // The attempts it starts run on their own; each rings `attempt_finished` once recorded.
            // One process per database delivers (several servers on PostgreSQL share the work by
            // taking over when the deliverer stops).
            if worker.app.holds_lease(BackgroundJob::WebhookDelivery).await {
                worker.pass().await;
            }
            let poll_interval = Duration::from_millis(limits::WEBHOOK_POLL_INTERVAL_MS);
            let _ = tokio::time::timeout(poll_interval, worker.attempt_finished.notified()).await;
        }
    })
}

/// The worker without its timer, for tests that move an injected clock: `run_pass` does what one
/// tick of `spawn_worker` does and returns once the attempts it started are recorded, so a pass
/// sends exactly what is due at the clock's time, and the next pass sees what they recorded.
pub struct SteppedWorker {
    worker: Arc<Worker>,
}

impl SteppedWorker {
    pub fn new(app: App, settings: WorkerSettings) -> SteppedWorker {
        SteppedWorker { worker: Worker::new(app, settings) }
    }

    /// One pass; returns how many attempts it made.
    pub async fn run_pass(&self) -> usize {
        let attempts = self.worker.pass().await;
        let made = attempts.len();
        for attempt in attempts {
            attempt.await.expect("a webhook attempt does not panic");
        }
        made
    }
}

impl Worker {
    fn new(app: App, settings: WorkerSettings) -> Arc<Worker> {
        Arc::new(Worker {
            live_client: http_client(&settings.policy, Mode::Live),
            test_client: http_client(&settings.policy, Mode::Test),
            slots: Arc::new(Semaphore::new(settings.concurrent_requests_max.max(1))),
            endpoints_in_flight: Mutex::new(HashSet::new()),
            attempts_recorded: Mutex::new(Vec::new()),
            attempt_finished: Notify::new(),
            app,
            settings,
        })
    }

    /// One tick: new events fanned out, then the due deliveries started; returns their tasks.
    async fn pass(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        self.fan_out().await;
        self.start_due_deliveries().await
    }

    async fn fan_out(&self) {
        loop {
            match self.app.fan_out_webhook_events().await {
                Ok(read) if read == limits::WEBHOOK_FANOUT_BATCH_MAX_EVENTS as usize => continue,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "webhook fan-out failed; trying again on the next tick");
                    return;
                }
            }
        }
    }

    async fn start_due_deliveries(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let free_slots = self.slots.available_permits();
        if free_slots == 0 {
            return Vec::new();
        }
        let in_flight = {
            // Recorded before this pass's read begins: the read sees those records.
            let recorded = std::mem::take(&mut *self.attempts_recorded.lock().expect("recorded lock"));
            let mut in_flight = self.endpoints_in_flight.lock().expect("in-flight lock");
            for endpoint_id in &recorded {
                in_flight.remove(endpoint_id);
            }
            in_flight.len()
        };
        let limit = u32::try_from(free_slots + in_flight).unwrap_or(u32::MAX);
        let due = match self.app.due_webhook_deliveries(limit).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "could not read due webhook deliveries");
                return Vec::new();
            }
        };
        let mut started = Vec::new();
        for delivery in due {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else { break };
            if !self.endpoints_in_flight.lock().expect("in-flight lock").insert(delivery.endpoint_id.clone()) {
                continue;
            }
            let worker = self.clone();
            started.push(tokio::spawn(async move {
                let endpoint_id = delivery.endpoint_id.clone();
                let report = worker.attempt(&delivery).await;
                if let Err(error) = worker.app.record_webhook_attempt(worker.settings.schedule, report).await {
                    tracing::warn!(%error, delivery = %delivery.delivery_id, "could not record a webhook attempt; it will be sent again");
                }
                worker.attempts_recorded.lock().expect("recorded lock").push(endpoint_id);
                drop(slot);
                worker.attempt_finished.notify_one();
            }));
        }
        started
    }

    /// One signed POST of `delivery`, bounded in time and in the bytes read.
    async fn attempt(&self, delivery: &DueWebhookDelivery) -> AttemptReport {
        let started_at_ms = self.app.now_ms();
        let started = Instant::now();
        let outcome = self.send(delivery, started_at_ms).await;
        let mut report = AttemptReport {
            delivery_id: delivery.delivery_id.clone(),
            started_at_ms,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            status_code: None,
            error: None,
            response_excerpt: None,
            retry_after_ms: None,
            jitter_basis_points: rand::rng().random_range(-JITTER_BASIS_POINTS_MAX..=JITTER_BASIS_POINTS_MAX),
        };
        match outcome {
            Ok(answer) => {
                report.status_code = Some(answer.status);
                report.response_excerpt = Some(answer.excerpt);
                report.retry_after_ms = answer.retry_after_ms;
                if (300..400).contains(&answer.status) {
                    report.error = Some(format!("status {}: redirects are not followed", answer.status));
                }
            }
            Err(error) => report.error = Some(limits::truncate_chars(&error, limits::SCHEDULER_ERROR_DETAIL_MAX_CHARS)),
        }
        report
    }

    async fn send(&self, delivery: &DueWebhookDelivery, started_at_ms: i64) -> Result<Answer, String> {
        let mode = delivery.scope.mode;
        let url = check_url(&delivery.url, mode, &self.settings.policy).map_err(|refusal| refusal.message)?;
        let secret = crate::webhooks::seal::installed()
            .and_then(|key| key.open(&delivery.secret_sealed, &delivery.endpoint_id))
            .and_then(|secret| String::from_utf8(secret).ok())
            .ok_or("the endpoint's signing secret cannot be opened with this server's seal key")?;
        let timestamp_seconds = started_at_ms.div_euclid(1000);
        let body = delivery.payload_json.clone().into_bytes();
        let signature = signature_header(&secret, timestamp_seconds, &body);
        let client = match mode {
            Mode::Live => &self.live_client,
            Mode::Test => &self.test_client,
        };
        let response = client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Lodum-Event", &delivery.event_type)
            .header("X-Lodum-Event-Id", &delivery.event_id)
            .header("X-Lodum-Timestamp", timestamp_seconds.to_string())
            .header("X-Lodum-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(describe_error)?;
        read_bounded(response).await
    }
}

struct Answer {
    status: u16,
    excerpt: String,
    retry_after_ms: Option<i64>,
}

/// Reads at most `WEBHOOK_RESPONSE_READ_MAX_BYTES` of the answer and drops the connection on the
/// rest: a receiver that streams forever costs one bounded read.
async fn read_bounded(mut response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status().as_u16();
    let retry_after_ms = (status == 429)
        .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<i64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    let mut read = Vec::new();
    while read.len() < limits::WEBHOOK_RESPONSE_READ_MAX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status came; a body cut short or too slow does not change it.
            Err(_) => break,
        }
    }
    read.truncate(limits::WEBHOOK_RESPONSE_READ_MAX_BYTES);
    let excerpt = limits::truncate_chars(&String::from_utf8_lossy(&read), limits::WEBHOOK_RESPONSE_EXCERPT_MAX_CHARS);
    Ok(Answer { status, excerpt, retry_after_ms })
}

fn describe_error(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        format!("no answer within {} ms", limits::WEBHOOK_REQUEST_TIMEOUT_MS)
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() { what } else { format!("{what}: {}", causes.join(": ")) }
}
