//! Catalog domain (pure): products, variants, collections, the in-memory read index with search, sorting and
//! batch lookups, the best-selling projection rules and the demo catalog.
//!
//! No async, no I/O, no wire types.

pub mod demo;
pub mod query;
pub mod write;

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
};

use shop_kernel::{Error, Money, Result};

pub use query::{Filter, PriceCmp, Query};

/// Most ids a batch read accepts.
pub const MAX_BATCH_IDS: usize = 250;
/// Longest handle accepted in a lookup.
pub const MAX_HANDLE_LEN: usize = 255;
/// Default page size of searches and listings.
pub const DEFAULT_PAGE_SIZE: i64 = 20;

/// An image by URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    pub url: String,
    pub alt_text: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

/// One chosen option value of a variant, e.g. `Size = M`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectedOption {
    pub name: String,
    pub value: String,
}

/// A purchasable variant of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub id: String,
    pub product_id: String,
    pub sku: String,
    pub title: String,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub options: Vec<SelectedOption>,
    pub image: Option<Image>,
    /// 1-based position within the product.
    pub position: i32,
}

/// A product; its variants are referenced by id, in position order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub images: Vec<Image>,
    pub variant_ids: Vec<String>,
    pub collection_ids: Vec<String>,
    /// Lowest variant price.
    pub min_price: Money,
    /// Highest variant price.
    pub max_price: Money,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Version of the product: the sequence number of its stream's last event (1 when published or created;
    /// each update adds one).
    pub version: i64,
}

/// A curated group of products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub description: String,
    pub image: Option<Image>,
    pub updated_at_ms: i64,
}

/// Everything the catalog holds: the unit of loading and seeding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogData {
    /// In display order.
    pub collections: Vec<Collection>,
    /// In creation order.
    pub products: Vec<Product>,
    pub variants: Vec<Variant>,
    /// Units sold per product id (the best-selling projection).
    pub units_sold: Vec<(String, i64)>,
}

/// How search results are ordered. Every order is total: ties are broken by product id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Match score (best first), then title.
    Relevance,
    Title,
    /// Lowest variant price.
    Price,
    CreatedAt,
    UpdatedAt,
    Id,
    /// Units sold, most first.
    BestSelling,
    ProductType,
    Vendor,
}

/// An order line as the best-selling projection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldLine {
    pub product_id: String,
    pub quantity: i64,
}

/// Units sold per product in one placed order: lines of the same product are summed, non-positive quantities
/// and malformed product ids are ignored. Sorted by product id (deterministic).
pub fn units_per_product(lines: &[SoldLine]) -> Vec<(String, i64)> {
    let mut acc: HashMap<&str, i64> = HashMap::new();
    for l in lines {
        if l.quantity > 0 && shop_kernel::ids::is_valid_token(&l.product_id) {
            let e = acc.entry(l.product_id.as_str()).or_insert(0);
            *e = e.saturating_add(l.quantity);
        }
    }
    let mut out: Vec<(String, i64)> = acc.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    out.sort();
    out
}

/// Validates a batch of ids: at most [`MAX_BATCH_IDS`]; returns them deduplicated in request order.
/// Malformed ids are kept (they are simply not found).
pub fn dedupe_ids(ids: &[String]) -> Result<Vec<&str>> {
    if ids.len() > MAX_BATCH_IDS {
        return Err(Error::invalid(
            "TOO_MANY_IDS",
            format!("at most {MAX_BATCH_IDS} ids may be requested at once"),
        )
        .with_field(["ids"]));
    }
    let mut seen = HashSet::new();
    Ok(ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect())
}

/// Validates a handle given for a lookup.
pub fn validate_handle(handle: &str) -> Result<()> {
    if handle.len() > MAX_HANDLE_LEN {
        return Err(Error::invalid(
            "INVALID_HANDLE",
            format!("a handle has at most {MAX_HANDLE_LEN} characters"),
        )
        .with_field(["handle"]));
    }
    Ok(())
}

/// Lowercased text of a product used by search.
#[derive(Debug, Clone)]
pub(crate) struct SearchDoc {
    pub title: String,
    pub description: String,
    pub vendor: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub skus: Vec<String>,
}

impl SearchDoc {
    fn of<'a>(p: &Product, variant: impl Fn(&str) -> Option<&'a Variant>) -> Self {
        SearchDoc {
            title: p.title.to_lowercase(),
            description: p.description.to_lowercase(),
            vendor: p.vendor.to_lowercase(),
            product_type: p.product_type.to_lowercase(),
            tags: p.tags.iter().map(|t| t.to_lowercase()).collect(),
            skus: p
                .variant_ids
                .iter()
                .filter_map(|v| variant(v))
                .map(|v| v.sku.to_lowercase())
                .collect(),
        }
    }
}

