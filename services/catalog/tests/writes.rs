//! Staff writes through the application: permission, index updates, and two catalog processes over one store
//! (the second learns of the first's writes from the product events, and recomputes an update on a stale index).
use shop_bus::{Delivery, Message};
use shop_catalog::{
    app::{CatalogApp, CreateProduct, UpdateProduct},
    domain::write::{ProductFields, VariantInput},
    handle_catalog_delivery,
    store::sqlite::SqliteCatalogStore,
};
use shop_kernel::{Actor, ErrorKind, Permission, Permissions};
use shop_store::EventLog;

fn staff() -> Actor {
    Actor::customer("staff-1")
        .with_permissions(Permissions::default().with(Permission::ManageProducts))
}

fn lamp() -> CreateProduct {
    CreateProduct {
        fields: ProductFields {
            title: Some("Desk Lamp".into()),
            ..Default::default()
        },
        variants: vec![VariantInput {
            sku: Some("LAMP-1".into()),
            price: Some("19.99".into()),
            ..Default::default()
        }],
    }
}

/// Delivers every event `store` holds to `app`'s index feed, as the bus would (at least once).
async fn feed(store: &SqliteCatalogStore, app: &CatalogApp<SqliteCatalogStore>) {
    for e in store.event_store().read_all(0, 10_000).await.unwrap() {
        let d = Delivery {
            partition: 0,
            offset: e.position,
            message: Message::from(e),
        };
        handle_catalog_delivery(app, &d);
    }
}

#[tokio::test]
async fn writes_need_manage_products() {
    let app = CatalogApp::start(SqliteCatalogStore::open_in_memory().unwrap())
        .await
        .unwrap();
    let orders_staff = Actor::customer("c3")
        .with_permissions(Permissions::default().with(Permission::ManageOrders));
    for actor in [Actor::guest(), Actor::customer("c1"), orders_staff] {
        let e = app.create_product(&actor, &lamp()).await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (ErrorKind::PermissionDenied, "CALLER_NOT_ALLOWED")
        );
        let e = app
            .update_product(
                &actor,
                &UpdateProduct {
                    id: "prod_0001".into(),
                    fields: ProductFields {
                        title: Some("Hacked".into()),
                        ..Default::default()
                    },
                    variants: vec![],
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
    }
    assert!(app.get_product_by_handle("desk-lamp").unwrap().is_none());
    let (p, _) = app
        .create_product(&Actor::internal(), &lamp())
        .await
        .unwrap();
    assert_eq!(p.handle, "desk-lamp");
}

#[tokio::test]
async fn a_second_process_learns_writes_from_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let store_a = SqliteCatalogStore::open(&path).unwrap();
    let a = CatalogApp::start(store_a.clone()).await.unwrap();
    let b = CatalogApp::start(SqliteCatalogStore::open(&path).unwrap())
        .await
        .unwrap();

    let (p, vs) = a.create_product(&staff(), &lamp()).await.unwrap();
    assert_eq!(
        a.get_product_by_handle("desk-lamp").unwrap(),
        Some(p.clone())
    );
    assert_eq!(a.get_variants(std::slice::from_ref(&vs[0].id)).unwrap(), vs);
    assert!(b.get_product_by_handle("desk-lamp").unwrap().is_none());
    // The index check refuses a duplicate handle or SKU before the store is asked.
    let dup = a.create_product(&staff(), &lamp()).await.unwrap_err();
    assert_eq!(dup.code, "HANDLE_TAKEN");
    assert_eq!(dup.field, ["handle"]);

    // B applies A's events (twice: redelivery is harmless).
    feed(&store_a, &b).await;
    feed(&store_a, &b).await;
    assert_eq!(
        b.get_product_by_handle("desk-lamp").unwrap(),
        Some(p.clone())
    );
    let hits = b
        .search(&shop_catalog::app::SearchInput {
            query: Some("sku:lamp-1".into()),
            collection_id: None,
            sort: shop_catalog::domain::SortKey::Relevance,
            reverse: false,
            page: Default::default(),
        })
        .unwrap();
    assert_eq!(hits.page.items, vec![p.clone()]);

    // A changes the price; B, not yet told, changes the title: B's write is recomputed on the stored product,
    // so neither change is lost.
    let (p2, _) = a
        .update_product(
            &staff(),
            &UpdateProduct {
                id: p.id.clone(),
                fields: ProductFields::default(),
                variants: vec![VariantInput {
                    id: Some(vs[0].id.clone()),
                    price: Some("24.00".into()),
                    ..Default::default()
                }],
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.version, 2);
    let (p3, vs3) = b
        .update_product(
            &staff(),
            &UpdateProduct {
                id: p.id.clone(),
                fields: ProductFields {
                    title: Some("Desk Lamp II".into()),
                    ..Default::default()
                },
                variants: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(p3.version, 3);
    assert_eq!(p3.title, "Desk Lamp II");
    assert_eq!(vs3[0].price.amount_minor, 2400, "A's price survives");

    // Old events delivered late never roll an index back; A catches up from the events.
    feed(&store_a, &b).await;
    assert_eq!(b.get_products(std::slice::from_ref(&p.id)).unwrap()[0], p3);
    feed(&store_a, &a).await;
    assert_eq!(a.get_products(std::slice::from_ref(&p.id)).unwrap()[0], p3);
    assert_eq!(
        a.get_variants(std::slice::from_ref(&vs[0].id)).unwrap()[0]
            .price
            .amount_minor,
        2400
    );
}
