//! One variant's stock: `on_hand`, `reserved` and its reservations. State = fold(events).
use std::collections::BTreeMap;

use shop_kernel::{Error, Result};

/// The release reason recorded when a reservation lapses.
pub const EXPIRED_REASON: &str = "expired";

/// Largest absolute quantity of one adjustment.
pub const MAX_ADJUST_QUANTITY: i64 = 1_000_000_000;

/// The lifecycle of a reservation line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationState {
    /// Holding stock.
    Active,
    /// Stock left the warehouse (on_hand and reserved both decreased).
    Committed,
    /// Stock returned to available.
    Released,
    /// Committed, then put back on hand (a cancelled order).
    Returned,
}

/// How an adjustment changes on-hand stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdjustKind {
    /// Goods received: a positive delta.
    Receive,
    /// A stock count: sets on-hand to a value.
    Set,
    /// A correction: a delta of either sign.
    Correct,
}

impl AdjustKind {
    /// Name stored in events.
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustKind::Receive => "RECEIVE",
            AdjustKind::Set => "SET",
            AdjustKind::Correct => "CORRECT",
        }
    }
    /// Parses a name stored in events.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RECEIVE" => Some(AdjustKind::Receive),
            "SET" => Some(AdjustKind::Set),
            "CORRECT" => Some(AdjustKind::Correct),
            _ => None,
        }
    }
}

/// A reservation's hold on this variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationLine {
    pub quantity: i64,
    pub state: ReservationState,
    /// When the hold lapses by itself (`None`: held until committed or released).
    pub expires_at_ms: Option<i64>,
}

/// Stock of one variant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    pub on_hand: i64,
    pub reserved: i64,
    /// Every reservation that ever touched this variant.
    pub reservations: BTreeMap<String, ReservationLine>,
}

impl Item {
    /// Stock that can still be reserved.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// A domain event of a variant's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryEvent {
    Adjusted {
        variant_id: String,
        delta: i64,
        kind: AdjustKind,
        reason: String,
    },
    Reserved {
        variant_id: String,
        reservation_id: String,
        quantity: i64,
        expires_at_ms: Option<i64>,
    },
    Released {
        variant_id: String,
        reservation_id: String,
        quantity: i64,
        reason: String,
    },
    Committed {
        variant_id: String,
        reservation_id: String,
        quantity: i64,
    },
    Returned {
        variant_id: String,
        reservation_id: String,
        quantity: i64,
        reason: String,
    },
}

/// A command against one variant's stock. Inputs are assumed validated (see [`super::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RECEIVE/CORRECT: `quantity` is a delta; SET: the new on-hand count.
    Adjust {
        kind: AdjustKind,
        quantity: i64,
        reason: String,
    },
    Reserve {
        reservation_id: String,
        quantity: i64,
        expires_at_ms: Option<i64>,
    },
    /// Releases the reservation if it is still active and its expiry has passed (else nothing happens).
    Expire {
        reservation_id: String,
    },
    Release {
        reservation_id: String,
        reason: String,
    },
    Commit {
        reservation_id: String,
    },
    /// Puts a committed reservation's stock back on hand.
    Return {
        reservation_id: String,
        reason: String,
    },
}

fn not_found(reservation_id: &str) -> Error {
    Error::not_found(
        "RESERVATION_NOT_FOUND",
        format!("reservation {reservation_id} does not exist"),
    )
}

