//! The catalog service over Thrift: every method, happy paths and typed errors, plus the best-selling
//! projection and the outbox relay through an in-memory bus.
use std::{net::SocketAddr, time::Duration};

use shop_bus::{AnyBus, EventBus, Message, memory::MemoryBus};
use shop_idl::{
    catalog::*,
    common::{self, PageRequest},
    events::{OrderEvent, OrderLineSnapshot, OrderPlaced},
};
use shop_kernel::Error;
use shop_rpc::{ClientSettings, ServiceAddrs, ServiceOptions, Storage};
use tokio_util::sync::CancellationToken;

struct Harness {
    client: CatalogServiceClient,
    bus: MemoryBus,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), shop_rpc::BoxError>>,
}

async fn start(storage: Storage) -> Harness {
    start_on(storage, MemoryBus::new()).await
}

/// A catalog service on `storage`, connected to `bus` (several services may share both: replicas).
async fn start_on(storage: Storage, bus: MemoryBus) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let auth = shop_rpc::auth::ServiceAuth::ephemeral();
    let opts = ServiceOptions {
        storage,
        peers: ServiceAddrs {
            catalog: addr,
            inventory: unused,
            cart: unused,
            order: unused,
            user: unused,
            session: unused,
            recommender: unused,
        },
        client: ClientSettings::default(),
        bus: AnyBus::Memory(bus.clone()),
        tuning: shop_rpc::Tuning::default(),
        ready: Default::default(),
        metrics: Default::default(),
        auth: auth.clone(),
    };
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(shop_catalog::run(opts, listener, shutdown.clone()));
    let client = shop_rpc::build_client!(
        CatalogServiceClientBuilder,
        "catalog",
        addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Gateway).unwrap()
    );
    Harness {
        client,
        bus,
        shutdown,
        server,
    }
}

impl Harness {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    async fn search(
        &self,
        query: Option<&str>,
        sort: ProductSortKey,
        reverse: bool,
        page: PageRequest,
    ) -> Result<SearchProductsResponse, Error> {
        self.search_in(query, None, sort, reverse, page).await
    }

    async fn search_in(
        &self,
        query: Option<&str>,
        collection_id: Option<&str>,
        sort_key: ProductSortKey,
        reverse: bool,
        page: PageRequest,
    ) -> Result<SearchProductsResponse, Error> {
        let req = SearchProductsRequest {
            query: query.map(|q| q.to_string().into()),
            collection_id: collection_id.map(|c| c.to_string().into()),
            sort_key,
            reverse,
            page,
        };
        shop_rpc::call("catalog", self.client.search_products(req).await)
    }
}

fn first(n: i32) -> PageRequest {
    PageRequest {
        first: Some(n),
        ..Default::default()
    }
}

fn strs(v: &[&str]) -> Vec<pilota::FastStr> {
    v.iter().map(|s| s.to_string().into()).collect()
}

