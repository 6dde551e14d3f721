//! The shop as the shoppers see it: catalog discovered at setup (Zipf-skewed popularity), a pool of signed-up
//! customers, a pool of open carts, and the GraphQL request behind every [`Op`].
use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::StreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use rand_distr::{Distribution, Zipf};
use serde_json::{Value, json};

use crate::{
    gql::Gql,
    scenario::{Op, Picker, Scenario},
    schedule::Named,
    stats::{Outcome, Sample},
};

/// Test card that the sandbox payment provider accepts.
pub const TEST_CARD: &str = "4242424242424242";
/// Most open carts kept for later requests.
const MAX_CARTS: usize = 4096;
/// Carts opened during setup.
const PREFILL_CARTS: usize = 48;
/// Most projection-lag probes polling at once.
const MAX_PROBES: usize = 8;
/// How long a probe polls before giving up.
const PROBE_BOUND: Duration = Duration::from_secs(3);
const PROBE_INTERVAL: Duration = Duration::from_millis(2);

/// Setup parameters.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    pub scenario: Scenario,
    /// Customers to sign up and log in (password hashing is deliberately slow: keep it small).
    pub customers: usize,
    /// Share of shopper requests made signed in.
    pub login_share: f64,
    /// Share of signed-in checkouts followed by a projection-lag probe.
    pub lag_sample: f64,
    /// Zipf exponent of product popularity.
    pub zipf_s: f64,
    pub seed: u64,
    /// The flash-sale variant (global id), when the caller prepared one; else the least-stocked variant.
    pub flash_variant: Option<String>,
}

impl Default for SetupOptions {
    fn default() -> Self {
        Self {
            scenario: Scenario::ThriftShopMix,
            customers: 20,
            login_share: 0.5,
            lag_sample: 0.1,
            zipf_s: 1.0,
            seed: 1,
            flash_variant: None,
        }
    }
}

/// A product as discovered.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub handle: String,
    pub variants: Vec<Variant>,
}

/// A variant and its stock at discovery.
#[derive(Debug, Clone)]
pub struct Variant {
    pub id: String,
    pub available: i64,
}

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct Customer {
    pub email: String,
    pub token: String,
}

/// An open cart: its id, whose it is (index into the customers; `None` for a guest) and its line ids.
#[derive(Debug, Clone)]
pub struct CartRef {
    pub id: String,
    pub owner: Option<usize>,
    pub lines: Vec<String>,
}

/// One arrival's work: the operation and, for cart operations, the cart it holds exclusively.
#[derive(Debug)]
pub struct Job {
    pub op: Op,
    cart: Option<CartRef>,
}

impl Named for Job {
    fn name(&self) -> &'static str {
        self.op.name()
    }
}

/// Counters of business facts during a run.
#[derive(Default)]
struct Facts {
    orders_by_status: Mutex<BTreeMap<String, u64>>,
    units_paid: AtomicU64,
    hot_units_paid: AtomicU64,
    /// Picks replaced by `cartCreate` because no cart was available.
    cart_fallbacks: AtomicU64,
}

/// Everything shoppers share.
pub struct World {
    pub gql: Gql,
    /// Products, most popular first.
    pub products: Vec<Product>,
    pub collections: Vec<String>,
    pub search_terms: Vec<String>,
    pub customers: Vec<Customer>,
    /// The flash-sale variant and its stock when the sale started.
    pub hot: Option<Variant>,
    picker: Picker,
    zipf: Zipf<f64>,
    opts: SetupOptions,
    carts: Mutex<Vec<CartRef>>,
    /// Variants seen out of stock during the run.
    sold_out: Mutex<HashSet<String>>,
    probes: AtomicUsize,
    facts: Facts,
}

