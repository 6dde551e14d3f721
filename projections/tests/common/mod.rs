//! A realistic event stream (carts, checkouts, stock movements, cancellations, fulfilment) encoded with the
//! services' own event encoders, and the expected read models computed with the services' own domain folds.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::Duration,
};

use shop_bus::Message;
use shop_cart::domain::{self as cart, BuyerIdentity, CartEvent, CartStatus, Merchandise};
use shop_inventory::domain::{self as inv, AdjustKind, InventoryEvent};
use shop_kernel::Money;
use shop_order::domain::{self as order, FinancialStatus, Status};
use shop_projections::{
    ProjectionStore,
    model::{CartSummary, OrderSummary},
};
use shop_store::NewEvent;

/// A domain event of one of the three aggregates.
#[derive(Debug, Clone)]
pub enum Ev {
    Order(order::Event),
    Cart(CartEvent),
    Stock(InventoryEvent),
}

/// Messages in publication order, each with the domain event it encodes.
pub struct Scenario {
    pub items: Vec<(Message, Ev)>,
    pub customers: BTreeSet<String>,
    pub variants: BTreeSet<String>,
    pub products: BTreeSet<String>,
}

/// A small deterministic generator (no RNG dependency, same scenario every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn to_message(stream: &str, seq: u64, e: NewEvent) -> Message {
    Message {
        topic: e.topic,
        key: stream.to_string(),
        event_id: e.event_id,
        event_type: e.event_type,
        seq,
        occurred_at_ms: e.occurred_at_ms,
        traceparent: None,
        payload: e.payload,
    }
}