/// The read model: every product, variant and collection, indexed for lookups and search.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    products: Vec<Product>,
    docs: Vec<SearchDoc>,
    product_by_id: HashMap<String, usize>,
    product_by_handle: HashMap<String, usize>,
    variants: HashMap<String, Variant>,
    variant_by_sku: HashMap<String, String>,
    collections: Vec<Collection>,
    collection_by_id: HashMap<String, usize>,
    collection_by_handle: HashMap<String, usize>,
    units_sold: HashMap<String, i64>,
}

impl Catalog {
    /// Builds the index from loaded data.
    pub fn new(data: CatalogData) -> Self {
        let CatalogData {
            collections,
            products,
            variants,
            units_sold,
        } = data;
        let variants: HashMap<String, Variant> =
            variants.into_iter().map(|v| (v.id.clone(), v)).collect();
        let docs = products
            .iter()
            .map(|p| SearchDoc::of(p, |id| variants.get(id)))
            .collect();
        Self {
            variant_by_sku: variants
                .values()
                .map(|v| (v.sku.clone(), v.id.clone()))
                .collect(),
            product_by_id: products
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i))
                .collect(),
            product_by_handle: products
                .iter()
                .enumerate()
                .map(|(i, p)| (p.handle.clone(), i))
                .collect(),
            collection_by_id: collections
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.clone(), i))
                .collect(),
            collection_by_handle: collections
                .iter()
                .enumerate()
                .map(|(i, c)| (c.handle.clone(), i))
                .collect(),
            units_sold: units_sold.into_iter().collect(),
            products,
            docs,
            variants,
            collections,
        }
    }

    /// Number of products.
    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// A product by id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.product_by_id.get(id).map(|&i| &self.products[i])
    }

    /// A product by handle.
    pub fn product_by_handle(&self, handle: &str) -> Option<&Product> {
        self.product_by_handle
            .get(handle)
            .map(|&i| &self.products[i])
    }

    /// A variant by id.
    pub fn variant(&self, id: &str) -> Option<&Variant> {
        self.variants.get(id)
    }

    /// A collection by id.
    pub fn collection(&self, id: &str) -> Option<&Collection> {
        self.collection_by_id.get(id).map(|&i| &self.collections[i])
    }

    /// A collection by handle.
    pub fn collection_by_handle(&self, handle: &str) -> Option<&Collection> {
        self.collection_by_handle
            .get(handle)
            .map(|&i| &self.collections[i])
    }

    /// All collections in display order.
    pub fn collections(&self) -> &[Collection] {
        &self.collections
    }

    /// The variants of a product, in position order.
    pub fn variants_of(&self, product: &Product) -> Vec<Variant> {
        product
            .variant_ids
            .iter()
            .filter_map(|id| self.variants.get(id).cloned())
            .collect()
    }

    /// The variant holding `sku`, if any.
    pub fn variant_by_sku(&self, sku: &str) -> Option<&Variant> {
        self.variant_by_sku
            .get(sku)
            .and_then(|id| self.variants.get(id))
    }

    /// Puts a written product (and all its variants) into the index, unless the index already holds that
    /// product at the same or a newer version (events may arrive again or late). Returns whether it changed.
    pub fn upsert(&mut self, product: Product, variants: Vec<Variant>) -> bool {
        let slot = self.product_by_id.get(&product.id).copied();
        if let Some(i) = slot {
            let old = &self.products[i];
            if old.version >= product.version {
                return false;
            }
            if self.product_by_handle.get(&old.handle) == Some(&i) {
                self.product_by_handle.remove(&old.handle);
            }
            for vid in old.variant_ids.clone() {
                if let Some(v) = self.variants.remove(&vid)
                    && self.variant_by_sku.get(&v.sku) == Some(&vid)
                {
                    self.variant_by_sku.remove(&v.sku);
                }
            }
        }
        for v in variants {
            self.variant_by_sku.insert(v.sku.clone(), v.id.clone());
            self.variants.insert(v.id.clone(), v);
        }
        let doc = SearchDoc::of(&product, |id| self.variants.get(id));
        let i = match slot {
            Some(i) => {
                self.products[i] = product;
                self.docs[i] = doc;
                i
            }
            None => {
                self.products.push(product);
                self.docs.push(doc);
                self.products.len() - 1
            }
        };
        let p = &self.products[i];
        self.product_by_id.insert(p.id.clone(), i);
        self.product_by_handle.insert(p.handle.clone(), i);
        true
    }

    /// Units sold of a product (0 if never sold).
    pub fn units_sold(&self, product_id: &str) -> i64 {
        self.units_sold.get(product_id).copied().unwrap_or(0)
    }

    /// Adds sold units (from one placed order) to the best-selling projection.
    pub fn add_units_sold(&mut self, sales: &[(String, i64)]) {
        for (id, n) in sales {
            let e = self.units_sold.entry(id.clone()).or_insert(0);
            *e = e.saturating_add(*n);
        }
    }

    /// The products matching `query` (and, if given, in `collection_id`), fully ordered by `sort`
    /// (reversed if `reverse`). Unknown collections match nothing.
    pub fn search(
        &self,
        query: &Query,
        collection_id: Option<&str>,
        sort: SortKey,
        reverse: bool,
    ) -> Vec<&Product> {
        let mut hits: Vec<(usize, u32)> = self
            .products
            .iter()
            .enumerate()
            .filter(|(_, p)| collection_id.is_none_or(|c| p.collection_ids.iter().any(|x| x == c)))
            .filter_map(|(i, p)| {
                query
                    .score(&self.docs[i], p.min_price.amount_minor)
                    .map(|s| (i, s))
            })
            .collect();
        hits.sort_by(|a, b| {
            let o = self.compare(a, b, sort);
            if reverse { o.reverse() } else { o }
        });
        hits.into_iter().map(|(i, _)| &self.products[i]).collect()
    }

    fn compare(&self, &(a, sa): &(usize, u32), &(b, sb): &(usize, u32), sort: SortKey) -> Ordering {
        let (pa, pb) = (&self.products[a], &self.products[b]);
        let (da, db) = (&self.docs[a], &self.docs[b]);
        let primary = match sort {
            SortKey::Relevance => sb.cmp(&sa).then_with(|| da.title.cmp(&db.title)),
            SortKey::Title => da.title.cmp(&db.title),
            SortKey::Price => pa.min_price.amount_minor.cmp(&pb.min_price.amount_minor),
            SortKey::CreatedAt => pa.created_at_ms.cmp(&pb.created_at_ms),
            SortKey::UpdatedAt => pa.updated_at_ms.cmp(&pb.updated_at_ms),
            SortKey::Id => Ordering::Equal,
            SortKey::BestSelling => self.units_sold(&pb.id).cmp(&self.units_sold(&pa.id)),
            SortKey::ProductType => da.product_type.cmp(&db.product_type),
            SortKey::Vendor => da.vendor.cmp(&db.vendor),
        };
        primary.then_with(|| pa.id.cmp(&pb.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(n: i64) -> Money {
        Money::new(n, "USD")
    }

    fn product(id: &str, title: &str, price: i64, created: i64) -> (Product, Variant) {
        let v = Variant {
            id: format!("v-{id}"),
            product_id: id.into(),
            sku: format!("SKU-{id}"),
            title: "Default".into(),
            price: usd(price),
            compare_at_price: None,
            options: vec![],
            image: None,
            position: 1,
        };
        let p = Product {
            id: id.into(),
            handle: title.to_lowercase().replace(' ', "-"),
            title: title.into(),
            description: format!("All about {title}"),
            vendor: if price > 1000 {
                "Acme Co".into()
            } else {
                "Bolt".into()
            },
            product_type: "Thing".into(),
            tags: vec!["red".into()],
            images: vec![],
            variant_ids: vec![v.id.clone()],
            collection_ids: if price > 1000 {
                vec!["c1".into()]
            } else {
                vec![]
            },
            min_price: usd(price),
            max_price: usd(price),
            created_at_ms: created,
            updated_at_ms: created,
            version: 1,
        };
        (p, v)
    }

    fn sample() -> Catalog {
        let items = [
            product("p1", "Red Shirt", 1500, 3),
            product("p2", "Blue Shirt", 900, 1),
            product("p3", "Red Mug", 500, 2),
            product("p4", "Apple", 900, 4),
        ];
        Catalog::new(CatalogData {
            collections: vec![],
            products: items.iter().map(|(p, _)| p.clone()).collect(),
            variants: items.iter().map(|(_, v)| v.clone()).collect(),
            units_sold: vec![("p3".into(), 7), ("p2".into(), 2)],
        })
    }

    fn ids(v: Vec<&Product>) -> Vec<&str> {
        v.into_iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn sorting_by_every_key() {
        let c = sample();
        let all = Query::default();
        assert_eq!(
            ids(c.search(&all, None, SortKey::Title, false)),
            ["p4", "p2", "p3", "p1"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::Price, false)),
            ["p3", "p2", "p4", "p1"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::Price, true)),
            ["p1", "p4", "p2", "p3"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::CreatedAt, false)),
            ["p2", "p3", "p1", "p4"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::UpdatedAt, true)),
            ["p4", "p1", "p3", "p2"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::Id, false)),
            ["p1", "p2", "p3", "p4"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::BestSelling, false)),
            ["p3", "p2", "p1", "p4"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::Vendor, false)),
            ["p1", "p2", "p3", "p4"]
        );
        assert_eq!(
            ids(c.search(&all, None, SortKey::ProductType, false)),
            ["p1", "p2", "p3", "p4"]
        );
        // No free words: relevance falls back to title.
        assert_eq!(
            ids(c.search(&all, None, SortKey::Relevance, false)),
            ["p4", "p2", "p3", "p1"]
        );
    }

    #[test]
    fn relevance_prefers_title_matches() {
        let c = sample();
        let q = query::parse("shirt").unwrap();
        assert_eq!(
            ids(c.search(&q, None, SortKey::Relevance, false)),
            ["p2", "p1"]
        );
        let q = query::parse("red").unwrap();
        // p1 and p3 have "red" in title and tags, p2 and p4 only in tags.
        assert_eq!(
            ids(c.search(&q, None, SortKey::Relevance, false)),
            ["p3", "p1", "p4", "p2"]
        );
    }

    #[test]
    fn filters_and_collections() {
        let c = sample();
        let q = query::parse("vendor:\"acme co\"").unwrap();
        assert_eq!(ids(c.search(&q, None, SortKey::Id, false)), ["p1"]);
        let q = query::parse("price:<10").unwrap();
        assert_eq!(
            ids(c.search(&q, None, SortKey::Id, false)),
            ["p2", "p3", "p4"]
        );
        let q = query::parse("price:>=9 price:<=15").unwrap();
        assert_eq!(
            ids(c.search(&q, None, SortKey::Id, false)),
            ["p1", "p2", "p4"]
        );
        let q = query::parse("sku:sku-p3").unwrap();
        assert_eq!(ids(c.search(&q, None, SortKey::Id, false)), ["p3"]);
        assert_eq!(
            ids(c.search(&Query::default(), Some("c1"), SortKey::Id, false)),
            ["p1"]
        );
        assert!(
            c.search(&Query::default(), Some("nope"), SortKey::Id, false)
                .is_empty()
        );
    }

    #[test]
    fn best_selling_projection_accumulates() {
        let mut c = sample();
        let sales = units_per_product(&[
            SoldLine {
                product_id: "p4".into(),
                quantity: 5,
            },
            SoldLine {
                product_id: "p4".into(),
                quantity: 5,
            },
            SoldLine {
                product_id: "p1".into(),
                quantity: 0,
            },
            SoldLine {
                product_id: "bad id".into(),
                quantity: 3,
            },
        ]);
        assert_eq!(sales, vec![("p4".to_string(), 10)]);
        c.add_units_sold(&sales);
        assert_eq!(c.units_sold("p4"), 10);
        assert_eq!(
            ids(c.search(&Query::default(), None, SortKey::BestSelling, false))[0],
            "p4"
        );
    }

    #[test]
    fn batch_ids_are_deduped_and_capped() {
        let ids: Vec<String> = ["a", "b", "a", "c", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(dedupe_ids(&ids).unwrap(), ["a", "b", "c"]);
        let many: Vec<String> = (0..251).map(|i| i.to_string()).collect();
        assert_eq!(dedupe_ids(&many).unwrap_err().code, "TOO_MANY_IDS");
        assert_eq!(
            validate_handle(&"x".repeat(256)).unwrap_err().code,
            "INVALID_HANDLE"
        );
        assert!(validate_handle("red-shirt").is_ok());
    }

    proptest! {
        #[test]
        fn every_sort_is_total_and_reverse_is_exact(key in 0usize..9) {
            let keys = [
                SortKey::Relevance, SortKey::Title, SortKey::Price, SortKey::CreatedAt, SortKey::UpdatedAt,
                SortKey::Id, SortKey::BestSelling, SortKey::ProductType, SortKey::Vendor,
            ];
            let c = Catalog::new(demo::demo_catalog(1_700_000_000_000));
            let fwd = ids(c.search(&Query::default(), None, keys[key], false));
            let mut back = ids(c.search(&Query::default(), None, keys[key], true));
            back.reverse();
            prop_assert_eq!(&fwd, &back);
            prop_assert_eq!(fwd.len(), c.product_count());
        }
    }
}
