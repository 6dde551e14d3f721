//! Recommender use cases over the projection store and the catalog (for a fresh shop's fallback).
//!
//! Id policy: a malformed `product_id`/`customer_id` is `INVALID_ARGUMENT`/`INVALID_ID`; a well-formed but
//! unknown id simply has no co-purchases (popular products fill the list).
//! `for_customer` returns an empty list when the caller is neither that customer nor the system, so it does not
//! reveal whether the customer bought anything.
use std::{collections::HashSet, future::Future};

use shop_kernel::{Actor, Result};

use crate::{
    domain::{self, MAX_CUSTOMER_SEEDS, PlacedOrder},
    store::RecommenderStore,
};

/// Most products asked of the catalog for the fallback (its page size cap).
const MAX_CATALOG_FILL: usize = 250;

/// What the recommender needs from the catalog.
pub trait CatalogPort: Send + Sync + 'static {
    /// Ids of the newest products, newest first, at most `limit`.
    fn newest_products(&self, limit: usize) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// The recommender application.
pub struct RecommenderApp<S, C> {
    store: S,
    catalog: C,
}

impl<S: RecommenderStore, C: CatalogPort> RecommenderApp<S, C> {
    /// An application over `store`, falling back to `catalog`.
    pub fn new(store: S, catalog: C) -> Self {
        Self { store, catalog }
    }

    /// Applies a placed order to the projection, once per `event_id`; returns whether it was new.
    pub async fn record_order_placed(&self, event_id: &str, order: &PlacedOrder) -> Result<bool> {
        Ok(self
            .store
            .apply_order(event_id, domain::order_delta(order))
            .await?)
    }

