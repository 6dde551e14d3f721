//! Service-to-service authentication and ACLs, against the real services of an in-process shop:
//! - every method of every service IDL has an ACL entry, and the ACL matrix is the reviewed one below;
//! - calls without a credential, or with a forged, expired or misaddressed one, are refused `UNAUTHENTICATED`
//!   by every service; valid callers the ACL does not list are refused `PERMISSION_DENIED`; listed callers
//!   get through (to the service's own checks).
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use shop_idl::{cart, catalog, common as wire, inventory, order, recommender, session, user};
use shop_kernel::{Actor, ErrorKind};
use shop_rpc::{
    ClientSettings,
    auth::{Acl, Credentials, Identity, ServiceAuth},
    build_client, call, with_actor,
};

/// The methods of `service` in its IDL file.
fn idl_methods(service: &str) -> BTreeSet<String> {
    let path = format!("{}/idl/thrift/{service}.thrift", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("IDL file");
    let body = text
        .split_once("\nservice ")
        .expect("a service block")
        .1
        .split_once('{')
        .expect("service body")
        .1
        .split_once("\n}")
        .expect("end of service")
        .0;
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with("//") || l.is_empty() {
                return None;
            }
            let before_paren = l.split_once('(')?.0;
            before_paren.split_whitespace().last().map(str::to_string)
        })
        .collect()
}

fn acls() -> Vec<Acl> {
    vec![
        shop_catalog::acl(),
        shop_inventory::acl(),
        shop_cart::acl(),
        shop_order::acl(),
        shop_user::acl(),
        shop_session::acl(),
        shop_recommender::acl(),
    ]
}

/// The reviewed matrix: `service.method` → who may call it. Changing an ACL means changing this table.
const MATRIX: &str = "
catalog.create_product            admin gateway
catalog.get_collection_by_handle  admin cart gateway order recommender
catalog.get_collections           admin cart gateway order recommender
catalog.get_product_by_handle     admin cart gateway order recommender
catalog.get_products              admin cart gateway order recommender
catalog.get_variants              admin cart gateway order recommender
catalog.list_collections          admin cart gateway order recommender
catalog.search_products           admin cart gateway order recommender
catalog.update_product            admin gateway
inventory.adjust_stock            admin gateway
inventory.commit                  order
inventory.get_stock               admin cart gateway order
inventory.release                 order
inventory.reserve                 order
inventory.return_stock            order
cart.abort_checkout               order
cart.add_lines                    gateway
cart.begin_checkout               order
cart.complete_checkout            order
cart.create_cart                  gateway
cart.get_cart                     gateway order
cart.list_carts                   gateway
cart.merge_guest_carts            gateway
cart.remove_lines                 gateway
cart.update_attributes            gateway
cart.update_buyer_identity        gateway
cart.update_discount_codes        gateway
cart.update_lines                 gateway
cart.update_note                  gateway
order.cancel_order                gateway
order.checkout                    gateway
order.fulfill_order               gateway
order.get_orders                  gateway
order.list_orders                 gateway
user.add_address                  gateway
user.authenticate                 gateway
user.change_password              gateway
user.delete_address               gateway
user.get_customers                gateway
user.register                     gateway
user.request_password_reset      gateway
user.reset_password              gateway
user.set_permissions              admin
user.update_address               gateway
user.update_profile               gateway
session.create_guest_session      gateway
session.create_session            gateway
session.renew                     gateway
session.revoke                    gateway
session.revoke_all                gateway
session.validate                  gateway
recommender.for_customer          gateway
recommender.popular               gateway
recommender.related               gateway
";

#[test]
fn every_idl_method_has_exactly_the_reviewed_acl() {
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in MATRIX.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let key = words.next().unwrap().to_string();
        expected.insert(key, words.map(str::to_string).collect());
    }
    let mut actual: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for acl in acls() {
        let service = acl.service();
        let listed: BTreeSet<String> = acl.rules().map(|(m, _)| m.to_string()).collect();
        assert_eq!(
            listed,
            idl_methods(service),
            "the {service} ACL must list exactly the methods of idl/thrift/{service}.thrift"
        );
        for (method, callers) in acl.rules() {
            actual.insert(
                format!("{service}.{method}"),
                callers.iter().map(|c| c.as_str().to_string()).collect(),
            );
        }
    }
    assert_eq!(
        actual, expected,
        "the ACL matrix changed: review and update MATRIX"
    );
}

