//! Validation of cart inputs (lengths, counts, ranges, id formats). Pure.
use std::collections::HashSet;

use shop_kernel::{Error, Result, ids::is_valid_token};

use super::cart::{Attribute, BuyerIdentity};

/// Largest quantity of one line.
pub const MAX_QUANTITY: i64 = 1000;
/// Most lines in a cart (and in one request).
pub const MAX_LINES: usize = 100;
/// Most attributes on a cart or a line.
pub const MAX_ATTRIBUTES: usize = 50;
/// Longest attribute key, in characters.
pub const MAX_ATTRIBUTE_KEY: usize = 100;
/// Longest attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE: usize = 1000;
/// Longest note, in characters.
pub const MAX_NOTE: usize = 5000;
/// Most discount codes on a cart.
pub const MAX_DISCOUNT_CODES: usize = 10;
/// Longest discount code, in characters.
pub const MAX_DISCOUNT_CODE: usize = 100;
/// Longest email address.
pub const MAX_EMAIL: usize = 254;
/// Longest phone number.
pub const MAX_PHONE: usize = 32;

fn path(prefix: &[String], rest: &[&str]) -> Vec<String> {
    prefix
        .iter()
        .cloned()
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

/// A line quantity in 1..=1000 (0 allowed when `allow_zero`, meaning "remove").
pub fn quantity(q: i64, allow_zero: bool, field: &[String]) -> Result<()> {
    let min = if allow_zero { 0 } else { 1 };
    if q < min || q > MAX_QUANTITY {
        return Err(Error::invalid(
            "INVALID_QUANTITY",
            format!("quantity must be {min} to {MAX_QUANTITY}"),
        )
        .with_field(field.to_vec()));
    }
    Ok(())
}

/// A merchandise (variant) id.
pub fn merchandise_id(id: &str, field: &[String]) -> Result<()> {
    if is_valid_token(id) {
        Ok(())
    } else {
        Err(
            Error::invalid("MERCHANDISE_NOT_FOUND", "no such merchandise")
                .with_field(field.to_vec()),
        )
    }
}

/// Attributes: at most 50, keys 1..=100 chars and unique, values at most 1000 chars.
pub fn attributes(attrs: &[Attribute], prefix: &[String]) -> Result<()> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(
            "TOO_MANY_ATTRIBUTES",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        )
        .with_field(prefix.to_vec()));
    }
    let mut seen = HashSet::new();
    for (j, a) in attrs.iter().enumerate() {
        let j = j.to_string();
        let klen = a.key.chars().count();
        if klen == 0 || klen > MAX_ATTRIBUTE_KEY {
            return Err(Error::invalid(
                "INVALID_ATTRIBUTE",
                format!("attribute keys are 1 to {MAX_ATTRIBUTE_KEY} characters"),
            )
            .with_field(path(prefix, &[&j, "key"])));
        }
        if !seen.insert(a.key.as_str()) {
            return Err(Error::invalid(
                "DUPLICATE_ATTRIBUTE",
                format!("attribute `{}` is given twice", a.key),
            )
            .with_field(path(prefix, &[&j, "key"])));
        }
        if a.value.chars().count() > MAX_ATTRIBUTE_VALUE {
            return Err(Error::invalid(
                "INVALID_ATTRIBUTE",
                format!("attribute values are at most {MAX_ATTRIBUTE_VALUE} characters"),
            )
            .with_field(path(prefix, &[&j, "value"])));
        }
    }
    Ok(())
}

/// A note of at most 5000 characters.
pub fn note(note: Option<&str>) -> Result<()> {
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(Error::invalid(
            "NOTE_TOO_LONG",
            format!("the note is at most {MAX_NOTE} characters"),
        )
        .with_field(["note"]));
    }
    Ok(())
}

