//! Cart use cases with fake catalog/inventory ports and the in-memory event store.
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use parking_lot::Mutex;
use shop_cart::{
    app::{App, Catalog, CreateInput, LineInput, LineUpdateInput, Stock, stream_name},
    domain::{Attribute, BuyerIdentity, CartEvent, CartStatus, Merchandise},
    events,
};
use shop_kernel::{Actor, ErrorKind, Money, PageRequest, Result};
use shop_store::{EventStore, ExpectedVersion, memory::MemoryEventStore};

#[derive(Clone, Default)]
struct FakeCatalog {
    variants: Arc<HashMap<String, Merchandise>>,
    calls: Arc<AtomicUsize>,
}

impl Catalog for FakeCatalog {
    async fn merchandise(&self, ids: Vec<String>) -> Result<Vec<Merchandise>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(ids
            .iter()
            .filter_map(|i| self.variants.get(i).cloned())
            .collect())
    }
}

#[derive(Clone, Default)]
struct FakeStock {
    levels: Arc<Mutex<HashMap<String, i64>>>,
}

impl Stock for FakeStock {
    async fn available(&self, ids: Vec<String>) -> Result<HashMap<String, i64>> {
        let l = self.levels.lock();
        Ok(ids
            .iter()
            .filter_map(|i| l.get(i).map(|q| (i.clone(), *q)))
            .collect())
    }
}

type TestApp = App<MemoryEventStore, FakeCatalog, FakeStock>;

fn merch(v: &str, price: i64, currency: &str) -> Merchandise {
    Merchandise {
        variant_id: v.into(),
        product_id: format!("p-{v}"),
        title: format!("Product / {v}"),
        sku: format!("SKU-{v}"),
        unit_price: Money::new(price, currency),
        compare_at_unit_price: None,
    }
}

fn setup() -> (TestApp, MemoryEventStore, FakeStock, FakeCatalog) {
    let store = MemoryEventStore::new();
    let catalog = FakeCatalog {
        variants: Arc::new(
            [
                merch("a", 1000, "USD"),
                merch("b", 250, "USD"),
                merch("c", 99, "USD"),
                merch("e", 500, "EUR"),
            ]
            .into_iter()
            .map(|m| (m.variant_id.clone(), m))
            .collect(),
        ),
        calls: Arc::default(),
    };
    let stock = FakeStock::default();
    stock.levels.lock().extend([
        ("a".to_string(), 100),
        ("b".to_string(), 3),
        ("c".to_string(), 0),
        ("e".to_string(), 9),
    ]);
    (
        App::new(store.clone(), catalog.clone(), stock.clone(), 100, "USD"),
        store,
        stock,
        catalog,
    )
}

fn line(v: &str, q: i64) -> LineInput {
    LineInput {
        variant_id: v.into(),
        quantity: q,
        attributes: None,
    }
}

fn system() -> Actor {
    Actor::internal()
}

#[tokio::test]
async fn create_add_merge_and_totals() {
    let (app, _, _, catalog) = setup();
    let guest = Actor::guest();
    let m = app
        .create_cart(
            &guest,
            CreateInput {
                lines: vec![line("a", 2)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(catalog.calls.load(Ordering::SeqCst), 1);
    let id = m.snapshot.cart.id.clone();
    assert_eq!(id.len(), 22, "128-bit secret token");
    assert_eq!(m.snapshot.cart.customer_id, None);
    let m = app
        .add_lines(&guest, &id, vec![line("a", 1), line("b", 2)])
        .await
        .unwrap();
    let c = &m.snapshot.cart;
    assert_eq!(c.lines.len(), 2);
    assert_eq!(c.lines[0].quantity, 3, "same variant and attributes merge");
    assert_eq!(c.subtotal().unwrap(), Money::new(3500, "USD"));
    assert_eq!(c.total_quantity(), 5);
    assert_eq!(c.expires_at_ms(), c.updated_at_ms + 10 * 24 * 3600 * 1000);
    assert_eq!(m.snapshot.version, 4);
    // Different attributes → a separate line.
    let with_attr = LineInput {
        variant_id: "a".into(),
        quantity: 1,
        attributes: Some(vec![Attribute {
            key: "gift".into(),
            value: "y".into(),
        }]),
    };
    let m = app.add_lines(&guest, &id, vec![with_attr]).await.unwrap();
    assert_eq!(m.snapshot.cart.lines.len(), 3);
}

#[tokio::test]
async fn stock_checks() {
    let (app, store, _, _) = setup();
    let guest = Actor::guest();
    let m = app
        .create_cart(&guest, CreateInput::default())
        .await
        .unwrap();
    let id = m.snapshot.cart.id;
    let m = app
        .add_lines(&guest, &id, vec![line("b", 5)])
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.lines[0].quantity, 3);
    assert_eq!(m.warnings[0].code, "MERCHANDISE_NOT_ENOUGH_STOCK");
    assert_eq!(m.warnings[0].target, m.snapshot.cart.lines[0].id);
    let before = store.load(&stream_name(&id)).await.unwrap().len();
    let e = app
        .add_lines(&guest, &id, vec![line("a", 1), line("c", 1)])
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::InvalidArgument, "MERCHANDISE_OUT_OF_STOCK")
    );
    assert_eq!(e.field, ["lines", "1", "merchandiseId"]);
    let e = app
        .add_lines(&guest, &id, vec![line("zz", 1)])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        (
            "MERCHANDISE_NOT_FOUND",
            ["lines", "0", "merchandiseId"].map(String::from).as_slice()
        )
    );
    assert_eq!(
        store.load(&stream_name(&id)).await.unwrap().len(),
        before,
        "nothing written on failure"
    );
}