const DISCOVER: &str = r#"query Discover($after: String) {
  products(first: 50, after: $after) {
    edges { node { id handle title productType variants(first: 20) { edges { node { id quantityAvailable } } } } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const COLLECTIONS: &str = r#"{ collections(first: 100) { edges { node { handle } } } }"#;

const CARD: &str = r#"fragment Card on Product {
  id handle title vendor availableForSale featuredImage { url altText }
  priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
}"#;

const PRODUCTS: &str = r#"query Products($sortKey: ProductSortKeys!, $reverse: Boolean!) {
  products(first: 20, sortKey: $sortKey, reverse: $reverse) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } }
}"#;

const SEARCH: &str = r#"query Search($q: String!) {
  products(first: 20, query: $q) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } }
}"#;

const PRODUCT: &str = r#"query Product($handle: String!) {
  product(handle: $handle) {
    ...Card description productType tags
    images(first: 5) { edges { node { url altText width height } } }
    collections(first: 3) { edges { node { handle title } } }
    variants(first: 10) { edges { node {
      id sku title availableForSale quantityAvailable selectedOptions { name value }
      price { amount currencyCode } compareAtPrice { amount currencyCode }
    } } }
  }
}"#;

const COLLECTION: &str = r#"query Collection($handle: String!) {
  collection(handle: $handle) { id title description products(first: 20) { edges { cursor node { ...Card } } pageInfo { hasNextPage endCursor } } }
}"#;

const LANDING: &str = r#"query Landing {
  collections(first: 10) { edges { node { handle title image { url } } } }
  products(first: 20) {
    edges { cursor node { ...Card variants(first: 5) { edges { node { id title availableForSale price { amount currencyCode } } } } } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

/// The catalog-read scenario's query: a category page's worth of products with every variant's price and stock.
pub const CATALOG_HEAVY: &str = r#"query CatalogHeavy {
  products(first: 20) {
    edges { cursor node {
      id handle title description vendor productType tags availableForSale totalInventory
      featuredImage { url altText }
      priceRange { minVariantPrice { amount currencyCode } maxVariantPrice { amount currencyCode } }
      collections(first: 3) { edges { node { handle title } } }
      variants(first: 10) { edges { node {
        id sku title availableForSale quantityAvailable selectedOptions { name value }
        price { amount currencyCode } compareAtPrice { amount currencyCode }
      } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const VARIANT_STOCK: &str = r#"query VariantStock($id: ID!) {
  productVariant(id: $id) { id availableForSale quantityAvailable price { amount currencyCode } }
}"#;

const RECOMMENDATIONS: &str = r#"query Recommendations($id: ID!) {
  productRecommendations(productId: $id) { ...Card }
}"#;

const CART_FIELDS: &str = r#"fragment CartFields on Cart {
  id status totalQuantity updatedAt
  cost { subtotalAmount { amount currencyCode } totalAmount { amount currencyCode } }
  lines(first: 20) { edges { node { id quantity merchandise { ... on ProductVariant { id title price { amount } } } cost { totalAmount { amount } } } } }
}"#;

const CART: &str = r#"query Cart($id: ID!) { cart(id: $id) { ...CartFields } }"#;

const CART_CREATE: &str = r#"mutation CartCreate($input: CartInput!) {
  cartCreate(input: $input) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}"#;

const CART_LINES_ADD: &str = r#"mutation CartLinesAdd($cartId: ID!, $lines: [CartLineInput!]!) {
  cartLinesAdd(cartId: $cartId, lines: $lines) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}"#;

const CART_LINES_UPDATE: &str = r#"mutation CartLinesUpdate($cartId: ID!, $lines: [CartLineUpdateInput!]!) {
  cartLinesUpdate(cartId: $cartId, lines: $lines) { cart { ...CartFields } userErrors { field message code } warnings { code message target } }
}"#;

const CHECKOUT: &str = r#"mutation Checkout($cartId: ID!, $payment: PaymentInput!, $key: String!) {
  cartCheckout(cartId: $cartId, payment: $payment, idempotencyKey: $key) {
    order { id name status financialStatus totalPrice { amount currencyCode }
            lineItems(first: 50) { edges { node { quantity variant { id } } } } }
    userErrors { field message code }
  }
}"#;

