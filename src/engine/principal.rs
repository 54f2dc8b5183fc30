//! Who is acting, and on whose money. Everything harepay stores belongs to one `Scope`:
//! a merchant in one mode. A test key never sees a live object and the reverse.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn code(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    pub fn parse(code: &str) -> Option<Mode> {
        match code {
            "test" => Some(Mode::Test),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }

    /// The prefix every secret key of this mode starts with.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Mode::Test => "sk_test_",
            Mode::Live => "sk_live_",
        }
    }
}

/// What a key may do. `Maker` is the default: it may move money, subject to approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Admin,
    Maker,
    Approver,
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Maker, Role::Approver, Role::ReadOnly];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maker => "maker",
            Role::Approver => "approver",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub merchant_id: String,
    pub mode: Mode,
}

/// An authenticated API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub scope: Scope,
    pub merchant_name: String,
    pub role: Role,
    /// The person or service the key was issued to; maker and checker must differ.
    pub owner: String,
    /// `owner` as it is compared (`identity::owner_skeleton`), computed when the key was stored.
    /// A key made through a tool carries its creator's: the person accountable for it.
    pub owner_skeleton: String,
    /// The HTTP request this key acts in (`X-Request-Id`), for the audit log; none on stdio.
    pub request_id: Option<String>,
    /// When the key stops working (Unix milliseconds); `None`: never.
    pub expires_at_ms: Option<i64>,
    /// The person answerable for what the key does: `owner`, or for a key made through a tool
    /// its creator's accountable owner. Payouts record it as their maker, and maker-checker
    /// compares it, so minting a key for a made-up name does not make a second person.
    pub accountable_owner: String,
}

/// A test-mode key of merchant `mch_1`, for engine tests.
#[cfg(test)]
pub(crate) fn test_principal(key_id: &str, owner: &str, role: Role) -> Principal {
    Principal {
        key_id: key_id.into(),
        scope: Scope { merchant_id: "mch_1".into(), mode: Mode::Test },
        merchant_name: "One".into(),
        role,
        owner: owner.into(),
        owner_skeleton: crate::engine::identity::owner_skeleton(owner),
        request_id: None,
        expires_at_ms: None,
        accountable_owner: owner.into(),
    }
}
