//! The gateway against in-test fake catalog, inventory and session services: resolution, DataLoader batching
//! (one call per service per level) and identity propagation.
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use parking_lot::Mutex;
use serde_json::{Value, json};
use shop_gateway::{GatewayOptions, serve};
use shop_idl::{catalog as c, common, inventory as i, session as s};
use shop_kernel::Error;
use shop_rpc::{ServerResult, ServiceAddrs, current_actor, reply};
use tokio_util::sync::CancellationToken;

fn money(amount_minor: i64) -> common::Money {
    common::Money {
        amount_minor,
        currency: "USD".into(),
    }
}

fn product(n: usize) -> c::Product {
    c::Product {
        id: format!("p{n}").into(),
        handle: format!("product-{n}").into(),
        title: format!("Product {n}").into(),
        description: "".into(),
        vendor: "Acme".into(),
        product_type: "Shirt".into(),
        tags: vec![],
        images: vec![],
        variant_ids: vec![format!("p{n}v1").into(), format!("p{n}v2").into()],
        collection_ids: vec![],
        min_price: money(1999),
        max_price: money(2599),
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    }
}

fn variant(id: &str) -> c::Variant {
    let product_id = id.split('v').next().unwrap_or_default().to_string();
    c::Variant {
        id: id.to_string().into(),
        product_id: product_id.into(),
        sku: format!("SKU-{id}").into(),
        title: "M".into(),
        price: money(1999),
        compare_at_price: None,
        options: vec![c::SelectedOption {
            name: "Size".into(),
            value: "M".into(),
        }],
        image: None,
        position: 1,
    }
}

#[derive(Default)]
struct Calls {
    get_variants: AtomicUsize,
    get_stock: AtomicUsize,
    search: AtomicUsize,
    validate_system: Mutex<Vec<bool>>,
}

struct Catalog(Arc<Calls>);

fn unused<T>() -> Result<T, Error> {
    Err(Error::precondition(
        "NOT_IN_FAKE",
        "not implemented by the fake",
    ))
}