    /// Up to `want` popular product ids not in `exclude`: best sellers first, then (when there are not enough
    /// sales yet) the catalog's newest products. A catalog failure only shortens the list.
    async fn popular_fill(&self, want: usize, exclude: &HashSet<String>) -> Result<Vec<String>> {
        let popular = self.store.popular(want + exclude.len()).await?;
        let mut out = domain::rank(popular, &[], exclude, want);
        if out.len() < want {
            let ask = (want + exclude.len()).min(MAX_CATALOG_FILL);
            match self.catalog.newest_products(ask).await {
                Ok(newest) => {
                    let mut skip = exclude.clone();
                    skip.extend(out.iter().cloned());
                    let more = domain::rank(Vec::new(), &newest, &skip, want - out.len());
                    out.extend(more);
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "catalog fallback unavailable; returning fewer products")
                }
            }
        }
        Ok(out)
    }

    /// Products most often bought together with `product_id`, then popular products.
    pub async fn related(&self, product_id: &str, limit: i32) -> Result<Vec<String>> {
        let limit = domain::validate_limit(limit)?;
        domain::validate_id("product_id", product_id)?;
        let exclude: HashSet<String> = [product_id.to_string()].into();
        let co = self
            .store
            .co_purchased(vec![product_id.to_string()], limit + 1)
            .await?;
        self.finish(co, exclude, limit).await
    }

    /// Products co-purchased with what the customer bought (excluding those), then popular products.
    /// Empty unless `actor` is that customer or the system.
    pub async fn for_customer(
        &self,
        actor: &Actor,
        customer_id: &str,
        limit: i32,
    ) -> Result<Vec<String>> {
        let limit = domain::validate_limit(limit)?;
        domain::validate_id("customer_id", customer_id)?;
        if !actor.may_access(Some(customer_id)) {
            return Ok(Vec::new());
        }
        let bought = self
            .store
            .customer_products(customer_id, MAX_CUSTOMER_SEEDS)
            .await?;
        let co = self
            .store
            .co_purchased(bought.clone(), limit + bought.len())
            .await?;
        self.finish(co, bought.into_iter().collect(), limit).await
    }

    /// The most popular products (with the catalog's newest as fallback).
    pub async fn popular(&self, limit: i32) -> Result<Vec<String>> {
        let limit = domain::validate_limit(limit)?;
        self.popular_fill(limit, &HashSet::new()).await
    }

    async fn finish(
        &self,
        co: Vec<(String, i64)>,
        exclude: HashSet<String>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let mut out = domain::rank(co, &[], &exclude, limit);
        if out.len() < limit {
            let mut skip = exclude;
            skip.extend(out.iter().cloned());
            let fill = self.popular_fill(limit - out.len(), &skip).await?;
            out.extend(fill);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use shop_kernel::Error;

    use super::*;
    use crate::{
        domain::OrderedLine,
        store::{memory::MemoryRecommenderStore, sqlite::SqliteRecommenderStore},
    };

    struct FakeCatalog(Option<Vec<String>>);

    impl CatalogPort for FakeCatalog {
        async fn newest_products(&self, limit: usize) -> Result<Vec<String>> {
            match &self.0 {
                Some(v) => Ok(v.iter().take(limit).cloned().collect()),
                None => Err(Error::unavailable("SERVICE_UNAVAILABLE", "down")),
            }
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn order(customer: Option<&str>, lines: &[(&str, i64)]) -> PlacedOrder {
        PlacedOrder {
            order_id: shop_kernel::ids::new_id(),
            customer_id: customer.map(Into::into),
            lines: lines
                .iter()
                .map(|(p, q)| OrderedLine {
                    product_id: p.to_string(),
                    quantity: *q,
                })
                .collect(),
        }
    }

    async fn seeded<S: RecommenderStore>(
        store: S,
        catalog: Option<Vec<String>>,
    ) -> RecommenderApp<S, FakeCatalog> {
        let app = RecommenderApp::new(store, FakeCatalog(catalog));
        for (i, o) in [
            order(Some("c1"), &[("p1", 1), ("p2", 2)]),
            order(Some("c2"), &[("p1", 1), ("p3", 1)]),
            order(Some("c3"), &[("p1", 1), ("p2", 1)]),
            order(None, &[("p4", 10)]),
        ]
        .iter()
        .enumerate()
        {
            assert!(app.record_order_placed(&format!("e{i}"), o).await.unwrap());
        }
        // Redelivery changes nothing.
        assert!(
            !app.record_order_placed("e0", &order(Some("c1"), &[("p1", 100)]))
                .await
                .unwrap()
        );
        app
    }

    async fn scenario<S: RecommenderStore>(store: S) {
        let app = seeded(store, Some(s(&["n1", "p4", "n2", "n3"]))).await;
        assert_eq!(app.popular(3).await.unwrap(), s(&["p4", "p1", "p2"]));
        // Fewer products sold than asked: the catalog's newest fill the rest.
        assert_eq!(
            app.popular(6).await.unwrap(),
            s(&["p4", "p1", "p2", "p3", "n1", "n2"])
        );
        assert_eq!(app.related("p1", 3).await.unwrap(), s(&["p2", "p3", "p4"]));
        assert_eq!(app.related("p3", 2).await.unwrap(), s(&["p1", "p4"]));
        assert_eq!(app.related("unknown", 2).await.unwrap(), s(&["p4", "p1"]));
        let c1 = Actor::customer("c1");
        assert_eq!(
            app.for_customer(&c1, "c1", 3).await.unwrap(),
            s(&["p3", "p4", "n1"])
        );
        let system = Actor::internal();
        assert_eq!(
            app.for_customer(&system, "c1", 1).await.unwrap(),
            s(&["p3"])
        );
        assert!(
            app.for_customer(&Actor::customer("c2"), "c1", 3)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            app.for_customer(&Actor::guest(), "c1", 3)
                .await
                .unwrap()
                .is_empty()
        );
        // A customer with no purchases gets popular products.
        assert_eq!(
            app.for_customer(&Actor::customer("c9"), "c9", 2)
                .await
                .unwrap(),
            s(&["p4", "p1"])
        );

        assert_eq!(app.popular(0).await.unwrap_err().code, "INVALID_LIMIT");
        assert_eq!(
            app.related("p1", 51).await.unwrap_err().code,
            "INVALID_LIMIT"
        );
        assert_eq!(app.related("p 1", 5).await.unwrap_err().code, "INVALID_ID");
        assert_eq!(
            app.for_customer(&c1, "", 5).await.unwrap_err().field,
            vec!["customer_id"]
        );
    }

    #[tokio::test]
    async fn recommendations_over_memory_store() {
        scenario(MemoryRecommenderStore::new()).await;
    }

    #[tokio::test]
    async fn recommendations_over_sqlite_store() {
        scenario(SqliteRecommenderStore::open_in_memory().unwrap()).await;
    }

    #[tokio::test]
    async fn catalog_outage_only_shortens_the_list() {
        let app = seeded(MemoryRecommenderStore::new(), None).await;
        assert_eq!(app.popular(10).await.unwrap(), s(&["p4", "p1", "p2", "p3"]));
        let fresh = RecommenderApp::new(
            MemoryRecommenderStore::new(),
            FakeCatalog(Some(s(&["n1", "n2"]))),
        );
        assert_eq!(fresh.popular(5).await.unwrap(), s(&["n1", "n2"]));
        assert_eq!(fresh.related("n1", 5).await.unwrap(), s(&["n2"]));
    }
}