/// Decides the events a command produces on `item` (no events = nothing to do, e.g. an idempotent repeat).
pub fn decide(
    item: &Item,
    variant_id: &str,
    cmd: &Command,
    now_ms: i64,
) -> Result<Vec<InventoryEvent>> {
    match cmd {
        Command::Adjust {
            kind,
            quantity,
            reason,
        } => {
            let new_on_hand = match kind {
                AdjustKind::Receive => {
                    if *quantity <= 0 {
                        return Err(Error::invalid(
                            "INVALID_QUANTITY",
                            "RECEIVE needs a positive quantity",
                        )
                        .with_field(["quantity"]));
                    }
                    item.on_hand.checked_add(*quantity)
                }
                AdjustKind::Correct => {
                    if *quantity == 0 {
                        return Err(Error::invalid(
                            "INVALID_QUANTITY",
                            "CORRECT needs a non-zero quantity",
                        )
                        .with_field(["quantity"]));
                    }
                    item.on_hand.checked_add(*quantity)
                }
                AdjustKind::Set => {
                    if *quantity < 0 {
                        return Err(Error::invalid(
                            "INVALID_QUANTITY",
                            "SET needs a quantity of at least 0",
                        )
                        .with_field(["quantity"]));
                    }
                    Some(*quantity)
                }
            }
            .ok_or_else(|| {
                Error::invalid("STOCK_TOO_LARGE", "on-hand stock would overflow")
                    .with_field(["quantity"])
            })?;
            if new_on_hand < item.reserved {
                return Err(Error::precondition(
                    "STOCK_BELOW_RESERVED",
                    format!(
                        "on-hand stock cannot go below the {} reserved units",
                        item.reserved
                    ),
                )
                .with_field(["quantity"]));
            }
            let delta = new_on_hand - item.on_hand;
            if delta == 0 {
                return Ok(vec![]);
            }
            Ok(vec![InventoryEvent::Adjusted {
                variant_id: variant_id.to_string(),
                delta,
                kind: *kind,
                reason: reason.clone(),
            }])
        }
        Command::Reserve {
            reservation_id,
            quantity,
            expires_at_ms,
        } => {
            if item.reservations.contains_key(reservation_id) {
                return Ok(vec![]);
            }
            if *quantity <= 0 {
                return Err(Error::invalid(
                    "INVALID_QUANTITY",
                    "quantity must be positive",
                ));
            }
            if *quantity > item.available() {
                return Err(Error::precondition(
                    "INSUFFICIENT_STOCK",
                    format!(
                        "only {} available for variant {variant_id}",
                        item.available().max(0)
                    ),
                ));
            }
            Ok(vec![InventoryEvent::Reserved {
                variant_id: variant_id.to_string(),
                reservation_id: reservation_id.clone(),
                quantity: *quantity,
                expires_at_ms: *expires_at_ms,
            }])
        }
        Command::Expire { reservation_id } => {
            let Some(line) = item.reservations.get(reservation_id) else {
                return Ok(vec![]);
            };
            let due = line.expires_at_ms.is_some_and(|at| at <= now_ms);
            if line.state != ReservationState::Active || !due {
                return Ok(vec![]);
            }
            Ok(vec![InventoryEvent::Released {
                variant_id: variant_id.to_string(),
                reservation_id: reservation_id.clone(),
                quantity: line.quantity,
                reason: EXPIRED_REASON.to_string(),
            }])
        }
        Command::Release {
            reservation_id,
            reason,
        } => {
            let line = item
                .reservations
                .get(reservation_id)
                .ok_or_else(|| not_found(reservation_id))?;
            match line.state {
                ReservationState::Released => Ok(vec![]),
                ReservationState::Committed | ReservationState::Returned => {
                    Err(Error::precondition(
                        "RESERVATION_COMMITTED",
                        format!("reservation {reservation_id} is already committed"),
                    ))
                }
                ReservationState::Active => Ok(vec![InventoryEvent::Released {
                    variant_id: variant_id.to_string(),
                    reservation_id: reservation_id.clone(),
                    quantity: line.quantity,
                    reason: reason.clone(),
                }]),
            }
        }
        Command::Commit { reservation_id } => {
            let line = item
                .reservations
                .get(reservation_id)
                .ok_or_else(|| not_found(reservation_id))?;
            match line.state {
                ReservationState::Committed | ReservationState::Returned => Ok(vec![]),
                ReservationState::Released => Err(Error::precondition(
                    "RESERVATION_RELEASED",
                    format!("reservation {reservation_id} was released"),
                )),
                ReservationState::Active => Ok(vec![InventoryEvent::Committed {
                    variant_id: variant_id.to_string(),
                    reservation_id: reservation_id.clone(),
                    quantity: line.quantity,
                }]),
            }
        }
        Command::Return {
            reservation_id,
            reason,
        } => {
            let line = item
                .reservations
                .get(reservation_id)
                .ok_or_else(|| not_found(reservation_id))?;
            match line.state {
                ReservationState::Returned => Ok(vec![]),
                ReservationState::Committed => Ok(vec![InventoryEvent::Returned {
                    variant_id: variant_id.to_string(),
                    reservation_id: reservation_id.clone(),
                    quantity: line.quantity,
                    reason: reason.clone(),
                }]),
                ReservationState::Active | ReservationState::Released => Err(Error::precondition(
                    "RESERVATION_NOT_COMMITTED",
                    format!("reservation {reservation_id} was never committed"),
                )),
            }
        }
    }
}