/// `orders` checkouts (some failing, some cancelled or fulfilled after), their carts and stock movements,
/// plus abandoned carts; ids are prefixed with `tag`. Eight checkouts progress concurrently, so streams
/// interleave on the topics while each stream stays in order.
pub fn generate(tag: &str, orders: usize) -> Scenario {
    let mut rng = Lcg(0x5eed ^ orders as u64);
    let products: Vec<String> = (0..8).map(|p| format!("{tag}p{p}")).collect();
    let variant = |p: usize, v: usize| format!("{tag}p{p}v{v}");
    let customers: Vec<String> = (0..6).map(|c| format!("{tag}c{c}")).collect();
    let mut scripts: Vec<VecDeque<(String, Ev)>> = Vec::new();
    let mut variants = BTreeSet::new();

    // Stock arrives first.
    let mut receiving = VecDeque::new();
    for p in 0..products.len() {
        for v in 0..2 {
            let id = variant(p, v);
            variants.insert(id.clone());
            receiving.push_back((
                format!("stock-{id}"),
                Ev::Stock(InventoryEvent::Adjusted {
                    variant_id: id,
                    delta: 1_000,
                    kind: AdjustKind::Receive,
                    reason: "initial".into(),
                }),
            ));
        }
    }
    scripts.push(receiving);

    for i in 0..orders {
        let mut s = VecDeque::new();
        let guest_claimed = i % 5 == 3;
        let customer = if i % 9 == 8 {
            None
        } else {
            Some(customers[i % customers.len()].clone())
        };
        let cart_id = format!("{tag}k{i}");
        let cs = format!("cart-{cart_id}");
        let order_id = format!("{tag}o{i}");
        let os = format!("order-{order_id}");
        s.push_back((
            cs.clone(),
            Ev::Cart(CartEvent::Created {
                cart_id: cart_id.clone(),
                customer_id: if guest_claimed {
                    None
                } else {
                    customer.clone()
                },
                guest_id: None,
                currency: "USD".into(),
                expires_at_ms: 0,
            }),
        ));
        // 1..=3 distinct products.
        let n_lines = 1 + rng.next(3) as usize;
        let mut picked = BTreeSet::new();
        while picked.len() < n_lines {
            picked.insert(rng.next(products.len() as u64) as usize);
        }
        let mut lines = Vec::new();
        for (l, p) in picked.into_iter().enumerate() {
            let line = cart::Line {
                id: format!("{cart_id}l{l}"),
                merchandise: Merchandise {
                    variant_id: variant(p, rng.next(2) as usize),
                    product_id: products[p].clone(),
                    title: format!("Product {p}"),
                    sku: format!("SKU-{p}"),
                    unit_price: Money::new(500 + 100 * p as i64, "USD"),
                    compare_at_unit_price: None,
                },
                quantity: 1 + rng.next(3) as i64,
                attributes: vec![],
            };
            s.push_back((cs.clone(), Ev::Cart(CartEvent::LineAdded(line.clone()))));
            lines.push(line);
        }
        if rng.next(3) == 0 {
            lines[0].quantity += 1;
            s.push_back((
                cs.clone(),
                Ev::Cart(CartEvent::LineUpdated(lines[0].clone())),
            ));
        }
        if lines.len() > 1 && rng.next(4) == 0 {
            let gone = lines.pop().unwrap();
            s.push_back((
                cs.clone(),
                Ev::Cart(CartEvent::LineRemoved { line_id: gone.id }),
            ));
        }
        if guest_claimed {
            s.push_back((
                cs.clone(),
                Ev::Cart(CartEvent::BuyerIdentityUpdated(BuyerIdentity {
                    email: Some("buyer@example.com".into()),
                    customer_id: customer.clone(),
                    ..Default::default()
                })),
            ));
        }
        if i % 11 == 10 {
            // Abandoned cart: no checkout.
            scripts.push(s);
            continue;
        }
        s.push_back((
            cs.clone(),
            Ev::Cart(CartEvent::CheckoutStarted {
                order_id: order_id.clone(),
            }),
        ));
        let order_lines: Vec<order::Line> = lines
            .iter()
            .map(|l| order::Line {
                line_id: l.id.clone(),
                variant_id: l.merchandise.variant_id.clone(),
                product_id: l.merchandise.product_id.clone(),
                title: l.merchandise.title.clone(),
                sku: l.merchandise.sku.clone(),
                quantity: l.quantity,
                unit_price: l.merchandise.unit_price.clone(),
            })
            .collect();
        s.push_back((
            os.clone(),
            Ev::Order(order::Event::Created {
                order_id: order_id.clone(),
                number: 1001 + i as i64,
                cart_id: cart_id.clone(),
                customer_id: customer.clone(),
                email: None,
                lines: order_lines.clone(),
                currency: "USD".into(),
                fingerprint: format!("fp{i}"),
                payment_provider: "sandbox".into(),
                payment_method: "pm_card_visa".into(),
            }),
        ));
        let reservation = format!("{tag}r{i}");
        for l in &order_lines {
            s.push_back((
                format!("stock-{}", l.variant_id),
                Ev::Stock(InventoryEvent::Reserved {
                    variant_id: l.variant_id.clone(),
                    reservation_id: reservation.clone(),
                    quantity: l.quantity,
                    expires_at_ms: None,
                }),
            ));
        }
        s.push_back((
            os.clone(),
            Ev::Order(order::Event::StockReserved {
                reservation_id: reservation.clone(),
            }),
        ));
        let total: i64 = order_lines
            .iter()
            .map(|l| l.unit_price.amount_minor * l.quantity)
            .sum();
        if i % 7 == 6 {
            // Declined card: the reservation is released, the cart reopens.
            s.push_back((
                os.clone(),
                Ev::Order(order::Event::Failed {
                    code: "CARD_DECLINED".into(),
                    message: "declined".into(),
                }),
            ));
            for l in &order_lines {
                s.push_back((
                    format!("stock-{}", l.variant_id),
                    Ev::Stock(InventoryEvent::Released {
                        variant_id: l.variant_id.clone(),
                        reservation_id: reservation.clone(),
                        quantity: l.quantity,
                        reason: "payment failed".into(),
                    }),
                ));
            }
            s.push_back((
                cs.clone(),
                Ev::Cart(CartEvent::CheckoutAborted {
                    order_id: order_id.clone(),
                }),
            ));
            scripts.push(s);
            continue;
        }
        let auth = format!("{tag}a{i}");
        s.push_back((
            os.clone(),
            Ev::Order(order::Event::PaymentAuthorized {
                provider: "sandbox".into(),
                authorization_id: auth.clone(),
                amount: Money::new(total, "USD"),
            }),
        ));
        s.push_back((
            os.clone(),
            Ev::Order(order::Event::PaymentCaptured {
                authorization_id: auth.clone(),
            }),
        ));
        for l in &order_lines {
            s.push_back((
                format!("stock-{}", l.variant_id),
                Ev::Stock(InventoryEvent::Committed {
                    variant_id: l.variant_id.clone(),
                    reservation_id: reservation.clone(),
                    quantity: l.quantity,
                }),
            ));
        }
        s.push_back((
            os.clone(),
            Ev::Order(order::Event::Placed {
                total: Money::new(total, "USD"),
            }),
        ));
        s.push_back((
            cs.clone(),
            Ev::Cart(CartEvent::Purchased {
                order_id: order_id.clone(),
            }),
        ));
        if i % 6 == 1 {
            s.push_back((
                os.clone(),
                Ev::Order(order::Event::Cancelled {
                    reason: "customer".into(),
                }),
            ));
            s.push_back((
                os.clone(),
                Ev::Order(order::Event::PaymentRefunded {
                    authorization_id: auth,
                }),
            ));
            for l in &order_lines {
                s.push_back((
                    format!("stock-{}", l.variant_id),
                    Ev::Stock(InventoryEvent::Returned {
                        variant_id: l.variant_id.clone(),
                        reservation_id: reservation.clone(),
                        quantity: l.quantity,
                        reason: "cancelled".into(),
                    }),
                ));
            }
            s.push_back((
                os.clone(),
                Ev::Order(order::Event::StockReturned {
                    reservation_id: reservation,
                }),
            ));
        } else if i % 4 == 0 {
            s.push_back((os.clone(), Ev::Order(order::Event::Fulfilled)));
        }
        scripts.push(s);
    }

    // Interleave: the stock script first, then up to eight checkouts in flight, one event each in turn.
    let mut items = Vec::new();
    let mut seqs: HashMap<String, u64> = HashMap::new();
    let mut order_events: HashMap<String, Vec<(order::Event, i64)>> = HashMap::new();
    let mut pending: VecDeque<VecDeque<(String, Ev)>> = scripts.into_iter().collect();
    let mut active: Vec<VecDeque<(String, Ev)>> = Vec::new();
    if let Some(first) = pending.pop_front() {
        active.push(first);
    }
    let now = shop_kernel::now_ms();
    while !active.is_empty() || !pending.is_empty() {
        while active.len() < 8
            && let Some(s) = pending.pop_front()
        {
            active.push(s);
        }
        for script in active.iter_mut() {
            let Some((stream, ev)) = script.pop_front() else {
                continue;
            };
            let seq = {
                let s = seqs.entry(stream.clone()).or_default();
                *s += 1;
                *s
            };
            let new_event = match &ev {
                Ev::Cart(e) => shop_cart::events::encode(e, now),
                Ev::Stock(e) => shop_inventory::events::encode(e, now),
                Ev::Order(e) => {
                    let so_far = order_events.entry(stream.clone()).or_default();
                    so_far.push((e.clone(), now));
                    let state = order::fold(so_far.iter().map(|(e, at)| (e, *at)));
                    shop_order::events::encode(e, state.as_ref(), now)
                }
            };
            items.push((to_message(&stream, seq, new_event), ev));
        }
        active.retain(|s| !s.is_empty());
    }
    Scenario {
        items,
        customers: customers.into_iter().collect(),
        variants,
        products: products.into_iter().collect(),
    }
}

