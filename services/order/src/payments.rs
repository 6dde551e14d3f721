//! The payment provider port and the built-in sandbox provider.
//!
//! Every call that moves money is idempotent at the provider: an authorization is keyed by the order id, so a
//! retried or timed-out `authorize` never charges twice — the caller resolves an unknown outcome with
//! [`PaymentProvider::find_authorization`]; capture, void and refund are idempotent per authorization.
use std::{collections::HashMap, future::Future, sync::Arc};

use parking_lot::Mutex;
use shop_kernel::Money;

use crate::domain::payment::{self, SandboxBehaviour};

/// An authorization held at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub id: String,
    pub amount: Money,
}

/// Why a payment call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentError {
    /// The provider said no (declined card, refused capture): final.
    Refused {
        code: &'static str,
        message: &'static str,
    },
    /// The outcome is unknown (the request may have been processed): look it up before anything else.
    Timeout,
    /// The provider could not be reached: nothing happened; try again later.
    Unavailable(String),
}

/// A payment provider.
pub trait PaymentProvider: Send + Sync + 'static {
    /// The provider's name as recorded on orders.
    fn name(&self) -> &'static str;

    /// Authorizes `amount` on `method`; `key` makes the call idempotent (same key → same authorization).
    fn authorize(
        &self,
        key: &str,
        method: &str,
        amount: &Money,
    ) -> impl Future<Output = Result<Authorization, PaymentError>> + Send;

    /// The authorization made under `key`, if any (resolves a timed-out `authorize`).
    fn find_authorization(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Authorization>, PaymentError>> + Send;

    /// Captures an authorization (idempotent).
    fn capture(
        &self,
        authorization_id: &str,
    ) -> impl Future<Output = Result<(), PaymentError>> + Send;

    /// Cancels an uncaptured authorization (idempotent).
    fn void(&self, authorization_id: &str)
    -> impl Future<Output = Result<(), PaymentError>> + Send;

    /// Refunds a captured authorization in full (idempotent).
    fn refund(
        &self,
        authorization_id: &str,
    ) -> impl Future<Output = Result<(), PaymentError>> + Send;
}

/// What the sandbox remembers about one authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxCharge {
    pub amount_minor: i64,
    pub captures: u32,
    pub voided: bool,
    pub refunded: bool,
}

#[derive(Default)]
struct Ledger {
    /// key → authorization.
    by_key: HashMap<String, Authorization>,
    /// authorization id → (behaviour, charge).
    charges: HashMap<String, (SandboxBehaviour, SandboxCharge)>,
}

/// The built-in sandbox provider: deterministic test cards (see [`payment::sandbox_behaviour`]).
///
/// The ledger lives in memory, but everything is derived deterministically (the authorization id from the key,
/// the behaviour encoded in the authorization id), so a restarted shop finds the "provider" consistent with what
/// its orders recorded: re-authorizing a key yields the same authorization, and capturing an authorization made
/// before the restart behaves as its card dictates.
#[derive(Clone, Default)]
pub struct SandboxProvider {
    ledger: Arc<Mutex<Ledger>>,
}

impl SandboxProvider {
    /// A provider with an empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The charge behind an authorization (for tests and reconciliation).
    pub fn charge(&self, authorization_id: &str) -> Option<SandboxCharge> {
        self.ledger
            .lock()
            .charges
            .get(authorization_id)
            .map(|(_, c)| c.clone())
    }
}

impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn authorize(
        &self,
        key: &str,
        method: &str,
        amount: &Money,
    ) -> Result<Authorization, PaymentError> {
        let behaviour = payment::method_behaviour(method).ok_or(PaymentError::Refused {
            code: "INVALID_PAYMENT_METHOD",
            message: "the sandbox does not know this payment method",
        })?;
        let mut ledger = self.ledger.lock();
        if let Some(existing) = ledger.by_key.get(key) {
            return Ok(existing.clone());
        }
        match behaviour {
            SandboxBehaviour::Decline => {
                return Err(PaymentError::Refused {
                    code: payment::DECLINED,
                    message: "Your card was declined.",
                });
            }
            SandboxBehaviour::InsufficientFunds => {
                return Err(PaymentError::Refused {
                    code: payment::INSUFFICIENT_FUNDS,
                    message: "Your card has insufficient funds.",
                });
            }
            _ => {}
        }
        let auth = Authorization {
            id: format!(
                "auth_{}_{}",
                behaviour.tag(),
                &shop_kernel::ids::sha256_hex(key.as_bytes())[..24]
            ),
            amount: amount.clone(),
        };
        ledger.by_key.insert(key.to_string(), auth.clone());
        ledger.charges.insert(
            auth.id.clone(),
            (
                behaviour,
                SandboxCharge {
                    amount_minor: amount.amount_minor,
                    ..SandboxCharge::default()
                },
            ),
        );
        if behaviour == SandboxBehaviour::AuthorizeTimeout {
            // Processed, but the answer never arrives.
            return Err(PaymentError::Timeout);
        }
        Ok(auth)
    }

    async fn find_authorization(&self, key: &str) -> Result<Option<Authorization>, PaymentError> {
        Ok(self.ledger.lock().by_key.get(key).cloned())
    }

    async fn capture(&self, authorization_id: &str) -> Result<(), PaymentError> {
        let mut ledger = self.ledger.lock();
        let (behaviour, charge) = match ledger.charges.entry(authorization_id.to_string()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                // Made before a restart: the id says how the card behaves.
                let behaviour = authorization_id
                    .strip_prefix("auth_")
                    .and_then(|rest| rest.split('_').next())
                    .and_then(SandboxBehaviour::from_tag)
                    .ok_or(PaymentError::Refused {
                        code: "AUTHORIZATION_NOT_FOUND",
                        message: "no such authorization",
                    })?;
                e.insert((behaviour, SandboxCharge::default()))
            }
        };
        if charge.captures > 0 {
            return Ok(());
        }
        if charge.voided || *behaviour == SandboxBehaviour::CaptureFails {
            return Err(PaymentError::Refused {
                code: payment::CAPTURE_FAILED,
                message: "The payment could not be captured.",
            });
        }
        charge.captures = 1;
        Ok(())
    }

    async fn void(&self, authorization_id: &str) -> Result<(), PaymentError> {
        if let Some((_, charge)) = self.ledger.lock().charges.get_mut(authorization_id)
            && charge.captures == 0
        {
            charge.voided = true;
        }
        Ok(())
    }

    async fn refund(&self, authorization_id: &str) -> Result<(), PaymentError> {
        if let Some((_, charge)) = self.ledger.lock().charges.get_mut(authorization_id)
            && charge.captures > 0
        {
            charge.refunded = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(minor: i64) -> Money {
        Money::new(minor, "USD")
    }

    #[tokio::test]
    async fn authorizations_are_idempotent_and_timeouts_resolvable() {
        let p = SandboxProvider::new();
        let ok = payment::sandbox_method("4242424242424242");
        let a1 = p.authorize("o1", &ok, &usd(500)).await.unwrap();
        let a2 = p.authorize("o1", &ok, &usd(500)).await.unwrap();
        assert_eq!(a1, a2, "same key, same authorization");
        p.capture(&a1.id).await.unwrap();
        p.capture(&a1.id).await.unwrap();
        assert_eq!(p.charge(&a1.id).unwrap().captures, 1, "captured once");

        let slow = payment::sandbox_method("4000000000000119");
        assert_eq!(
            p.authorize("o2", &slow, &usd(100)).await,
            Err(PaymentError::Timeout)
        );
        let found = p
            .find_authorization("o2")
            .await
            .unwrap()
            .expect("it went through");
        assert_eq!(p.authorize("o2", &slow, &usd(100)).await.unwrap(), found);

        let declined = payment::sandbox_method("4000000000000002");
        assert!(matches!(
            p.authorize("o3", &declined, &usd(100)).await,
            Err(PaymentError::Refused {
                code: payment::DECLINED,
                ..
            })
        ));
        assert_eq!(p.find_authorization("o3").await.unwrap(), None);

        let fails = payment::sandbox_method("4000000000000341");
        let a4 = p.authorize("o4", &fails, &usd(100)).await.unwrap();
        assert!(matches!(
            p.capture(&a4.id).await,
            Err(PaymentError::Refused {
                code: payment::CAPTURE_FAILED,
                ..
            })
        ));
        p.void(&a4.id).await.unwrap();
        assert!(p.charge(&a4.id).unwrap().voided);
    }

    #[tokio::test]
    async fn a_restarted_sandbox_agrees_with_recorded_authorizations() {
        let before = SandboxProvider::new();
        let ok = before
            .authorize("o1", &payment::sandbox_method("4242424242424242"), &usd(5))
            .await
            .unwrap();
        let bad = before
            .authorize("o2", &payment::sandbox_method("4000000000000341"), &usd(5))
            .await
            .unwrap();
        let after = SandboxProvider::new();
        after.capture(&ok.id).await.unwrap();
        assert!(after.capture(&bad.id).await.is_err());
        assert!(after.capture("auth_bogus").await.is_err());
        let again = after
            .authorize("o1", &payment::sandbox_method("4242424242424242"), &usd(5))
            .await
            .unwrap();
        assert_eq!(again.id, ok.id, "the same key gives the same authorization");
    }
}
