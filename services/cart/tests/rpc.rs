//! The cart service over Thrift: every method through the generated client, against the real inventory service
//! (started with its `run`) and a small fake catalog server.
use std::net::SocketAddr;

use shop_idl::{
    cart::{self as t, CartServiceClient},
    catalog as cat, common,
    inventory::{self as inv},
};
use shop_kernel::{Actor, Error};
use shop_rpc::{
    ClientSettings, ServerResult, ServiceAddrs, ServiceOptions, Storage, call, reply, with_actor,
};
use tokio_util::sync::CancellationToken;

/// A catalog with two products: `shirt` (variants `v-shirt-m`, `v-shirt-l`).
struct FakeCatalog;

fn money(a: i64) -> common::Money {
    common::Money {
        amount_minor: a,
        currency: "USD".into(),
    }
}

fn variant(id: &str, title: &str, price: i64) -> cat::Variant {
    cat::Variant {
        id: id.to_string().into(),
        product_id: "p-shirt".into(),
        sku: format!("SKU-{id}").into(),
        title: title.to_string().into(),
        price: money(price),
        compare_at_price: Some(money(price + 500)),
        options: vec![],
        image: None,
        position: 1,
    }
}

fn unsupported<T, E: From<common::ShopError>>() -> ServerResult<T, E> {
    reply(Err(Error::unavailable(
        "FAKE_UNSUPPORTED",
        "not served by the fake catalog",
    )))
}

impl cat::CatalogService for FakeCatalog {
    async fn get_products(
        &self,
        req: cat::GetProductsRequest,
    ) -> ServerResult<cat::GetProductsResponse, cat::CatalogServiceGetProductsException> {
        let products = req
            .ids
            .iter()
            .filter(|id| id.as_str() == "p-shirt")
            .map(|_| cat::Product {
                id: "p-shirt".into(),
                handle: "shirt".into(),
                title: "Shirt".into(),
                description: "".into(),
                vendor: "".into(),
                product_type: "".into(),
                tags: vec![],
                images: vec![],
                variant_ids: vec!["v-shirt-m".into(), "v-shirt-l".into()],
                collection_ids: vec![],
                min_price: money(1500),
                max_price: money(1700),
                created_at_ms: 0,
                updated_at_ms: 0,
            })
            .collect();
        reply(Ok(cat::GetProductsResponse { products }))
    }
    async fn get_product_by_handle(
        &self,
        _req: cat::GetProductByHandleRequest,
    ) -> ServerResult<cat::GetProductByHandleResponse, cat::CatalogServiceGetProductByHandleException>
    {
        unsupported()
    }
    async fn search_products(
        &self,
        _req: cat::SearchProductsRequest,
    ) -> ServerResult<cat::SearchProductsResponse, cat::CatalogServiceSearchProductsException> {
        unsupported()
    }
    async fn get_variants(
        &self,
        req: cat::GetVariantsRequest,
    ) -> ServerResult<cat::GetVariantsResponse, cat::CatalogServiceGetVariantsException> {
        let variants = req
            .ids
            .iter()
            .filter_map(|id| match id.as_str() {
                "v-shirt-m" => Some(variant("v-shirt-m", "M", 1500)),
                "v-shirt-l" => Some(variant("v-shirt-l", "L", 1700)),
                _ => None,
            })
            .collect();
        reply(Ok(cat::GetVariantsResponse { variants }))
    }
    async fn get_collections(
        &self,
        _req: cat::GetCollectionsRequest,
    ) -> ServerResult<cat::GetCollectionsResponse, cat::CatalogServiceGetCollectionsException> {
        unsupported()
    }
    async fn get_collection_by_handle(
        &self,
        _req: cat::GetCollectionByHandleRequest,
    ) -> ServerResult<
        cat::GetCollectionByHandleResponse,
        cat::CatalogServiceGetCollectionByHandleException,
    > {
        unsupported()
    }
    async fn list_collections(
        &self,
        _req: cat::ListCollectionsRequest,
    ) -> ServerResult<cat::ListCollectionsResponse, cat::CatalogServiceListCollectionsException>
    {
        unsupported()
    }
    async fn create_product(
        &self,
        _req: cat::CreateProductRequest,
    ) -> ServerResult<cat::CreateProductResponse, cat::CatalogServiceCreateProductException> {
        unsupported()
    }
    async fn update_product(
        &self,
        _req: cat::UpdateProductRequest,
    ) -> ServerResult<cat::UpdateProductResponse, cat::CatalogServiceUpdateProductException> {
        unsupported()
    }
}