/// Applies one event to the state. Total: never fails (events are facts).
pub fn apply(item: &mut Item, event: &InventoryEvent) {
    match event {
        InventoryEvent::Adjusted { delta, .. } => {
            item.on_hand = item.on_hand.saturating_add(*delta)
        }
        InventoryEvent::Reserved {
            reservation_id,
            quantity,
            expires_at_ms,
            ..
        } => {
            item.reserved = item.reserved.saturating_add(*quantity);
            item.reservations.insert(
                reservation_id.clone(),
                ReservationLine {
                    quantity: *quantity,
                    state: ReservationState::Active,
                    expires_at_ms: *expires_at_ms,
                },
            );
        }
        InventoryEvent::Released {
            reservation_id,
            quantity,
            ..
        } => {
            item.reserved = item.reserved.saturating_sub(*quantity);
            if let Some(l) = item.reservations.get_mut(reservation_id) {
                l.state = ReservationState::Released;
            }
        }
        InventoryEvent::Committed {
            reservation_id,
            quantity,
            ..
        } => {
            item.reserved = item.reserved.saturating_sub(*quantity);
            item.on_hand = item.on_hand.saturating_sub(*quantity);
            if let Some(l) = item.reservations.get_mut(reservation_id) {
                l.state = ReservationState::Committed;
            }
        }
        InventoryEvent::Returned {
            reservation_id,
            quantity,
            ..
        } => {
            item.on_hand = item.on_hand.saturating_add(*quantity);
            if let Some(l) = item.reservations.get_mut(reservation_id) {
                l.state = ReservationState::Returned;
            }
        }
    }
}

