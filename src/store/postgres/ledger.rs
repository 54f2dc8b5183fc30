//! TODO(postgres port): this area is not ported yet.
#![allow(unused_imports, unused_variables)]

use crate::engine::ledger::{AccountKind, Balances, LedgerAccount, LedgerTransaction, balance_after, net_changes};
use crate::engine::money::AssetRef;
use crate::engine::principal::Scope;
use crate::store::{
    BalanceMismatch, BalanceRow, LedgerRead, LedgerReport, LedgerWrite, NonIntegerValue, StoreError, StoreResult,
};
use std::collections::BTreeMap;

use crate::store::postgres::session::PgSession;

impl LedgerRead for PgSession<'_> {
    fn balances(&self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        todo!("postgres: ledger")
    }
    fn balances_with_customers(
        &self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        todo!("postgres: ledger")
    }
    fn customer_prepaid_balances(&self, scope: &Scope, customer_id: &str) -> StoreResult<Vec<(AssetRef, i64)>> {
        todo!("postgres: ledger")
    }
    fn list_balance_rows(&self, scope: &Scope) -> StoreResult<Vec<BalanceRow>> {
        todo!("postgres: ledger")
    }
    fn verify_ledger(&self, scope: Option<&Scope>) -> StoreResult<LedgerReport> {
        todo!("postgres: ledger")
    }
}

impl LedgerWrite for PgSession<'_> {
    fn balances_for_update(&mut self, scope: &Scope, assets: &[AssetRef]) -> StoreResult<Balances> {
        todo!("postgres: ledger")
    }
    fn balances_with_customers_for_update(
        &mut self,
        scope: &Scope,
        assets: &[AssetRef],
        customer_ids: &[&str],
    ) -> StoreResult<Balances> {
        todo!("postgres: ledger")
    }
    fn post_ledger_transaction(
        &mut self,
        scope: &Scope,
        transaction: &LedgerTransaction,
        now_ms: i64,
    ) -> StoreResult<()> {
        todo!("postgres: ledger")
    }
}