struct Env {
    cart: CartServiceClient,
    /// Presents the order service's credential (the checkout steps are the saga's).
    order: CartServiceClient,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

async fn start() -> Env {
    let (cat_l, cat_addr) = bind().await;
    let (inv_l, inv_addr) = bind().await;
    let (cart_l, cart_addr) = bind().await;
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let auth = shop_rpc::auth::ServiceAuth::ephemeral();
    let opts = ServiceOptions {
        storage: Storage::Memory,
        peers: ServiceAddrs {
            catalog: cat_addr,
            inventory: inv_addr,
            cart: cart_addr,
            order: unused,
            user: unused,
            session: unused,
            recommender: unused,
        },
        client: ClientSettings::default(),
        bus: shop_bus::AnyBus::Memory(shop_bus::memory::MemoryBus::new()),
        tuning: shop_rpc::Tuning::default(),
        ready: Default::default(),
        metrics: Default::default(),
        auth: auth.clone(),
    };
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let s = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        cat::CatalogServiceServer::new(FakeCatalog)
            .run(shop_rpc::ShutdownIncoming::new(cat_l, s))
            .await
            .unwrap();
    }));
    let (o, s) = (opts.clone(), shutdown.clone());
    tasks.push(tokio::spawn(async move {
        shop_inventory::run(o, inv_l, s).await.unwrap()
    }));
    let (o, s) = (opts.clone(), shutdown.clone());
    tasks.push(tokio::spawn(async move {
        shop_cart::run(o, cart_l, s).await.unwrap()
    }));

    // Stock: 5 of M, none of L.
    let inventory = shop_rpc::build_client!(
        inv::InventoryServiceClientBuilder,
        "inventory",
        inv_addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Admin).unwrap()
    );
    let req = inv::AdjustStockRequest {
        variant_id: "v-shirt-m".into(),
        kind: inv::AdjustmentKind::RECEIVE,
        quantity: 5,
        reason: "initial".into(),
    };
    call(
        "inventory",
        with_actor(&system(), inventory.adjust_stock(req)).await,
    )
    .unwrap();
    let cart = shop_rpc::build_client!(
        t::CartServiceClientBuilder,
        "cart",
        cart_addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Gateway).unwrap()
    );
    let order = shop_rpc::build_client!(
        t::CartServiceClientBuilder,
        "cart",
        cart_addr,
        ClientSettings::default(),
        auth.credentials(shop_rpc::auth::Identity::Order).unwrap()
    );
    Env {
        cart,
        order,
        shutdown,
        tasks,
    }
}

fn system() -> Actor {
    Actor::internal()
}

fn input(v: &str, q: i64) -> t::CartLineInput {
    t::CartLineInput {
        variant_id: v.to_string().into(),
        quantity: q,
        attributes: None,
    }
}

fn attr(k: &str, v: &str) -> common::Attribute {
    common::Attribute {
        key: k.to_string().into(),
        value: v.to_string().into(),
    }
}

