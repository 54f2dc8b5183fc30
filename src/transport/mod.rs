//! Transports: wiring only. No business rule lives here.

pub mod connections;
pub mod host_origin;
pub mod http;
mod http_error;
pub mod jsonrpc;
pub mod probes;
pub mod sessions;
pub mod stdio;

/// Resolves on SIGTERM (what service managers and orchestrators send) or SIGINT (Ctrl-C). The
/// handlers are installed when this is called, not when the future is first polled: call it
/// before the server says it is ready, or a signal in between kills the process outright.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())
        .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGTERM; it stops the server outright"))
        .ok();
    let mut interrupt = signal(SignalKind::interrupt())
        .inspect_err(|error| tracing::warn!(%error, "cannot listen for Ctrl-C; it stops the server outright"))
        .ok();
    async move {
        let terminated = async {
            match terminate.as_mut() {
                Some(terminate) => terminate.recv().await,
                None => std::future::pending().await,
            }
        };
        let interrupted = async {
            match interrupt.as_mut() {
                Some(interrupt) => interrupt.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = interrupted => tracing::info!("SIGINT: shutting down"),
            _ = terminated => tracing::info!("SIGTERM: shutting down"),
        }
    }
}