/// Everything the read models should answer for a scenario's keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub history: BTreeMap<String, Vec<OrderSummary>>,
    /// variant → (on hand, reserved, available).
    pub stock: BTreeMap<String, (i64, i64, i64)>,
    pub carts: BTreeMap<String, Vec<CartSummary>>,
    /// product → (orders, units).
    pub popularity: BTreeMap<String, (i64, i64)>,
    /// product → [(other, orders)], most co-purchased first.
    pub co_purchased: BTreeMap<String, Vec<(String, i64)>>,
    pub top: Vec<(String, i64, i64)>,
}

fn order_status(s: Status) -> &'static str {
    match s {
        Status::Pending => "PENDING",
        Status::Paid => "PAID",
        Status::Failed => "FAILED",
        Status::Cancelled => "CANCELLED",
        Status::Fulfilled => "FULFILLED",
    }
}

fn financial(s: FinancialStatus) -> &'static str {
    match s {
        FinancialStatus::Pending => "PENDING",
        FinancialStatus::Authorized => "AUTHORIZED",
        FinancialStatus::Paid => "PAID",
        FinancialStatus::Voided => "VOIDED",
        FinancialStatus::Refunded => "REFUNDED",
        FinancialStatus::Declined => "DECLINED",
    }
}

/// The read models the messages should produce, by the services' own folds.
pub fn expected(scenario: &Scenario, messages: &[Message]) -> Snapshot {
    assert_eq!(messages.len(), scenario.items.len());
    let mut orders: BTreeMap<&str, Vec<(&order::Event, i64)>> = BTreeMap::new();
    let mut carts: BTreeMap<&str, Vec<(&CartEvent, i64)>> = BTreeMap::new();
    let mut stock: BTreeMap<&str, Vec<&InventoryEvent>> = BTreeMap::new();
    for ((_, ev), m) in scenario.items.iter().zip(messages) {
        match ev {
            Ev::Order(e) => orders
                .entry(&m.key)
                .or_default()
                .push((e, m.occurred_at_ms)),
            Ev::Cart(e) => carts.entry(&m.key).or_default().push((e, m.occurred_at_ms)),
            Ev::Stock(e) => stock.entry(&m.key).or_default().push(e),
        }
    }
    let mut snap = Snapshot::default();
    for c in &scenario.customers {
        snap.history.insert(c.clone(), vec![]);
        snap.carts.insert(c.clone(), vec![]);
    }
    let mut popularity: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut co: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for events in orders.values() {
        let o = order::fold(events.iter().copied()).expect("order created");
        let Some(placed_at) = o.processed_at_ms else {
            continue;
        };
        let mut products: BTreeMap<String, i64> = BTreeMap::new();
        for l in &o.lines {
            *products.entry(l.product_id.clone()).or_default() += l.quantity;
        }
        for (p, units) in &products {
            let e = popularity.entry(p.clone()).or_default();
            e.0 += 1;
            e.1 += units;
            for other in products.keys().filter(|o| *o != p) {
                *co.entry(p.clone())
                    .or_default()
                    .entry(other.clone())
                    .or_default() += 1;
            }
        }
        let Some(customer) = o.customer_id.clone() else {
            continue;
        };
        snap.history
            .entry(customer.clone())
            .or_default()
            .push(OrderSummary {
                customer_id: customer,
                order_id: o.id.clone(),
                number: o.number,
                status: order_status(o.status).into(),
                financial_status: financial(o.financial_status).into(),
                total_minor: o.total().unwrap().amount_minor,
                currency: o.currency.clone(),
                placed_at_ms: placed_at,
                updated_at_ms: events.last().unwrap().1,
            });
    }
    for rows in snap.history.values_mut() {
        shop_projections::model::sort_history(rows);
    }
    for events in carts.values() {
        let c = cart::fold(events.iter().copied()).expect("cart created");
        let Some(owner) = c
            .buyer_identity
            .customer_id
            .clone()
            .or(c.customer_id.clone())
        else {
            continue;
        };
        snap.carts
            .entry(owner.clone())
            .or_default()
            .push(CartSummary {
                customer_id: owner,
                cart_id: c.id.clone(),
                status: match c.status {
                    CartStatus::Open => "OPEN",
                    CartStatus::CheckingOut => "CHECKING_OUT",
                    CartStatus::Purchased => "PURCHASED",
                    CartStatus::Merged => "MERGED",
                }
                .into(),
                currency: c.currency.clone(),
                total_quantity: c.lines.iter().map(|l| l.quantity).sum(),
                order_id: c.order_id.clone(),
                created_at_ms: c.created_at_ms,
                updated_at_ms: c.updated_at_ms,
            });
    }
    for rows in snap.carts.values_mut() {
        shop_projections::model::sort_carts(rows);
    }
    for v in &scenario.variants {
        let item = inv::fold(
            stock
                .get(format!("stock-{v}").as_str())
                .into_iter()
                .flatten()
                .copied(),
        );
        snap.stock.insert(
            v.clone(),
            (item.on_hand, item.reserved, item.on_hand - item.reserved),
        );
    }
    for p in &scenario.products {
        snap.popularity
            .insert(p.clone(), popularity.get(p).copied().unwrap_or((0, 0)));
        let mut others: Vec<(String, i64)> = co
            .get(p)
            .map(|m| m.iter().map(|(o, n)| (o.clone(), *n)).collect())
            .unwrap_or_default();
        others.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        snap.co_purchased.insert(p.clone(), others);
    }
    let mut top: Vec<(String, i64, i64)> = popularity
        .into_iter()
        .map(|(p, (o, u))| (p, o, u))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    snap.top = top;
    snap
}

