//! Guest carts and their merge into a customer's cart at sign-in, over the in-memory and SQLite stores.
use std::{collections::HashMap, sync::Arc};

use parking_lot::Mutex;
use shop_cart::{
    app::{App, Catalog, CreateInput, LineInput, MergeMode, Stock, stream_name},
    domain::{CartEvent, CartStatus, Merchandise},
    events, store,
};
use shop_kernel::{Actor, Money, PageRequest, Result};
use shop_rpc::Storage;
use shop_store::{EventStore, ExpectedVersion, any::AnyEventStore};

#[derive(Clone, Default)]
struct FakeCatalog(Arc<HashMap<String, Merchandise>>);

impl Catalog for FakeCatalog {
    async fn merchandise(&self, ids: Vec<String>) -> Result<Vec<Merchandise>> {
        Ok(ids.iter().filter_map(|i| self.0.get(i).cloned()).collect())
    }
}

#[derive(Clone, Default)]
struct FakeStock(Arc<Mutex<HashMap<String, i64>>>);

impl Stock for FakeStock {
    async fn available(&self, ids: Vec<String>) -> Result<HashMap<String, i64>> {
        let l = self.0.lock();
        Ok(ids
            .iter()
            .filter_map(|i| l.get(i).map(|q| (i.clone(), *q)))
            .collect())
    }
}

type TestApp = App<AnyEventStore, FakeCatalog, FakeStock>;

fn merch(v: &str, price: i64) -> Merchandise {
    Merchandise {
        variant_id: v.into(),
        product_id: format!("p-{v}"),
        title: format!("Product / {v}"),
        sku: format!("SKU-{v}"),
        unit_price: Money::new(price, "USD"),
        compare_at_unit_price: None,
    }
}

fn app(store: AnyEventStore) -> TestApp {
    let catalog = FakeCatalog(Arc::new(
        [merch("a", 1000), merch("b", 250), merch("c", 99)]
            .into_iter()
            .map(|m| (m.variant_id.clone(), m))
            .collect(),
    ));
    let stock = FakeStock::default();
    stock
        .0
        .lock()
        .extend([("a".into(), 100), ("b".into(), 3), ("c".into(), 50)]);
    // A cache of one cart: most reads go to the store.
    App::new(store, catalog, stock, 1, "USD")
}

fn line(v: &str, q: i64) -> LineInput {
    LineInput {
        variant_id: v.into(),
        quantity: q,
        attributes: None,
    }
}

fn signing_in(customer: &str, guest: &str) -> Actor {
    Actor {
        guest_id: Some(guest.into()),
        ..Actor::customer(customer)
    }
}

async fn cart_with(app: &TestApp, actor: &Actor, lines: Vec<LineInput>) -> String {
    app.create_cart(
        actor,
        CreateInput {
            lines,
            ..Default::default()
        },
    )
    .await
    .expect("cart created")
    .snapshot
    .cart
    .id
}

async fn listed(app: &TestApp, actor: &Actor) -> Vec<String> {
    app.list_carts(actor, &PageRequest::default(), None)
        .await
        .expect("listed")
        .items
        .into_iter()
        .map(|s| s.cart.id)
        .collect()
}

fn quantity(app_cart: &shop_cart::domain::Cart, v: &str) -> Option<i64> {
    app_cart
        .lines
        .iter()
        .find(|l| l.merchandise.variant_id == v)
        .map(|l| l.quantity)
}

