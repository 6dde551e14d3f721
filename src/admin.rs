//! Operator actions on a running shop through the services' own Thrift APIs, as an internal caller (used by
//! tests and the load generator; the staff GraphQL API comes with roles).
use std::net::SocketAddr;

use anyhow::Context;
use shop_idl::inventory;
use shop_kernel::Actor;
use shop_rpc::{ClientSettings, build_client, call, with_actor};

/// Sets the on-hand stock of a variant (`variant` is a raw id or a `gid://thriftshop/ProductVariant/…` id)
/// through the inventory service listening at `inventory_addr`.
pub async fn set_stock(
    inventory_addr: SocketAddr,
    variant: &str,
    quantity: i64,
) -> anyhow::Result<()> {
    let client = build_client!(
        inventory::InventoryServiceClientBuilder,
        "inventory",
        inventory_addr,
        ClientSettings::default()
    );
    let variant_id = variant.rsplit('/').next().unwrap_or(variant).to_string();
    let req = inventory::AdjustStockRequest {
        variant_id: variant_id.into(),
        kind: inventory::AdjustmentKind::SET,
        quantity,
        reason: "set by an operator".into(),
    };
    let system = Actor {
        customer_id: None,
        system: true,
    };
    with_actor(&system, async {
        call("inventory", client.adjust_stock(req).await)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    .context("setting stock")?;
    Ok(())
}
