//! Staff catalog writes end to end through GraphQL: `productCreate` / `productUpdate` by staff with
//! MANAGE_PRODUCTS, the new product found, stocked, bought and repriced; bad input and conflicts give
//! `userErrors` and change nothing; customers and guests are refused; the writes survive a restart.
mod common;

use common::*;

/// The tests of this file start whole shops: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PRODUCT_FIELDS: &str = r#"
  id handle title description descriptionHtml vendor productType tags
  priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
  collections(first: 5) { edges { node { id } } }
  variants(first: 10) { edges { node { id sku title price { amount currencyCode } compareAtPrice { amount }
    quantityAvailable selectedOptions { name value } } } }
"#;

fn create_q() -> String {
    format!(
        "mutation($p: ProductCreateInput!) {{ productCreate(product: $p) {{ product {{ {PRODUCT_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
}

fn update_q() -> String {
    format!(
        "mutation($p: ProductUpdateInput!) {{ productUpdate(product: $p) {{ product {{ {PRODUCT_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
}

fn by_handle_q() -> String {
    format!("query($h: String!) {{ product(handle: $h) {{ {PRODUCT_FIELDS} }} }}")
}

const SEARCH: &str =
    r#"query($q: String!) { products(first: 10, query: $q) { edges { node { id title } } } }"#;

const ADJUST: &str = r#"mutation($i: InventoryAdjustInput!) {
  inventoryAdjust(input: $i) { inventoryLevel { onHand available } userErrors { field code message } }
}"#;

async fn signed_in(shop: &Shop, email: &str) -> Client {
    let mut c = Client::new(shop);
    c.data(
        "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { userErrors { code } } }",
        json!({ "i": { "email": email, "password": "correct horse battery" } }),
    )
    .await;
    let login = c
        .data(
            "mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } } }",
            json!({ "i": { "email": email, "password": "correct horse battery" } }),
        )
        .await;
    c.token = Some(
        login["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
            .as_str()
            .expect("signed in")
            .to_string(),
    );
    c
}

/// A signed-in customer appointed staff with MANAGE_PRODUCTS (effective once the token cache lapses).
async fn staff(shop: &Shop, email: &str) -> Client {
    let c = signed_in(shop, email).await;
    thriftshop::admin::set_staff_permissions(
        &shop.auth,
        shop.services.user,
        email,
        &["MANAGE_PRODUCTS".into()],
    )
    .await
    .expect("staff appointed");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c
}

fn top_level_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn variants(product: &Value) -> Vec<Value> {
    product["variants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn lamp_input(collection: &str) -> Value {
    json!({
        "title": "Thrift Test Lamp",
        "descriptionHtml": "<p>A <b>bright</b> desk lamp</p>",
        "vendor": "Lumen Works",
        "productType": "Lamp",
        "tags": ["light", "desk"],
        "collectionIds": [collection],
        "variants": [
            { "sku": "LAMP-S", "price": "19.99", "options": [{ "name": "Size", "value": "Small" }] },
            { "sku": "LAMP-L", "price": "29.50", "compareAtPrice": "35", "options": [{ "name": "Size", "value": "Large" }] },
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_create_stock_sell_and_reprice_a_product() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.gateway.token_cache_ms = 200;
    let shop = Shop::start(cfg).await.expect("shop starts");
    let mut sam = staff(&shop, "sam@example.com").await;
    let mut cat = signed_in(&shop, "cat@example.com").await;
    let mut guest = Client::new(&shop);

    let cols = guest
        .data(
            "{ collections(first: 2) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let collection = cols["collections"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Customers and guests are refused, as for inventoryAdjust; nothing is created.
    for c in [&mut cat, &mut guest] {
        let denied = c
            .gql(&create_q(), json!({ "p": lamp_input(&collection) }))
            .await;
        assert_eq!(top_level_code(&denied), "PERMISSION_DENIED", "{denied}");
        assert_eq!(
            denied["errors"][0]["extensions"]["errorCode"],
            "ACCESS_DENIED"
        );
    }
    assert_eq!(
        guest
            .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
            .await["product"],
        Value::Null
    );

    // Staff create it: the handle comes from the title, prices are exact decimals.
    let created = sam
        .data(&create_q(), json!({ "p": lamp_input(&collection) }))
        .await;
    assert_eq!(
        created["productCreate"]["userErrors"],
        json!([]),
        "{created}"
    );
    let lamp = created["productCreate"]["product"].clone();
    let lamp_id = lamp["id"].as_str().unwrap().to_string();
    assert_eq!(lamp["handle"], "thrift-test-lamp");
    assert_eq!(lamp["description"], "A bright desk lamp");
    assert_eq!(lamp["descriptionHtml"], "<p>A <b>bright</b> desk lamp</p>");
    assert_eq!(lamp["tags"], json!(["light", "desk"]));
    assert_eq!(
        lamp["priceRange"]["minVariantPrice"],
        json!({ "amount": "19.99", "currencyCode": "USD" })
    );
    assert_eq!(lamp["priceRange"]["maxVariantPrice"]["amount"], "29.50");
    assert_eq!(
        lamp["collections"]["edges"][0]["node"]["id"],
        collection.as_str()
    );
    let vs = variants(&lamp);
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0]["sku"], "LAMP-S");
    assert_eq!(vs[0]["title"], "Small");
    assert_eq!(vs[1]["compareAtPrice"]["amount"], "35.00");
    assert_eq!(
        vs[0]["quantityAvailable"], 0,
        "no stock until staff receive some"
    );
    let small = vs[0]["id"].as_str().unwrap().to_string();
    let large = vs[1]["id"].as_str().unwrap().to_string();

    // Everyone finds it by handle and by search.
    let found = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    assert_eq!(found["product"]["id"], lamp_id.as_str());
    for q in [
        "sku:LAMP-L",
        "\"lumen works\"",
        "thrift test lamp",
        "tag:desk",
    ] {
        let hits = guest.data(SEARCH, json!({ "q": q })).await;
        assert_eq!(
            hits["products"]["edges"][0]["node"]["id"],
            lamp_id.as_str(),
            "{q}: {hits}"
        );
    }

    // Stock received, then a customer buys two small lamps.
    for v in [&small, &large] {
        let got = sam
            .data(
                ADJUST,
                json!({ "i": { "variantId": v, "kind": "RECEIVE", "quantity": 5, "reason": "first delivery" } }),
            )
            .await;
        assert_eq!(
            got["inventoryAdjust"]["inventoryLevel"]["available"], 5,
            "{got}"
        );
    }
    let cart = cat
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": small, "quantity": 2 } ] } }),
        )
        .await;
    let cart = &cart["cartCreate"]["cart"];
    assert_eq!(cart["cost"]["totalAmount"]["amount"], "39.98");
    let paid = cat
        .data(
            CHECKOUT,
            json!({ "cartId": cart["id"], "payment": { "token": "4242424242424242" }, "key": "lamp-1" }),
        )
        .await;
    assert_eq!(paid["cartCheckout"]["order"]["status"], "PAID", "{paid}");
    assert_eq!(
        paid["cartCheckout"]["order"]["totalPrice"]["amount"],
        "39.98"
    );
    assert_eq!(stock_of(&mut cat, std::slice::from_ref(&small)).await, [3]);

    // A partial update: new title and price, one variant added; the rest stays.
    let updated = sam
        .data(
            &update_q(),
            json!({ "p": {
                "id": lamp_id,
                "title": "Thrift Test Lamp II",
                "variants": [
                    { "id": small, "price": "24.00" },
                    { "sku": "LAMP-XL", "price": "39", "options": [{ "name": "Size", "value": "XL" }] },
                ],
            } }),
        )
        .await;
    assert_eq!(
        updated["productUpdate"]["userErrors"],
        json!([]),
        "{updated}"
    );
    let p = &updated["productUpdate"]["product"];
    assert_eq!(p["title"], "Thrift Test Lamp II");
    assert_eq!(p["handle"], "thrift-test-lamp", "the handle stays");
    assert_eq!(p["vendor"], "Lumen Works");
    assert_eq!(p["priceRange"]["minVariantPrice"]["amount"], "24.00");
    assert_eq!(p["priceRange"]["maxVariantPrice"]["amount"], "39.00");
    let vs = variants(p);
    assert_eq!(
        vs.iter()
            .map(|v| v["sku"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["LAMP-S", "LAMP-L", "LAMP-XL"]
    );
    assert_eq!(
        vs[0]["quantityAvailable"], 3,
        "stock is untouched by a price change"
    );
    assert_eq!(vs[2]["quantityAvailable"], 0);

    // Read right after: every reader sees the update; a new cart takes the new price.
    let now = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    assert_eq!(now["product"]["title"], "Thrift Test Lamp II");
    assert_eq!(variants(&now["product"])[0]["price"]["amount"], "24.00");
    let hits = guest.data(SEARCH, json!({ "q": "\"lamp ii\"" })).await;
    assert_eq!(hits["products"]["edges"][0]["node"]["id"], lamp_id.as_str());
    let cart = cat
        .data(
            &cart_create(),
            json!({ "input": { "lines": [ { "merchandiseId": small, "quantity": 1 } ] } }),
        )
        .await;
    assert_eq!(
        cart["cartCreate"]["cart"]["cost"]["totalAmount"]["amount"],
        "24.00"
    );

    // Customers and guests cannot change it either.
    for c in [&mut cat, &mut guest] {
        let denied = c
            .gql(
                &update_q(),
                json!({ "p": { "id": lamp_id, "title": "Hacked" } }),
            )
            .await;
        assert_eq!(top_level_code(&denied), "PERMISSION_DENIED", "{denied}");
    }

    // Bad input and conflicts: userErrors with paths and codes, and nothing changes.
    let landing = guest.data(LANDING, json!({})).await;
    let seeded = landing["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["id"] != lamp_id.as_str())
        .expect("a seeded product");
    let seeded_handle = seeded["handle"].as_str().unwrap().to_string();
    let seeded_variant = seeded["variants"]["edges"][0]["node"].clone();
    let before = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    let one = |sku: &str, price: &str| json!([{ "sku": sku, "price": price }]);
    let creates = [
        (
            json!({ "title": "Dup", "handle": "thrift-test-lamp", "variants": one("DUP-1", "5") }),
            "HANDLE_TAKEN",
            json!(["product", "handle"]),
        ),
        (
            json!({ "title": "Thrift Test Lamp", "variants": one("DUP-1", "5") }),
            "HANDLE_TAKEN",
            json!(["product", "handle"]),
        ),
        (
            json!({ "title": "Dup", "variants": [
                { "sku": "DUP-1", "price": "5", "options": [{ "name": "Size", "value": "A" }] },
                { "sku": "LAMP-S", "price": "5", "options": [{ "name": "Size", "value": "B" }] },
            ] }),
            "SKU_TAKEN",
            json!(["product", "variants", "1", "sku"]),
        ),
        (
            json!({ "title": "Dup", "variants": one(seeded_variant["sku"].as_str().unwrap(), "5") }),
            "SKU_TAKEN",
            json!(["product", "variants", "0", "sku"]),
        ),
        (
            json!({ "title": "Dup", "variants": one("DUP-1", "0") }),
            "INVALID_PRICE",
            json!(["product", "variants", "0", "price"]),
        ),
        (
            json!({ "title": "Dup", "variants": one("DUP-1", "-3.00") }),
            "INVALID_PRICE",
            json!(["product", "variants", "0", "price"]),
        ),
        (
            json!({ "title": "Dup", "variants": one("DUP-1", "1.999") }),
            "INVALID_PRICE",
            json!(["product", "variants", "0", "price"]),
        ),
        (
            json!({ "title": "Dup", "variants": one("DUP-1", "1000000.01") }),
            "INVALID_PRICE",
            json!(["product", "variants", "0", "price"]),
        ),
        (
            json!({ "title": "Dup", "variants": [{ "sku": "DUP-1", "price": "5", "compareAtPrice": "4.99" }] }),
            "INVALID_COMPARE_AT_PRICE",
            json!(["product", "variants", "0", "compareAtPrice"]),
        ),
        (
            json!({ "title": "", "variants": one("DUP-1", "5") }),
            "BLANK",
            json!(["product", "title"]),
        ),
        (
            json!({ "title": "Dup", "handle": "Not A Handle", "variants": one("DUP-1", "5") }),
            "INVALID_HANDLE",
            json!(["product", "handle"]),
        ),
        (
            json!({ "title": "Dup", "variants": [] }),
            "VARIANTS_REQUIRED",
            json!(["product", "variants"]),
        ),
        (
            json!({ "title": "Dup", "descriptionHtml": "x".repeat(65_537), "variants": one("DUP-1", "5") }),
            "TOO_LONG",
            json!(["product", "descriptionHtml"]),
        ),
        (
            json!({ "title": "Dup", "collectionIds": ["gid://thriftshop/Collection/nope"], "variants": one("DUP-1", "5") }),
            "COLLECTION_NOT_FOUND",
            json!(["product", "collectionIds", "0"]),
        ),
    ];
    for (input, code, field) in creates {
        let bad = sam.data(&create_q(), json!({ "p": input })).await;
        let errors = &bad["productCreate"]["userErrors"];
        assert_eq!(errors[0]["code"], code, "{bad}");
        assert_eq!(errors[0]["field"], field, "{bad}");
        assert_eq!(bad["productCreate"]["product"], Value::Null);
    }
    let nothing = guest.data(SEARCH, json!({ "q": "sku:DUP-1" })).await;
    assert_eq!(
        nothing["products"]["edges"],
        json!([]),
        "nothing was created"
    );
    assert_eq!(
        guest.data(&by_handle_q(), json!({ "h": "dup" })).await["product"],
        Value::Null
    );

    let updates = [
        (
            json!({ "id": "gid://thriftshop/Product/nope", "title": "x" }),
            "PRODUCT_NOT_FOUND",
            json!(["product", "id"]),
        ),
        (
            json!({ "id": "gid://thriftshop/Product/0192f0c4-0000-7000-8000-000000000000", "title": "x" }),
            "PRODUCT_NOT_FOUND",
            json!(["product", "id"]),
        ),
        (
            json!({ "id": "not-a-gid", "title": "x" }),
            "INVALID",
            json!(["product", "id"]),
        ),
        (
            json!({ "id": lamp_id, "title": "Renamed", "handle": seeded_handle }),
            "HANDLE_TAKEN",
            json!(["product", "handle"]),
        ),
        (
            json!({ "id": lamp_id, "variants": [{ "id": small, "sku": "LAMP-L" }] }),
            "SKU_TAKEN",
            json!(["product", "variants", "0", "sku"]),
        ),
        (
            json!({ "id": lamp_id, "title": "Renamed", "variants": [{ "id": seeded_variant["id"], "price": "1" }] }),
            "VARIANT_NOT_FOUND",
            json!(["product", "variants", "0", "id"]),
        ),
        (
            json!({ "id": lamp_id, "variants": [{ "id": large, "price": "36" }] }),
            "INVALID_COMPARE_AT_PRICE",
            json!(["product", "variants", "0", "compareAtPrice"]),
        ),
        (
            json!({ "id": lamp_id, "title": "Renamed", "variants": [{ "id": small, "price": "12.345" }] }),
            "INVALID_PRICE",
            json!(["product", "variants", "0", "price"]),
        ),
        (
            json!({ "id": lamp_id, "title": "Renamed", "collectionIds": [collection, "gid://thriftshop/Collection/nope"] }),
            "COLLECTION_NOT_FOUND",
            json!(["product", "collectionIds", "1"]),
        ),
        (
            json!({ "id": lamp_id, "title": "Renamed", "variants": [{ "sku": "LAMP-M", "price": "20", "options": [{ "name": "Size", "value": "Small" }] }] }),
            "DUPLICATE_VARIANT",
            json!(["product", "variants", "0", "options"]),
        ),
    ];
    for (input, code, field) in updates {
        let bad = sam.data(&update_q(), json!({ "p": input })).await;
        let errors = &bad["productUpdate"]["userErrors"];
        assert_eq!(errors[0]["code"], code, "{bad}");
        assert_eq!(errors[0]["field"], field, "{bad}");
    }
    // A price that is no decimal at all fails parsing: a top-level INVALID_ARGUMENT.
    let r = sam
        .gql(
            &update_q(),
            json!({ "p": { "id": lamp_id, "variants": [{ "id": small, "price": "abc" }] } }),
        )
        .await;
    assert_eq!(top_level_code(&r), "INVALID_ARGUMENT", "{r}");
    let after = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    assert_eq!(after, before, "failed updates changed nothing");

    // Clearing the compare-at price (null) lets the price rise; an update with nothing new changes nothing.
    let cleared = sam
        .data(
            &update_q(),
            json!({ "p": { "id": lamp_id, "variants": [{ "id": large, "price": "36", "compareAtPrice": null }] } }),
        )
        .await;
    assert_eq!(
        cleared["productUpdate"]["userErrors"],
        json!([]),
        "{cleared}"
    );
    let l = &variants(&cleared["productUpdate"]["product"])[1];
    assert_eq!(
        (l["price"]["amount"].as_str(), &l["compareAtPrice"]),
        (Some("36.00"), &Value::Null)
    );
    let same = sam
        .data(
            &update_q(),
            json!({ "p": { "id": lamp_id, "title": "Thrift Test Lamp II" } }),
        )
        .await;
    assert_eq!(same["productUpdate"]["userErrors"], json!([]));
    assert_eq!(
        same["productUpdate"]["product"],
        cleared["productUpdate"]["product"]
    );

    // The writes are durable: a restart loads them from the store.
    let expected = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    drop((sam, cat, guest));
    shop.stop().await;
    let mut cfg = config(dir.path());
    cfg.demo.seed_stock = false; // keep stock as it was (the new XL variant has none)
    let shop = Shop::start(cfg).await.expect("shop restarts");
    let mut guest = Client::new(&shop);
    let reloaded = guest
        .data(&by_handle_q(), json!({ "h": "thrift-test-lamp" }))
        .await;
    assert_eq!(reloaded, expected);
    shop.stop().await;
}

/// On Kafka + Cassandra (`THRIFTSHOP_TEST_KAFKA`, `THRIFTSHOP_TEST_CASSANDRA`): staff create and change a
/// product, conflicts with the seed and with written products are refused, and a restarted shop loads the
/// written catalog from Cassandra.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_writes_on_kafka_and_cassandra() {
    let _serial = SERIAL.lock().await;
    let (Some(brokers), Some(nodes)) = (
        shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA"),
        shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = cluster_config(dir.path(), &brokers, &nodes);
    cfg.gateway.token_cache_ms = 200;
    let shop = Shop::start(cfg.clone()).await.expect("shop starts");
    let mut sam = staff(&shop, "sam@example.com").await;
    let mut guest = Client::new(&shop);
    let cols = guest
        .data(
            "{ collections(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let collection = cols["collections"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let created = sam
        .data(&create_q(), json!({ "p": lamp_input(&collection) }))
        .await;
    assert_eq!(
        created["productCreate"]["userErrors"],
        json!([]),
        "{created}"
    );
    let lamp = &created["productCreate"]["product"];
    let lamp_id = lamp["id"].as_str().unwrap().to_string();
    let small = variants(lamp)[0]["id"].as_str().unwrap().to_string();

    let landing = guest.data(LANDING, json!({})).await;
    let seeded = &landing["products"]["edges"][0]["node"];
    let seeded_sku = seeded["variants"]["edges"][0]["node"]["sku"]
        .as_str()
        .unwrap()
        .to_string();
    for (input, code) in [
        (
            json!({ "title": "Thrift Test Lamp", "variants": [{ "sku": "DUP-1", "price": "5" }] }),
            "HANDLE_TAKEN",
        ),
        (
            json!({ "title": "Dup", "handle": seeded["handle"], "variants": [{ "sku": "DUP-1", "price": "5" }] }),
            "HANDLE_TAKEN",
        ),
        (
            json!({ "title": "Dup", "variants": [{ "sku": seeded_sku, "price": "5" }] }),
            "SKU_TAKEN",
        ),
        (
            json!({ "title": "Dup", "variants": [{ "sku": "LAMP-L", "price": "5" }] }),
            "SKU_TAKEN",
        ),
    ] {
        let bad = sam.data(&create_q(), json!({ "p": input })).await;
        assert_eq!(bad["productCreate"]["userErrors"][0]["code"], code, "{bad}");
    }
    // What the refused creates asked for and did not get stays free.
    let dup = sam
        .data(
            &create_q(),
            json!({ "p": { "title": "Dup", "variants": [{ "sku": "DUP-1", "price": "5" }] } }),
        )
        .await;
    assert_eq!(dup["productCreate"]["userErrors"], json!([]), "{dup}");

    let updated = sam
        .data(
            &update_q(),
            json!({ "p": { "id": lamp_id, "title": "Thrift Test Lamp II", "handle": "lamp-two",
                "variants": [{ "id": small, "price": "24.00" }] } }),
        )
        .await;
    assert_eq!(
        updated["productUpdate"]["userErrors"],
        json!([]),
        "{updated}"
    );
    let now = guest.data(&by_handle_q(), json!({ "h": "lamp-two" })).await;
    assert_eq!(now["product"]["title"], "Thrift Test Lamp II");
    assert_eq!(variants(&now["product"])[0]["price"]["amount"], "24.00");
    let hits = guest.data(SEARCH, json!({ "q": "sku:LAMP-S" })).await;
    assert_eq!(hits["products"]["edges"][0]["node"]["id"], lamp_id.as_str());

    drop((sam, guest));
    shop.stop().await;
    cfg.demo.seed_stock = false;
    let shop = Shop::start(cfg).await.expect("shop restarts");
    let mut guest = Client::new(&shop);
    let reloaded = guest.data(&by_handle_q(), json!({ "h": "lamp-two" })).await;
    assert_eq!(reloaded, now);
    let dup = guest.data(&by_handle_q(), json!({ "h": "dup" })).await;
    assert_eq!(
        dup["product"]["variants"]["edges"][0]["node"]["sku"],
        "DUP-1"
    );
    shop.stop().await;
}
