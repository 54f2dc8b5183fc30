//! Assets and amounts. An amount is always an `i64` count of the asset's minor unit (kobo, cents,
//! USDC base units); there is no floating point anywhere in harepay.

use crate::engine::error::EngineError;
use crate::limits::{AMOUNT_MAX_MINOR, AMOUNT_MIN_MINOR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetKind {
    Fiat,
    Crypto,
}

/// A blockchain an on-chain asset travels on. Part of a payment, not of a ledger account:
/// USDC received on TRON and on BASE are the same USDC balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    Tron,
    Ethereum,
    Solana,
    Base,
    Bitcoin,
}

impl Network {
    pub const ALL: [Network; 5] = [Network::Tron, Network::Ethereum, Network::Solana, Network::Base, Network::Bitcoin];

    pub fn code(self) -> &'static str {
        match self {
            Network::Tron => "TRON",
            Network::Ethereum => "ETHEREUM",
            Network::Solana => "SOLANA",
            Network::Base => "BASE",
            Network::Bitcoin => "BITCOIN",
        }
    }

    pub fn parse(code: &str) -> Option<Network> {
        Network::ALL.into_iter().find(|network| network.code() == code)
    }
}

/// One entry of the asset registry.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Asset {
    /// ISO 4217 code for fiat, ticker for crypto.
    pub code: &'static str,
    /// Minor units per major unit are 10^exponent (NGN 2: kobo; XOF 0; USDC 6; BTC 8).
    pub exponent: u32,
    pub kind: AssetKind,
    /// Prefix used by `display` strings, e.g. "₦". Crypto assets use a suffix code instead.
    pub symbol: &'static str,
    /// Networks an on-chain asset can arrive on. Empty for fiat.
    pub networks: &'static [Network],
}

const STABLECOIN_NETWORKS: &[Network] = &[Network::Tron, Network::Ethereum, Network::Solana, Network::Base];

/// The asset registry. Adding an asset here is all it takes to accept it.
pub static ASSETS: &[Asset] = &[
    fiat("NGN", 2, "₦"),
    fiat("USD", 2, "$"),
    fiat("EUR", 2, "€"),
    fiat("GBP", 2, "£"),
    fiat("KES", 2, "KSh "),
    fiat("GHS", 2, "GH₵"),
    fiat("ZAR", 2, "R "),
    fiat("CAD", 2, "CA$"),
    fiat("JMD", 2, "J$"),
    fiat("XOF", 0, "CFA "),
    Asset { code: "USDC", exponent: 6, kind: AssetKind::Crypto, symbol: "", networks: STABLECOIN_NETWORKS },
    Asset { code: "USDT", exponent: 6, kind: AssetKind::Crypto, symbol: "", networks: STABLECOIN_NETWORKS },
    Asset { code: "BTC", exponent: 8, kind: AssetKind::Crypto, symbol: "", networks: &[Network::Bitcoin] },
];

const fn fiat(code: &'static str, exponent: u32, symbol: &'static str) -> Asset {
    Asset { code, exponent, kind: AssetKind::Fiat, symbol, networks: &[] }
}

pub type AssetRef = &'static Asset;

impl Asset {
    pub fn lookup(code: &str) -> Option<AssetRef> {
        ASSETS.iter().find(|asset| asset.code == code)
    }

    /// Looks up an asset code that came from our own storage, where an unknown code is corruption.
    pub fn from_stored_code(code: &str) -> AssetRef {
        Asset::lookup(code).unwrap_or_else(|| panic!("stored asset code {code:?} is not in the registry"))
    }

    pub fn is_crypto(&self) -> bool {
        self.kind == AssetKind::Crypto
    }

    pub fn supports_network(&self, network: Network) -> bool {
        self.networks.contains(&network)
    }

    /// Minor units per major unit.
    pub fn minor_per_major(&self) -> i128 {
        10_i128.pow(self.exponent)
    }