/// What the store answers for the scenario's keys.
pub async fn snapshot<S: ProjectionStore>(store: &S, scenario: &Scenario) -> Snapshot {
    let mut snap = Snapshot::default();
    for c in &scenario.customers {
        snap.history
            .insert(c.clone(), store.order_history(c, 1000).await.unwrap());
        snap.carts
            .insert(c.clone(), store.carts_by_owner(c).await.unwrap());
    }
    let variants: Vec<String> = scenario.variants.iter().cloned().collect();
    let levels = store.stock_levels(&variants).await.unwrap();
    for v in &scenario.variants {
        let l = levels.iter().find(|l| &l.variant_id == v);
        snap.stock.insert(
            v.clone(),
            l.map_or((0, 0, 0), |l| (l.on_hand, l.reserved, l.available())),
        );
    }
    for p in &scenario.products {
        let pop = store.popularity(p).await.unwrap();
        snap.popularity.insert(p.clone(), (pop.orders, pop.units));
        let co = store.co_purchased(p, 1000).await.unwrap();
        snap.co_purchased.insert(
            p.clone(),
            co.into_iter().map(|c| (c.other_id, c.orders)).collect(),
        );
    }
    snap.top = store
        .top_products(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| scenario.products.contains(&p.product_id))
        .map(|p| (p.product_id, p.orders, p.units))
        .collect();
    snap
}

