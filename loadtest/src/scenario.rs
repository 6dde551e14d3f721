//! Scenarios: each is a weighted table of operations, declared in [`Scenario::mix`]. To add a scenario, add a
//! variant and its table; to add an operation, add an [`Op`] and its request in `world.rs`.
use rand::Rng;
use serde::Serialize;

/// What kind of traffic an operation is (the thrift-shop seed's 50/25/25 split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    CatalogRead,
    Write,
    PersonalRead,
}

/// One GraphQL request a shopper makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `products(first: 20, sortKey)`: a listing page.
    Products,
    /// `products(query: …)`: a search.
    ProductSearch,
    /// `product(handle)`: a product page.
    ProductByHandle,
    /// `collection(handle) { products }`: a category page.
    Collection,
    /// The landing page: products with variants and collections in one query.
    Landing,
    /// One heavy nested catalog query (products × variants × prices × availability).
    CatalogHeavy,
    /// `productVariant(id) { quantityAvailable }`: a buyer refreshing a variant's stock.
    VariantStock,
    /// `cartCreate` with one or two lines.
    CartCreate,
    /// `cartLinesAdd` to an open cart.
    CartLinesAdd,
    /// `cartLinesUpdate` of a line's quantity.
    CartLinesUpdate,
    /// `cartCheckout` with the test card `4242424242424242` and a fresh idempotency key.
    CartCheckout,
    /// `cart(id)`.
    Cart,
    /// `customer { orders }` of a signed-in customer.
    CustomerOrders,
    /// `productRecommendations(productId)`.
    Recommendations,
}

impl Op {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Products => "products",
            Op::ProductSearch => "productSearch",
            Op::ProductByHandle => "productByHandle",
            Op::Collection => "collection",
            Op::Landing => "landing",
            Op::CatalogHeavy => "catalogHeavy",
            Op::VariantStock => "variantStock",
            Op::CartCreate => "cartCreate",
            Op::CartLinesAdd => "cartLinesAdd",
            Op::CartLinesUpdate => "cartLinesUpdate",
            Op::CartCheckout => "cartCheckout",
            Op::Cart => "cart",
            Op::CustomerOrders => "customerOrders",
            Op::Recommendations => "productRecommendations",
        }
    }

    /// The kind of traffic.
    pub fn category(self) -> Category {
        match self {
            Op::Products
            | Op::ProductSearch
            | Op::ProductByHandle
            | Op::Collection
            | Op::Landing
            | Op::CatalogHeavy
            | Op::VariantStock => Category::CatalogRead,
            Op::CartCreate | Op::CartLinesAdd | Op::CartLinesUpdate | Op::CartCheckout => {
                Category::Write
            }
            Op::Cart | Op::CustomerOrders | Op::Recommendations => Category::PersonalRead,
        }
    }
}

/// A named workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The thrift-shop seed's mix: 50% catalog reads, 25% writes, 25% personal reads.
    ThriftShopMix,
    /// A shopper's journey (Online Boutique's locustfile weights): landing, browse, add, view cart, checkout.
    Journey,
    /// Many buyers racing for one variant with little stock.
    FlashSale,
    /// One heavy nested catalog query, for gateway-overhead comparisons.
    CatalogRead,
}

impl Scenario {
    /// The operations and their weights.
    pub fn mix(self) -> &'static [(Op, u32)] {
        match self {
            Scenario::ThriftShopMix => &[
                // 50% catalog reads
                (Op::Products, 15),
                (Op::ProductSearch, 10),
                (Op::ProductByHandle, 15),
                (Op::Collection, 10),
                // 25% writes
                (Op::CartCreate, 8),
                (Op::CartLinesAdd, 7),
                (Op::CartLinesUpdate, 4),
                (Op::CartCheckout, 6),
                // 25% personal reads
                (Op::Cart, 10),
                (Op::CustomerOrders, 7),
                (Op::Recommendations, 8),
            ],
            // index 1 + setCurrency 2 (we have no currencies: folded into the landing page), browseProduct 10,
            // addToCart 2, viewCart 3, checkout 1.
            Scenario::Journey => &[
                (Op::Landing, 3),
                (Op::ProductByHandle, 10),
                (Op::CartLinesAdd, 2),
                (Op::Cart, 3),
                (Op::CartCheckout, 1),
            ],
            Scenario::FlashSale => &[
                (Op::VariantStock, 40),
                (Op::CartCreate, 30),
                (Op::CartCheckout, 30),
            ],
            Scenario::CatalogRead => &[(Op::CatalogHeavy, 1)],
        }
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::ThriftShopMix => "thrift-shop-mix",
            Scenario::Journey => "journey",
            Scenario::FlashSale => "flash-sale",
            Scenario::CatalogRead => "catalog-read",
        }
    }

    /// Does the scenario need signed-in customers?
    pub fn needs_customers(self) -> bool {
        self.mix()
            .iter()
            .any(|(op, _)| matches!(op, Op::CustomerOrders | Op::Cart | Op::CartCheckout))
    }
}