/// At most 10 discount codes of 1..=100 characters.
pub fn discount_codes(codes: &[String]) -> Result<()> {
    if codes.len() > MAX_DISCOUNT_CODES {
        return Err(Error::invalid(
            "TOO_MANY_DISCOUNT_CODES",
            format!("at most {MAX_DISCOUNT_CODES} discount codes"),
        )
        .with_field(["discountCodes"]));
    }
    for (i, c) in codes.iter().enumerate() {
        let n = c.chars().count();
        if c.trim().is_empty() || n > MAX_DISCOUNT_CODE {
            return Err(Error::invalid(
                "INVALID_DISCOUNT_CODE",
                format!("discount codes are 1 to {MAX_DISCOUNT_CODE} characters"),
            )
            .with_field(["discountCodes".to_string(), i.to_string()]));
        }
    }
    Ok(())
}

/// Buyer identity fields: email-like email, short phone, two-letter country code, token customer id.
pub fn buyer_identity(b: &BuyerIdentity) -> Result<()> {
    let bad = |code: &'static str, msg: &str, field: &str| {
        Err(Error::invalid(code, msg.to_string()).with_field(["buyerIdentity", field]))
    };
    if let Some(e) = &b.email
        && (e.len() > MAX_EMAIL || !e.contains('@') || e.chars().any(char::is_whitespace))
    {
        return bad("INVALID_EMAIL", "the email address is invalid", "email");
    }
    if let Some(p) = &b.phone
        && (p.is_empty()
            || p.len() > MAX_PHONE
            || !p
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')')))
    {
        return bad("INVALID_PHONE", "the phone number is invalid", "phone");
    }
    if let Some(c) = &b.country_code
        && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return bad(
            "INVALID_COUNTRY_CODE",
            "the country code must be two upper-case letters",
            "countryCode",
        );
    }
    if let Some(id) = &b.customer_id
        && !is_valid_token(id)
    {
        return bad(
            "INVALID_CUSTOMER_ID",
            "the customer id is malformed",
            "customerId",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(k: &str, v: &str) -> Attribute {
        Attribute {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn attribute_rules() {
        let p = vec!["attributes".to_string()];
        assert!(attributes(&[attr("a", "b")], &p).is_ok());
        assert_eq!(
            attributes(&[attr("", "b")], &p).unwrap_err().field,
            ["attributes", "0", "key"]
        );
        assert_eq!(
            attributes(&[attr("a", "b"), attr("a", "c")], &p)
                .unwrap_err()
                .code,
            "DUPLICATE_ATTRIBUTE"
        );
        assert!(attributes(&[attr(&"k".repeat(101), "b")], &p).is_err());
        assert!(attributes(&[attr("k", &"v".repeat(1001))], &p).is_err());
        let many: Vec<_> = (0..51).map(|i| attr(&format!("k{i}"), "")).collect();
        assert_eq!(
            attributes(&many, &p).unwrap_err().code,
            "TOO_MANY_ATTRIBUTES"
        );
    }

    #[test]
    fn other_rules() {
        assert!(note(Some(&"n".repeat(5000))).is_ok());
        assert!(note(Some(&"n".repeat(5001))).is_err());
        assert!(discount_codes(&vec!["X".to_string(); 10]).is_ok());
        assert!(discount_codes(&vec!["X".to_string(); 11]).is_err());
        assert!(discount_codes(&["".to_string()]).is_err());
        assert!(discount_codes(&["c".repeat(101)]).is_err());
        assert!(quantity(0, true, &[]).is_ok());
        assert!(quantity(0, false, &[]).is_err());
        assert!(quantity(1001, false, &[]).is_err());
        let ok = BuyerIdentity {
            email: Some("a@b.c".into()),
            phone: Some("+1 555-0100".into()),
            country_code: Some("US".into()),
            customer_id: Some("c1".into()),
        };
        assert!(buyer_identity(&ok).is_ok());
        assert!(
            buyer_identity(&BuyerIdentity {
                email: Some("nope".into()),
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            buyer_identity(&BuyerIdentity {
                country_code: Some("usa".into()),
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            buyer_identity(&BuyerIdentity {
                phone: Some("call me".into()),
                ..ok
            })
            .is_err()
        );
    }
}