async fn suite(store: AnyEventStore) {
    // --- guests own their carts; others do not see them in lists ---
    let app = app(store);
    let g1 = Actor::guest_session("g1");
    let g2 = Actor::guest_session("g2");
    let guest_cart = cart_with(&app, &g1, vec![line("a", 3), line("b", 2)]).await;
    assert_eq!(listed(&app, &g1).await, std::slice::from_ref(&guest_cart));
    assert!(listed(&app, &g2).await.is_empty());
    assert!(listed(&app, &Actor::guest()).await.is_empty());
    // Still a capability: anyone holding the id may use it.
    app.get_cart(&Actor::guest(), &guest_cart).await.unwrap();

    // --- MERGE into the customer's most recently updated open cart ---
    let u1 = Actor::customer("u1");
    let _older = cart_with(&app, &u1, vec![line("c", 1)]).await;
    let mine = cart_with(&app, &u1, vec![line("a", 2)]).await;
    let out = app
        .merge_guest_carts(&signing_in("u1", "g1"), MergeMode::Merge)
        .await
        .unwrap();
    let target = out.cart.expect("a target cart");
    assert_eq!(target.cart.id, mine);
    assert_eq!(out.merged_cart_ids, std::slice::from_ref(&guest_cart));
    assert_eq!(quantity(&target.cart, "a"), Some(5), "summed");
    assert_eq!(quantity(&target.cart, "b"), Some(2));
    let source = app.get_cart(&u1, &guest_cart).await.unwrap();
    assert_eq!(source.cart.status, CartStatus::Merged);
    assert_eq!(source.cart.merged_into.as_deref(), Some(mine.as_str()));
    // The capability id no longer reaches a cart that belongs to a customer.
    for other in [Actor::guest(), g1.clone(), Actor::customer("u2")] {
        assert_eq!(
            app.get_cart(&other, &guest_cart).await.unwrap_err().code,
            "CART_NOT_FOUND"
        );
    }
    assert!(listed(&app, &g1).await.is_empty());
    // A retried sign-in adds nothing.
    let again = app
        .merge_guest_carts(&signing_in("u1", "g1"), MergeMode::Merge)
        .await
        .unwrap();
    assert_eq!(again.cart, None);
    assert!(again.merged_cart_ids.is_empty());
    let after = app.get_cart(&u1, &mine).await.unwrap();
    assert_eq!(after.version, target.version);
    assert_eq!(quantity(&after.cart, "a"), Some(5));

    // --- a merge cut short after the target took the lines completes without adding them twice ---
    let g3 = Actor::guest_session("g3");
    let half = cart_with(&app, &g3, vec![line("c", 4)]).await;
    let t = app.get_cart(&u1, &mine).await.unwrap();
    let mut took = t.cart.lines[0].clone();
    took.quantity += 4;
    let recorded = [
        CartEvent::LineUpdated(took),
        CartEvent::LinesMerged {
            source_cart_id: half.clone(),
        },
    ];
    app_store_append(&app, &mine, t.version, &recorded).await;
    let out = app
        .merge_guest_carts(&signing_in("u1", "g3"), MergeMode::Merge)
        .await
        .unwrap();
    assert_eq!(out.merged_cart_ids, std::slice::from_ref(&half));
    let t2 = out.cart.unwrap();
    assert_eq!(t2.version, t.version + 2, "no line event the second time");
    assert_eq!(
        app.get_cart(&u1, &half).await.unwrap().cart.status,
        CartStatus::Merged
    );

    // --- a guest cart closed into the customer's cart before its lines got there is merged by the retry ---
    let g7 = Actor::guest_session("g7");
    let closed_first = cart_with(&app, &g7, vec![line("c", 2)]).await;
    let before = app.get_cart(&u1, &mine).await.unwrap();
    let c_before = quantity(&before.cart, "c").unwrap_or(0);
    let src = app.get_cart(&g7, &closed_first).await.unwrap();
    app_store_append(
        &app,
        &closed_first,
        src.version,
        &[CartEvent::MergedInto {
            into_cart_id: mine.clone(),
            customer_id: "u1".into(),
        }],
    )
    .await;
    let out = app
        .merge_guest_carts(&signing_in("u1", "g7"), MergeMode::Merge)
        .await
        .unwrap();
    assert_eq!(out.merged_cart_ids, std::slice::from_ref(&closed_first));
    let t4 = out.cart.unwrap();
    assert_eq!(t4.cart.id, mine);
    assert_eq!(quantity(&t4.cart, "c"), Some(c_before + 2));
    let again = app
        .merge_guest_carts(&signing_in("u1", "g7"), MergeMode::Merge)
        .await
        .unwrap();
    assert_eq!(again.cart, None, "recorded: nothing more to do");
    assert_eq!(
        quantity(&app.get_cart(&u1, &mine).await.unwrap().cart, "c"),
        Some(c_before + 2)
    );

    // --- stock caps, carts being checked out stay, a new cart when the customer has none ---
    let g4 = Actor::guest_session("g4");
    let capped = cart_with(&app, &g4, vec![line("b", 3)]).await;
    let busy = cart_with(&app, &g4, vec![line("a", 1)]).await;
    app.begin_checkout(&Actor::internal(), &busy, "o1")
        .await
        .unwrap();
    let u3 = Actor::customer("u3");
    let mine3 = cart_with(&app, &u3, vec![line("b", 2)]).await;
    let out = app
        .merge_guest_carts(&signing_in("u3", "g4"), MergeMode::Merge)
        .await
        .unwrap();
    let t3 = out.cart.unwrap();
    assert_eq!(t3.cart.id, mine3);
    assert_eq!(quantity(&t3.cart, "b"), Some(3), "capped by stock");
    assert_eq!(out.warnings.len(), 1);
    assert_eq!(out.warnings[0].code, "MERCHANDISE_NOT_ENOUGH_STOCK");
    assert_eq!(out.merged_cart_ids, [capped]);
    let b = app.get_cart(&Actor::guest(), &busy).await.unwrap();
    assert_eq!(b.cart.status, CartStatus::CheckingOut, "not merged");

    let g5 = Actor::guest_session("g5");
    cart_with(&app, &g5, vec![line("a", 1)]).await;
    let fresh = app
        .merge_guest_carts(&signing_in("u5", "g5"), MergeMode::Merge)
        .await
        .unwrap()
        .cart
        .unwrap();
    assert_eq!(fresh.cart.customer_id.as_deref(), Some("u5"));
    assert_eq!(listed(&app, &Actor::customer("u5")).await, [fresh.cart.id]);

    // --- KEEP_SEPARATE: the customer adopts the guest's carts ---
    let g6 = Actor::guest_session("g6");
    let kept = cart_with(&app, &g6, vec![line("a", 1)]).await;
    let out = app
        .merge_guest_carts(&signing_in("u6", "g6"), MergeMode::KeepSeparate)
        .await
        .unwrap();
    assert_eq!(out.adopted.len(), 1);
    assert_eq!(out.adopted[0].cart.id, kept);
    let u6 = Actor::customer("u6");
    assert_eq!(listed(&app, &u6).await, std::slice::from_ref(&kept));
    assert_eq!(app.get_cart(&u6, &kept).await.unwrap().cart.lines.len(), 1);
    for other in [Actor::guest(), g6.clone(), Actor::customer("u2")] {
        assert_eq!(
            app.get_cart(&other, &kept).await.unwrap_err().code,
            "CART_NOT_FOUND"
        );
    }
    let again = app
        .merge_guest_carts(&signing_in("u6", "g6"), MergeMode::KeepSeparate)
        .await
        .unwrap();
    assert!(again.adopted.is_empty());

    // --- only a caller carrying both identities may merge ---
    for actor in [Actor::customer("u1"), g1.clone(), Actor::internal()] {
        assert_eq!(
            app.merge_guest_carts(&actor, MergeMode::Merge)
                .await
                .unwrap_err()
                .code,
            "CALLER_NOT_ALLOWED"
        );
    }
}