#[tokio::test]
async fn input_validation() {
    let (app, _, _, catalog) = setup();
    let guest = Actor::guest();
    let id = app
        .create_cart(&guest, CreateInput::default())
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    let calls = catalog.calls.load(Ordering::SeqCst);
    let e = app
        .add_lines(&guest, &id, vec![line("a", 0)])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        (
            "INVALID_QUANTITY",
            ["lines", "0", "quantity"].map(String::from).as_slice()
        )
    );
    assert_eq!(
        app.add_lines(&guest, &id, vec![line("a", 1001)])
            .await
            .unwrap_err()
            .code,
        "INVALID_QUANTITY"
    );
    let many: Vec<_> = (0..101).map(|i| line(&format!("v{i}"), 1)).collect();
    assert_eq!(
        app.add_lines(&guest, &id, many).await.unwrap_err().code,
        "TOO_MANY_LINES"
    );
    assert_eq!(
        catalog.calls.load(Ordering::SeqCst),
        calls,
        "invalid input never reaches the catalog"
    );
    assert_eq!(
        app.update_note(&guest, &id, Some("n".repeat(5001)))
            .await
            .unwrap_err()
            .code,
        "NOTE_TOO_LONG"
    );
    let codes = vec!["X".to_string(); 11];
    assert_eq!(
        app.update_discount_codes(&guest, &id, codes)
            .await
            .unwrap_err()
            .code,
        "TOO_MANY_DISCOUNT_CODES"
    );
    let attrs = vec![Attribute {
        key: "".into(),
        value: "v".into(),
    }];
    assert_eq!(
        app.update_attributes(&guest, &id, attrs)
            .await
            .unwrap_err()
            .field,
        ["attributes", "0", "key"]
    );
    let e = app
        .add_lines(&guest, &id, vec![line("a", 1), line("e", 1)])
        .await
        .unwrap_err();
    assert_eq!(e.code, "CURRENCY_MISMATCH");
    // A guest cannot claim to be a customer.
    let b = BuyerIdentity {
        customer_id: Some("c1".into()),
        ..Default::default()
    };
    assert_eq!(
        app.update_buyer_identity(&guest, &id, b)
            .await
            .unwrap_err()
            .code,
        "INVALID_CUSTOMER_ID"
    );
}

