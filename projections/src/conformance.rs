//! The conformance suite every [`ProjectionStore`] adapter passes (memory always, Cassandra when
//! `THRIFTSHOP_TEST_CASSANDRA` is set). Each check expects a fresh, empty store.
use std::collections::BTreeMap;

use crate::{
    model::{
        CartState, OrderState, Position, Projector, Purchase, Source, StockLevel, cart_status,
        financial_status, order_status,
    },
    store::ProjectionStore,
};

/// Runs every check.
pub async fn run_all<S: ProjectionStore>(store: S) {
    positions_and_generations(&store).await;
    order_history(&store).await;
    stock(&store).await;
    carts(&store).await;
    purchases(&store).await;
    generations_outrank_positions(&store).await;
    reset_wipes_only_its_projector(&store).await;
}

fn pos(topic: &str, partition: i32, offset: i64) -> Position {
    Position {
        topic: topic.into(),
        partition,
        offset,
    }
}

/// Positions are per generation and never move back; `reset` moves to the next generation.
pub async fn positions_and_generations<S: ProjectionStore>(store: &S) {
    let p = Projector::Stock;
    // A fresh store starts at some generation (0 for a durable store) and every reset moves to the next.
    let g0 = store.generation(p).await.unwrap();
    let other = store.generation(Projector::Carts).await.unwrap();
    assert!(store.positions(p, g0).await.unwrap().is_empty());
    store.save_position(p, g0, &pos("t", 0, 5)).await.unwrap();
    store.save_position(p, g0, &pos("t", 1, 0)).await.unwrap();
    store.save_position(p, g0, &pos("t", 0, 3)).await.unwrap();
    store.save_position(p, g0, &pos("t", 1, 7)).await.unwrap();
    let mut got = store.positions(p, g0).await.unwrap();
    got.sort();
    assert_eq!(got, vec![pos("t", 0, 5), pos("t", 1, 7)]);
    // Other projectors are independent.
    assert!(
        store
            .positions(Projector::Carts, other)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.reset(p).await.unwrap(), g0 + 1);
    assert_eq!(store.generation(p).await.unwrap(), g0 + 1);
    assert_eq!(store.generation(Projector::Carts).await.unwrap(), other);
    assert!(store.positions(p, g0 + 1).await.unwrap().is_empty());
    store
        .save_position(p, g0 + 1, &pos("t", 0, 2))
        .await
        .unwrap();
    assert_eq!(
        store.positions(p, g0 + 1).await.unwrap(),
        vec![pos("t", 0, 2)]
    );
}

fn order(id: &str, customer: Option<&str>, seq: u64, placed_at: Option<i64>) -> OrderState {
    OrderState {
        order_id: id.into(),
        customer_id: customer.map(Into::into),
        number: 1000 + seq as i64,
        status: if placed_at.is_some() {
            order_status::PAID.into()
        } else {
            order_status::PENDING.into()
        },
        financial_status: financial_status::PENDING.into(),
        currency: "USD".into(),
        total_minor: placed_at.map(|_| 2500),
        created_at_ms: 1_000,
        placed_at_ms: placed_at,
        updated_at_ms: 1_000 + seq as i64,
        seq,
        generation: 0,
    }
}

/// History rows exist for placed orders of known customers, newest first; stale writes change nothing.
pub async fn order_history<S: ProjectionStore>(store: &S) {
    assert_eq!(store.order_state("o1").await.unwrap(), None);
    let pending = order("o1", Some("c1"), 1, None);
    store.save_order(&pending).await.unwrap();
    assert_eq!(store.order_state("o1").await.unwrap(), Some(pending));
    assert!(store.order_history("c1", 10).await.unwrap().is_empty());

    let placed = order("o1", Some("c1"), 5, Some(2_000));
    store.save_order(&placed).await.unwrap();
    // A stale writer (older seq) cannot move the state or the history row back.
    let mut stale = order("o1", Some("c1"), 4, Some(2_000));
    stale.status = order_status::FAILED.into();
    store.save_order(&stale).await.unwrap();
    assert_eq!(store.order_state("o1").await.unwrap(), Some(placed.clone()));
    let history = store.order_history("c1", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0], placed.summary().unwrap());
    assert_eq!(history[0].status, order_status::PAID);

    let mut fulfilled = placed.clone();
    fulfilled.seq = 6;
    fulfilled.status = order_status::FULFILLED.into();
    store.save_order(&fulfilled).await.unwrap();
    // Rewriting the same version is harmless.
    store.save_order(&fulfilled).await.unwrap();
    store
        .save_order(&order("o2", Some("c1"), 3, Some(3_000)))
        .await
        .unwrap();
    store
        .save_order(&order("o0", Some("c1"), 3, Some(1_500)))
        .await
        .unwrap();
    store
        .save_order(&order("g1", None, 3, Some(3_500)))
        .await
        .unwrap();
    store
        .save_order(&order("x1", Some("c2"), 3, Some(3_500)))
        .await
        .unwrap();
    let history = store.order_history("c1", 10).await.unwrap();
    let ids: Vec<&str> = history.iter().map(|h| h.order_id.as_str()).collect();
    assert_eq!(ids, ["o2", "o1", "o0"], "newest first");
    assert_eq!(history[1].status, order_status::FULFILLED);
    assert_eq!(store.order_history("c1", 2).await.unwrap().len(), 2);
    assert_eq!(store.order_state("g1").await.unwrap().unwrap().seq, 3);
    assert!(store.order_history("nobody", 10).await.unwrap().is_empty());
}

