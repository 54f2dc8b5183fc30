//! Fees and currency conversion: exact integer arithmetic with stated rounding.
//!
//! - A fee is `ceil(amount × bps / 10_000) + fixed`, never more than the amount itself.
//!   Rounding up is the processor's convention: the fee is never understated.
//! - A conversion is `floor(amount × rate)`, computed on minor units in i128: the merchant is
//!   never credited more than the quoted rate gives.

use std::collections::BTreeMap;

use crate::engine::error::EngineError;
use crate::engine::money::{Asset, AssetRef};
use crate::engine::rail::Rail;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RailFee {
    pub basis_points: u32,
    /// Fixed part per currency code, in that currency's minor unit. Absent means zero.
    pub fixed_minor_by_asset: BTreeMap<&'static str, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    pub by_rail: BTreeMap<Rail, RailFee>,
}

impl Default for FeeSchedule {
    /// Defaults in the range African processors charge: card 1.5% + ₦100, transfer rails less.
    fn default() -> Self {
        let mut by_rail = BTreeMap::new();
        by_rail
            .insert(Rail::Card, RailFee { basis_points: 150, fixed_minor_by_asset: BTreeMap::from([("NGN", 10_000)]) });
        by_rail.insert(Rail::Rubies, RailFee { basis_points: 50, fixed_minor_by_asset: BTreeMap::new() });
        by_rail.insert(Rail::Partna, RailFee { basis_points: 100, fixed_minor_by_asset: BTreeMap::new() });
        FeeSchedule { by_rail }
    }
}

impl FeeSchedule {
    /// The fee for receiving `amount_minor` of `asset` over `rail`.
    pub fn fee_minor(&self, rail: Rail, asset: AssetRef, amount_minor: i64) -> i64 {
        let Some(rail_fee) = self.by_rail.get(&rail) else { return 0 };
        let amount = i128::from(amount_minor);
        let proportional = (amount * i128::from(rail_fee.basis_points) + 9_999) / 10_000;
        let fixed = i128::from(rail_fee.fixed_minor_by_asset.get(asset.code).copied().unwrap_or(0));
        let fee = (proportional + fixed).min(amount);
        i64::try_from(fee).expect("a fee capped at the amount fits in i64")
    }

    /// Parses `card=150bps+NGN:10000,rubies=50bps,partna=100bps`. Rails not named keep defaults.
    pub fn parse_overrides(&mut self, text: &str) -> Result<(), String> {
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let (rail_code, rule) = entry.split_once('=').ok_or(format!("fee entry {entry:?} needs rail=rule"))?;
            let rail = Rail::parse(rail_code).ok_or(format!("unknown rail {rail_code:?} in fee entry"))?;
            let mut parts = rule.split('+');
            let bps_text = parts.next().unwrap_or_default();
            let basis_points: u32 = bps_text
                .strip_suffix("bps")
                .and_then(|digits| digits.parse().ok())
                .filter(|bps| *bps <= 10_000)
                .ok_or(format!("fee {bps_text:?} must be like 150bps (0 to 10000)"))?;
            let mut fixed_minor_by_asset = BTreeMap::new();
            for fixed in parts {
                let (code, minor) =
                    fixed.split_once(':').ok_or(format!("fixed fee {fixed:?} must be like NGN:10000"))?;
                let asset = Asset::lookup(code).ok_or(format!("unknown currency {code:?} in fee entry"))?;
                let minor: i64 = minor
                    .parse()
                    .ok()
                    .filter(|m| *m >= 0)
                    .ok_or(format!("fixed fee {fixed:?} must be a non-negative integer"))?;
                fixed_minor_by_asset.insert(asset.code, minor);
            }
            self.by_rail.insert(rail, RailFee { basis_points, fixed_minor_by_asset });
        }
        Ok(())
    }
}

