//! Input validation of inventory commands (pure).
use std::collections::HashSet;

use shop_kernel::{Error, Result, ids::is_valid_token};

use super::item::MAX_ADJUST_QUANTITY;

/// Most lines in one reservation.
pub const MAX_RESERVATION_LINES: usize = 100;
/// Largest quantity of one reservation line.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000;
/// Most variants in one stock query.
pub const MAX_STOCK_QUERY: usize = 250;
/// Longest adjustment / release reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Checks a variant id token.
pub fn variant_id(id: &str, field: &[&str]) -> Result<()> {
    if is_valid_token(id) {
        Ok(())
    } else {
        Err(
            Error::invalid("INVALID_VARIANT_ID", "variant id is malformed")
                .with_field(field.iter().copied()),
        )
    }
}

/// Checks a reservation id token.
pub fn reservation_id(id: &str) -> Result<()> {
    if is_valid_token(id) {
        Ok(())
    } else {
        Err(
            Error::invalid("INVALID_RESERVATION_ID", "reservation id is malformed")
                .with_field(["reservationId"]),
        )
    }
}

/// Checks a reason: 1..=200 characters, not blank.
pub fn reason(reason: &str) -> Result<()> {
    let n = reason.chars().count();
    if reason.trim().is_empty() || n > MAX_REASON_CHARS {
        return Err(Error::invalid(
            "INVALID_REASON",
            format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        )
        .with_field(["reason"]));
    }
    Ok(())
}

/// Checks the magnitude of an adjustment quantity.
pub fn adjust_quantity(quantity: i64) -> Result<()> {
    if quantity
        .checked_abs()
        .is_none_or(|q| q > MAX_ADJUST_QUANTITY)
    {
        return Err(Error::invalid(
            "INVALID_QUANTITY",
            format!("|quantity| must be at most {MAX_ADJUST_QUANTITY}"),
        )
        .with_field(["quantity"]));
    }
    Ok(())
}

/// Checks reservation lines: 1..=100 lines, valid distinct variants, quantities 1..=1_000_000.
pub fn reservation_lines(lines: &[(String, i64)]) -> Result<()> {
    if lines.is_empty() || lines.len() > MAX_RESERVATION_LINES {
        return Err(Error::invalid(
            "INVALID_LINES",
            format!("a reservation has 1 to {MAX_RESERVATION_LINES} lines"),
        )
        .with_field(["lines"]));
    }
    let mut seen = HashSet::new();
    for (i, (variant, qty)) in lines.iter().enumerate() {
        let idx = i.to_string();
        variant_id(variant, &["lines", &idx, "variantId"])?;
        if !seen.insert(variant.as_str()) {
            return Err(Error::invalid(
                "DUPLICATE_VARIANT",
                "each variant may appear in one line only",
            )
            .with_field(["lines", &idx, "variantId"]));
        }
        if !(1..=MAX_LINE_QUANTITY).contains(qty) {
            return Err(Error::invalid(
                "INVALID_QUANTITY",
                format!("quantity must be 1 to {MAX_LINE_QUANTITY}"),
            )
            .with_field(["lines", &idx, "quantity"]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked() {
        assert_eq!(reservation_lines(&[]).unwrap_err().code, "INVALID_LINES");
        let dup = [("a".to_string(), 1), ("a".to_string(), 2)];
        assert_eq!(
            reservation_lines(&dup).unwrap_err().field,
            ["lines", "1", "variantId"]
        );
        let bad = [("a".to_string(), 0)];
        assert_eq!(
            reservation_lines(&bad).unwrap_err().code,
            "INVALID_QUANTITY"
        );
        let bad_id = [("a/b".to_string(), 1)];
        assert_eq!(
            reservation_lines(&bad_id).unwrap_err().code,
            "INVALID_VARIANT_ID"
        );
        let many: Vec<_> = (0..101).map(|i| (format!("v{i}"), 1)).collect();
        assert!(reservation_lines(&many).is_err());
        assert!(reservation_lines(&many[..100]).is_ok());
    }

    #[test]
    fn reasons_and_quantities() {
        assert!(reason("").is_err());
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(200)).is_ok());
        assert!(reason(&"x".repeat(201)).is_err());
        assert!(adjust_quantity(-1_000_000_000).is_ok());
        assert!(adjust_quantity(1_000_000_001).is_err());
        assert!(adjust_quantity(i64::MIN).is_err());
    }
}