    /// Formats an amount for people: "₦10,000.00", "$0.05", "CFA 1,500", "100.000000 USDC".
    /// Negative amounts get a leading minus sign.
    pub fn display(&self, amount_minor: i64) -> String {
        let sign = if amount_minor < 0 { "-" } else { "" };
        let magnitude = amount_minor.unsigned_abs();
        let divisor = 10_u64.pow(self.exponent);
        let major = group_thousands(magnitude / divisor);
        let fraction = if self.exponent == 0 {
            String::new()
        } else {
            format!(".{:0width$}", magnitude % divisor, width = self.exponent as usize)
        };
        match self.kind {
            AssetKind::Fiat => format!("{sign}{}{major}{fraction}", self.symbol),
            AssetKind::Crypto => format!("{sign}{major}{fraction} {}", self.code),
        }
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// An amount of one asset, validated to lie in `AMOUNT_MIN_MINOR..=AMOUNT_MAX_MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub asset: AssetRef,
    pub amount_minor: i64,
}

impl Money {
    /// A positive amount of `asset`, refused when outside the accepted range.
    pub fn new(asset: AssetRef, amount_minor: i64) -> Result<Money, EngineError> {
        check_amount_range(amount_minor)?;
        Ok(Money { asset, amount_minor })
    }

    pub fn display(&self) -> String {
        self.asset.display(self.amount_minor)
    }
}

pub fn check_amount_range(amount_minor: i64) -> Result<(), EngineError> {
    if (AMOUNT_MIN_MINOR..=AMOUNT_MAX_MINOR).contains(&amount_minor) {
        Ok(())
    } else {
        Err(EngineError::invalid(
            "amount",
            format!(
                "amount must be an integer from {AMOUNT_MIN_MINOR} to {AMOUNT_MAX_MINOR} minor units, got {amount_minor}"
            ),
        ))
    }
}

/// Adds two amounts, reporting overflow instead of wrapping.
pub fn checked_add_minor(left: i64, right: i64) -> Result<i64, EngineError> {
    left.checked_add(right).ok_or(EngineError::AmountOverflow)
}

pub fn checked_sub_minor(left: i64, right: i64) -> Result<i64, EngineError> {
    left.checked_sub(right).ok_or(EngineError::AmountOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_display(code: &str, amount_minor: i64, expected: &str) {
        assert_eq!(Asset::lookup(code).unwrap().display(amount_minor), expected);
    }

    #[test]
    fn display_uses_the_asset_exponent_and_symbol() {
        check_display("NGN", 1_000_000, "₦10,000.00");
        check_display("NGN", 5, "₦0.05");
        check_display("USD", 123_456_789, "$1,234,567.89");
        check_display("XOF", 1500, "CFA 1,500");
        check_display("USDC", 100_000_000, "100.000000 USDC");
        check_display("BTC", 1, "0.00000001 BTC");
        check_display("NGN", -250, "-₦2.50");
        check_display("NGN", 0, "₦0.00");
    }

    #[test]
    fn registry_has_the_promised_assets() {
        for (code, exponent) in [
            ("NGN", 2),
            ("USD", 2),
            ("EUR", 2),
            ("GBP", 2),
            ("KES", 2),
            ("GHS", 2),
            ("ZAR", 2),
            ("CAD", 2),
            ("JMD", 2),
            ("XOF", 0),
            ("USDC", 6),
            ("USDT", 6),
            ("BTC", 8),
        ] {
            assert_eq!(Asset::lookup(code).unwrap().exponent, exponent, "{code}");
        }
        assert!(Asset::lookup("ngn").is_none(), "codes are case sensitive");
        assert!(Asset::lookup("USDC").unwrap().supports_network(Network::Tron));
        assert!(!Asset::lookup("BTC").unwrap().supports_network(Network::Tron));
    }

    #[test]
    fn amount_range_is_enforced() {
        let ngn = Asset::lookup("NGN").unwrap();
        assert!(Money::new(ngn, 0).is_err());
        assert!(Money::new(ngn, -1).is_err());
        assert!(Money::new(ngn, 1).is_ok());
        assert!(Money::new(ngn, AMOUNT_MAX_MINOR).is_ok());
        assert!(Money::new(ngn, AMOUNT_MAX_MINOR + 1).is_err());
    }
}
