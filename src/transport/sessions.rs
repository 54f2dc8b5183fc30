//! Sessions of the older protocol (2025-11-25 and before), capped per key and in total.
//!
//! rmcp's `LocalSessionManager` keeps every session until it is deleted or idle for its
//! `keep_alive`, with no cap. [`CappedSessionManager`] wraps it: the HTTP layer reserves a slot
//! for the request's key before an `initialize` reaches rmcp (and answers a clear error when
//! none is left), the session rmcp then creates takes the slot, and the slot is freed when rmcp
//! closes the session (DELETE, idle expiry or shutdown).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{EventStore, RestoreOutcome, SessionId};

/// How many sessions may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub max_per_key: usize,
    pub max_total: usize,
    pub idle_expiry: Duration,
}

/// Why a new session was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRefusal {
    KeyFull { max_per_key: usize },
    ServerFull { max_total: usize },
}

#[derive(Debug, Default)]
struct OpenSessions {
    /// Reserved or open, per key id.
    by_key: HashMap<String, usize>,
    /// The key each open session belongs to.
    key_of_session: HashMap<SessionId, String>,
    total: usize,
}

/// The counts behind the caps, shared by the HTTP layer and the session manager.
#[derive(Debug)]
pub struct SessionRegistry {
    limits: SessionLimits,
    open: Mutex<OpenSessions>,
}

impl SessionRegistry {
    pub fn new(limits: SessionLimits) -> Arc<SessionRegistry> {
        Arc::new(SessionRegistry { limits, open: Mutex::new(OpenSessions::default()) })
    }

    fn open(&self) -> MutexGuard<'_, OpenSessions> {
        // The counts stay consistent under a panic elsewhere: every change is one statement.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a session of `key_id`, or why there is none.
    pub fn reserve(self: &Arc<Self>, key_id: &str) -> Result<SessionReservation, SessionRefusal> {
        let mut open = self.open();
        let of_key = open.by_key.get(key_id).copied().unwrap_or(0);
        if of_key >= self.limits.max_per_key {
            return Err(SessionRefusal::KeyFull { max_per_key: self.limits.max_per_key });
        }
        if open.total >= self.limits.max_total {
            return Err(SessionRefusal::ServerFull { max_total: self.limits.max_total });
        }
        open.total += 1;
        *open.by_key.entry(key_id.to_owned()).or_insert(0) += 1;
        Ok(SessionReservation { registry: self.clone(), key_id: key_id.to_owned(), taken: Mutex::new(false) })
    }

    fn release(&self, key_id: &str) {
        let mut open = self.open();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_key.get_mut(key_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_key.remove(key_id);
            }
        }
    }

    fn closed(&self, session_id: &SessionId) {
        let key_id = self.open().key_of_session.remove(session_id);
        if let Some(key_id) = key_id {
            self.release(&key_id);
        }
    }

    pub fn idle_expiry(&self) -> Duration {
        self.limits.idle_expiry
    }

    /// Sessions reserved or open.
    pub fn total(&self) -> usize {
        self.open().total
    }
}

/// A slot held for one `initialize`: taken by the session it creates, or given back when
/// dropped unused (the request failed before a session was made).
#[derive(Debug)]
pub struct SessionReservation {
    registry: Arc<SessionRegistry>,
    key_id: String,
    taken: Mutex<bool>,
}

impl SessionReservation {
    fn take_for(&self, session_id: &SessionId) -> bool {
        let mut taken = self.taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if *taken {
            return false;
        }
        *taken = true;
        self.registry.open().key_of_session.insert(session_id.clone(), self.key_id.clone());
        true
    }
}

impl Drop for SessionReservation {
    fn drop(&mut self) {
        let taken = *self.taken.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !taken {
            self.registry.release(&self.key_id);
        }
    }
}

tokio::task_local! {
    /// The slot of the `initialize` being handled on this task. rmcp creates the session inside
    /// the request's future, on the same task, without passing the request along.
    pub static SESSION_RESERVATION: SessionReservation;
}

#[derive(Debug, thiserror::Error)]
pub enum CappedSessionError {
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    #[error("no session slot was reserved for this request")]
    Unreserved,
}

/// rmcp's in-memory session manager with caps and a short idle expiry.
#[derive(Debug)]
pub struct CappedSessionManager {
    local: LocalSessionManager,
    registry: Arc<SessionRegistry>,
}

impl CappedSessionManager {
    pub fn new(registry: Arc<SessionRegistry>) -> CappedSessionManager {
        let mut local = LocalSessionManager::default();
        local.session_config.keep_alive = Some(registry.limits.idle_expiry);
        CappedSessionManager { local, registry }
    }
}

impl SessionManager for CappedSessionManager {
    type Error = CappedSessionError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // Fail closed: a session no slot was reserved for would escape the caps.
        let reserved = SESSION_RESERVATION.try_with(|_| ()).is_ok();
        if !reserved {
            return Err(CappedSessionError::Unreserved);
        }
        let (session_id, transport) = self.local.create_session().await?;
        if !SESSION_RESERVATION.with(|reservation| reservation.take_for(&session_id)) {
            // A second session on one reservation: never made by rmcp today; refuse it all the same.
            let _ = self.local.close_session(&session_id).await;
            return Err(CappedSessionError::Unreserved);
        }
        Ok((session_id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.local.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.local.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.local.close_session(id).await;
        self.registry.closed(id);
        Ok(closed?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.create_stream(id, message).await?)
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        Ok(self.local.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.local.resume(id, last_event_id).await?)
    }

    async fn restore_session(&self, _id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // No external session store: a session unknown here is gone (404, the client starts anew).
        Ok(RestoreOutcome::NotSupported)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max_per_key: usize, max_total: usize) -> Arc<SessionRegistry> {
        SessionRegistry::new(SessionLimits { max_per_key, max_total, idle_expiry: Duration::from_secs(1) })
    }

    #[test]
    fn slots_are_capped_per_key_and_in_total_and_unused_ones_come_back() {
        let registry = registry(2, 3);
        let first = registry.reserve("key_a").unwrap();
        let second = registry.reserve("key_a").unwrap();
        assert_eq!(registry.reserve("key_a").unwrap_err(), SessionRefusal::KeyFull { max_per_key: 2 });
        let third = registry.reserve("key_b").unwrap();
        assert_eq!(registry.reserve("key_c").unwrap_err(), SessionRefusal::ServerFull { max_total: 3 });
        drop(second);
        assert_eq!(registry.total(), 2);
        assert!(registry.reserve("key_a").is_ok(), "an unused reservation gives its slot back");
        drop((first, third));
        assert_eq!(registry.total(), 0);
    }

    #[test]
    fn a_taken_slot_is_held_until_its_session_closes() {
        let registry = registry(1, 10);
        let session_id: SessionId = "session-1".into();
        let reservation = registry.reserve("key_a").unwrap();
        assert!(reservation.take_for(&session_id));
        assert!(!reservation.take_for(&"session-2".into()), "one session per reservation");
        drop(reservation);
        assert_eq!(registry.total(), 1);
        assert!(registry.reserve("key_a").is_err());
        registry.closed(&session_id);
        assert_eq!(registry.total(), 0);
        registry.closed(&session_id);
        assert_eq!(registry.total(), 0, "closing twice frees once");
        assert!(registry.reserve("key_a").is_ok());
    }
}