/// A conversion rate as an exact fraction: 1 major unit of `from` is `numerator / denominator`
/// major units of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxRate {
    pub from: AssetRef,
    pub to: AssetRef,
    pub numerator: i128,
    pub denominator: i128,
    /// The rate as written in configuration, e.g. "1550.25".
    pub text: String,
}

impl FxRate {
    /// Parses a decimal rate such as "1550.25" (at most 12 fractional digits, no exponent).
    pub fn parse(from: AssetRef, to: AssetRef, text: &str) -> Result<FxRate, String> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 12 || whole.len() > 15 {
            return Err(format!("rate {text:?} must be a positive decimal like 1550.25"));
        }
        let denominator = 10_i128.pow(fraction.len() as u32);
        let numerator: i128 =
            format!("{whole}{fraction}").parse().map_err(|_| format!("rate {text:?} is not a number"))?;
        if numerator == 0 {
            return Err(format!("rate {text:?} must be greater than zero"));
        }
        Ok(FxRate { from, to, numerator, denominator, text: text.to_owned() })
    }

    /// Converts minor units of `from` into minor units of `to`, rounding down.
    pub fn convert_minor(&self, amount_minor: i64) -> Result<i64, EngineError> {
        let scaled = i128::from(amount_minor)
            .checked_mul(self.numerator)
            .and_then(|v| v.checked_mul(self.to.minor_per_major()))
            .ok_or(EngineError::AmountOverflow)?;
        let converted = self
            .denominator
            .checked_mul(self.from.minor_per_major())
            .and_then(|divisor| scaled.checked_div(divisor))
            .ok_or(EngineError::AmountOverflow)?;
        i64::try_from(converted).map_err(|_| EngineError::AmountOverflow)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxTable {
    rates: BTreeMap<(&'static str, &'static str), FxRate>,
}

impl Default for FxTable {
    /// Illustrative test-mode rates. Live deployments set `HAREPAY_FX_RATES`.
    fn default() -> Self {
        let mut table = FxTable { rates: BTreeMap::new() };
        table
            .parse_overrides(
                "USDC/NGN=1550,USDT/NGN=1550,BTC/NGN=150000000,USDC/USD=1,USDT/USD=1,USDC/KES=129,USDC/GHS=15.5,USDC/ZAR=18.2",
            )
            .expect("default rates parse");
        table
    }
}

impl FxTable {
    pub fn get(&self, from: AssetRef, to: AssetRef) -> Option<&FxRate> {
        self.rates.get(&(from.code, to.code))
    }

    /// Parses `USDC/NGN=1550,BTC/NGN=150000000`, replacing the named pairs.
    pub fn parse_overrides(&mut self, text: &str) -> Result<(), String> {
        for entry in text.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let (pair, rate_text) = entry.split_once('=').ok_or(format!("rate entry {entry:?} needs FROM/TO=rate"))?;
            let (from_code, to_code) =
                pair.split_once('/').ok_or(format!("rate entry {entry:?} needs FROM/TO=rate"))?;
            let from = Asset::lookup(from_code).ok_or(format!("unknown asset {from_code:?} in rate entry"))?;
            let to = Asset::lookup(to_code).ok_or(format!("unknown asset {to_code:?} in rate entry"))?;
            self.rates.insert((from.code, to.code), FxRate::parse(from, to, rate_text)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::limits::AMOUNT_MAX_MINOR;

    proptest! {
        /// A fee is at least the proportional part rounded up, never more than the amount, and
        /// never negative.
        #[test]
        fn fees_are_bounded(amount_minor in 1_i64..=AMOUNT_MAX_MINOR, basis_points in 0_u32..=10_000, fixed_minor in 0_i64..1_000_000) {
            let mut fees = FeeSchedule::default();
            fees.by_rail.insert(Rail::Card, RailFee { basis_points, fixed_minor_by_asset: BTreeMap::from([("NGN", fixed_minor)]) });
            let fee = fees.fee_minor(Rail::Card, asset("NGN"), amount_minor);
            let exact = i128::from(amount_minor) * i128::from(basis_points);
            prop_assert!(fee >= 0 && fee <= amount_minor);
            if fee < amount_minor {
                prop_assert!(i128::from(fee) * 10_000 >= exact + i128::from(fixed_minor) * 10_000);
                prop_assert!(i128::from(fee - fixed_minor) * 10_000 < exact + 10_000);
            }
        }

        /// A conversion is the exact product rounded down: never more, and less by under one
        /// minor unit.
        #[test]
        fn conversions_round_down_by_less_than_one_minor_unit(amount_minor in 1_i64..=AMOUNT_MAX_MINOR, whole in 0_u32..100_000, fraction in 0_u32..10_000) {
            prop_assume!(whole > 0 || fraction > 0);
            let rate = FxRate::parse(asset("USDC"), asset("NGN"), &format!("{whole}.{fraction:04}")).unwrap();
            if let Ok(converted) = rate.convert_minor(amount_minor) {
                // exact = amount × rate × 10^(2 − 6), with the rate as numerator / 10^4.
                let scaled = i128::from(amount_minor) * rate.numerator * 100;
                let divisor = rate.denominator * 1_000_000;
                prop_assert!(i128::from(converted) * divisor <= scaled);
                prop_assert!((i128::from(converted) + 1) * divisor > scaled);
            }
        }
    }

    fn asset(code: &str) -> AssetRef {
        Asset::lookup(code).unwrap()
    }

    #[test]
    fn fees_round_up_and_never_exceed_the_amount() {
        let fees = FeeSchedule::default();
        // 0.5% of ₦10,000.00 is ₦50.00 exactly.
        assert_eq!(fees.fee_minor(Rail::Rubies, asset("NGN"), 1_000_000), 5_000);
        // 0.5% of 1 kobo rounds up to 1 kobo.
        assert_eq!(fees.fee_minor(Rail::Rubies, asset("NGN"), 1), 1);
        // Card: 1.5% + ₦100 fixed, capped at the amount.
        assert_eq!(fees.fee_minor(Rail::Card, asset("NGN"), 1_000_000), 15_000 + 10_000);
        assert_eq!(fees.fee_minor(Rail::Card, asset("NGN"), 5_000), 5_000);
        // No fixed part configured for USD.
        assert_eq!(fees.fee_minor(Rail::Card, asset("USD"), 10_000), 150);
    }

    #[test]
    fn fee_overrides_parse() {
        let mut fees = FeeSchedule::default();
        fees.parse_overrides("rubies=25bps+NGN:500").unwrap();
        assert_eq!(fees.fee_minor(Rail::Rubies, asset("NGN"), 1_000_000), 2_500 + 500);
        assert!(fees.parse_overrides("rubies=1.5%").is_err());
        assert!(fees.parse_overrides("nowhere=10bps").is_err());
    }

    #[test]
    fn conversion_is_exact_and_rounds_down() {
        let rate = FxRate::parse(asset("USDC"), asset("NGN"), "1550.25").unwrap();
        // 100 USDC → ₦155,025.00
        assert_eq!(rate.convert_minor(100_000_000).unwrap(), 15_502_500);
        // 1 base unit of USDC is 0.155025 kobo: rounds down to 0.
        assert_eq!(rate.convert_minor(1).unwrap(), 0);
        // 7 base units → 1.085175 kobo → 1 kobo.
        assert_eq!(rate.convert_minor(7).unwrap(), 1);
        let btc = FxRate::parse(asset("BTC"), asset("XOF"), "40000000").unwrap();
        assert_eq!(btc.convert_minor(100_000_000).unwrap(), 40_000_000);
        assert!(FxRate::parse(asset("USDC"), asset("NGN"), "1e3").is_err());
        assert!(FxRate::parse(asset("USDC"), asset("NGN"), "0").is_err());
        assert!(FxRate::parse(asset("USDC"), asset("NGN"), "-5").is_err());
    }
}
