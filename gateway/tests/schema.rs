//! `schema.graphql` at the repository root must equal the gateway's SDL.
//! Locally: `UPDATE_SCHEMA=1 cargo test -p shop-gateway --test schema` rewrites it (it is also written when missing);
//! in CI a stale file fails the test.

use std::path::PathBuf;

#[test]
fn schema_graphql_is_fresh() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("schema.graphql");
    let sdl = shop_gateway::schema_sdl();
    let current = std::fs::read_to_string(&path).ok();
    if current.as_deref() == Some(sdl.as_str()) {
        return;
    }
    let update = std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1");
    if update || current.is_none() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
        return;
    }
    panic!(
        "schema.graphql is stale: regenerate it with `UPDATE_SCHEMA=1 cargo test -p shop-gateway --test schema` \
         and review the diff"
    );
}

#[test]
fn sdl_has_the_contract_surface() {
    let sdl = shop_gateway::schema_sdl();
    for needle in [
        "type Query",
        "type Mutation",
        "type Subscription",
        "interface Node",
        "scalar Decimal",
        "scalar DateTime",
        "type MoneyV2",
        "enum CurrencyCode",
        "type ProductConnection",
        "type PageInfo",
        "cartCheckout(",
        "orderStatusChanged(",
        "type CartCreatePayload",
        "enum CartErrorCode",
        "enum CustomerErrorCode",
        "enum CheckoutErrorCode",
        "enum CartWarningCode",
        "input CartLineInput",
        "input PaymentInput",
    ] {
        assert!(sdl.contains(needle), "SDL lacks `{needle}`");
    }
}
