//! The webhook part of the benchmark: events delivered per second to a local receiver by the
//! delivery worker, with 100 endpoints over 7 merchants (16 is the cap per merchant and mode).
//! Every delivery is signed, POSTed over loopback, answered 200 and recorded in its own write.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harepay::app::App;
use harepay::app::keys::{AdminCommand, NewApiKey, sha256_hex};
use harepay::engine::principal::{Mode, Principal, Role};
use harepay::engine::rules::PaymentRules;
use harepay::ops::customers::create_customer::{CreateCustomer, CreateCustomerArgs};
use harepay::ops::webhooks::create_webhook_endpoint::{CreateWebhookEndpoint, CreateWebhookEndpointArgs};
use harepay::ops::{OpContext, Visibility, run_write};
use harepay::webhooks::worker::{WorkerSettings, spawn_worker};

const ENDPOINTS: usize = 100;
const MERCHANTS: usize = 7;

/// Delivers `events` customer.created events (spread over the merchants) to every endpoint of
/// their merchant; returns the deliveries made and the time from the first event to the last
/// delivery answered.
pub async fn deliveries_per_second(database: &Path, events: usize) -> anyhow::Result<(usize, Duration)> {
    let app = App::open_sqlite(database, PaymentRules::default())?;
    let key = harepay::webhooks::seal::load_or_create(&harepay::webhooks::seal::default_key_path(database))
        .map_err(|message| anyhow::anyhow!(message))?;
    harepay::webhooks::seal::install(key);
    let context = OpContext { app: app.clone(), visibility: Arc::new(Visibility::default()) };

    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let router = axum::Router::new().route(
        "/{endpoint}",
        axum::routing::post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { "ok" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut merchants = Vec::new();
    for merchant in 0..MERCHANTS {
        merchants.push(bench_merchant(&app, merchant).await?);
    }
    let mut endpoints_of = [0_usize; MERCHANTS];
    for endpoint in 0..ENDPOINTS {
        let merchant = endpoint % MERCHANTS;
        let args = CreateWebhookEndpointArgs {
            url: format!("http://127.0.0.1:{port}/{endpoint}"),
            events: vec!["customer.created".to_owned()],
            confirm: true,
            idempotency_key: None,
        };
        run_write::<CreateWebhookEndpoint>(&context, &merchants[merchant], &args)
            .await
            .map_err(|failure| anyhow::anyhow!("endpoint: {}", failure.error.message))?;
        endpoints_of[merchant] += 1;
    }
    spawn_worker(app.clone(), WorkerSettings::default());

    let started = Instant::now();
    let mut expected = 0;
    for event in 0..events {
        let merchant = event % MERCHANTS;
        let args = CreateCustomerArgs {
            email: format!("bench{event}@example.com"),
            name: None,
            phone: None,
            metadata: Default::default(),
            confirm: true,
            idempotency_key: None,
        };
        run_write::<CreateCustomer>(&context, &merchants[merchant], &args)
            .await
            .map_err(|failure| anyhow::anyhow!("customer: {}", failure.error.message))?;
        expected += endpoints_of[merchant];
    }
    let deadline = started + Duration::from_secs(300);
    while received.load(Ordering::Relaxed) < expected {
        if Instant::now() > deadline {
            bail!("only {} of {expected} deliveries arrived in 300 s", received.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((expected, started.elapsed()))
}

async fn bench_merchant(app: &App, index: usize) -> anyhow::Result<Principal> {
    let secret = format!("sk_test_webhook_bench_{index}");
    let command = AdminCommand::CreateKey(NewApiKey {
        merchant_id: None,
        new_merchant_name: Some(format!("Webhook bench {index}")),
        mode: Mode::Test,
        role: Role::Maker,
        owner: "bench".to_owned(),
        key_sha256_hex: sha256_hex(&secret),
        key_last4: secret[secret.len() - 4..].to_owned(),
        spend_limits: Vec::new(),
        expiry: harepay::engine::api_key::KeyExpiry::Never,
    });
    app.admin(command).await.context("create a bench merchant")?;
    Ok(app.authenticate(&secret).await?)
}
