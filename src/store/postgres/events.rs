//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::Scope;
use crate::store::{EventFilter, EventRecord, EventsRead, EventsWrite, Page, PageRequest, StoreResult};

use crate::store::postgres::session::PgSession;

impl EventsRead for PgSession<'_> {
    fn event_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        todo!("postgres: events")
    }
    fn list_events(&self, scope: &Scope, filter: &EventFilter, page: &PageRequest) -> StoreResult<Page<EventRecord>> {
        todo!("postgres: events")
    }
}

impl EventsWrite for PgSession<'_> {
    fn append_event(&mut self, record: &EventRecord) -> StoreResult<()> {
        todo!("postgres: events")
    }
}
