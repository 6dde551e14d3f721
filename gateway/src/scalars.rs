//! Custom scalars (`Decimal`, `DateTime`) and money.
use async_graphql::{
    Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use shop_idl::common;

/// A decimal number serialised as a string, e.g. `"19.99"` (never a float).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && s.len() <= 40
}

/// A signed decimal number serialised as a string with a `.` separator, e.g. `"19.99"`.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) if is_decimal(&s) => Ok(Decimal(s)),
            Value::Number(n) => Ok(Decimal(n.to_string())),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An instant, serialised as an ISO-8601 UTC string with millisecond precision (`2024-05-01T12:00:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub i64);

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_millis(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` back to epoch milliseconds.
pub fn parse_millis(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let mut tp = hms.splitn(3, ':');
    let h: i64 = tp.next()?.parse().ok()?;
    let mi: i64 = tp.next()?.parse().ok()?;
    let sec: i64 = tp.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let milli = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<3}");
            padded[..3].parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(days_from_civil(y, mo, d) * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + milli)
}

/// An ISO-8601 date-time in UTC, e.g. `2024-05-01T12:00:00.000Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_millis(s)
                .map(DateTime)
                .ok_or_else(|| InputValueError::expected_type(value)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_millis(self.0))
    }
}

macro_rules! currencies {
    ($($c:ident),* $(,)?) => {
        /// ISO-4217 currency codes. `XXX` stands for a currency this API does not know yet.
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum CurrencyCode { $($c,)* XXX }

        impl CurrencyCode {
            /// The enum value for an ISO code (unknown codes map to `XXX`).
            pub fn from_iso(code: &str) -> Self {
                match code { $(stringify!($c) => CurrencyCode::$c,)* _ => CurrencyCode::XXX }
            }
        }
    };
}

currencies!(
    AUD, BRL, CAD, CHF, CNY, CZK, DKK, EUR, GBP, HKD, HUF, INR, JPY, KRW, MXN, NOK, NZD, PLN, SEK,
    SGD, USD, ZAR
);

/// An amount of money in a currency.
#[derive(SimpleObject, Debug, Clone)]
pub struct MoneyV2 {
    /// Decimal money amount in major units.
    pub amount: Decimal,
    /// Currency of the amount.
    pub currency_code: CurrencyCode,
}

impl MoneyV2 {
    /// Renders a wire amount.
    pub fn from_wire(m: &common::Money) -> Self {
        let k = shop_kernel::Money::new(m.amount_minor, m.currency.to_string());
        MoneyV2 {
            amount: Decimal(k.decimal()),
            currency_code: CurrencyCode::from_iso(&k.currency),
        }
    }

    /// `m` times `qty`, saturating.
    pub fn times(m: &common::Money, qty: i64) -> Self {
        let total = common::Money {
            amount_minor: m.amount_minor.saturating_mul(qty),
            currency: m.currency.clone(),
        };
        Self::from_wire(&total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
        for ms in [
            0,
            1_700_000_000_123,
            951_782_400_000,
            -86_400_001,
            4_102_444_800_000,
        ] {
            assert_eq!(parse_millis(&format_millis(ms)), Some(ms));
        }
        assert_eq!(parse_millis("nope"), None);
    }

    #[test]
    fn decimals() {
        assert!(is_decimal("19.99"));
        assert!(is_decimal("-1"));
        assert!(!is_decimal("1."));
        assert!(!is_decimal("abc"));
    }
}
