//! The order aggregate: pure state machine, folded from its events.
//!
//! Status transitions: PENDING → PAID | FAILED; PAID → CANCELLED | FULFILLED. Financial status follows the
//! payment: PENDING → AUTHORIZED → PAID, or DECLINED; when a later step fails an authorization is VOIDED and a
//! capture REFUNDED.

pub mod payment;

use shop_kernel::{Error, Money, Result};

/// Order status as customers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Paid,
    Failed,
    Cancelled,
    Fulfilled,
}

impl Status {
    /// Is `self → to` an allowed transition?
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Pending, Paid) | (Pending, Failed) | (Paid, Cancelled) | (Paid, Fulfilled)
        )
    }
    /// No further automatic transition happens from here.
    pub fn is_settled(self) -> bool {
        !matches!(self, Status::Pending)
    }
}

/// Payment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinancialStatus {
    Pending,
    Authorized,
    Paid,
    Voided,
    Refunded,
    Declined,
}

/// A purchased line, priced when the order was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_id: String,
    pub variant_id: String,
    pub product_id: String,
    pub title: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: Money,
}

impl Line {
    /// unit price × quantity.
    pub fn total(&self) -> Result<Money> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Created {
        order_id: String,
        number: i64,
        cart_id: String,
        customer_id: Option<String>,
        email: Option<String>,
        lines: Vec<Line>,
        currency: String,
        /// Digest of the checkout parameters, to detect a reused idempotency key.
        fingerprint: String,
        /// The payment provider and the provider's payment method (never a card number).
        payment_provider: String,
        payment_method: String,
    },
    StockReserved {
        reservation_id: String,
    },
    PaymentAuthorized {
        provider: String,
        authorization_id: String,
        amount: Money,
    },
    PaymentCaptured {
        authorization_id: String,
    },
    Placed {
        total: Money,
    },
    Failed {
        code: String,
        message: String,
    },
    Cancelled {
        reason: String,
    },
    PaymentRefunded {
        authorization_id: String,
    },
    StockReturned {
        reservation_id: String,
    },
    Fulfilled,
}

/// A status change with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: Status,
    pub at_ms: i64,
    pub reason: Option<String>,
}

/// The order, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub number: i64,
    pub cart_id: String,
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub lines: Vec<Line>,
    pub currency: String,
    pub fingerprint: String,
    pub payment_provider: String,
    pub payment_method: String,
    pub status: Status,
    pub financial_status: FinancialStatus,
    pub reservation_id: Option<String>,
    pub authorization_id: Option<String>,
    pub created_at_ms: i64,
    pub processed_at_ms: Option<i64>,
    pub history: Vec<StatusChange>,
    pub failure: Option<(String, String)>,
    /// A cancelled order's stock went back on hand.
    pub stock_returned: bool,
    pub version: u64,
}

impl Order {
    /// Does the saga still have work to do (a pending checkout, or a cancellation not yet refunded/restocked)?
    pub fn needs_work(&self) -> bool {
        match self.status {
            Status::Pending => true,
            Status::Cancelled => {
                self.financial_status == FinancialStatus::Paid
                    || (self.reservation_id.is_some() && !self.stock_returned)
            }
            _ => false,
        }
    }

    /// Σ line totals.
    pub fn subtotal(&self) -> Result<Money> {
        self.lines
            .iter()
            .try_fold(Money::zero(&self.currency), |acc, l| {
                acc.checked_add(&l.total()?)
            })
    }
    /// Taxes are not computed yet: zero.
    pub fn total_tax(&self) -> Money {
        Money::zero(&self.currency)
    }
    /// subtotal + tax.
    pub fn total(&self) -> Result<Money> {
        self.subtotal()?.checked_add(&self.total_tax())
    }
    /// `#<number>`.
    pub fn name(&self) -> String {
        format!("#{}", self.number)
    }
}

/// Folds events (with their times) into the order; `None` before `Created`.
pub fn fold<'a>(events: impl IntoIterator<Item = (&'a Event, i64)>) -> Option<Order> {
    let mut order: Option<Order> = None;
    for (e, at) in events {
        order = apply(order, e, at);
    }
    order
}