/// Polls the store until it answers `want` (or `timeout` passes), then asserts it does.
pub async fn wait_for<S: ProjectionStore>(
    store: &S,
    scenario: &Scenario,
    want: &Snapshot,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let got = snapshot(store, scenario).await;
        if &got == want {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            assert_eq!(&got, want, "read models did not converge in {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes `messages` in batches of `batch`, stamping each batch's `occurred_at_ms` with the time it is
/// published (so the projectors' lag is "appended → visible"). Returns the messages as published.
pub async fn publish_stamped<B: shop_bus::EventBus>(
    bus: &B,
    messages: Vec<Message>,
    batch: usize,
) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(batch.max(1)) {
        let now = shop_kernel::now_ms();
        let chunk: Vec<Message> = chunk
            .iter()
            .cloned()
            .map(|mut m| {
                m.occurred_at_ms = now;
                m
            })
            .collect();
        bus.publish(chunk.clone()).await.expect("publish");
        out.extend(chunk);
    }
    out
}

/// How the flow treats republished copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copies {
    /// The bus keeps copies with the same event id (Kafka): republish as the outbox relay does.
    SameEventId,
    /// The bus dedupes by event id (memory, embedded): give copies new ids to get them through.
    FreshEventId,
}

fn lag_line(p: &shop_projections::Projections<impl ProjectionStore>, phase: &str) {
    for proj in shop_projections::Projector::ALL {
        let r = p.lag(proj);
        eprintln!(
            "projection lag [{phase}] {:<13} applied {:>4} duplicates {:>4} ignored {:>4}  p50 {:>4} ms  p99 {:>4} ms  max {:>4} ms",
            proj.name(),
            r.applied,
            r.duplicates,
            r.ignored,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
    }
}

/// The whole story on one bus and store: project a realistic stream while the projectors are killed and
/// restarted mid-stream; republished copies and a full replay change nothing; a rebuild (wipe + replay with a
/// fresh consumer group) gives identical rows. Prints the measured lag.
pub async fn full_flow<B: shop_bus::EventBus, S: ProjectionStore>(
    bus: B,
    store: S,
    tag: &str,
    orders: usize,
    copies: Copies,
    timeout: Duration,
) {
    use shop_bus::Subscription;
    use shop_projections::{Outcome, Projections, Projector, projector};
    use tokio_util::sync::CancellationToken;

    let scenario = generate(tag, orders);
    let messages: Vec<Message> = scenario.items.iter().map(|(m, _)| m.clone()).collect();
    let half = messages.len() / 2;
    let prefix = format!("projections-{tag}");
    eprintln!(
        "scenario: {} events ({} orders, {} customers, {} variants, {} products)",
        messages.len(),
        orders,
        scenario.customers.len(),
        scenario.variants.len(),
        scenario.products.len()
    );

    // 1. First half, then kill the projectors (a task abort: no graceful close, no final commit).
    let first = Projections::new(store.clone());
    let run = {
        let (first, bus, prefix) = (first.clone(), bus.clone(), prefix.clone());
        tokio::spawn(async move { first.run(bus, &prefix, CancellationToken::new()).await })
    };
    // The first half flows in at a steady pace; the projectors are killed while it does.
    let publisher = {
        let (bus, first_half) = (bus.clone(), messages[..half].to_vec());
        tokio::spawn(async move {
            let mut out = Vec::new();
            for chunk in first_half.chunks(4) {
                out.extend(publish_stamped(&bus, chunk.to_vec(), 4).await);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            out
        })
    };
    let deadline = tokio::time::Instant::now() + timeout;
    while first.lag(Projector::Carts).applied < 40 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.abort();
    let _ = run.await;
    let mut published = publisher.await.expect("publisher");
    lag_line(&first, "before the kill");

    // 2. Restart; the second half arrives while they run. The lag of this run is the measurement.
    let projections = Projections::new(store.clone());
    let cancel = CancellationToken::new();
    let run = {
        let (p, bus, prefix, cancel) = (
            projections.clone(),
            bus.clone(),
            prefix.clone(),
            cancel.clone(),
        );
        tokio::spawn(async move { p.run(bus, &prefix, cancel).await })
    };
    published.extend(publish_stamped(&bus, messages[half..].to_vec(), 8).await);
    let want = expected(&scenario, &published);
    wait_for(&store, &scenario, &want, timeout).await;
    lag_line(
        &projections,
        "after the restart (includes joining the group)",
    );
    eprintln!(
        "after the kill, {} deliveries were recognised as already applied",
        Projector::ALL
            .iter()
            .map(|p| projections.lag(*p).duplicates)
            .sum::<u64>()
    );

    // 3. The outbox republishes: copies of every third event land at new offsets. Nothing changes.
    let copies: Vec<Message> = published
        .iter()
        .step_by(3)
        .cloned()
        .map(|mut m| {
            if copies == Copies::FreshEventId {
                m.event_id = format!("{}-copy", m.event_id);
            }
            m
        })
        .collect();
    let seen_before: u64 = Projector::ALL
        .iter()
        .map(|p| {
            let r = projections.lag(*p);
            r.applied + r.duplicates + r.ignored
        })
        .sum();
    let expected_deliveries: u64 = copies
        .iter()
        .map(|m| if m.topic == "shop.order.v1" { 2 } else { 1 })
        .sum();
    bus.publish(copies.clone()).await.expect("republish");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let seen: u64 = Projector::ALL
            .iter()
            .map(|p| {
                let r = projections.lag(*p);
                r.applied + r.duplicates + r.ignored
            })
            .sum();
        if seen >= seen_before + expected_deliveries {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "copies not delivered: {seen} of {}",
            seen_before + expected_deliveries
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        snapshot(&store, &scenario).await,
        want,
        "republished copies changed the read models"
    );
    eprintln!("republished {} copies: read models unchanged", copies.len());

    // 4. Replay everything (originals and copies) through the row guards, bypassing the stored positions,
    //    from a fresh consumer group: every delivery must be recognised as applied.
    let topics: Vec<String> = ["shop.order.v1", "shop.inventory.v1", "shop.cart.v1"]
        .map(String::from)
        .to_vec();
    let mut sub = bus
        .subscribe(&format!("{prefix}.replay-check"), &topics)
        .await
        .expect("subscribe");
    let total = published.len() + copies.len();
    let mut replayed = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while replayed < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replayed only {replayed} of {total}"
        );
        for d in sub.poll(500, Duration::from_millis(500)).await.unwrap() {
            for p in Projector::ALL {
                if !p.topics().contains(&d.message.topic.as_str()) {
                    continue;
                }
                let generation = store.generation(p).await.unwrap();
                let outcome = projector::apply(&store, p, generation, &d).await.unwrap();
                assert_ne!(
                    outcome,
                    Outcome::Applied,
                    "{p} applied {} (seq {}) twice",
                    d.message.event_type,
                    d.message.seq
                );
            }
            replayed += 1;
        }
    }
    sub.close().await.unwrap();
    assert_eq!(snapshot(&store, &scenario).await, want);
    eprintln!("replayed {total} deliveries through the guards: nothing applied twice");

    // 5. Rebuild every projector: wipe, new generation, fresh consumer group from the earliest offset.
    let before = snapshot(&store, &scenario).await;
    let mut generations = BTreeMap::new();
    for p in Projector::ALL {
        let old = store.generation(p).await.unwrap();
        let g = projections.rebuild(p).await.expect("rebuild");
        assert_eq!(g, old + 1, "{p}");
        generations.insert(p, g);
    }
    // Right after the wipe the models are (nearly) empty; then the replay refills them.
    wait_for(&store, &scenario, &want, timeout).await;
    let after = snapshot(&store, &scenario).await;
    assert_eq!(before, after, "a rebuild must give identical rows");
    for p in Projector::ALL {
        assert_eq!(projections.lag(p).generation, generations[&p]);
        assert!(!projections.positions(p).await.unwrap().is_empty(), "{p}");
    }
    lag_line(&projections, "rebuild replay");
    eprintln!("rebuilt all four projectors: identical rows");

    // 6. Steady state: another day of trading published at a steady pace (batches of 4 every 5 ms) while the
    //    projectors run. Its lag (appended → visible) is the measurement.
    let steady = generate(&format!("{tag}s"), orders);
    projections.reset_stats();
    let mut published = Vec::new();
    for chunk in steady.items.chunks(4) {
        let chunk: Vec<Message> = chunk.iter().map(|(m, _)| m.clone()).collect();
        published.extend(publish_stamped(&bus, chunk, 4).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let want = expected(&steady, &published);
    wait_for(&store, &steady, &want, timeout).await;
    lag_line(&projections, "steady state");
    for p in Projector::ALL {
        let r = projections.lag(p);
        eprintln!(
            "PROJECTION LAG {} p50={}ms p99={}ms max={}ms over {} events",
            p.name(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.samples
        );
    }

    cancel.cancel();
    tokio::time::timeout(timeout, run)
        .await
        .expect("projectors stop on cancel")
        .unwrap();
}
