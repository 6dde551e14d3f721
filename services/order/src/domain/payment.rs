//! The built-in sandbox payment provider's rules (Stripe-style test card numbers), pure.

/// Declined card.
pub const DECLINED: &str = "CARD_DECLINED";
/// Insufficient funds.
pub const INSUFFICIENT_FUNDS: &str = "INSUFFICIENT_FUNDS";

/// Outcome of a sandbox authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    Approved,
    Refused {
        code: &'static str,
        message: &'static str,
    },
}

/// Is `token` a well-formed card number (13–19 digits, Luhn-valid)?
pub fn is_card_number(token: &str) -> bool {
    let digits: Vec<u32> = token.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != token.len() || !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Sandbox rules: `4000000000000002` is declined, `4000000000009995` has insufficient funds, any other valid
/// card number is approved.
pub fn authorize(token: &str) -> Authorization {
    match token {
        "4000000000000002" => Authorization::Refused {
            code: DECLINED,
            message: "Your card was declined.",
        },
        "4000000000009995" => Authorization::Refused {
            code: INSUFFICIENT_FUNDS,
            message: "Your card has insufficient funds.",
        },
        _ => Authorization::Approved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards() {
        assert!(is_card_number("4242424242424242"));
        assert!(is_card_number("4000000000000002"));
        assert!(is_card_number("4000000000009995"));
        assert!(!is_card_number("4242424242424241"));
        assert!(!is_card_number("tok_visa"));
        assert!(!is_card_number(""));
        assert_eq!(authorize("4242424242424242"), Authorization::Approved);
        assert!(matches!(
            authorize("4000000000000002"),
            Authorization::Refused { code: DECLINED, .. }
        ));
        assert!(matches!(
            authorize("4000000000009995"),
            Authorization::Refused {
                code: INSUFFICIENT_FUNDS,
                ..
            }
        ));
    }
}
