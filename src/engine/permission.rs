//! Who may do what: one table. Every operation names the action it needs; tool visibility, the
//! app's refusal and the engine's own checks all ask `role_may`.
//!
//! The rule in words: everyone reads; makers initiate (create, refund, cancel, simulate) and
//! manage the records billing builds on (customers, products, prices); checkers decide (approve
//! or reject a payout waiting for a second person); admins do all of it, and only admins manage
//! the merchant's API keys.
//! The maker-checker rule that nobody decides their own payout is about people, not roles, and
//! lives with payouts (`payout::approve_payout`).

use crate::engine::principal::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read the merchant's objects, balances, events and audit log.
    Read,
    /// Start a movement of money or change an object a maker made: payments, refunds, payouts,
    /// cancellations, test-mode simulations.
    Initiate,
    /// Approve or reject a payout that waits for a second person.
    DecideApproval,
    /// Create, change or archive records that move no money: customers, products, prices.
    Manage,
    /// Create, list and revoke the merchant's API keys: who may act at all. Admins only.
    ManageKeys,
}

impl Action {
    pub const ALL: [Action; 5] =
        [Action::Read, Action::Initiate, Action::DecideApproval, Action::Manage, Action::ManageKeys];

    pub fn code(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Initiate => "initiate",
            Action::DecideApproval => "decide_approval",
            Action::Manage => "manage",
            Action::ManageKeys => "manage_keys",
        }
    }
}

/// The permission table.
pub fn role_may(role: Role, action: Action) -> bool {
    match (role, action) {
        (_, Action::Read) => true,
        (Role::Admin, _) => true,
        (Role::Maker, Action::Initiate | Action::Manage) => true,
        (Role::Approver, Action::DecideApproval) => true,
        (Role::Maker, Action::DecideApproval | Action::ManageKeys)
        | (Role::Approver, Action::Initiate | Action::Manage | Action::ManageKeys)
        | (Role::ReadOnly, _) => false,
    }
}

/// The roles that may take `action`, for messages ("approve_payout is for approver or admin keys").
pub fn roles_allowed(action: Action) -> Vec<Role> {
    Role::ALL.into_iter().filter(|role| role_may(*role, action)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_in_full() {
        let expected = [
            (Role::Admin, [true, true, true, true, true]),
            (Role::Maker, [true, true, false, true, false]),
            (Role::Approver, [true, false, true, false, false]),
            (Role::ReadOnly, [true, false, false, false, false]),
        ];
        for (role, allowed) in expected {
            for (action, may) in Action::ALL.into_iter().zip(allowed) {
                assert_eq!(role_may(role, action), may, "{role:?} {action:?}");
            }
        }
    }
}