const ORDERS: &str = r#"query Orders($first: Int!) {
  customer { id orders(first: $first) { edges { node {
    id name status processedAt totalPrice { amount currencyCode }
    lineItems(first: 5) { edges { node { title quantity } } }
  } } } }
}"#;

const SIGN_UP: &str = r#"mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } userErrors { code message } } }"#;

const LOG_IN: &str = r#"mutation($i: CustomerAccessTokenCreateInput!) { customerAccessTokenCreate(input: $i) { customerAccessToken { accessToken } userErrors { code message } } }"#;

const ORDER_IDS: &str =
    r#"query OrderIds { customer { orders(first: 20) { edges { node { id } } } } }"#;

/// Every GraphQL document the generator sends, by name. The k6 scripts (`loadtest/k6/lib/shop.js`) carry the
/// same text under the same names; a test keeps them identical.
pub const DOCUMENTS: &[(&str, &str)] = &[
    ("DISCOVER", DISCOVER),
    ("COLLECTIONS", COLLECTIONS),
    ("CARD", CARD),
    ("PRODUCTS", PRODUCTS),
    ("SEARCH", SEARCH),
    ("PRODUCT", PRODUCT),
    ("COLLECTION", COLLECTION),
    ("LANDING", LANDING),
    ("CATALOG_HEAVY", CATALOG_HEAVY),
    ("VARIANT_STOCK", VARIANT_STOCK),
    ("RECOMMENDATIONS", RECOMMENDATIONS),
    ("CART_FIELDS", CART_FIELDS),
    ("CART", CART),
    ("CART_CREATE", CART_CREATE),
    ("CART_LINES_ADD", CART_LINES_ADD),
    ("CART_LINES_UPDATE", CART_LINES_UPDATE),
    ("CHECKOUT", CHECKOUT),
    ("ORDERS", ORDERS),
    ("SIGN_UP", SIGN_UP),
    ("LOG_IN", LOG_IN),
];

fn with(fragment: &str, query: &str) -> String {
    format!("{query}\n{fragment}")
}

fn random_key(rng: &mut impl Rng) -> String {
    format!("lt-{:032x}", rng.random::<u128>())
}

/// Reads a cart (id and line ids) from a `{ cart { … } }` payload.
fn cart_of(payload: &Value, owner: Option<usize>) -> Option<CartRef> {
    let cart = payload.get("cart").filter(|c| !c.is_null())?;
    Some(CartRef {
        id: cart["id"].as_str()?.to_string(),
        owner,
        lines: cart["lines"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["node"]["id"].as_str().map(String::from))
            .collect(),
    })
}

/// The variants a cart payload's user errors report out of stock: `requested` are the lines' variants, in
/// order, and the error's `field` path (`["input", "lines", "1", "merchandiseId"]`) names the line.
fn sold_out_variants<'a>(payload: &Value, requested: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for e in payload["userErrors"].as_array().into_iter().flatten() {
        if !e["code"]
            .as_str()
            .is_some_and(|c| c.ends_with("OUT_OF_STOCK"))
        {
            continue;
        }
        let path: Vec<&str> = e["field"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let line = path
            .iter()
            .position(|s| *s == "lines")
            .and_then(|i| path.get(i + 1))
            .and_then(|i| i.parse::<usize>().ok());
        let variant = match (line, requested) {
            (Some(i), _) => requested.get(i),
            (None, [only]) => Some(only),
            _ => None,
        };
        out.extend(variant.copied());
    }
    out
}