/// Appends `events` to a cart's stream behind the app's back (another replica, or a crash after the append).
async fn app_store_append(app: &TestApp, cart_id: &str, version: u64, evs: &[CartEvent]) {
    app.store()
        .append(
            &stream_name(cart_id),
            ExpectedVersion::Exact(version),
            evs.iter()
                .map(|e| events::encode(e, shop_kernel::now_ms()))
                .collect(),
            vec![],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn guest_carts_merge_on_the_memory_store() {
    let store = store::open(&Storage::Memory, "cart").await.unwrap();
    suite(store).await;
}

#[tokio::test]
async fn guest_carts_merge_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&Storage::Sqlite(dir.path().to_path_buf()), "cart")
        .await
        .unwrap();
    suite(store).await;
}

#[tokio::test]
async fn concurrent_sign_ins_of_one_guest_merge_once() {
    let store = store::open(&Storage::Memory, "cart").await.unwrap();
    let app = Arc::new(app(store));
    let g = Actor::guest_session("gc");
    for _ in 0..3 {
        cart_with(&app, &g, vec![line("a", 2), line("c", 1)]).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.merge_guest_carts(&signing_in("uc", "gc"), MergeMode::Merge)
                .await
        }));
    }
    for t in tasks {
        // A loser may see CONCURRENT_MODIFICATION; none may duplicate lines.
        let _ = t.await.unwrap();
    }
    app.merge_guest_carts(&signing_in("uc", "gc"), MergeMode::Merge)
        .await
        .unwrap();
    let carts = listed(&app, &Actor::customer("uc")).await;
    assert_eq!(carts.len(), 1, "one target cart");
    let c = app
        .get_cart(&Actor::customer("uc"), &carts[0])
        .await
        .unwrap();
    assert_eq!(quantity(&c.cart, "a"), Some(6));
    assert_eq!(quantity(&c.cart, "c"), Some(3));
    assert_eq!(c.cart.merged_sources.len(), 3);
}
