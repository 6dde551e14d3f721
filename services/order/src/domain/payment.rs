//! The built-in sandbox payment provider's rules (Stripe-style test card numbers), pure.

/// Declined card.
pub const DECLINED: &str = "CARD_DECLINED";
/// Insufficient funds.
pub const INSUFFICIENT_FUNDS: &str = "INSUFFICIENT_FUNDS";

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

/// A failure after the authorization succeeded (capture refused by the issuer).
pub const CAPTURE_FAILED: &str = "CAPTURE_FAILED";

/// How the sandbox provider treats a payment method (Stripe-style test cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxBehaviour {
    /// Authorized and captured.
    Approve,
    /// `4000000000000002`: declined.
    Decline,
    /// `4000000000009995`: insufficient funds.
    InsufficientFunds,
    /// `4000000000000119`: the authorization goes through at the provider but the response is lost (a
    /// timeout); the caller must resolve it by looking the payment up, never by charging again.
    AuthorizeTimeout,
    /// `4000000000000341`: authorized, but the capture is refused.
    CaptureFails,
}

impl SandboxBehaviour {
    const ALL: [SandboxBehaviour; 5] = [
        SandboxBehaviour::Approve,
        SandboxBehaviour::Decline,
        SandboxBehaviour::InsufficientFunds,
        SandboxBehaviour::AuthorizeTimeout,
        SandboxBehaviour::CaptureFails,
    ];

    /// The behaviour named by [`SandboxBehaviour::tag`].
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.tag() == tag)
    }

    /// A short name used in sandbox ids.
    pub fn tag(self) -> &'static str {
        match self {
            SandboxBehaviour::Approve => "approve",
            SandboxBehaviour::Decline => "decline",
            SandboxBehaviour::InsufficientFunds => "insufficient",
            SandboxBehaviour::AuthorizeTimeout => "timeout",
            SandboxBehaviour::CaptureFails => "capturefail",
        }
    }
}

/// The sandbox behaviour of a (valid) card number.
pub fn sandbox_behaviour(card: &str) -> SandboxBehaviour {
    match card {
        "4000000000000002" => SandboxBehaviour::Decline,
        "4000000000009995" => SandboxBehaviour::InsufficientFunds,
        "4000000000000119" => SandboxBehaviour::AuthorizeTimeout,
        "4000000000000341" => SandboxBehaviour::CaptureFails,
        _ => SandboxBehaviour::Approve,
    }
}

/// The sandbox payment method for a card number: `pm_sandbox_<behaviour>_<last 4 digits>`. Only this is stored
/// with the order (never the card number).
pub fn sandbox_method(card: &str) -> String {
    let last4 = &card[card.len().saturating_sub(4)..];
    format!("pm_sandbox_{}_{last4}", sandbox_behaviour(card).tag())
}

/// The behaviour encoded in a sandbox payment method id.
pub fn method_behaviour(method: &str) -> Option<SandboxBehaviour> {
    SandboxBehaviour::from_tag(method.strip_prefix("pm_sandbox_")?.split('_').next()?)
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
        for (card, behaviour) in [
            ("4242424242424242", SandboxBehaviour::Approve),
            ("4000000000000002", SandboxBehaviour::Decline),
            ("4000000000009995", SandboxBehaviour::InsufficientFunds),
            ("4000000000000119", SandboxBehaviour::AuthorizeTimeout),
            ("4000000000000341", SandboxBehaviour::CaptureFails),
        ] {
            assert!(is_card_number(card));
            let method = sandbox_method(card);
            assert!(!method.contains(&card[..12]), "the card number is not kept");
            assert_eq!(method_behaviour(&method), Some(behaviour));
        }
        assert_eq!(
            sandbox_method("4242424242424242"),
            "pm_sandbox_approve_4242"
        );
        assert_eq!(method_behaviour("pm_card_visa"), None);
    }
}