#[tokio::test]
async fn every_cart_method_over_thrift() {
    let env = start().await;
    let c = &env.cart;
    let alice = Actor::customer("alice");
    let bob = Actor::customer("bob");

    // create_cart: price snapshot and stock check.
    let create = t::CreateCartRequest {
        lines: vec![input("v-shirt-m", 2)],
        note: Some("hello".into()),
        attributes: Some(vec![attr("source", "test")]),
        discount_codes: Some(vec!["WELCOME".into()]),
        buyer_identity: Some(t::BuyerIdentity {
            email: Some("alice@example.com".into()),
            ..Default::default()
        }),
    };
    let r = call("cart", with_actor(&alice, c.create_cart(create)).await).unwrap();
    let cart = r.cart;
    let id = cart.id.to_string();
    assert_eq!(cart.customer_id.as_deref(), Some("alice"));
    assert_eq!(cart.status, t::CartStatus::OPEN);
    assert_eq!(cart.lines[0].title, "Shirt / M");
    assert_eq!(cart.lines[0].unit_price.amount_minor, 1500);
    assert_eq!(
        cart.lines[0]
            .compare_at_unit_price
            .as_ref()
            .map(|m| m.amount_minor),
        Some(2000)
    );
    assert_eq!(
        (
            cart.subtotal.amount_minor,
            cart.total.amount_minor,
            cart.total_tax.amount_minor
        ),
        (3000, 3000, 0)
    );
    assert_eq!(cart.total_quantity, 2);
    assert_eq!(
        cart.expires_at_ms,
        cart.updated_at_ms + 10 * 24 * 3600 * 1000
    );
    assert_eq!(
        (
            cart.note.as_deref(),
            cart.discount_codes.len(),
            cart.attributes.len()
        ),
        (Some("hello"), 1, 1)
    );
    let line_id = cart.lines[0].id.to_string();

    // get_cart, and ownership: bob and guests cannot see alice's cart.
    let got = call(
        "cart",
        with_actor(
            &alice,
            c.get_cart(t::GetCartRequest {
                cart_id: id.clone().into(),
            }),
        )
        .await,
    )
    .unwrap();
    assert_eq!(got.cart.unwrap().version, cart.version);
    for other in [&bob, &Actor::guest()] {
        let e = call(
            "cart",
            with_actor(
                other,
                c.get_cart(t::GetCartRequest {
                    cart_id: id.clone().into(),
                }),
            )
            .await,
        )
        .unwrap_err();
        assert_eq!(e.code, "CART_NOT_FOUND");
        let e = call(
            "cart",
            with_actor(
                other,
                c.update_note(t::UpdateNoteRequest {
                    cart_id: id.clone().into(),
                    note: None,
                }),
            )
            .await,
        )
        .unwrap_err();
        assert_eq!(e.code, "CART_NOT_FOUND");
    }

    // add_lines: merge + stock reduction warning; out of stock; unknown merchandise.
    let add = |lines| t::AddLinesRequest {
        cart_id: id.clone().into(),
        lines,
    };
    let r = call(
        "cart",
        with_actor(&alice, c.add_lines(add(vec![input("v-shirt-m", 4)]))).await,
    )
    .unwrap();
    assert_eq!(r.cart.lines[0].quantity, 5);
    assert_eq!(r.warnings[0].code, "MERCHANDISE_NOT_ENOUGH_STOCK");
    assert_eq!(r.warnings[0].target, line_id);
    let e = call(
        "cart",
        with_actor(&alice, c.add_lines(add(vec![input("v-shirt-l", 1)]))).await,
    )
    .unwrap_err();
    assert_eq!(
        (e.code.as_ref(), e.field.as_slice()),
        (
            "MERCHANDISE_OUT_OF_STOCK",
            ["lines", "0", "merchandiseId"].map(String::from).as_slice()
        )
    );
    let e = call(
        "cart",
        with_actor(&alice, c.add_lines(add(vec![input("nope", 1)]))).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "MERCHANDISE_NOT_FOUND");
    let e = call(
        "cart",
        with_actor(&alice, c.add_lines(add(vec![input("v-shirt-m", 0)]))).await,
    )
    .unwrap_err();
    assert_eq!(e.field, ["lines", "0", "quantity"]);

    // update_lines / remove_lines.
    let upd = t::UpdateLinesRequest {
        cart_id: id.clone().into(),
        lines: vec![t::CartLineUpdate {
            line_id: line_id.clone().into(),
            quantity: Some(3),
            variant_id: None,
            attributes: None,
        }],
    };
    let r = call("cart", with_actor(&alice, c.update_lines(upd)).await).unwrap();
    assert_eq!(r.cart.lines[0].quantity, 3);
    assert_eq!(r.cart.subtotal.amount_minor, 4500);
    let rm = t::RemoveLinesRequest {
        cart_id: id.clone().into(),
        line_ids: vec!["missing".into()],
    };
    assert_eq!(
        call("cart", with_actor(&alice, c.remove_lines(rm)).await)
            .unwrap_err()
            .code,
        "LINE_NOT_FOUND"
    );

    // Details.
    let r = call(
        "cart",
        with_actor(
            &alice,
            c.update_note(t::UpdateNoteRequest {
                cart_id: id.clone().into(),
                note: None,
            }),
        )
        .await,
    )
    .unwrap();
    assert_eq!(r.cart.note, None);
    let req = t::UpdateAttributesRequest {
        cart_id: id.clone().into(),
        attributes: vec![attr("gift", "yes"), attr("wrap", "no")],
    };
    assert_eq!(
        call("cart", with_actor(&alice, c.update_attributes(req)).await)
            .unwrap()
            .cart
            .attributes
            .len(),
        2
    );
    let req = t::UpdateDiscountCodesRequest {
        cart_id: id.clone().into(),
        discount_codes: vec!["A".into(), "B".into()],
    };
    assert_eq!(
        call(
            "cart",
            with_actor(&alice, c.update_discount_codes(req)).await
        )
        .unwrap()
        .cart
        .discount_codes
        .len(),
        2
    );
    let req = t::UpdateBuyerIdentityRequest {
        cart_id: id.clone().into(),
        buyer_identity: t::BuyerIdentity {
            country_code: Some("DE".into()),
            customer_id: Some("alice".into()),
            ..Default::default()
        },
    };
    let r = call(
        "cart",
        with_actor(&alice, c.update_buyer_identity(req)).await,
    )
    .unwrap();
    assert_eq!(r.cart.buyer_identity.country_code.as_deref(), Some("DE"));

    // list_carts: alice sees her carts, newest first; bob sees none of them.
    let second = call(
        "cart",
        with_actor(
            &alice,
            c.create_cart(t::CreateCartRequest {
                lines: vec![],
                ..Default::default()
            }),
        )
        .await,
    )
    .unwrap()
    .cart;
    let list = |statuses| t::ListCartsRequest {
        page: common::PageRequest {
            first: Some(10),
            ..Default::default()
        },
        statuses,
    };
    let l = call("cart", with_actor(&alice, c.list_carts(list(None))).await).unwrap();
    assert_eq!(
        l.carts.iter().map(|c| c.id.to_string()).collect::<Vec<_>>(),
        [second.id.to_string(), id.clone()]
    );
    assert_eq!(l.cursors.len(), 2);
    assert!(!l.page_info.has_next_page);
    assert!(
        call("cart", with_actor(&bob, c.list_carts(list(None))).await)
            .unwrap()
            .carts
            .is_empty()
    );

    // Checkout steps: system only.
    let begin = |o: &str| t::BeginCheckoutRequest {
        cart_id: id.clone().into(),
        order_id: o.to_string().into(),
    };
    let e = call(
        "cart",
        with_actor(&alice, env.order.begin_checkout(begin("o1"))).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "CALLER_NOT_ALLOWED");
    let r = call(
        "cart",
        with_actor(&system(), env.order.begin_checkout(begin("o1"))).await,
    )
    .unwrap();
    assert_eq!(
        (r.cart.status, r.cart.order_id.as_deref()),
        (t::CartStatus::CHECKING_OUT, Some("o1"))
    );
    let e = call(
        "cart",
        with_actor(&system(), env.order.begin_checkout(begin("o2"))).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "CART_CHECKOUT_IN_PROGRESS");
    let e = call(
        "cart",
        with_actor(&alice, c.add_lines(add(vec![input("v-shirt-m", 1)]))).await,
    )
    .unwrap_err();
    assert_eq!(e.code, "CART_NOT_OPEN");
    let abort = t::AbortCheckoutRequest {
        cart_id: id.clone().into(),
        order_id: "o1".into(),
    };
    let r = call(
        "cart",
        with_actor(&system(), env.order.abort_checkout(abort)).await,
    )
    .unwrap();
    assert_eq!(r.cart.status, t::CartStatus::OPEN);
    call(
        "cart",
        with_actor(&system(), env.order.begin_checkout(begin("o3"))).await,
    )
    .unwrap();
    let complete = t::CompleteCheckoutRequest {
        cart_id: id.clone().into(),
        order_id: "o3".into(),
    };
    let r = call(
        "cart",
        with_actor(&system(), env.order.complete_checkout(complete.clone())).await,
    )
    .unwrap();
    assert_eq!(r.cart.status, t::CartStatus::PURCHASED);
    let again = call(
        "cart",
        with_actor(&system(), env.order.complete_checkout(complete)).await,
    )
    .unwrap();
    assert_eq!(again.cart.version, r.cart.version, "idempotent");
    let l = call(
        "cart",
        with_actor(
            &alice,
            c.list_carts(list(Some(vec![t::CartStatus::PURCHASED]))),
        )
        .await,
    )
    .unwrap();
    assert_eq!(l.carts.len(), 1);

    // Guest carts are capabilities.
    let guest = call(
        "cart",
        with_actor(
            &Actor::guest(),
            c.create_cart(t::CreateCartRequest {
                lines: vec![],
                ..Default::default()
            }),
        )
        .await,
    )
    .unwrap()
    .cart;
    assert_eq!(guest.customer_id, None);
    assert_eq!(guest.id.len(), 22);
    let seen = call(
        "cart",
        with_actor(
            &bob,
            c.get_cart(t::GetCartRequest {
                cart_id: guest.id.clone(),
            }),
        )
        .await,
    )
    .unwrap();
    assert!(seen.cart.is_some());

    env.shutdown.cancel();
    for t in env.tasks {
        t.await.unwrap();
    }
}