fn refusal(r: Result<(), shop_kernel::Error>) -> Option<ErrorKind> {
    match r {
        Err(e) if e.code == "SERVICE_UNAUTHENTICATED" || e.code == "SERVICE_PERMISSION_DENIED" => {
            Some(e.kind)
        }
        _ => None,
    }
}

/// One cheap call of each service with `credentials`, as the system actor: `None` when the call got past
/// authentication (whatever the service then answered), else the refusal's kind.
async fn probe(shop: &Shop, service: &str, credentials: Credentials) -> Option<ErrorKind> {
    let s = ClientSettings::default();
    let a = &shop.services;
    let page = wire::PageRequest {
        first: Some(1),
        ..Default::default()
    };
    let result: Result<(), shop_kernel::Error> = with_actor(&Actor::internal(), async {
        match service {
            "catalog" => {
                let c = build_client!(
                    catalog::CatalogServiceClientBuilder,
                    "catalog",
                    a.catalog,
                    s,
                    credentials
                );
                call(
                    "catalog",
                    c.list_collections(catalog::ListCollectionsRequest { page })
                        .await,
                )
                .map(|_| ())
            }
            "inventory" => {
                let c = build_client!(
                    inventory::InventoryServiceClientBuilder,
                    "inventory",
                    a.inventory,
                    s,
                    credentials
                );
                call(
                    "inventory",
                    c.get_stock(inventory::GetStockRequest {
                        variant_ids: vec![],
                    })
                    .await,
                )
                .map(|_| ())
            }
            "cart" => {
                let c = build_client!(
                    cart::CartServiceClientBuilder,
                    "cart",
                    a.cart,
                    s,
                    credentials
                );
                call(
                    "cart",
                    c.get_cart(cart::GetCartRequest {
                        cart_id: "nope".into(),
                    })
                    .await,
                )
                .map(|_| ())
            }
            "order" => {
                let c = build_client!(
                    order::OrderServiceClientBuilder,
                    "order",
                    a.order,
                    s,
                    credentials
                );
                call(
                    "order",
                    c.get_orders(order::GetOrdersRequest { ids: vec![] }).await,
                )
                .map(|_| ())
            }
            "user" => {
                let c = build_client!(
                    user::UserServiceClientBuilder,
                    "user",
                    a.user,
                    s,
                    credentials
                );
                call(
                    "user",
                    c.get_customers(user::GetCustomersRequest { ids: vec![] })
                        .await,
                )
                .map(|_| ())
            }
            "session" => {
                let c = build_client!(
                    session::SessionServiceClientBuilder,
                    "session",
                    a.session,
                    s,
                    credentials
                );
                call(
                    "session",
                    c.validate(session::ValidateRequest {
                        token: "nope".into(),
                    })
                    .await,
                )
                .map(|_| ())
            }
            "recommender" => {
                let c = build_client!(
                    recommender::RecommenderServiceClientBuilder,
                    "recommender",
                    a.recommender,
                    s,
                    credentials
                );
                call(
                    "recommender",
                    c.popular(recommender::PopularRequest { limit: 1 }).await,
                )
                .map(|_| ())
            }
            other => panic!("unknown service {other}"),
        }
    })
    .await;
    refusal(result)
}

const SERVICES: [&str; 7] = [
    "catalog",
    "inventory",
    "cart",
    "order",
    "user",
    "session",
    "recommender",
];

