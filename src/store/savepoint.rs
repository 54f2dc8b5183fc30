//! Scoped savepoints: part of a write session that is kept only when its body succeeds. The
//! writer runs each command of a group commit in one, so a refused or panicking command undoes
//! only itself; a preview runs in one that is always undone.
//!
//! Savepoints exist only as the scope of `in_savepoint`: a caller cannot open one and forget to
//! close it, nor close one it did not open, and a panic in the body undoes the body before it
//! travels on.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::store::{SavepointAction, SavepointStep, StoreError, StoreWrite};

impl<'s> dyn StoreWrite + 's {
    /// Runs `body` in a savepoint: what it wrote is kept when it returns `Ok`, undone when it
    /// returns `Err` or panics (the panic then goes on, after the undo). Savepoints nest.
    pub fn in_savepoint<T, E>(&mut self, body: impl FnOnce(&mut (dyn StoreWrite + 's)) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.scoped(body, |result| result.is_ok())
    }

    /// Runs `body` in a savepoint that is undone whatever it returns: a preview applies a
    /// command, measures what it did, and leaves nothing behind.
    pub fn in_savepoint_always_undone<T, E>(
        &mut self,
        body: impl FnOnce(&mut (dyn StoreWrite + 's)) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.scoped(body, |_| false)
    }

    fn scoped<T, E>(
        &mut self,
        body: impl FnOnce(&mut (dyn StoreWrite + 's)) -> Result<T, E>,
        keep: impl FnOnce(&Result<T, E>) -> bool,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.savepoint(SavepointStep(SavepointAction::Begin))?;
        let result = match catch_unwind(AssertUnwindSafe(|| body(&mut *self))) {
            Ok(result) => result,
            Err(panic) => {
                // Undone before the panic goes on, so whoever catches it finds the session as it
                // was before the body. A backend that cannot undo refuses to commit afterwards.
                if let Err(error) = self.savepoint(SavepointStep(SavepointAction::RollBack)) {
                    tracing::error!(%error, "could not undo a savepoint after a panic");
                }
                resume_unwind(panic);
            }
        };
        let end = if keep(&result) { SavepointAction::Release } else { SavepointAction::RollBack };
        self.savepoint(SavepointStep(end))?;
        result
    }
}
