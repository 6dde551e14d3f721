//! Recommender domain (pure): what a placed order contributes to the co-purchase projection, and how
//! recommendations are ranked.
//!
//! - popularity\[p\] += quantity bought of p;
//! - for each ordered pair (a, b), a ≠ b, of the order's distinct products: co\[a\]\[b\] += 1;
//! - the customer (if any) has bought each of the order's products.
//!
//! Ranking: co-purchase counts (desc, then id), skipping excluded ids, then a "fill" list (popular products),
//! without duplicates, up to the limit.
use std::collections::{BTreeMap, HashSet};

use shop_kernel::{Error, Result};

/// Largest `limit` a caller may ask for.
pub const MAX_LIMIT: i32 = 50;
/// Pairs are counted among at most this many distinct products of one order (bounds the work per order).
pub const MAX_PAIR_PRODUCTS: usize = 100;
/// At most this many of a customer's purchases seed their recommendations.
pub const MAX_CUSTOMER_SEEDS: usize = 500;

/// An order line as the projection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedLine {
    pub product_id: String,
    pub quantity: i64,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub order_id: String,
    pub customer_id: Option<String>,
    pub lines: Vec<OrderedLine>,
}

/// What one placed order changes in the projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderDelta {
    /// (product, units), by product id.
    pub popularity: Vec<(String, i64)>,
    /// Ordered pairs (a, b), a ≠ b, each counted once.
    pub pairs: Vec<(String, String)>,
    /// The buying customer and the distinct products they bought.
    pub customer: Option<(String, Vec<String>)>,
}

/// The projection change of `order`. Lines with a malformed product id or a non-positive quantity are ignored;
/// a malformed customer id is treated as a guest.
pub fn order_delta(order: &PlacedOrder) -> OrderDelta {
    let mut units: BTreeMap<&str, i64> = BTreeMap::new();
    for l in &order.lines {
        if l.quantity > 0 && shop_kernel::ids::is_valid_token(&l.product_id) {
            let e = units.entry(l.product_id.as_str()).or_insert(0);
            *e = e.saturating_add(l.quantity);
        }
    }
    let products: Vec<String> = units.keys().map(|p| p.to_string()).collect();
    let paired = &products[..products.len().min(MAX_PAIR_PRODUCTS)];
    let pairs = paired
        .iter()
        .flat_map(|a| {
            paired
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (a.clone(), b.clone()))
        })
        .collect();
    let customer = order
        .customer_id
        .as_ref()
        .filter(|c| shop_kernel::ids::is_valid_token(c) && !products.is_empty())
        .map(|c| (c.clone(), products.clone()));
    OrderDelta {
        popularity: units.into_iter().map(|(p, n)| (p.to_string(), n)).collect(),
        pairs,
        customer,
    }
}

/// Validates a requested number of recommendations (1..=[`MAX_LIMIT`]).
pub fn validate_limit(limit: i32) -> Result<usize> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "INVALID_LIMIT",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        )
        .with_field(["limit"]));
    }
    Ok(limit as usize)
}

/// Validates an id argument: a malformed id is `INVALID_ID` on `field`.
pub fn validate_id(field: &'static str, id: &str) -> Result<()> {
    if !shop_kernel::ids::is_valid_token(id) {
        return Err(
            Error::invalid("INVALID_ID", format!("`{field}` is not a valid id"))
                .with_field([field]),
        );
    }
    Ok(())
}

