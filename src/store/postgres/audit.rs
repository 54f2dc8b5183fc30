//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::principal::Scope;
use crate::store::{AuditRead, AuditRecord, AuditWrite, Page, PageRequest, StoreResult};

use crate::store::postgres::session::PgSession;

impl AuditRead for PgSession<'_> {
    fn audit_exists(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        todo!("postgres: audit")
    }
    fn list_audit(&self, scope: &Scope, page: &PageRequest) -> StoreResult<Page<AuditRecord>> {
        todo!("postgres: audit")
    }
}

impl AuditWrite for PgSession<'_> {
    fn append_audit(&mut self, record: &AuditRecord) -> StoreResult<()> {
        todo!("postgres: audit")
    }
}