/// Applies one event.
pub fn apply(state: Option<Order>, event: &Event, at_ms: i64) -> Option<Order> {
    if let Event::Created {
        order_id,
        number,
        cart_id,
        customer_id,
        email,
        lines,
        currency,
        fingerprint,
        payment_provider,
        payment_method,
    } = event
    {
        return Some(Order {
            id: order_id.clone(),
            number: *number,
            cart_id: cart_id.clone(),
            customer_id: customer_id.clone(),
            email: email.clone(),
            lines: lines.clone(),
            currency: currency.clone(),
            fingerprint: fingerprint.clone(),
            payment_provider: payment_provider.clone(),
            payment_method: payment_method.clone(),
            status: Status::Pending,
            financial_status: FinancialStatus::Pending,
            reservation_id: None,
            authorization_id: None,
            created_at_ms: at_ms,
            processed_at_ms: None,
            history: vec![StatusChange {
                status: Status::Pending,
                at_ms,
                reason: None,
            }],
            failure: None,
            stock_returned: false,
            version: 1,
        });
    }
    let mut o = state?;
    o.version += 1;
    match event {
        Event::Created { .. } => {}
        Event::StockReserved { reservation_id } => o.reservation_id = Some(reservation_id.clone()),
        Event::PaymentAuthorized {
            authorization_id, ..
        } => {
            o.authorization_id = Some(authorization_id.clone());
            o.financial_status = FinancialStatus::Authorized;
        }
        Event::PaymentCaptured { .. } => o.financial_status = FinancialStatus::Paid,
        Event::Placed { .. } => {
            o.status = Status::Paid;
            o.processed_at_ms = Some(at_ms);
            o.history.push(StatusChange {
                status: Status::Paid,
                at_ms,
                reason: None,
            });
        }
        Event::Failed { code, message } => {
            o.status = Status::Failed;
            o.financial_status = match o.financial_status {
                FinancialStatus::Authorized => FinancialStatus::Voided,
                FinancialStatus::Paid => FinancialStatus::Refunded,
                FinancialStatus::Pending
                    if code == payment::DECLINED || code == payment::INSUFFICIENT_FUNDS =>
                {
                    FinancialStatus::Declined
                }
                other => other,
            };
            o.failure = Some((code.clone(), message.clone()));
            o.history.push(StatusChange {
                status: Status::Failed,
                at_ms,
                reason: Some(code.clone()),
            });
        }
        Event::Cancelled { reason } => {
            o.status = Status::Cancelled;
            o.history.push(StatusChange {
                status: Status::Cancelled,
                at_ms,
                reason: Some(reason.clone()),
            });
        }
        Event::PaymentRefunded { .. } => o.financial_status = FinancialStatus::Refunded,
        Event::StockReturned { .. } => o.stock_returned = true,
        Event::Fulfilled => {
            o.status = Status::Fulfilled;
            o.history.push(StatusChange {
                status: Status::Fulfilled,
                at_ms,
                reason: None,
            });
        }
    }
    Some(o)
}

/// Saga steps a pending order may record, checked against its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RecordReservation {
        reservation_id: String,
    },
    RecordAuthorization {
        provider: String,
        authorization_id: String,
    },
    RecordCapture,
    Place,
    Fail {
        code: String,
        message: String,
    },
    /// Cancels a paid, unfulfilled order (idempotent).
    Cancel {
        reason: String,
    },
    RecordRefund,
    RecordStockReturn,
    /// Marks a paid order fulfilled (idempotent).
    Fulfill,
}