#[tokio::test]
async fn collections() {
    let h = start(Storage::Memory).await;
    let c = &h.client;

    let p1 = shop_rpc::call(
        "catalog",
        c.list_collections(ListCollectionsRequest { page: first(4) })
            .await,
    )
    .unwrap();
    assert_eq!(p1.collections.len(), 4);
    assert_eq!(p1.cursors.len(), 4);
    assert!(p1.page_info.has_next_page && !p1.page_info.has_previous_page);
    let after = PageRequest {
        after: p1.page_info.end_cursor.clone(),
        ..Default::default()
    };
    let rest = shop_rpc::call(
        "catalog",
        c.list_collections(ListCollectionsRequest { page: after })
            .await,
    )
    .unwrap();
    assert!(rest.collections.len() + 4 >= 10);
    assert!(!rest.page_info.has_next_page && rest.page_info.has_previous_page);

    let bad = PageRequest {
        after: Some("not a cursor".into()),
        ..Default::default()
    };
    let e = shop_rpc::call(
        "catalog",
        c.list_collections(ListCollectionsRequest { page: bad })
            .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_CURSOR");
    let e = shop_rpc::call(
        "catalog",
        c.list_collections(ListCollectionsRequest { page: first(251) })
            .await,
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (
            shop_kernel::ErrorKind::InvalidArgument,
            "PAGE_SIZE_TOO_LARGE"
        )
    );
    assert_eq!(e.field, vec!["first"]);

    let apparel = shop_rpc::call(
        "catalog",
        c.get_collection_by_handle(GetCollectionByHandleRequest {
            handle: "apparel".into(),
        })
        .await,
    )
    .unwrap()
    .collection
    .unwrap();
    assert_eq!(apparel.title, "Apparel");
    let none = shop_rpc::call(
        "catalog",
        c.get_collection_by_handle(GetCollectionByHandleRequest {
            handle: "no-such-thing".into(),
        })
        .await,
    )
    .unwrap();
    assert!(none.collection.is_none());
    let e = shop_rpc::call(
        "catalog",
        c.get_collection_by_handle(GetCollectionByHandleRequest {
            handle: "x".repeat(300).into(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_HANDLE");

    let id = apparel.id.to_string();
    let got = shop_rpc::call(
        "catalog",
        c.get_collections(GetCollectionsRequest {
            ids: strs(&["coll_sale", &id, "nope", &id, "bad id!"]),
        })
        .await,
    )
    .unwrap();
    assert_eq!(
        got.collections
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>(),
        vec!["coll_sale".to_string(), id]
    );
    let many: Vec<String> = (0..251).map(|i| format!("c{i}")).collect();
    let e = shop_rpc::call(
        "catalog",
        c.get_collections(GetCollectionsRequest {
            ids: many.into_iter().map(Into::into).collect(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("TOO_MANY_IDS", vec!["ids".to_string()])
    );
    h.stop().await;
}

#[tokio::test]
async fn products_and_variants() {
    let h = start(Storage::Memory).await;
    let c = &h.client;
    let all = h
        .search(None, ProductSortKey::ID, false, first(250))
        .await
        .unwrap();
    assert!(all.total_count >= 240);
    let (a, b) = (&all.products[3], &all.products[7]);

    let got = shop_rpc::call(
        "catalog",
        c.get_products(GetProductsRequest {
            ids: vec![b.id.clone(), "missing".into(), a.id.clone(), b.id.clone()],
        })
        .await,
    )
    .unwrap();
    assert_eq!(got.products, vec![b.clone(), a.clone()]);
    let many: Vec<pilota::FastStr> = (0..251).map(|i| format!("p{i}").into()).collect();
    let e = shop_rpc::call(
        "catalog",
        c.get_products(GetProductsRequest { ids: many }).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "TOO_MANY_IDS");

    let by_handle = shop_rpc::call(
        "catalog",
        c.get_product_by_handle(GetProductByHandleRequest {
            handle: a.handle.clone(),
        })
        .await,
    )
    .unwrap();
    assert_eq!(by_handle.product.as_ref(), Some(a));
    let none = shop_rpc::call(
        "catalog",
        c.get_product_by_handle(GetProductByHandleRequest {
            handle: "nope".into(),
        })
        .await,
    )
    .unwrap();
    assert!(none.product.is_none());
    let e = shop_rpc::call(
        "catalog",
        c.get_product_by_handle(GetProductByHandleRequest {
            handle: "y".repeat(256).into(),
        })
        .await,
    )
    .unwrap_err();
    assert_eq!(e.code, "INVALID_HANDLE");

    let mut ids = a.variant_ids.clone();
    ids.push("var_nope".into());
    ids.push(a.variant_ids[0].clone());
    let vs = shop_rpc::call("catalog", c.get_variants(GetVariantsRequest { ids }).await).unwrap();
    assert_eq!(vs.variants.len(), a.variant_ids.len());
    for (v, id) in vs.variants.iter().zip(&a.variant_ids) {
        assert_eq!(&v.id, id);
        assert_eq!(v.product_id, a.id);
        assert!(
            v.price.amount_minor >= a.min_price.amount_minor
                && v.price.amount_minor <= a.max_price.amount_minor
        );
        assert!(!v.options.is_empty());
    }
    let many: Vec<pilota::FastStr> = (0..300).map(|i| format!("v{i}").into()).collect();
    let e = shop_rpc::call(
        "catalog",
        c.get_variants(GetVariantsRequest { ids: many }).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "TOO_MANY_IDS");
    h.stop().await;
}

#[tokio::test]
async fn search_paging_sorting_and_errors() {
    let h = start(Storage::Memory).await;

    // Default page size is 20; paging walks everything exactly once.
    let p = h
        .search(None, ProductSortKey::TITLE, false, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(p.products.len(), 20);
    let total = p.total_count as usize;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            first: Some(70),
            after: after.clone(),
            ..Default::default()
        };
        let r = h
            .search(None, ProductSortKey::TITLE, false, page)
            .await
            .unwrap();
        assert_eq!(r.total_count as usize, total);
        seen.extend(r.products.iter().map(|p| p.id.to_string()));
        if !r.page_info.has_next_page {
            break;
        }
        after = r.page_info.end_cursor.clone();
    }
    assert_eq!(seen.len(), total);
    let r = h
        .search(
            None,
            ProductSortKey::TITLE,
            false,
            PageRequest {
                last: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        r.products
            .iter()
            .map(|p| p.id.to_string())
            .collect::<Vec<_>>(),
        seen[total - 3..].to_vec()
    );

    // Price sort, both directions.
    let r = h
        .search(None, ProductSortKey::PRICE, false, first(250))
        .await
        .unwrap();
    assert!(
        r.products
            .windows(2)
            .all(|w| w[0].min_price.amount_minor <= w[1].min_price.amount_minor)
    );
    let rr = h
        .search(None, ProductSortKey::PRICE, true, first(250))
        .await
        .unwrap();
    let mut back: Vec<_> = rr.products.iter().map(|p| p.id.clone()).collect();
    back.reverse();
    assert_eq!(
        back,
        r.products.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
    );
    // Newest first.
    let r = h
        .search(None, ProductSortKey::CREATED_AT, true, first(50))
        .await
        .unwrap();
    assert!(
        r.products
            .windows(2)
            .all(|w| w[0].created_at_ms >= w[1].created_at_ms)
    );
    for key in [
        ProductSortKey::UPDATED_AT,
        ProductSortKey::VENDOR,
        ProductSortKey::PRODUCT_TYPE,
        ProductSortKey::RELEVANCE,
    ] {
        assert_eq!(
            h.search(None, key, false, first(5))
                .await
                .unwrap()
                .products
                .len(),
            5
        );
    }

    // Query syntax.
    let r = h
        .search(
            Some("vendor:\"Harbor Supply\""),
            ProductSortKey::RELEVANCE,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert!(r.total_count > 0 && r.products.iter().all(|p| p.vendor == "Harbor Supply"));
    let r = h
        .search(Some("price:<20"), ProductSortKey::PRICE, false, first(250))
        .await
        .unwrap();
    assert!(r.total_count > 0 && r.products.iter().all(|p| p.min_price.amount_minor < 2000));
    let r = h
        .search(
            Some("price:>=100 tag:sale"),
            ProductSortKey::PRICE,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert!(
        r.products
            .iter()
            .all(|p| p.min_price.amount_minor >= 10000 && p.tags.iter().any(|t| t == "sale"))
    );
    let r = h
        .search(
            Some("backpack"),
            ProductSortKey::RELEVANCE,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert!(r.total_count >= 5);
    assert!(r.products[0].title.to_lowercase().contains("backpack"));
    let r = h
        .search(
            Some("sku:app-0001-1"),
            ProductSortKey::RELEVANCE,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert_eq!(r.total_count, 1);
    let r = h
        .search(
            Some("title:mug product_type:drinkware"),
            ProductSortKey::TITLE,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert!(r.total_count >= 1 && r.products.iter().all(|p| p.product_type == "Drinkware"));

    // Collections.
    let r = h
        .search_in(
            None,
            Some("coll_sale"),
            ProductSortKey::ID,
            false,
            first(250),
        )
        .await
        .unwrap();
    assert!(r.total_count >= 10);
    assert!(
        r.products
            .iter()
            .all(|p| p.collection_ids.iter().any(|c| c == "coll_sale"))
    );
    let e = h
        .search_in(None, Some("coll_nope"), ProductSortKey::ID, false, first(5))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref()),
        (shop_kernel::ErrorKind::NotFound, "COLLECTION_NOT_FOUND")
    );

    // Errors.
    let e = h
        .search(
            Some("colour:red"),
            ProductSortKey::RELEVANCE,
            false,
            first(5),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_ref(), e.field.clone()),
        (
            shop_kernel::ErrorKind::InvalidArgument,
            "INVALID_QUERY",
            vec!["query".to_string()]
        )
    );
    let e = h
        .search(
            Some(&"a".repeat(513)),
            ProductSortKey::RELEVANCE,
            false,
            first(5),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_QUERY");
    let e = h
        .search(None, ProductSortKey::ID, false, first(251))
        .await
        .unwrap_err();
    assert_eq!(e.code, "PAGE_SIZE_TOO_LARGE");
    let bad = PageRequest {
        first: Some(5),
        after: Some("%%%".into()),
        ..Default::default()
    };
    let e = h
        .search(None, ProductSortKey::ID, false, bad)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.clone()),
        ("INVALID_CURSOR", vec!["after".to_string()])
    );
    let e = h
        .search(
            None,
            ProductSortKey::ID,
            false,
            PageRequest {
                last: Some(-1),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_PAGE_SIZE");
    h.stop().await;
}

fn placed(order: &str, lines: &[(&str, i64)]) -> Message {
    let ev = OrderEvent::Placed(OrderPlaced {
        order_id: order.to_string().into(),
        customer_id: None,
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (p, q))| OrderLineSnapshot {
                line_id: format!("l{i}").into(),
                variant_id: format!("v{i}").into(),
                product_id: p.to_string().into(),
                title: "x".into(),
                sku: "x".into(),
                quantity: *q,
                unit_price: common::Money {
                    amount_minor: 100,
                    currency: "USD".into(),
                },
            })
            .collect(),
        total: common::Money {
            amount_minor: 100,
            currency: "USD".into(),
        },
    });
    Message {
        topic: "shop.order.v1".into(),
        key: order.into(),
        event_id: shop_kernel::ids::new_id(),
        event_type: "order.placed.v1".into(),
        seq: 5,
        occurred_at_ms: 1,
        traceparent: None,
        payload: shop_idl::encode_event(&ev),
    }
}

#[tokio::test]
async fn best_selling_projection_and_relay() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(Storage::Sqlite(dir.path().to_path_buf())).await;
    // Wait for the service (it seeds before serving).
    let before = h
        .search(None, ProductSortKey::BEST_SELLING, false, first(3))
        .await
        .unwrap();
    assert_eq!(before.products.len(), 3);

    let mut garbage = placed("o0", &[]);
    garbage.payload = bytes::Bytes::from_static(b"\x01\x02not thrift");
    h.bus
        .publish(vec![
            garbage,
            placed("o1", &[("prod_0100", 2), ("prod_0200", 7)]),
            placed("o2", &[("prod_0100", 4), ("prod_0050", 1)]),
        ])
        .await
        .unwrap();
    let want = vec![
        "prod_0200".to_string(),
        "prod_0100".to_string(),
        "prod_0050".to_string(),
    ];
    let mut got = Vec::new();
    for _ in 0..100 {
        let r = h
            .search(None, ProductSortKey::BEST_SELLING, false, first(3))
            .await
            .unwrap();
        got = r.products.iter().map(|p| p.id.to_string()).collect();
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, want);

    // The relay published one product_published event per product.
    let mut n = 0;
    for _ in 0..100 {
        n = h.bus.messages("shop.catalog.v1").len();
        if n >= 240 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = h
        .search(None, ProductSortKey::ID, false, first(1))
        .await
        .unwrap();
    assert_eq!(n as i64, all.total_count);
    h.stop().await;

    // Restart on the same files: no re-seed, and the projection survived.
    let h = start(Storage::Sqlite(dir.path().to_path_buf())).await;
    let r = h
        .search(None, ProductSortKey::BEST_SELLING, false, first(3))
        .await
        .unwrap();
    assert_eq!(
        r.products
            .iter()
            .map(|p| p.id.to_string())
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(r.total_count, all.total_count);
    h.stop().await;
}

fn staff() -> shop_kernel::Actor {
    shop_kernel::Actor::customer("staff-1").with_permissions(
        shop_kernel::Permissions::default().with(shop_kernel::Permission::ManageProducts),
    )
}

fn lamp_request() -> CreateProductRequest {
    CreateProductRequest {
        handle: None,
        title: "Replica Lamp".into(),
        description: Some("<p>Bright</p>".into()),
        vendor: Some("Lumen".into()),
        product_type: None,
        tags: Some(vec!["light".into()]),
        collection_ids: None,
        variants: vec![VariantInput {
            id: None,
            sku: Some("REP-1".into()),
            title: None,
            price: Some("12.50".into()),
            compare_at_price: None,
            options: None,
            clear_compare_at_price: None,
        }],
    }
}

/// Staff writes over Thrift: refused without MANAGE_PRODUCTS (defense in depth behind the gateway); a write on
/// one replica reaches the other replica's index through the catalog topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_writes_reach_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let a = start_on(Storage::Sqlite(dir.path().to_path_buf()), bus.clone()).await;
    // Wait until A has seeded, so that B finds the seed.
    a.search(None, ProductSortKey::ID, false, first(1))
        .await
        .unwrap();
    let b = start_on(Storage::Sqlite(dir.path().to_path_buf()), bus.clone()).await;

    for actor in [
        shop_kernel::Actor::guest(),
        shop_kernel::Actor::customer("c1"),
    ] {
        let r = shop_rpc::with_actor(&actor, a.client.create_product(lamp_request())).await;
        let e = shop_rpc::call("catalog", r).unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_ref()),
            (
                shop_kernel::ErrorKind::PermissionDenied,
                "CALLER_NOT_ALLOWED"
            )
        );
    }
    let r = shop_rpc::with_actor(&staff(), a.client.create_product(lamp_request())).await;
    let created = shop_rpc::call("catalog", r).unwrap();
    assert_eq!(created.product.handle, "replica-lamp");
    assert_eq!(created.variants[0].price.amount_minor, 1250);
    let by_handle = |h: &Harness| {
        let client = h.client.clone();
        async move {
            let r = client
                .get_product_by_handle(GetProductByHandleRequest {
                    handle: "replica-lamp".into(),
                })
                .await;
            shop_rpc::call("catalog", r).unwrap().product
        }
    };
    assert_eq!(by_handle(&a).await.unwrap().id, created.product.id);
    let mut seen = None;
    for _ in 0..100 {
        seen = by_handle(&b).await;
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.map(|p| p.id), Some(created.product.id.clone()));

    // An update on B (its index now current) reaches A.
    let r = shop_rpc::with_actor(
        &staff(),
        b.client.update_product(UpdateProductRequest {
            id: created.product.id.clone(),
            handle: None,
            title: Some("Replica Lamp II".into()),
            description: None,
            vendor: None,
            product_type: None,
            tags: None,
            collection_ids: None,
            variants: None,
        }),
    )
    .await;
    assert_eq!(
        shop_rpc::call("catalog", r).unwrap().product.title,
        "Replica Lamp II"
    );
    let mut title = String::new();
    for _ in 0..100 {
        title = by_handle(&a).await.unwrap().title.to_string();
        if title == "Replica Lamp II" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(title, "Replica Lamp II");
    a.stop().await;
    b.stop().await;
}