/// Sorts scored candidates best first: count desc, then id.
pub fn sort_scored(scored: &mut [(String, i64)]) {
    scored.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

/// Recommendations: `scored` (best first after sorting), then `fill`, skipping `exclude` and duplicates,
/// at most `limit`.
pub fn rank(
    mut scored: Vec<(String, i64)>,
    fill: &[String],
    exclude: &HashSet<String>,
    limit: usize,
) -> Vec<String> {
    sort_scored(&mut scored);
    let mut seen: HashSet<&str> = exclude.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(limit);
    for id in scored.iter().map(|(id, _)| id).chain(fill.iter()) {
        if out.len() >= limit {
            break;
        }
        if seen.insert(id.as_str()) {
            out.push(id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(customer: Option<&str>, lines: &[(&str, i64)]) -> PlacedOrder {
        PlacedOrder {
            order_id: "o1".into(),
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn delta_counts_units_pairs_and_customer() {
        let d = order_delta(&order(
            Some("c1"),
            &[("b", 2), ("a", 1), ("b", 3), ("bad id", 4), ("z", 0)],
        ));
        assert_eq!(
            d.popularity,
            vec![("a".to_string(), 1), ("b".to_string(), 5)]
        );
        assert_eq!(
            d.pairs,
            vec![
                ("a".to_string(), "b".to_string()),
                ("b".to_string(), "a".to_string())
            ]
        );
        assert_eq!(d.customer, Some(("c1".to_string(), s(&["a", "b"]))));
        let guest = order_delta(&order(None, &[("a", 1)]));
        assert!(guest.pairs.is_empty() && guest.customer.is_none());
        assert_eq!(
            order_delta(&order(Some("no/pe"), &[("a", 1)])).customer,
            None
        );
        assert_eq!(order_delta(&order(Some("c1"), &[])), OrderDelta::default());
    }

    #[test]
    fn ranking_uses_scores_then_fill() {
        let scored = vec![
            ("c".to_string(), 1),
            ("b".to_string(), 3),
            ("a".to_string(), 3),
            ("x".to_string(), 9),
        ];
        let exclude: HashSet<String> = ["x".to_string()].into();
        assert_eq!(
            rank(scored.clone(), &s(&["p", "a", "x", "q"]), &exclude, 10),
            s(&["a", "b", "c", "p", "q"])
        );
        assert_eq!(rank(scored, &s(&["p"]), &exclude, 2), s(&["a", "b"]));
        assert!(rank(vec![], &[], &HashSet::new(), 5).is_empty());
    }

    #[test]
    fn limits_and_ids() {
        assert_eq!(validate_limit(0).unwrap_err().code, "INVALID_LIMIT");
        assert_eq!(validate_limit(51).unwrap_err().field, vec!["limit"]);
        assert_eq!(validate_limit(50).unwrap(), 50);
        assert_eq!(
            validate_id("product_id", "a b").unwrap_err().code,
            "INVALID_ID"
        );
        assert!(validate_id("product_id", "prod_0001").is_ok());
    }

    proptest! {
        #[test]
        fn pairs_are_all_distinct_ordered_pairs(ids in proptest::collection::vec("[a-e]", 0..8)) {
            let lines: Vec<(&str, i64)> = ids.iter().map(|i| (i.as_str(), 1)).collect();
            let d = order_delta(&order(Some("c"), &lines));
            let distinct: HashSet<&String> = ids.iter().collect();
            let n = distinct.len();
            prop_assert_eq!(d.pairs.len(), n * n.saturating_sub(1));
            prop_assert!(d.pairs.iter().all(|(a, b)| a != b));
            let unique: HashSet<_> = d.pairs.iter().collect();
            prop_assert_eq!(unique.len(), d.pairs.len());
            prop_assert_eq!(d.popularity.iter().map(|(_, n)| *n).sum::<i64>(), ids.len() as i64);
        }

        #[test]
        fn rank_output_is_bounded_unique_and_excludes(
            scored in proptest::collection::vec(("[a-h]", 0i64..5), 0..10),
            fill in proptest::collection::vec("[a-h]", 0..10),
            exclude in proptest::collection::hash_set("[a-h]", 0..3),
            limit in 1usize..12,
        ) {
            let out = rank(scored, &fill, &exclude, limit);
            prop_assert!(out.len() <= limit);
            let unique: HashSet<_> = out.iter().collect();
            prop_assert_eq!(unique.len(), out.len());
            prop_assert!(out.iter().all(|x| !exclude.contains(x)));
        }
    }
}
