//! Demo stock: at start-up, every catalog variant without a stock record receives some stock, through the
//! services' own Thrift APIs (idempotent across restarts: variants with a record are left alone).
use anyhow::Context;
use shop_idl::{catalog, common, inventory};
use shop_kernel::Actor;
use shop_rpc::{
    ClientSettings, ServiceAddrs,
    auth::{Identity, ServiceAuth},
    build_client, call, with_actor,
};

/// A deterministic quantity in 5..=100 for a variant.
fn demo_quantity(variant_id: &str) -> i64 {
    let h = shop_kernel::ids::sha256_hex(variant_id.as_bytes());
    5 + i64::from_str_radix(&h[..4], 16).unwrap_or(0) % 96
}

/// How many times seeding is tried when a service is briefly unavailable (a slow store at start-up).
const SEED_ATTEMPTS: u32 = 5;

/// Seeds demo stock, retrying (with backoff) while a service answers `UNAVAILABLE`: seeding is idempotent,
/// and a start-up that merely found a store slow should not fail.
pub(crate) async fn seed_stock(
    addrs: ServiceAddrs,
    settings: ClientSettings,
    auth: &ServiceAuth,
) -> anyhow::Result<()> {
    let mut backoff = std::time::Duration::from_millis(500);
    for attempt in 1.. {
        match seed_once(addrs, settings, auth).await {
            Err(e) if attempt < SEED_ATTEMPTS && is_unavailable(&e) => {
                tracing::warn!(attempt, error = %format!("{e:#}"), "seeding demo stock failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            result => return result,
        }
    }
    unreachable!("the loop returns")
}

fn is_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<shop_kernel::Error>()
            .is_some_and(|k| k.kind == shop_kernel::ErrorKind::Unavailable)
    })
}

async fn seed_once(
    addrs: ServiceAddrs,
    settings: ClientSettings,
    auth: &ServiceAuth,
) -> anyhow::Result<()> {
    let catalog = build_client!(
        catalog::CatalogServiceClientBuilder,
        "catalog",
        addrs.catalog,
        settings,
        auth.credentials(Identity::Admin)?
    );
    let inventory = build_client!(
        inventory::InventoryServiceClientBuilder,
        "inventory",
        addrs.inventory,
        settings,
        auth.credentials(Identity::Admin)?
    );
    let system = Actor::internal();
    with_actor(&system, async {
        let mut after: Option<String> = None;
        let mut seeded = 0usize;
        loop {
            let req = catalog::SearchProductsRequest {
                query: None,
                collection_id: None,
                sort_key: catalog::ProductSortKey::ID,
                reverse: false,
                page: common::PageRequest {
                    first: Some(250),
                    after: after.clone().map(Into::into),
                    last: None,
                    before: None,
                },
            };
            let page =
                call("catalog", catalog.search_products(req).await).context("listing products")?;
            let variant_ids: Vec<pilota::FastStr> = page
                .products
                .iter()
                .flat_map(|p| p.variant_ids.iter().cloned())
                .collect();
            for chunk in variant_ids.chunks(250) {
                let known = call(
                    "inventory",
                    inventory
                        .get_stock(inventory::GetStockRequest {
                            variant_ids: chunk.to_vec(),
                        })
                        .await,
                )
                .context("reading stock")?;
                for v in chunk
                    .iter()
                    .filter(|v| !known.levels.iter().any(|l| &l.variant_id == *v))
                {
                    let req = inventory::AdjustStockRequest {
                        variant_id: v.clone(),
                        kind: inventory::AdjustmentKind::RECEIVE,
                        quantity: demo_quantity(v),
                        reason: "demo stock".into(),
                    };
                    call("inventory", inventory.adjust_stock(req).await)
                        .context("receiving demo stock")?;
                    seeded += 1;
                }
            }
            if !page.page_info.has_next_page {
                break;
            }
            after = page.page_info.end_cursor.map(|c| c.to_string());
        }
        if seeded > 0 {
            tracing::info!(variants = seeded, "seeded demo stock");
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn only_unavailable_services_are_retried() {
        let down: anyhow::Result<()> = Err(shop_kernel::Error::unavailable(
            "SERVICE_UNAVAILABLE",
            "down",
        ))
        .context("reading stock");
        assert!(is_unavailable(&down.unwrap_err()));
        let refused: anyhow::Result<()> = Err(shop_kernel::Error::permission_denied(
            "SERVICE_PERMISSION_DENIED",
            "no",
        ))
        .context("reading stock");
        assert!(!is_unavailable(&refused.unwrap_err()));
        assert!(!is_unavailable(&anyhow::anyhow!("no products")));
    }
}
