//! The driver under every pooled connection: tokio-postgres's client and its connection, driven on
//! a small runtime of the connection's own, as the synchronous `postgres` crate drives them, but
//! with one thing that crate cannot do: send several statements before waiting for the first
//! answer (pipelining). A session's writes whose answers decide nothing are sent with the next
//! statement that needs an answer, in one round trip (`session::PooledConnection::defer`).
//!
//! Like the synchronous driver, it must not be called on a thread that drives async tasks: the
//! app opens sessions on blocking threads and on its writer thread.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, Error, Statement};

use crate::store::postgres::tls::TlsConnector;
use crate::store::{StoreError, StoreResult};

type ConnectionTask = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

pub struct PgClient {
    runtime: tokio::runtime::Runtime,
    /// `None` only while being dropped.
    client: Option<Client>,
    /// Reads answers and writes requests; `None` once the connection has ended.
    connection: Option<ConnectionTask>,
    /// Round trips of every connection of the store (`PostgresStore::round_trips`).
    round_trips: Arc<AtomicU64>,
}

impl PgClient {
    pub fn connect(config: &Config, tls: TlsConnector, round_trips: Arc<AtomicU64>) -> StoreResult<PgClient> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::Backend(format!("could not start the database driver: {error}")))?;
        let (client, connection) = runtime.block_on(config.connect(tls))?;
        Ok(PgClient { runtime, client: Some(client), connection: Some(Box::pin(connection)), round_trips })
    }

    /// The client, to make requests with, and what runs them to their end.
    pub fn split(&mut self) -> (&Client, Driver<'_>) {
        (
            self.client.as_ref().expect("client present until dropped"),
            Driver { runtime: &self.runtime, connection: &mut self.connection, round_trips: &self.round_trips },
        )
    }

    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let (client, driver) = self.split();
        driver.block_on(client.prepare(sql))
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let (client, driver) = self.split();
        driver.block_on(client.batch_execute(sql))
    }

    pub fn is_closed(&self) -> bool {
        self.connection.is_none() || self.client.as_ref().is_none_or(Client::is_closed)
    }
}

/// How long a connection being closed may take to say goodbye to the server.
const CLOSE_WAIT_MS: u64 = 1_000;

impl Drop for PgClient {
    /// The client sends the server a goodbye as it goes; the connection delivers it and ends, so
    /// the server ends the session at once instead of finding the socket gone. (Not on a thread
    /// that drives async tasks, where this runtime cannot run: there the socket just closes.)
    fn drop(&mut self) {
        drop(self.client.take());
        let Some(connection) = self.connection.take() else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            let wait = std::time::Duration::from_millis(CLOSE_WAIT_MS);
            let _ = self.runtime.block_on(async { tokio::time::timeout(wait, connection).await });
        }
    }
}

pub struct Driver<'c> {
    runtime: &'c tokio::runtime::Runtime,
    connection: &'c mut Option<ConnectionTask>,
    round_trips: &'c AtomicU64,
}

impl Driver<'_> {
    /// Runs `work` (which may have sent several requests) to its end, driving the connection
    /// meanwhile.
    pub fn block_on<F: Future>(self, work: F) -> F::Output {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let connection = self.connection;
        let mut work = pin!(work);
        self.runtime.block_on(poll_fn(|context| {
            if let Some(driving) = connection.as_mut()
                && let Poll::Ready(ended) = driving.as_mut().poll(context)
            {
                if let Err(error) = ended {
                    tracing::debug!(%error, "database connection ended");
                }
                // Every request still waiting for an answer now fails as closed.
                *connection = None;
            }
            work.as_mut().poll(context)
        }))
    }
}

/// A parameter already encoded in the binary format of its column's type: a deferred statement
/// keeps its parameters after the borrowed values it was given are gone.
#[derive(Debug)]
pub struct EncodedParameter(Option<Vec<u8>>);

impl EncodedParameter {
    /// Encodes `value` as parameter number `index`, of type `parameter_type` (the driver's own
    /// type check).
    pub fn encode(parameter_type: &Type, index: usize, value: &(dyn ToSql + Sync)) -> StoreResult<EncodedParameter> {
        let mut encoded = BytesMut::new();
        match value.to_sql_checked(parameter_type, &mut encoded) {
            Ok(IsNull::Yes) => Ok(EncodedParameter(None)),
            Ok(IsNull::No) => Ok(EncodedParameter(Some(encoded.to_vec()))),
            Err(error) => Err(StoreError::Backend(format!("parameter ${}: {error}", index + 1))),
        }
    }
}

impl ToSql for EncodedParameter {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(encoded) => {
                out.extend_from_slice(encoded);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    /// Checked when it was encoded, against the same statement.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}