/// The state after `events`.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a InventoryEvent>) -> Item {
    let mut item = Item::default();
    for e in events {
        apply(&mut item, e);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(item: &mut Item, cmd: Command) -> Result<Vec<InventoryEvent>> {
        run_at(item, cmd, 0)
    }

    fn run_at(item: &mut Item, cmd: Command, now: i64) -> Result<Vec<InventoryEvent>> {
        let evs = decide(item, "v1", &cmd, now)?;
        for e in &evs {
            apply(item, e);
        }
        Ok(evs)
    }

    fn adjust(kind: AdjustKind, quantity: i64) -> Command {
        Command::Adjust {
            kind,
            quantity,
            reason: "test".into(),
        }
    }

    fn reserve(id: &str, quantity: i64) -> Command {
        Command::Reserve {
            reservation_id: id.into(),
            quantity,
            expires_at_ms: None,
        }
    }

    fn expire(id: &str) -> Command {
        Command::Expire {
            reservation_id: id.into(),
        }
    }

    #[test]
    fn reservations_lapse_only_when_due_and_active() {
        let mut it = Item::default();
        run(&mut it, adjust(AdjustKind::Receive, 10)).unwrap();
        let held = |id: &str, q, at| Command::Reserve {
            reservation_id: String::from(id),
            quantity: q,
            expires_at_ms: Some(at),
        };
        run_at(&mut it, held("r1", 4, 1_000), 0).unwrap();
        run_at(&mut it, held("r2", 3, 1_000), 0).unwrap();
        run(&mut it, reserve("r3", 2)).unwrap();
        // Not yet due: nothing happens.
        assert!(run_at(&mut it, expire("r1"), 999).unwrap().is_empty());
        // Due: released with the expiry reason; repeating is a no-op.
        let evs = run_at(&mut it, expire("r1"), 1_000).unwrap();
        assert!(
            matches!(&evs[..], [InventoryEvent::Released { reason, quantity: 4, .. }] if reason == EXPIRED_REASON)
        );
        assert!(run_at(&mut it, expire("r1"), 5_000).unwrap().is_empty());
        // A committed reservation never lapses; one without an expiry neither; unknown ids are ignored.
        run_at(
            &mut it,
            Command::Commit {
                reservation_id: "r2".into(),
            },
            500,
        )
        .unwrap();
        assert!(run_at(&mut it, expire("r2"), 5_000).unwrap().is_empty());
        assert!(run_at(&mut it, expire("r3"), i64::MAX).unwrap().is_empty());
        assert!(run_at(&mut it, expire("nope"), 5_000).unwrap().is_empty());
        assert_eq!((it.on_hand, it.reserved, it.available()), (7, 2, 5));
        // A lapsed reservation cannot be committed any more.
        assert_eq!(
            run(
                &mut it,
                Command::Commit {
                    reservation_id: "r1".into()
                }
            )
            .unwrap_err()
            .code,
            "RESERVATION_RELEASED"
        );
    }

    #[test]
    fn receive_reserve_commit() {
        let mut it = Item::default();
        run(&mut it, adjust(AdjustKind::Receive, 10)).unwrap();
        run(&mut it, reserve("r1", 4)).unwrap();
        assert_eq!((it.on_hand, it.reserved, it.available()), (10, 4, 6));
        run(
            &mut it,
            Command::Commit {
                reservation_id: "r1".into(),
            },
        )
        .unwrap();
        assert_eq!((it.on_hand, it.reserved, it.available()), (6, 0, 6));
        // Idempotent repeat.
        assert!(
            run(
                &mut it,
                Command::Commit {
                    reservation_id: "r1".into()
                }
            )
            .unwrap()
            .is_empty()
        );
        let e = run(
            &mut it,
            Command::Release {
                reservation_id: "r1".into(),
                reason: "x".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.code, "RESERVATION_COMMITTED");
    }

    #[test]
    fn release_returns_stock_and_blocks_commit() {
        let mut it = Item::default();
        run(&mut it, adjust(AdjustKind::Set, 5)).unwrap();
        run(&mut it, reserve("r1", 5)).unwrap();
        assert_eq!(
            run(&mut it, reserve("r2", 1)).unwrap_err().code,
            "INSUFFICIENT_STOCK"
        );
        run(
            &mut it,
            Command::Release {
                reservation_id: "r1".into(),
                reason: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(it.available(), 5);
        assert!(
            run(
                &mut it,
                Command::Release {
                    reservation_id: "r1".into(),
                    reason: "x".into()
                }
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            run(
                &mut it,
                Command::Commit {
                    reservation_id: "r1".into()
                }
            )
            .unwrap_err()
            .code,
            "RESERVATION_RELEASED"
        );
        assert_eq!(
            run(
                &mut it,
                Command::Commit {
                    reservation_id: "nope".into()
                }
            )
            .unwrap_err()
            .code,
            "RESERVATION_NOT_FOUND"
        );
    }

    #[test]
    fn stock_cannot_go_below_reserved() {
        let mut it = Item::default();
        run(&mut it, adjust(AdjustKind::Receive, 10)).unwrap();
        run(&mut it, reserve("r1", 8)).unwrap();
        assert_eq!(
            run(&mut it, adjust(AdjustKind::Correct, -3))
                .unwrap_err()
                .code,
            "STOCK_BELOW_RESERVED"
        );
        assert_eq!(
            run(&mut it, adjust(AdjustKind::Set, 7)).unwrap_err().code,
            "STOCK_BELOW_RESERVED"
        );
        run(&mut it, adjust(AdjustKind::Correct, -2)).unwrap();
        assert_eq!(it.on_hand, 8);
        assert_eq!(
            run(&mut it, adjust(AdjustKind::Receive, 0))
                .unwrap_err()
                .code,
            "INVALID_QUANTITY"
        );
        assert_eq!(
            run(&mut it, adjust(AdjustKind::Set, -1)).unwrap_err().code,
            "INVALID_QUANTITY"
        );
        assert!(run(&mut it, adjust(AdjustKind::Set, 8)).unwrap().is_empty());
    }

    #[test]
    fn reserving_twice_is_idempotent() {
        let mut it = Item::default();
        run(&mut it, adjust(AdjustKind::Receive, 10)).unwrap();
        run(&mut it, reserve("r1", 3)).unwrap();
        assert!(run(&mut it, reserve("r1", 3)).unwrap().is_empty());
        assert_eq!(it.reserved, 3);
    }

    fn command() -> impl Strategy<Value = Command> {
        let id = prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")].prop_map(String::from);
        prop_oneof![
            (0..3u8, -50i64..50).prop_map(|(k, q)| {
                let kind = [AdjustKind::Receive, AdjustKind::Set, AdjustKind::Correct][k as usize];
                adjust(kind, q)
            }),
            (id.clone(), 1i64..30, proptest::option::of(0i64..100)).prop_map(|(r, q, at)| {
                Command::Reserve {
                    reservation_id: r,
                    quantity: q,
                    expires_at_ms: at,
                }
            }),
            id.clone()
                .prop_map(|r| Command::Expire { reservation_id: r }),
            id.clone().prop_map(|r| Command::Release {
                reservation_id: r,
                reason: "r".into()
            }),
            id.clone()
                .prop_map(|r| Command::Commit { reservation_id: r }),
            id.prop_map(|r| Command::Return {
                reservation_id: r,
                reason: "cancelled".into()
            }),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_over_any_command_sequence(cmds in proptest::collection::vec((command(), 0i64..100), 0..60)) {
            let mut it = Item::default();
            let mut all = Vec::new();
            for (c, now) in cmds {
                if let Ok(evs) = run_at(&mut it, c, now) {
                    all.extend(evs);
                }
                prop_assert!(it.on_hand >= 0);
                prop_assert!(it.reserved >= 0 && it.reserved <= it.on_hand);
                prop_assert!(it.available() >= 0);
                let active: i64 = it.reservations.values()
                    .filter(|l| l.state == ReservationState::Active).map(|l| l.quantity).sum();
                prop_assert_eq!(active, it.reserved);
            }
            // State is a pure fold of the events.
            prop_assert_eq!(fold(all.iter()), it);
        }
    }
}