impl c::CatalogService for Catalog {
    async fn get_products(
        &self,
        req: c::GetProductsRequest,
    ) -> ServerResult<c::GetProductsResponse, c::CatalogServiceGetProductsException> {
        let products = req
            .ids
            .iter()
            .filter_map(|id| id.strip_prefix('p')?.parse().ok())
            .map(product)
            .collect();
        reply(Ok(c::GetProductsResponse { products }))
    }
    async fn get_product_by_handle(
        &self,
        _: c::GetProductByHandleRequest,
    ) -> ServerResult<c::GetProductByHandleResponse, c::CatalogServiceGetProductByHandleException>
    {
        reply(Ok(c::GetProductByHandleResponse {
            product: Some(product(7)),
        }))
    }
    async fn search_products(
        &self,
        req: c::SearchProductsRequest,
    ) -> ServerResult<c::SearchProductsResponse, c::CatalogServiceSearchProductsException> {
        self.0.search.fetch_add(1, Ordering::SeqCst);
        if req.query.as_deref() == Some("slow") {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let n = req.page.first.unwrap_or(3).clamp(0, 10) as usize;
        reply(Ok(c::SearchProductsResponse {
            products: (1..=n).map(product).collect(),
            cursors: (1..=n).map(|k| format!("c{k}").into()).collect(),
            page_info: common::PageInfo {
                has_next_page: true,
                has_previous_page: false,
                start_cursor: Some("c1".into()),
                end_cursor: Some(format!("c{n}").into()),
            },
            total_count: 100,
        }))
    }
    async fn get_variants(
        &self,
        req: c::GetVariantsRequest,
    ) -> ServerResult<c::GetVariantsResponse, c::CatalogServiceGetVariantsException> {
        self.0.get_variants.fetch_add(1, Ordering::SeqCst);
        reply(Ok(c::GetVariantsResponse {
            variants: req.ids.iter().map(|id| variant(id)).collect(),
        }))
    }
    async fn get_collections(
        &self,
        _: c::GetCollectionsRequest,
    ) -> ServerResult<c::GetCollectionsResponse, c::CatalogServiceGetCollectionsException> {
        reply(Ok(c::GetCollectionsResponse {
            collections: vec![],
        }))
    }
    async fn get_collection_by_handle(
        &self,
        _: c::GetCollectionByHandleRequest,
    ) -> ServerResult<
        c::GetCollectionByHandleResponse,
        c::CatalogServiceGetCollectionByHandleException,
    > {
        reply(unused())
    }
    async fn list_collections(
        &self,
        _: c::ListCollectionsRequest,
    ) -> ServerResult<c::ListCollectionsResponse, c::CatalogServiceListCollectionsException> {
        reply(unused())
    }
    async fn create_product(
        &self,
        _: c::CreateProductRequest,
    ) -> ServerResult<c::CreateProductResponse, c::CatalogServiceCreateProductException> {
        reply(unused())
    }
    async fn update_product(
        &self,
        _: c::UpdateProductRequest,
    ) -> ServerResult<c::UpdateProductResponse, c::CatalogServiceUpdateProductException> {
        reply(unused())
    }
}

struct Inventory(Arc<Calls>);

impl i::InventoryService for Inventory {
    async fn get_stock(
        &self,
        req: i::GetStockRequest,
    ) -> ServerResult<i::GetStockResponse, i::InventoryServiceGetStockException> {
        self.0.get_stock.fetch_add(1, Ordering::SeqCst);
        // v1 variants have 5 units, v2 variants none.
        let levels = req
            .variant_ids
            .iter()
            .map(|v| {
                let available = if v.ends_with("v1") { 5 } else { 0 };
                i::StockLevel {
                    variant_id: v.clone(),
                    on_hand: available,
                    reserved: 0,
                    available,
                }
            })
            .collect();
        reply(Ok(i::GetStockResponse { levels }))
    }
    async fn reserve(
        &self,
        _: i::ReserveRequest,
    ) -> ServerResult<i::ReserveResponse, i::InventoryServiceReserveException> {
        reply(unused())
    }
    async fn release(
        &self,
        _: i::ReleaseRequest,
    ) -> ServerResult<i::ReleaseResponse, i::InventoryServiceReleaseException> {
        reply(unused())
    }
    async fn commit(
        &self,
        _: i::CommitRequest,
    ) -> ServerResult<i::CommitResponse, i::InventoryServiceCommitException> {
        reply(unused())
    }
    async fn return_stock(
        &self,
        _: i::ReturnStockRequest,
    ) -> ServerResult<i::ReturnStockResponse, i::InventoryServiceReturnStockException> {
        reply(unused())
    }
    async fn adjust_stock(
        &self,
        _: i::AdjustStockRequest,
    ) -> ServerResult<i::AdjustStockResponse, i::InventoryServiceAdjustStockException> {
        reply(unused())
    }
}

struct Session(Arc<Calls>);

impl s::SessionService for Session {
    async fn create_session(
        &self,
        _: s::CreateSessionRequest,
    ) -> ServerResult<s::CreateSessionResponse, s::SessionServiceCreateSessionException> {
        reply(unused())
    }
    async fn create_guest_session(
        &self,
        _: s::CreateGuestSessionRequest,
    ) -> ServerResult<s::CreateSessionResponse, s::SessionServiceCreateGuestSessionException> {
        reply(unused())
    }
    async fn validate(
        &self,
        req: s::ValidateRequest,
    ) -> ServerResult<s::ValidateResponse, s::SessionServiceValidateException> {
        self.0.validate_system.lock().push(current_actor().system);
        if req.token != "good-token" {
            return reply(Err(Error::unauthenticated(
                "INVALID_TOKEN",
                "unknown token",
            )));
        }
        reply(Ok(s::ValidateResponse {
            session: s::Session {
                session_id: "s1".into(),
                kind: s::SessionKind::CUSTOMER,
                customer_id: Some("c1".into()),
                created_at_ms: 0,
                expires_at_ms: i64::MAX,
            },
        }))
    }
    async fn revoke(
        &self,
        _: s::RevokeRequest,
    ) -> ServerResult<s::RevokeResponse, s::SessionServiceRevokeException> {
        reply(unused())
    }
    async fn revoke_all(
        &self,
        _: s::RevokeAllRequest,
    ) -> ServerResult<s::RevokeAllResponse, s::SessionServiceRevokeAllException> {
        reply(unused())
    }
    async fn renew(
        &self,
        _: s::RenewRequest,
    ) -> ServerResult<s::CreateSessionResponse, s::SessionServiceRenewException> {
        reply(unused())
    }
}

struct Env {
    url: String,
    calls: Arc<Calls>,
    shutdown: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

async fn start() -> Env {
    let calls = Arc::new(Calls::default());
    let shutdown = CancellationToken::new();
    let (cl, ca) = listener().await;
    let (il, ia) = listener().await;
    let (sl, sa) = listener().await;
    let sd = shutdown.clone();
    tokio::spawn(
        c::CatalogServiceServer::new(Catalog(calls.clone()))
            .run(shop_rpc::ShutdownIncoming::new(cl, sd)),
    );
    let sd = shutdown.clone();
    tokio::spawn(
        i::InventoryServiceServer::new(Inventory(calls.clone()))
            .run(shop_rpc::ShutdownIncoming::new(il, sd)),
    );
    let sd = shutdown.clone();
    tokio::spawn(
        s::SessionServiceServer::new(Session(calls.clone()))
            .run(shop_rpc::ShutdownIncoming::new(sl, sd)),
    );
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let opts = GatewayOptions {
        peers: ServiceAddrs {
            catalog: ca,
            inventory: ia,
            cart: dead,
            order: dead,
            user: dead,
            session: sa,
            recommender: dead,
        },
        ..GatewayOptions::default()
    };
    let (gl, ga) = listener().await;
    tokio::spawn(serve(opts, gl, shutdown.clone()));
    Env {
        url: format!("http://{ga}/graphql"),
        calls,
        shutdown,
    }
}

async fn post(env: &Env, query: &str, token: Option<&str>) -> Value {
    let mut req = reqwest::Client::new()
        .post(&env.url)
        .json(&json!({ "query": query }));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.expect("send").json().await.expect("json")
}

/// On the production runtime's flavour: a batch task may start on the other worker while the query level is
/// still asking for keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_list_is_batched_per_level() {
    let env = start().await;
    let body = post(
        &env,
        r#"{ products(first: 3) {
              pageInfo { hasNextPage endCursor }
              edges { cursor node { id title availableForSale priceRange { minVariantPrice { amount currencyCode } }
                variants(first: 5) { nodes { id sku price { amount } quantityAvailable availableForSale
                  selectedOptions { name value } product { handle } } } } } } }"#,
        None,
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let products = &body["data"]["products"];
    assert_eq!(
        products["pageInfo"],
        json!({ "hasNextPage": true, "endCursor": "c3" })
    );
    let edges = products["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert_eq!(edges[0]["cursor"], "c1");
    let p1 = &edges[0]["node"];
    assert_eq!(p1["id"], "gid://thriftshop/Product/p1");
    assert_eq!(p1["availableForSale"], true);
    assert_eq!(
        p1["priceRange"]["minVariantPrice"],
        json!({ "amount": "19.99", "currencyCode": "USD" })
    );
    let v = &p1["variants"]["nodes"];
    assert_eq!(v[0]["id"], "gid://thriftshop/ProductVariant/p1v1");
    assert_eq!(v[0]["quantityAvailable"], 5);
    assert_eq!(v[1]["availableForSale"], false);
    assert_eq!(v[0]["product"]["handle"], "product-1");

    assert_eq!(env.calls.search.load(Ordering::SeqCst), 1);
    assert_eq!(
        env.calls.get_variants.load(Ordering::SeqCst),
        1,
        "variants of all products in one call"
    );
    // One stock call per level: products' availability, then the variants' quantities.
    assert!(
        env.calls.get_stock.load(Ordering::SeqCst) <= 2,
        "stock calls: {}",
        env.calls.get_stock.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn tokens_are_validated_as_the_system() {
    let env = start().await;
    let body = post(&env, "{ __typename }", Some("bad-token")).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);

    // A valid token: the customer query reaches the (absent) user service as that customer.
    let body = post(&env, "{ customer { id } }", Some("good-token")).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{body}"
    );
    assert_eq!(*env.calls.validate_system.lock(), vec![true, true]);

    // node() dispatches on the type.
    let body = post(&env, r#"{ node(id: "gid://thriftshop/ProductVariant/p2v1") { id ... on ProductVariant { sku } } }"#, None).await;
    assert_eq!(body["data"]["node"]["sku"], "SKU-p2v1", "{body}");
    let body = post(&env, r#"{ product(handle: "anything") { id } }"#, None).await;
    assert_eq!(body["data"]["product"]["id"], "gid://thriftshop/Product/p7");
}

#[tokio::test]
async fn identical_concurrent_searches_share_one_call() {
    let env = start().await;
    let query = r#"{ products(first: 2, query: "slow") { edges { node { id } } } }"#;
    let bodies = futures::future::join_all((0..6).map(|_| post(&env, query, None))).await;
    for body in &bodies {
        assert_eq!(
            body["data"]["products"]["edges"][1]["node"]["id"], "gid://thriftshop/Product/p2",
            "{body}"
        );
    }
    assert_eq!(
        env.calls.search.load(Ordering::SeqCst),
        1,
        "six identical searches in flight, one call"
    );
    // A different search, and the same one once the first landed, are calls of their own.
    post(
        &env,
        r#"{ products(first: 1, query: "slow") { edges { node { id } } } }"#,
        None,
    )
    .await;
    post(&env, query, None).await;
    assert_eq!(env.calls.search.load(Ordering::SeqCst), 3);
}