fn level(v: &str, on_hand: i64, reserved: i64, seq: u64) -> StockLevel {
    StockLevel {
        variant_id: v.into(),
        on_hand,
        reserved,
        updated_at_ms: seq as i64,
        seq,
        generation: 0,
    }
}

/// Stock rows are last-write-wins by seq; lookups keep the order asked and omit unknown variants.
pub async fn stock<S: ProjectionStore>(store: &S) {
    store.save_stock(&level("v1", 10, 2, 3)).await.unwrap();
    store.save_stock(&level("v1", 99, 0, 2)).await.unwrap();
    store.save_stock(&level("v2", 5, 5, 1)).await.unwrap();
    let got = store.stock("v1").await.unwrap().unwrap();
    assert_eq!(got, level("v1", 10, 2, 3));
    assert_eq!(got.available(), 8);
    let many = store
        .stock_levels(&["v2".into(), "nope".into(), "v1".into()])
        .await
        .unwrap();
    let ids: Vec<&str> = many.iter().map(|l| l.variant_id.as_str()).collect();
    assert_eq!(ids, ["v2", "v1"]);
    assert_eq!(many[0].available(), 0);
    assert_eq!(store.stock("nope").await.unwrap(), None);
}

fn cart(id: &str, creator: Option<&str>, buyer: Option<&str>, seq: u64) -> CartState {
    CartState {
        cart_id: id.into(),
        created_by: creator.map(Into::into),
        buyer_customer_id: buyer.map(Into::into),
        status: cart_status::OPEN.into(),
        currency: "EUR".into(),
        lines: BTreeMap::from([("l1".to_string(), 2), ("l2".to_string(), 1)]),
        order_id: None,
        created_at_ms: 100 + seq as i64,
        updated_at_ms: 200 + seq as i64,
        seq,
        generation: 0,
    }
}

/// A cart's row follows its owner; stale writes cannot resurrect a row under a former owner.
pub async fn carts<S: ProjectionStore>(store: &S) {
    let guest = cart("k1", None, None, 1);
    store.save_cart(&guest, None).await.unwrap();
    assert_eq!(store.cart_state("k1").await.unwrap(), Some(guest.clone()));
    assert!(store.carts_by_owner("a").await.unwrap().is_empty());

    let mut claimed = cart("k1", None, Some("a"), 2);
    claimed.created_at_ms = guest.created_at_ms;
    store.save_cart(&claimed, guest.owner()).await.unwrap();
    let rows = store.carts_by_owner("a").await.unwrap();
    assert_eq!(rows, vec![claimed.summary().unwrap()]);
    assert_eq!(rows[0].total_quantity, 3);

    let mut moved = claimed.clone();
    moved.buyer_customer_id = Some("b".into());
    moved.seq = 4;
    store.save_cart(&moved, claimed.owner()).await.unwrap();
    assert!(store.carts_by_owner("a").await.unwrap().is_empty());
    // A stale writer replaying seq 3 under the former owner changes nothing.
    let mut stale = claimed.clone();
    stale.seq = 3;
    store.save_cart(&stale, Some("a")).await.unwrap();
    assert!(store.carts_by_owner("a").await.unwrap().is_empty());
    assert_eq!(store.cart_state("k1").await.unwrap(), Some(moved.clone()));

    let mut purchased = moved.clone();
    purchased.seq = 5;
    purchased.status = cart_status::PURCHASED.into();
    purchased.order_id = Some("o9".into());
    store.save_cart(&purchased, moved.owner()).await.unwrap();
    let mut other = cart("k2", Some("b"), None, 1);
    other.created_at_ms = 10_000;
    store.save_cart(&other, None).await.unwrap();
    let rows = store.carts_by_owner("b").await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.cart_id.as_str()).collect();
    assert_eq!(ids, ["k2", "k1"], "newest first");
    assert_eq!(rows[1].status, cart_status::PURCHASED);
    assert_eq!(rows[1].order_id.as_deref(), Some("o9"));

    // Back to the first owner at a later seq: the row comes back.
    let mut back = purchased.clone();
    back.buyer_customer_id = Some("a".into());
    back.seq = 6;
    store.save_cart(&back, purchased.owner()).await.unwrap();
    assert_eq!(store.carts_by_owner("a").await.unwrap().len(), 1);
    assert_eq!(store.carts_by_owner("b").await.unwrap().len(), 1);
}