#[tokio::test]
async fn update_remove_and_details() {
    let (app, _, stock, _) = setup();
    let me = Actor::customer("c1");
    let m = app
        .create_cart(
            &me,
            CreateInput {
                lines: vec![line("a", 1), line("b", 1)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = m.snapshot.cart.id.clone();
    let (la, lb) = (
        m.snapshot.cart.lines[0].id.clone(),
        m.snapshot.cart.lines[1].id.clone(),
    );
    let upd = |l: &str, q: Option<i64>, v: Option<&str>| LineUpdateInput {
        line_id: l.into(),
        quantity: q,
        variant_id: v.map(String::from),
        attributes: None,
    };
    let m = app
        .update_lines(
            &me,
            &id,
            vec![upd(&la, Some(7), None), upd(&lb, Some(0), None)],
        )
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.lines.len(), 1);
    assert_eq!(m.snapshot.cart.lines[0].quantity, 7);
    // Switch the variant: re-priced from the catalog.
    stock.levels.lock().insert("b".into(), 50);
    let m = app
        .update_lines(&me, &id, vec![upd(&la, None, Some("b"))])
        .await
        .unwrap();
    assert_eq!(
        m.snapshot.cart.lines[0].merchandise.unit_price.amount_minor,
        250
    );
    assert_eq!(m.snapshot.cart.subtotal().unwrap().amount_minor, 1750);
    let e = app
        .update_lines(&me, &id, vec![upd("nope", Some(1), None)])
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        (
            "LINE_NOT_FOUND",
            ["lines", "0", "id"].map(String::from).as_slice()
        )
    );
    let m = app
        .update_note(&me, &id, Some("leave at door".into()))
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.note.as_deref(), Some("leave at door"));
    let m = app
        .update_attributes(
            &me,
            &id,
            vec![Attribute {
                key: "k".into(),
                value: "v".into(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.attributes.len(), 1);
    let m = app
        .update_discount_codes(&me, &id, vec!["SAVE10".into()])
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.discount_codes, ["SAVE10"]);
    let b = BuyerIdentity {
        email: Some("a@b.co".into()),
        customer_id: Some("c1".into()),
        ..Default::default()
    };
    let m = app
        .update_buyer_identity(&me, &id, b.clone())
        .await
        .unwrap();
    assert_eq!(m.snapshot.cart.buyer_identity, b);
    let m = app.remove_lines(&me, &id, vec![la.clone()]).await.unwrap();
    assert!(m.snapshot.cart.lines.is_empty());
    assert_eq!(
        app.remove_lines(&me, &id, vec![la])
            .await
            .unwrap_err()
            .field,
        ["lineIds", "0"]
    );
}

#[tokio::test]
async fn ownership_hides_carts() {
    let (app, _, _, _) = setup();
    let alice = Actor::customer("alice");
    let bob = Actor::customer("bob");
    let id = app
        .create_cart(&alice, CreateInput::default())
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    assert_eq!(
        app.get_cart(&alice, &id)
            .await
            .unwrap()
            .cart
            .customer_id
            .as_deref(),
        Some("alice")
    );
    for actor in [&bob, &Actor::guest()] {
        let e = app.get_cart(actor, &id).await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::NotFound, "CART_NOT_FOUND")
        );
        assert_eq!(
            app.add_lines(actor, &id, vec![line("a", 1)])
                .await
                .unwrap_err()
                .code,
            "CART_NOT_FOUND"
        );
        assert_eq!(
            app.update_note(actor, &id, None).await.unwrap_err().code,
            "CART_NOT_FOUND"
        );
    }
    assert_eq!(
        app.get_cart(&alice, "no-such-cart").await.unwrap_err().code,
        "CART_NOT_FOUND"
    );
    assert_eq!(
        app.get_cart(&alice, "bad/id").await.unwrap_err().code,
        "CART_NOT_FOUND"
    );
    // A guest cart is a capability: anyone holding the id may use it.
    let g = app
        .create_cart(&Actor::guest(), CreateInput::default())
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    assert!(app.get_cart(&bob, &g).await.is_ok());
}

#[tokio::test]
async fn checkout_steps() {
    let (app, _, _, _) = setup();
    let me = Actor::customer("c1");
    let id = app
        .create_cart(&me, CreateInput::default())
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    let e = app.begin_checkout(&me, &id, "o1").await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
    );
    assert_eq!(
        app.begin_checkout(&system(), &id, "o1")
            .await
            .unwrap_err()
            .code,
        "CART_EMPTY"
    );
    app.add_lines(&me, &id, vec![line("a", 1)]).await.unwrap();
    let m = app.begin_checkout(&system(), &id, "o1").await.unwrap();
    assert_eq!(m.snapshot.cart.status, CartStatus::CheckingOut);
    assert_eq!(
        app.begin_checkout(&system(), &id, "o1")
            .await
            .unwrap()
            .snapshot
            .version,
        m.snapshot.version
    );
    assert_eq!(
        app.begin_checkout(&system(), &id, "o2")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    assert_eq!(
        app.add_lines(&me, &id, vec![line("a", 1)])
            .await
            .unwrap_err()
            .code,
        "CART_NOT_OPEN"
    );
    assert_eq!(
        app.abort_checkout(&system(), &id, "o1")
            .await
            .unwrap()
            .snapshot
            .cart
            .status,
        CartStatus::Open
    );
    assert_eq!(
        app.abort_checkout(&system(), &id, "o1")
            .await
            .unwrap()
            .snapshot
            .cart
            .status,
        CartStatus::Open
    );
    app.begin_checkout(&system(), &id, "o3").await.unwrap();
    let m = app.complete_checkout(&system(), &id, "o3").await.unwrap();
    assert_eq!(
        (m.snapshot.cart.status, m.snapshot.cart.order_id.as_deref()),
        (CartStatus::Purchased, Some("o3"))
    );
    assert_eq!(
        app.complete_checkout(&system(), &id, "o3")
            .await
            .unwrap()
            .snapshot,
        m.snapshot
    );
    assert_eq!(
        app.begin_checkout(&system(), &id, "o4")
            .await
            .unwrap_err()
            .code,
        "CART_ALREADY_PURCHASED"
    );
    assert_eq!(
        app.begin_checkout(&system(), &id, "bad id")
            .await
            .unwrap_err()
            .code,
        "INVALID_ORDER_ID"
    );
}