impl World {
    /// Discovers the catalog and signs customers up and in. Not measured.
    pub async fn setup(gql: Gql, opts: SetupOptions) -> anyhow::Result<Arc<World>> {
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let mut products = Vec::new();
        let mut terms = std::collections::BTreeSet::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let d = gql
                .data(DISCOVER, &json!({ "after": after }), None)
                .await
                .context("discovering products")?;
            let page = &d["products"];
            for e in page["edges"].as_array().into_iter().flatten() {
                let n = &e["node"];
                let variants: Vec<Variant> = n["variants"]["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| {
                        Some(Variant {
                            id: v["node"]["id"].as_str()?.to_string(),
                            available: v["node"]["quantityAvailable"].as_i64().unwrap_or(0),
                        })
                    })
                    .collect();
                let (Some(id), Some(handle)) = (n["id"].as_str(), n["handle"].as_str()) else {
                    continue;
                };
                if variants.is_empty() {
                    continue;
                }
                if let Some(t) = n["productType"].as_str().filter(|t| !t.contains(' ')) {
                    terms.insert(format!("product_type:{t}"));
                }
                for w in n["title"].as_str().unwrap_or("").split_whitespace() {
                    if w.len() >= 4 && w.chars().all(char::is_alphabetic) {
                        terms.insert(w.to_lowercase());
                    }
                }
                products.push(Product {
                    id: id.into(),
                    handle: handle.into(),
                    variants,
                });
            }
            after = page["pageInfo"]["endCursor"].as_str().map(String::from);
            if !page["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false) || after.is_none() {
                break;
            }
        }
        if products.is_empty() {
            bail!("the catalog at {} has no products with variants", gql.url());
        }
        // Popularity does not follow catalog order.
        products.shuffle(&mut rng);
        let collections: Vec<String> = gql
            .data(COLLECTIONS, &json!({}), None)
            .await
            .context("listing collections")?["collections"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["node"]["handle"].as_str().map(String::from))
            .collect();
        let hot = (opts.scenario == Scenario::FlashSale)
            .then(|| {
                let mut in_stock = products
                    .iter()
                    .flat_map(|p| &p.variants)
                    .filter(|v| v.available > 0);
                match &opts.flash_variant {
                    Some(id) => in_stock.find(|v| &v.id == id).cloned(),
                    None => in_stock
                        .min_by_key(|v| (v.available, v.id.clone()))
                        .cloned(),
                }
            })
            .flatten();
        if opts.scenario == Scenario::FlashSale && hot.is_none() {
            bail!("no variant in stock for the flash sale");
        }
        let customers = if opts.scenario.needs_customers() {
            // Fresh emails on every run, so runs can repeat against a shop that keeps its data.
            sign_up(&gql, opts.customers, rand::random()).await?
        } else {
            Vec::new()
        };
        let zipf = Zipf::new(products.len() as f64, opts.zipf_s)
            .map_err(|e| anyhow::anyhow!("zipf exponent {}: {e}", opts.zipf_s))?;
        let world = Arc::new(World {
            gql,
            products,
            collections,
            search_terms: terms.into_iter().collect(),
            customers,
            hot,
            picker: Picker::new(opts.scenario.mix()),
            zipf,
            opts,
            carts: Mutex::new(Vec::new()),
            sold_out: Mutex::new(HashSet::new()),
            probes: AtomicUsize::new(0),
            facts: Facts::default(),
        });
        world.prefill_carts().await;
        Ok(world)
    }

    /// Opens some carts before the run, so cart operations find carts from the first second (not for a flash
    /// sale, whose carts would take the stock).
    async fn prefill_carts(self: &Arc<Self>) {
        let uses_carts = self.opts.scenario.mix().iter().any(|(op, _)| {
            matches!(
                op,
                Op::Cart | Op::CartLinesAdd | Op::CartLinesUpdate | Op::CartCheckout
            )
        });
        if self.hot.is_some() || !uses_carts {
            return;
        }
        futures::stream::iter(0..PREFILL_CARTS)
            .map(|_| {
                self.clone().exec(Job {
                    op: Op::CartCreate,
                    cart: None,
                })
            })
            .buffer_unordered(4)
            .for_each(|_| async {})
            .await;
    }

    /// A product, by Zipf-skewed popularity.
    pub fn product(&self, rng: &mut impl Rng) -> &Product {
        let rank = self.zipf.sample(rng) as usize;
        &self.products[rank.clamp(1, self.products.len()) - 1]
    }

    /// A variant to buy: the flash-sale variant, or one of a popular product's variants (preferring those that
    /// were in stock).
    pub fn variant(&self, rng: &mut impl Rng) -> &Variant {
        if let Some(hot) = &self.hot {
            return hot;
        }
        let sold_out = self.sold_out.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = self.product(rng);
        // Like a shopper on a page that shows availability: skip what is known to be sold out.
        for _ in 0..8 {
            let in_stock: Vec<&Variant> = p
                .variants
                .iter()
                .filter(|v| v.available > 0 && !sold_out.contains(&v.id))
                .collect();
            if !in_stock.is_empty() {
                return in_stock[rng.random_range(0..in_stock.len())];
            }
            p = self.product(rng);
        }
        &p.variants[rng.random_range(0..p.variants.len())]
    }

    /// Remembers the variants a cart mutation reported out of stock.
    fn note_sold_out(&self, payload: &Value, requested: &[&str]) {
        let gone = sold_out_variants(payload, requested);
        if !gone.is_empty() {
            let mut set = self.sold_out.lock().unwrap_or_else(|e| e.into_inner());
            set.extend(gone.into_iter().map(String::from));
        }
    }

    /// Who makes a request: a signed-in customer (by index) or a guest.
    fn shopper(&self, rng: &mut impl Rng) -> Option<usize> {
        (!self.customers.is_empty() && rng.random_bool(self.opts.login_share))
            .then(|| rng.random_range(0..self.customers.len()))
    }

    fn token(&self, owner: Option<usize>) -> Option<&str> {
        owner.map(|i| self.customers[i].token.as_str())
    }

    fn lock_carts(&self) -> std::sync::MutexGuard<'_, Vec<CartRef>> {
        self.carts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put_cart(&self, cart: CartRef) {
        let mut carts = self.lock_carts();
        if carts.len() >= MAX_CARTS {
            let i = rand::rng().random_range(0..carts.len());
            carts.swap_remove(i);
        }
        carts.push(cart);
    }

    /// Chooses the next arrival's job. Cart operations take a cart out of the pool (so no two requests race on
    /// one cart); when there is none they become a `cartCreate` (counted in the facts).
    pub fn pick(&self, rng: &mut StdRng) -> Job {
        let op = self.picker.pick(rng);
        let mut carts = self.lock_carts();
        let (op, cart) = match op {
            Op::CartLinesAdd | Op::CartLinesUpdate | Op::CartCheckout if !carts.is_empty() => {
                let i = rng.random_range(0..carts.len());
                (op, Some(carts.swap_remove(i)))
            }
            Op::Cart if !carts.is_empty() => {
                (op, Some(carts[rng.random_range(0..carts.len())].clone()))
            }
            Op::CartLinesAdd | Op::CartLinesUpdate | Op::CartCheckout | Op::Cart => {
                self.facts.cart_fallbacks.fetch_add(1, Ordering::Relaxed);
                (Op::CartCreate, None)
            }
            Op::CustomerOrders if self.customers.is_empty() => (Op::Products, None),
            _ => (op, None),
        };
        Job { op, cart }
    }

    /// Runs one job: one GraphQL request.
    pub async fn exec(self: Arc<Self>, job: Job) -> Sample {
        let gql = &self.gql;
        match (job.op, job.cart) {
            (Op::Products, _) => {
                let vars = {
                    let mut rng = rand::rng();
                    let key = ["ID", "TITLE", "PRICE", "BEST_SELLING", "CREATED_AT"]
                        [rng.random_range(0..5)];
                    json!({ "sortKey": key, "reverse": rng.random_bool(0.5) })
                };
                gql.read(&with(CARD, PRODUCTS), &vars, None).await
            }
            (Op::ProductSearch, _) => {
                let q = {
                    let mut rng = rand::rng();
                    match self.search_terms.len() {
                        0 => self.product(&mut rng).handle.replace('-', " "),
                        n => self.search_terms[rng.random_range(0..n)].clone(),
                    }
                };
                gql.read(&with(CARD, SEARCH), &json!({ "q": q }), None)
                    .await
            }
            (Op::ProductByHandle, _) => {
                let handle = self.product(&mut rand::rng()).handle.clone();
                gql.read(&with(CARD, PRODUCT), &json!({ "handle": handle }), None)
                    .await
            }
            (Op::Collection, _) => {
                let handle = {
                    let mut rng = rand::rng();
                    match self.collections.len() {
                        0 => "sale".to_string(),
                        n => self.collections[rng.random_range(0..n)].clone(),
                    }
                };
                gql.read(&with(CARD, COLLECTION), &json!({ "handle": handle }), None)
                    .await
            }
            (Op::Landing, _) => gql.read(&with(CARD, LANDING), &json!({}), None).await,
            (Op::CatalogHeavy, _) => gql.read(CATALOG_HEAVY, &json!({}), None).await,
            (Op::VariantStock, _) => {
                let id = self.variant(&mut rand::rng()).id.clone();
                gql.read(VARIANT_STOCK, &json!({ "id": id }), None).await
            }
            (Op::Recommendations, _) => {
                let id = self.product(&mut rand::rng()).id.clone();
                gql.read(&with(CARD, RECOMMENDATIONS), &json!({ "id": id }), None)
                    .await
            }
            (Op::CustomerOrders, _) => {
                let owner = (!self.customers.is_empty())
                    .then(|| rand::rng().random_range(0..self.customers.len()));
                gql.read(ORDERS, &json!({ "first": 10 }), self.token(owner))
                    .await
            }
            (Op::Cart, Some(cart)) => {
                let (mut sample, data) = gql
                    .call(
                        &with(CART_FIELDS, CART),
                        &json!({ "id": cart.id }),
                        self.token(cart.owner),
                        "cart",
                    )
                    .await;
                if data.is_some_and(|d| d["cart"].is_null()) {
                    sample.outcome = Outcome::Error("CART_NULL".into());
                }
                sample
            }
            (Op::CartLinesAdd, Some(cart)) => {
                let variant = self.variant(&mut rand::rng()).id.clone();
                let vars = json!({ "cartId": cart.id, "lines": [{ "merchandiseId": variant, "quantity": 1 }] });
                self.cart_mutation(CART_LINES_ADD, vars, "cartLinesAdd", cart, &[&variant])
                    .await
            }
            (Op::CartLinesUpdate, Some(cart)) => {
                let vars = {
                    let mut rng = rand::rng();
                    let line = cart
                        .lines
                        .get(rng.random_range(0..cart.lines.len().max(1)))
                        .cloned()
                        .unwrap_or_default();
                    json!({ "cartId": cart.id, "lines": [{ "id": line, "quantity": rng.random_range(1..=3) }] })
                };
                self.cart_mutation(CART_LINES_UPDATE, vars, "cartLinesUpdate", cart, &[])
                    .await
            }
            (Op::CartCheckout, Some(cart)) => self.checkout(cart).await,
            // cartCreate, and cart operations that found no cart at pick time.
            (_, _) => {
                let (owner, ids) = {
                    let mut rng = rand::rng();
                    let n = if self.hot.is_some() {
                        1
                    } else {
                        rng.random_range(1..=2)
                    };
                    let mut ids: Vec<String> =
                        (0..n).map(|_| self.variant(&mut rng).id.clone()).collect();
                    ids.dedup();
                    (self.shopper(&mut rng), ids)
                };
                let lines: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({ "merchandiseId": id, "quantity": 1 }))
                    .collect();
                let (sample, data) = gql
                    .call(
                        &with(CART_FIELDS, CART_CREATE),
                        &json!({ "input": { "lines": lines } }),
                        self.token(owner),
                        "cartCreate",
                    )
                    .await;
                if let Some(d) = data {
                    match cart_of(&d["cartCreate"], owner) {
                        Some(cart) if sample.outcome == Outcome::Ok => self.put_cart(cart),
                        _ => {
                            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                            self.note_sold_out(&d["cartCreate"], &ids);
                        }
                    }
                }
                sample
            }
        }
    }

    /// A cart mutation; the cart goes back to the pool unless the answer says it is gone or no longer open.
    async fn cart_mutation(
        &self,
        query: &str,
        vars: Value,
        field: &str,
        cart: CartRef,
        requested: &[&str],
    ) -> Sample {
        let (sample, data) = self
            .gql
            .call(
                &with(CART_FIELDS, query),
                &vars,
                self.token(cart.owner),
                field,
            )
            .await;
        if let Some(d) = &data {
            self.note_sold_out(&d[field], requested);
        }
        match data.and_then(|d| cart_of(&d[field], cart.owner)) {
            Some(updated) => self.put_cart(updated),
            None => match &sample.outcome {
                Outcome::UserError(code)
                    if matches!(
                        code.as_str(),
                        "CART_NOT_FOUND"
                            | "CART_NOT_OPEN"
                            | "CART_ALREADY_PURCHASED"
                            | "CART_CHECKOUT_IN_PROGRESS"
                    ) => {}
                _ => self.put_cart(cart),
            },
        }
        sample
    }

    async fn checkout(self: Arc<Self>, cart: CartRef) -> Sample {
        let key = random_key(&mut rand::rng());
        let vars = json!({ "cartId": cart.id, "payment": { "token": TEST_CARD }, "key": key });
        let (mut sample, data) = self
            .gql
            .call(CHECKOUT, &vars, self.token(cart.owner), "cartCheckout")
            .await;
        let answered = Instant::now();
        let Some(order) = data
            .as_ref()
            .map(|d| &d["cartCheckout"]["order"])
            .filter(|o| !o.is_null())
        else {
            return sample;
        };
        let status = order["status"].as_str().unwrap_or("?").to_string();
        if status == "PAID" {
            let hot = self.hot.as_ref().map(|v| v.id.as_str());
            for line in order["lineItems"]["edges"].as_array().into_iter().flatten() {
                let q = line["node"]["quantity"].as_u64().unwrap_or(0);
                self.facts.units_paid.fetch_add(q, Ordering::Relaxed);
                if hot.is_some() && line["node"]["variant"]["id"].as_str() == hot {
                    self.facts.hot_units_paid.fetch_add(q, Ordering::Relaxed);
                }
            }
        }
        *self
            .facts
            .orders_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
        let sampled = rand::rng().random_bool(self.opts.lag_sample.clamp(0.0, 1.0));
        if let (Some(owner), Some(order_id), true) = (cart.owner, order["id"].as_str(), sampled)
            && self.try_start_probe()
        {
            let order_id = order_id.to_string();
            let world = self.clone();
            sample.probe = Some(Box::pin(async move {
                let lag = world.probe_orders(owner, &order_id, answered).await;
                world.probes.fetch_sub(1, Ordering::Relaxed);
                lag
            }));
        }
        sample
    }

    /// Takes one of the [`MAX_PROBES`] probe slots, if one is free.
    fn try_start_probe(&self) -> bool {
        self.probes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_PROBES).then_some(n + 1)
            })
            .is_ok()
    }

    /// Polls the customer's orders until `order_id` shows; the lag is counted from the checkout's answer.
    async fn probe_orders(&self, owner: usize, order_id: &str, since: Instant) -> Option<Duration> {
        let token = self.token(Some(owner));
        while since.elapsed() < PROBE_BOUND {
            if let Ok(d) = self.gql.data(ORDER_IDS, &json!({}), token).await {
                let seen = d["customer"]["orders"]["edges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["node"]["id"].as_str() == Some(order_id));
                if seen {
                    return Some(since.elapsed());
                }
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        None
    }

    /// Clears the run's business counters (between sweep steps).
    pub fn reset_facts(&self) {
        self.facts
            .orders_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.facts.units_paid.store(0, Ordering::Relaxed);
        self.facts.hot_units_paid.store(0, Ordering::Relaxed);
        self.facts.cart_fallbacks.store(0, Ordering::Relaxed);
    }

    /// Business facts of the run so far (and, for a flash sale, the variant's stock now).
    pub async fn facts(&self) -> Value {
        let orders = self
            .facts
            .orders_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut facts = json!({
            "products_discovered": self.products.len(),
            "customers": self.customers.len(),
            "orders_by_status": orders,
            "units_paid": self.facts.units_paid.load(Ordering::Relaxed),
            "open_carts_in_pool": self.lock_carts().len(),
            "variants_seen_sold_out": self.sold_out.lock().unwrap_or_else(|e| e.into_inner()).len(),
            "cart_ops_without_cart_became_cartCreate": self.facts.cart_fallbacks.load(Ordering::Relaxed),
        });
        if let Some(hot) = &self.hot {
            let now = self
                .gql
                .data(VARIANT_STOCK, &json!({ "id": hot.id }), None)
                .await
                .ok()
                .and_then(|d| d["productVariant"]["quantityAvailable"].as_i64());
            let sold = self.facts.hot_units_paid.load(Ordering::Relaxed);
            facts["flash_sale"] = json!({
                "variant": hot.id,
                "available_at_start": hot.available,
                "available_now": now,
                "units_sold_paid": sold,
                "oversold": i64::try_from(sold).unwrap_or(i64::MAX) > hot.available,
            });
        }
        facts
    }
}

/// Signs `n` customers up and in, a few at a time (password hashing is deliberately slow).
async fn sign_up(gql: &Gql, n: usize, run: u64) -> anyhow::Result<Vec<Customer>> {
    let run = format!("{:08x}", run as u32);
    futures::stream::iter(0..n)
        .map(|i| {
            let email = format!("loadtest-{run}-{i}@example.com");
            let password = format!("load test password {run} {i}");
            async move {
                let input = json!({ "i": { "email": email, "password": password, "firstName": "Load", "lastName": format!("Tester {i}") } });
                let d = gql.data(SIGN_UP, &input, None).await.context("customerCreate")?;
                if let Some(e) = d["customerCreate"]["userErrors"].as_array().and_then(|e| e.first()) {
                    bail!("customerCreate {email}: {e}");
                }
                let d = gql
                    .data(LOG_IN, &json!({ "i": { "email": email, "password": password } }), None)
                    .await
                    .context("customerAccessTokenCreate")?;
                let token = d["customerAccessTokenCreate"]["customerAccessToken"]["accessToken"]
                    .as_str()
                    .with_context(|| format!("no access token for {email}: {d}"))?
                    .to_string();
                Ok(Customer { email, token })
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<anyhow::Result<Customer>>>()
        .await
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sold_out_lines_are_found_by_field_path() {
        let payload = json!({ "cart": null, "userErrors": [
            { "code": "MERCHANDISE_OUT_OF_STOCK", "field": ["input", "lines", "1", "merchandiseId"], "message": "m" },
            { "code": "INVALID_QUANTITY", "field": ["input", "lines", "0", "quantity"], "message": "m" },
        ] });
        assert_eq!(sold_out_variants(&payload, &["a", "b"]), ["b"]);
        let no_path =
            json!({ "userErrors": [{ "code": "MERCHANDISE_OUT_OF_STOCK", "field": null }] });
        assert_eq!(sold_out_variants(&no_path, &["a"]), ["a"]);
        assert!(
            sold_out_variants(&no_path, &["a", "b"]).is_empty(),
            "ambiguous"
        );
        assert!(sold_out_variants(&json!({ "userErrors": [] }), &["a"]).is_empty());
    }

    #[test]
    fn carts_are_read_from_payloads() {
        let payload = json!({ "cart": { "id": "c1", "lines": { "edges": [
            { "node": { "id": "l1" } }, { "node": { "id": "l2" } }
        ] } } });
        let cart = cart_of(&payload, Some(3)).unwrap();
        assert_eq!((cart.id.as_str(), cart.owner), ("c1", Some(3)));
        assert_eq!(cart.lines, ["l1", "l2"]);
        assert!(cart_of(&json!({ "cart": null }), None).is_none());
    }
}