/// Draws operations in proportion to their weights.
#[derive(Debug, Clone)]
pub struct Picker {
    ops: Vec<Op>,
    /// Running sums of the weights.
    cumulative: Vec<u32>,
}

impl Picker {
    /// A picker over `mix` (weights must not all be zero).
    pub fn new(mix: &[(Op, u32)]) -> Self {
        let mut sum = 0;
        let cumulative = mix
            .iter()
            .map(|(_, w)| {
                sum += w;
                sum
            })
            .collect();
        assert!(sum > 0, "a scenario needs a positive weight");
        Self {
            ops: mix.iter().map(|(op, _)| *op).collect(),
            cumulative,
        }
    }

    /// One operation.
    pub fn pick(&self, rng: &mut impl Rng) -> Op {
        let total = *self.cumulative.last().expect("non-empty");
        let x = rng.random_range(0..total);
        self.ops[self.cumulative.partition_point(|&c| c <= x)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;
    use rand::{SeedableRng, rngs::StdRng};
    use std::collections::HashMap;

    fn share(s: Scenario, cat: Category) -> f64 {
        let total: u32 = s.mix().iter().map(|(_, w)| w).sum();
        let part: u32 = s
            .mix()
            .iter()
            .filter(|(op, _)| op.category() == cat)
            .map(|(_, w)| w)
            .sum();
        f64::from(part) / f64::from(total)
    }

    #[test]
    fn thrift_shop_mix_is_50_25_25() {
        let s = Scenario::ThriftShopMix;
        assert_eq!(s.mix().iter().map(|(_, w)| w).sum::<u32>(), 100);
        assert_eq!(share(s, Category::CatalogRead), 0.50);
        assert_eq!(share(s, Category::Write), 0.25);
        assert_eq!(share(s, Category::PersonalRead), 0.25);
    }

    #[test]
    fn every_scenario_is_well_formed() {
        for s in Scenario::value_variants() {
            let mix = s.mix();
            assert!(!mix.is_empty() && mix.iter().all(|(_, w)| *w > 0), "{s:?}");
            let mut ops: Vec<_> = mix.iter().map(|(op, _)| op.name()).collect();
            ops.sort();
            ops.dedup();
            assert_eq!(ops.len(), mix.len(), "{s:?} lists an operation twice");
            assert_eq!(
                s.to_possible_value().unwrap().get_name(),
                s.name(),
                "CLI name"
            );
        }
        assert_eq!(share(Scenario::Journey, Category::Write), 3.0 / 19.0);
    }

    #[test]
    fn picks_follow_the_weights() {
        let picker = Picker::new(Scenario::ThriftShopMix.mix());
        let mut rng = StdRng::seed_from_u64(3);
        let n = 200_000;
        let mut counts: HashMap<Op, u32> = HashMap::new();
        for _ in 0..n {
            *counts.entry(picker.pick(&mut rng)).or_default() += 1;
        }
        for (op, w) in Scenario::ThriftShopMix.mix() {
            let got = f64::from(counts[op]) / f64::from(n);
            let want = f64::from(*w) / 100.0;
            assert!((got - want).abs() < 0.005, "{op:?}: {got} vs {want}");
        }
        let one = Picker::new(&[(Op::Cart, 0), (Op::Products, 1)]);
        assert!((0..100).all(|_| one.pick(&mut rng) == Op::Products));
    }
}