#[tokio::test]
async fn list_carts_newest_first_filtered_and_paged() {
    let (app, _, _, _) = setup();
    let me = Actor::customer("c1");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.create_cart(
                &me,
                CreateInput {
                    lines: vec![line("a", 1)],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .snapshot
            .cart
            .id,
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.create_cart(&Actor::customer("other"), CreateInput::default())
        .await
        .unwrap();
    app.begin_checkout(&system(), &ids[0], "o1").await.unwrap();
    let all = app
        .list_carts(&me, &PageRequest::default(), None)
        .await
        .unwrap();
    let got: Vec<_> = all.items.iter().map(|s| s.cart.id.clone()).collect();
    assert_eq!(got, [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    let open = app
        .list_carts(&me, &PageRequest::default(), Some(&[CartStatus::Open]))
        .await
        .unwrap();
    assert_eq!(open.items.len(), 2);
    let p1 = app
        .list_carts(&me, &PageRequest::first(2), None)
        .await
        .unwrap();
    assert!(p1.has_next_page);
    let p2 = app
        .list_carts(
            &me,
            &PageRequest {
                first: Some(2),
                after: p1.cursors.last().cloned(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.items[0].cart.id, ids[0]);
    assert!(
        app.list_carts(&Actor::guest(), &PageRequest::default(), None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        app.list_carts(&me, &PageRequest::first(251), None)
            .await
            .unwrap_err()
            .code,
        "PAGE_SIZE_TOO_LARGE"
    );
}

#[tokio::test]
async fn hot_carts_are_read_from_memory() {
    let (app, store, stock, catalog) = setup();
    let guest = Actor::guest();
    let id = app
        .create_cart(
            &guest,
            CreateInput {
                lines: vec![line("a", 1)],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    for _ in 0..100 {
        app.get_cart(&guest, &id).await.unwrap();
    }
    assert_eq!(
        app.store_loads(),
        0,
        "a cart just written is served from the cache"
    );

    // A fresh instance (cold cache) reads the stream once, then never again.
    let cold = App::new(store, catalog, stock, 100, "USD");
    for _ in 0..50 {
        cold.get_cart(&guest, &id).await.unwrap();
    }
    cold.add_lines(&guest, &id, vec![line("a", 1)])
        .await
        .unwrap();
    cold.get_cart(&guest, &id).await.unwrap();
    assert_eq!(cold.store_loads(), 1);
}

#[tokio::test]
async fn version_conflict_reloads_and_retries() {
    let (app, store, _, _) = setup();
    let guest = Actor::guest();
    let m = app
        .create_cart(
            &guest,
            CreateInput {
                lines: vec![line("a", 1)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = m.snapshot.cart.id.clone();
    // Another writer appends behind the cache's back.
    let ev = CartEvent::NoteUpdated {
        note: Some("from elsewhere".into()),
    };
    store
        .append(
            &stream_name(&id),
            ExpectedVersion::Exact(m.snapshot.version),
            vec![events::encode(&ev, 1)],
            vec![],
        )
        .await
        .unwrap();
    let m2 = app
        .add_lines(&guest, &id, vec![line("b", 1)])
        .await
        .unwrap();
    assert_eq!(m2.snapshot.version, m.snapshot.version + 2);
    assert_eq!(m2.snapshot.cart.note.as_deref(), Some("from elsewhere"));
    assert_eq!(app.store_loads(), 1);
}

#[tokio::test]
async fn concurrent_writers_on_one_cart_all_land() {
    let (app, _, _, _) = setup();
    let app = Arc::new(app);
    let guest = Actor::guest();
    let id = app
        .create_cart(
            &guest,
            CreateInput {
                lines: vec![line("a", 1)],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .snapshot
        .cart
        .id;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (app, id) = (app.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            app.add_lines(&Actor::guest(), &id, vec![line("a", 1)])
                .await
        }));
    }
    let ok = futures_count(tasks).await;
    let cart = app.get_cart(&guest, &id).await.unwrap().cart;
    assert_eq!(cart.lines[0].quantity, 1 + ok as i64);
    assert!(ok >= 1);
}

async fn futures_count(
    tasks: Vec<tokio::task::JoinHandle<Result<shop_cart::app::Mutation>>>,
) -> usize {
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code, "CONCURRENT_MODIFICATION"),
        }
    }
    ok
}