/// The probed method of each service (see [`probe`]).
fn probed_method(service: &str) -> &'static str {
    match service {
        "catalog" => "list_collections",
        "inventory" => "get_stock",
        "cart" => "get_cart",
        "order" => "get_orders",
        "user" => "get_customers",
        "session" => "validate",
        _ => "popular",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_refuse_callers_without_valid_credentials_and_enforce_their_acls() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.store = thriftshop::config::StoreKind::Memory;
    cfg.bus = thriftshop::config::BusKind::Memory;
    let shop = Shop::start(cfg).await.expect("shop starts");
    let keys = &shop.auth;
    let now = shop_kernel::now_ms() as u64 / 1000;
    let stranger = ServiceAuth::ephemeral();
    let acl: BTreeMap<&str, Acl> = acls().into_iter().map(|a| (a.service(), a)).collect();

    for service in SERVICES {
        // No credential, a forged one (right shape, someone else's key), an expired one, one for another
        // service, and garbage: all UNAUTHENTICATED.
        let other = if service == "cart" { "order" } else { "cart" };
        let bad = [
            ("none", Credentials::none()),
            (
                "forged",
                Credentials::fixed(stranger.token_at(Identity::Gateway, service, now).unwrap()),
            ),
            (
                "expired",
                Credentials::fixed(
                    keys.token_at(Identity::Gateway, service, now - 3_600)
                        .unwrap(),
                ),
            ),
            (
                "other audience",
                Credentials::fixed(keys.token_at(Identity::Gateway, other, now).unwrap()),
            ),
            ("garbage", Credentials::fixed("v1.gateway.x")),
        ];
        for (what, creds) in bad {
            assert_eq!(
                probe(&shop, service, creds).await,
                Some(ErrorKind::Unauthenticated),
                "{service} with a {what} credential"
            );
        }
        // Every identity with a valid credential: admitted exactly when the ACL lists it.
        let method = probed_method(service);
        for identity in Identity::ALL {
            let admitted = acl[service].permits(identity, method);
            let got = probe(&shop, service, keys.credentials(identity).unwrap()).await;
            let want = if admitted {
                None
            } else {
                Some(ErrorKind::PermissionDenied)
            };
            assert_eq!(got, want, "{identity} calling {service}.{method}");
        }
    }

    // The sensitive operations, over the wire: only the order saga commits reservations; only operators
    // appoint staff; the gateway cannot move a cart through checkout.
    let s = ClientSettings::default();
    let inv = |identity| {
        build_client!(
            inventory::InventoryServiceClientBuilder,
            "inventory",
            shop.services.inventory,
            s,
            keys.credentials(identity).unwrap()
        )
    };
    let commit = || inventory::CommitRequest {
        reservation_id: "r-unknown".into(),
    };
    let sys = Actor::internal();
    let by_gateway = with_actor(&sys, async {
        call("inventory", inv(Identity::Gateway).commit(commit()).await)
    })
    .await
    .unwrap_err();
    assert_eq!(by_gateway.code, "SERVICE_PERMISSION_DENIED");
    let by_order = with_actor(&sys, async {
        call("inventory", inv(Identity::Order).commit(commit()).await)
    })
    .await
    .unwrap_err();
    assert_ne!(by_order.kind, ErrorKind::PermissionDenied, "{by_order:?}");
    assert_ne!(by_order.kind, ErrorKind::Unauthenticated, "{by_order:?}");

    let users = |identity| {
        build_client!(
            user::UserServiceClientBuilder,
            "user",
            shop.services.user,
            s,
            keys.credentials(identity).unwrap()
        )
    };
    let grant = || user::SetPermissionsRequest {
        email: "nobody@example.com".into(),
        permissions: vec!["MANAGE_ORDERS".into()],
    };
    let by_gateway = with_actor(&sys, async {
        call(
            "user",
            users(Identity::Gateway).set_permissions(grant()).await,
        )
    })
    .await
    .unwrap_err();
    assert_eq!(by_gateway.code, "SERVICE_PERMISSION_DENIED");
    let by_admin = with_actor(&sys, async {
        call(
            "user",
            users(Identity::Admin).set_permissions(grant()).await,
        )
    })
    .await
    .unwrap_err();
    assert_eq!(by_admin.kind, ErrorKind::NotFound, "{by_admin:?}");

    let carts = build_client!(
        cart::CartServiceClientBuilder,
        "cart",
        shop.services.cart,
        s,
        keys.credentials(Identity::Gateway).unwrap()
    );
    let begin = with_actor(&sys, async {
        call(
            "cart",
            carts
                .begin_checkout(cart::BeginCheckoutRequest {
                    cart_id: "c".into(),
                    order_id: "o".into(),
                })
                .await,
        )
    })
    .await
    .unwrap_err();
    assert_eq!(begin.code, "SERVICE_PERMISSION_DENIED");

    // And the shop itself works: the gateway's calls carry its credential.
    let mut c = Client::new(&shop);
    let landing = c.data(LANDING, json!({})).await;
    assert!(!pick_variants(&landing, 1).is_empty());
    shop.stop().await;
}