/// Decides the events for `cmd` on `order`, or refuses an illegal step.
pub fn decide(order: &Order, cmd: Command) -> Result<Vec<Event>> {
    let illegal = |what: &str| {
        Error::precondition(
            "ILLEGAL_ORDER_TRANSITION",
            format!("order {} cannot {what} in its current state", order.id),
        )
    };
    match &cmd {
        Command::Cancel { reason } => {
            return match order.status {
                Status::Cancelled => Ok(vec![]),
                Status::Paid => Ok(vec![Event::Cancelled {
                    reason: reason.clone(),
                }]),
                Status::Fulfilled => Err(Error::precondition(
                    "ORDER_ALREADY_FULFILLED",
                    "a fulfilled order cannot be cancelled",
                )),
                Status::Pending | Status::Failed => Err(Error::precondition(
                    "ORDER_NOT_CANCELLABLE",
                    "only a paid order can be cancelled",
                )),
            };
        }
        Command::RecordRefund => {
            let Some(authorization_id) = order.authorization_id.clone() else {
                return Err(illegal("be refunded"));
            };
            if order.status != Status::Cancelled || order.financial_status != FinancialStatus::Paid
            {
                return Err(illegal("be refunded"));
            }
            return Ok(vec![Event::PaymentRefunded { authorization_id }]);
        }
        Command::RecordStockReturn => {
            let Some(reservation_id) = order.reservation_id.clone() else {
                return Err(illegal("return stock"));
            };
            if order.status != Status::Cancelled || order.stock_returned {
                return Err(illegal("return stock"));
            }
            return Ok(vec![Event::StockReturned { reservation_id }]);
        }
        Command::Fulfill => {
            return match order.status {
                Status::Fulfilled => Ok(vec![]),
                Status::Paid => Ok(vec![Event::Fulfilled]),
                _ => Err(Error::precondition(
                    "ORDER_NOT_FULFILLABLE",
                    "only a paid order can be fulfilled",
                )),
            };
        }
        _ => {}
    }
    if order.status != Status::Pending {
        return Err(illegal("change"));
    }
    match cmd {
        Command::RecordReservation { reservation_id } => {
            if order.reservation_id.is_some() {
                return Err(illegal("reserve twice"));
            }
            Ok(vec![Event::StockReserved { reservation_id }])
        }
        Command::RecordAuthorization {
            provider,
            authorization_id,
        } => {
            if order.reservation_id.is_none() || order.financial_status != FinancialStatus::Pending
            {
                return Err(illegal("authorize"));
            }
            Ok(vec![Event::PaymentAuthorized {
                provider,
                authorization_id,
                amount: order.total()?,
            }])
        }
        Command::RecordCapture => {
            let Some(authorization_id) = order.authorization_id.clone() else {
                return Err(illegal("capture"));
            };
            if order.financial_status != FinancialStatus::Authorized {
                return Err(illegal("capture"));
            }
            Ok(vec![Event::PaymentCaptured { authorization_id }])
        }
        Command::Place => {
            if order.financial_status != FinancialStatus::Paid {
                return Err(illegal("be placed before payment"));
            }
            Ok(vec![Event::Placed {
                total: order.total()?,
            }])
        }
        Command::Fail { code, message } => Ok(vec![Event::Failed { code, message }]),
        Command::Cancel { .. }
        | Command::RecordRefund
        | Command::RecordStockReturn
        | Command::Fulfill => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn created() -> Event {
        Event::Created {
            order_id: "o1".into(),
            number: 1001,
            cart_id: "c1".into(),
            customer_id: None,
            email: None,
            lines: vec![Line {
                line_id: "l1".into(),
                variant_id: "v1".into(),
                product_id: "p1".into(),
                title: "T".into(),
                sku: "S".into(),
                quantity: 3,
                unit_price: Money::new(1999, "USD"),
            }],
            currency: "USD".into(),
            fingerprint: "f".into(),
            payment_provider: "sandbox".into(),
            payment_method: "pm_sandbox_approve_4242".into(),
        }
    }

    fn step(o: Order, cmd: Command) -> Result<Order> {
        let evs = decide(&o, cmd)?;
        Ok(evs.iter().try_fold(o, |s, e| apply(Some(s), e, 2)).unwrap())
    }

    #[test]
    fn happy_path_reaches_paid_with_totals() {
        let o = fold([(&created(), 1)]).unwrap();
        assert_eq!(o.total().unwrap(), Money::new(5997, "USD"));
        let o = step(
            o,
            Command::RecordReservation {
                reservation_id: "r".into(),
            },
        )
        .unwrap();
        let o = step(
            o,
            Command::RecordAuthorization {
                provider: "sandbox".into(),
                authorization_id: "a".into(),
            },
        )
        .unwrap();
        let o = step(o, Command::RecordCapture).unwrap();
        let o = step(o, Command::Place).unwrap();
        assert_eq!(o.status, Status::Paid);
        assert_eq!(o.financial_status, FinancialStatus::Paid);
        assert_eq!(o.history.len(), 2);
        assert!(
            step(
                o,
                Command::Fail {
                    code: "X".into(),
                    message: "x".into()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn decline_marks_failed_and_declined() {
        let o = fold([(&created(), 1)]).unwrap();
        let o = step(
            o,
            Command::RecordReservation {
                reservation_id: "r".into(),
            },
        )
        .unwrap();
        let o = step(
            o,
            Command::Fail {
                code: payment::DECLINED.into(),
                message: "declined".into(),
            },
        )
        .unwrap();
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.financial_status, FinancialStatus::Declined);
        assert!(step(o, Command::Place).is_err());
    }

    #[test]
    fn cannot_place_without_payment() {
        let o = fold([(&created(), 1)]).unwrap();
        assert!(step(o.clone(), Command::Place).is_err());
        assert!(step(o, Command::RecordCapture).is_err());
    }

    fn any_cmd() -> impl Strategy<Value = Command> {
        prop_oneof![
            Just(Command::RecordReservation {
                reservation_id: "r".into()
            }),
            Just(Command::RecordAuthorization {
                provider: "sandbox".into(),
                authorization_id: "a".into()
            }),
            Just(Command::RecordCapture),
            Just(Command::Place),
            Just(Command::Fail {
                code: "CARD_DECLINED".into(),
                message: "m".into()
            }),
            Just(Command::Cancel {
                reason: "changed my mind".into()
            }),
            Just(Command::RecordRefund),
            Just(Command::RecordStockReturn),
            Just(Command::Fulfill),
        ]
    }

    proptest! {
        /// Whatever the command sequence, every recorded status change is an allowed transition,
        /// and PAID implies the payment was captured.
        #[test]
        fn no_illegal_transition(cmds in proptest::collection::vec(any_cmd(), 0..12)) {
            let mut o = fold([(&created(), 1)]).unwrap();
            for c in cmds {
                if let Ok(next) = step(o.clone(), c) { o = next; }
            }
            for w in o.history.windows(2) {
                prop_assert!(w[0].status.can_become(w[1].status));
            }
            if o.status == Status::Paid || o.status == Status::Fulfilled {
                prop_assert_eq!(o.financial_status, FinancialStatus::Paid);
            }
            // Money and stock only go back for a cancelled order.
            if o.financial_status == FinancialStatus::Refunded || o.stock_returned {
                prop_assert!(matches!(o.status, Status::Cancelled | Status::Failed));
            }
        }
    }
}
