//! Money in integer minor units of an ISO-4217 currency.
use crate::{Error, Result};

/// An amount in minor units (e.g. cents) of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

/// Number of minor-unit digits of a currency (ISO-4217 exponent).
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

impl Money {
    /// `amount_minor` units of `currency`.
    pub fn new(amount_minor: i64, currency: impl Into<String>) -> Self {
        Self {
            amount_minor,
            currency: currency.into(),
        }
    }
    /// Zero in `currency`.
    pub fn zero(currency: impl Into<String>) -> Self {
        Self::new(0, currency)
    }
    /// Sum of two amounts of the same currency; fails on mismatch or overflow.
    pub fn checked_add(&self, other: &Money) -> Result<Money> {
        if self.currency != other.currency {
            return Err(Error::invalid(
                "CURRENCY_MISMATCH",
                "amounts in different currencies",
            ));
        }
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|a| Money::new(a, self.currency.clone()))
            .ok_or_else(|| Error::invalid("AMOUNT_TOO_LARGE", "amount overflows"))
    }
    /// This amount times `qty`; fails on overflow.
    pub fn checked_mul(&self, qty: i64) -> Result<Money> {
        self.amount_minor
            .checked_mul(qty)
            .map(|a| Money::new(a, self.currency.clone()))
            .ok_or_else(|| Error::invalid("AMOUNT_TOO_LARGE", "amount overflows"))
    }
    /// The amount as a decimal string in major units, e.g. `19.99` (never a float).
    pub fn decimal(&self) -> String {
        let exp = currency_exponent(&self.currency);
        if exp == 0 {
            return self.amount_minor.to_string();
        }
        let div = 10i128.pow(exp);
        let v = self.amount_minor as i128;
        let sign = if v < 0 { "-" } else { "" };
        let v = v.abs();
        format!(
            "{sign}{}.{:0width$}",
            v / div,
            v % div,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_rendering() {
        assert_eq!(Money::new(1999, "USD").decimal(), "19.99");
        assert_eq!(Money::new(5, "USD").decimal(), "0.05");
        assert_eq!(Money::new(-5, "EUR").decimal(), "-0.05");
        assert_eq!(Money::new(1500, "JPY").decimal(), "1500");
        assert_eq!(Money::new(1234, "KWD").decimal(), "1.234");
    }

    #[test]
    fn mismatched_currency_is_rejected() {
        assert!(
            Money::new(1, "USD")
                .checked_add(&Money::new(1, "EUR"))
                .is_err()
        );
        assert!(Money::new(i64::MAX, "USD").checked_mul(2).is_err());
    }

    proptest! {
        #[test]
        fn decimal_round_trips(a in -1_000_000_000i64..1_000_000_000) {
            let s = Money::new(a, "USD").decimal();
            let parsed: f64 = s.parse().unwrap();
            prop_assert!((parsed * 100.0 - a as f64).abs() < 0.5);
        }
    }
}