fn purchase(order_id: &str, products: &[(&str, i64)]) -> Purchase {
    Purchase {
        order_id: order_id.into(),
        products: products.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
    }
}

/// Purchases count once, whether redelivered at the same offset or republished at another.
pub async fn purchases<S: ProjectionStore>(store: &S) {
    let g = 0;
    let at = |partition, offset| Source {
        generation: g,
        partition,
        offset,
    };
    assert!(
        store
            .record_purchase(at(0, 0), &purchase("o1", &[("a", 2), ("b", 1)]))
            .await
            .unwrap()
    );
    // Redelivery of the same message, and a republished copy at a later offset / other partition.
    assert!(
        !store
            .record_purchase(at(0, 0), &purchase("o1", &[("a", 2), ("b", 1)]))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_purchase(at(0, 9), &purchase("o1", &[("a", 2), ("b", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_purchase(at(1, 0), &purchase("o2", &[("a", 1), ("c", 4)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_purchase(at(0, 3), &purchase("o3", &[("a", 1), ("b", 1), ("c", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_purchase(at(1, 4), &purchase("o4", &[("d", 1)]))
            .await
            .unwrap()
    );
    let a = store.popularity("a").await.unwrap();
    assert_eq!((a.orders, a.units), (3, 4));
    let none = store.popularity("zzz").await.unwrap();
    assert_eq!(
        (none.product_id.as_str(), none.orders, none.units),
        ("zzz", 0, 0)
    );
    let top = store.top_products(3).await.unwrap();
    let top: Vec<(&str, i64, i64)> = top
        .iter()
        .map(|p| (p.product_id.as_str(), p.orders, p.units))
        .collect();
    assert_eq!(top, [("a", 3, 4), ("c", 2, 5), ("b", 2, 2)]);
    // (later checks add products e and f with fewer orders)
    let co = store.co_purchased("a", 10).await.unwrap();
    let co: Vec<(&str, i64)> = co.iter().map(|c| (c.other_id.as_str(), c.orders)).collect();
    assert_eq!(co, [("b", 2), ("c", 2)]);
    let co = store.co_purchased("c", 1).await.unwrap();
    assert_eq!(co.len(), 1);
    assert_eq!((co[0].other_id.as_str(), co[0].orders), ("a", 2));
    assert!(store.co_purchased("d", 10).await.unwrap().is_empty());

    // The per-row offset guard. A crash half-way through an order's tallies leaves some rows counted and no
    // marker; the redelivery (same position) must count only the rest. Simulated with a second order id at
    // the same position: the row already at that offset is skipped, the others are counted.
    assert!(
        store
            .record_purchase(at(2, 5), &purchase("o7", &[("e", 1)]))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_purchase(at(2, 5), &purchase("o7-redelivered", &[("e", 1), ("f", 2)]))
            .await
            .unwrap()
    );
    let e = store.popularity("e").await.unwrap();
    let f = store.popularity("f").await.unwrap();
    assert_eq!((e.orders, e.units, f.orders, f.units), (1, 1, 1, 2));
    let co = store.co_purchased("f", 10).await.unwrap();
    assert_eq!(co.len(), 1);
    assert_eq!((co[0].other_id.as_str(), co[0].orders), ("e", 1));
    // A later purchase in that partition counts again.
    assert!(
        store
            .record_purchase(at(2, 6), &purchase("o8", &[("e", 3)]))
            .await
            .unwrap()
    );
    assert_eq!(store.popularity("e").await.unwrap().units, 4);
}

/// `reset` wipes the projector's own tables only.
pub async fn reset_wipes_only_its_projector<S: ProjectionStore>(store: &S) {
    // Assumes the earlier checks left rows in every read model.
    assert!(store.stock("v1").await.unwrap().is_some());
    let g = store.generation(Projector::Popularity).await.unwrap();
    assert_eq!(store.reset(Projector::Popularity).await.unwrap(), g + 1);
    assert_eq!(store.popularity("a").await.unwrap().orders, 0);
    assert!(store.top_products(10).await.unwrap().is_empty());
    assert!(store.co_purchased("a", 10).await.unwrap().is_empty());
    // The order marker went too: the order can be counted again by the replay.
    assert!(
        store
            .record_purchase(
                Source {
                    generation: 0,
                    partition: 0,
                    offset: 0
                },
                &purchase("o1", &[("a", 1)])
            )
            .await
            .unwrap()
    );
    assert!(store.stock("v1").await.unwrap().is_some());
    assert_eq!(store.order_history("c1", 10).await.unwrap().len(), 3);
    assert_eq!(store.carts_by_owner("a").await.unwrap().len(), 1);

    store.reset(Projector::OrderHistory).await.unwrap();
    assert!(store.order_history("c1", 10).await.unwrap().is_empty());
    assert_eq!(store.order_state("o1").await.unwrap(), None);
    store.reset(Projector::Carts).await.unwrap();
    assert!(store.carts_by_owner("a").await.unwrap().is_empty());
    assert_eq!(store.cart_state("k1").await.unwrap(), None);
    store.reset(Projector::Stock).await.unwrap();
    assert_eq!(store.stock("v1").await.unwrap(), None);
}

/// A newer generation's writes win over an older generation's, whatever their positions; an older
/// generation's tallies and order markers count as absent for the newer one.
pub async fn generations_outrank_positions<S: ProjectionStore>(store: &S) {
    let mut old = level("vg", 7, 0, 50);
    store.save_stock(&old).await.unwrap();
    let mut new = level("vg", 1, 0, 2);
    new.generation = 1;
    store.save_stock(&new).await.unwrap();
    assert_eq!(store.stock("vg").await.unwrap(), Some(new.clone()));
    // A replica still on generation 0 keeps writing after the rebuild: shadowed.
    old.seq = 60;
    store.save_stock(&old).await.unwrap();
    assert_eq!(store.stock("vg").await.unwrap(), Some(new));

    // An old generation's row under a former owner is removed by the new generation's move.
    let stale_row = cart("kg", Some("old-owner"), None, 40);
    store.save_cart(&stale_row, None).await.unwrap();
    let mut moved = cart("kg", Some("old-owner"), Some("new-owner"), 3);
    moved.generation = 1;
    store.save_cart(&moved, Some("old-owner")).await.unwrap();
    assert!(store.carts_by_owner("old-owner").await.unwrap().is_empty());
    assert_eq!(store.carts_by_owner("new-owner").await.unwrap().len(), 1);
    assert_eq!(store.cart_state("kg").await.unwrap(), Some(moved));

    let at = |generation, offset| Source {
        generation,
        partition: 3,
        offset,
    };
    assert!(
        store
            .record_purchase(at(0, 40), &purchase("og", &[("xg", 5), ("yg", 1)]))
            .await
            .unwrap()
    );
    // Generation 1 replays the same order at a lower offset: counted afresh, not added to generation 0's.
    assert!(
        store
            .record_purchase(at(1, 4), &purchase("og", &[("xg", 5), ("yg", 1)]))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_purchase(at(1, 4), &purchase("og", &[("xg", 5), ("yg", 1)]))
            .await
            .unwrap()
    );
    let x = store.popularity("xg").await.unwrap();
    assert_eq!((x.orders, x.units), (1, 5));
    let co = store.co_purchased("xg", 10).await.unwrap();
    assert_eq!((co[0].other_id.as_str(), co[0].orders), ("yg", 1));
    // The old generation, still running somewhere, is told it is stale rather than counting.
    assert!(
        store
            .record_purchase(at(0, 41), &purchase("og2", &[("xg", 1)]))
            .await
            .is_err()
    );
    assert_eq!(store.popularity("xg").await.unwrap().orders, 1);
}
