//! Operator actions on a running shop through the services' own Thrift APIs, as the `admin` identity (signed
//! with the admin key of the shop's service keys, see `Config::service_auth`) and an internal caller: appointing
//! staff (`thriftshop staff grant`) and setting stock (tests and the load generator; staff use `inventoryAdjust`).
use std::net::SocketAddr;

use anyhow::Context;
use shop_idl::{inventory, user};
use shop_kernel::Actor;
use shop_rpc::{
    ClientSettings,
    auth::{Identity, ServiceAuth},
    build_client, call, with_actor,
};

/// Sets the on-hand stock of a variant (`variant` is a raw id or a `gid://thriftshop/ProductVariant/…` id)
/// through the inventory service listening at `inventory_addr`.
pub async fn set_stock(
    auth: &ServiceAuth,
    inventory_addr: SocketAddr,
    variant: &str,
    quantity: i64,
) -> anyhow::Result<()> {
    let client = build_client!(
        inventory::InventoryServiceClientBuilder,
        "inventory",
        inventory_addr,
        ClientSettings::default(),
        auth.credentials(Identity::Admin)?
    );
    let variant_id = variant.rsplit('/').next().unwrap_or(variant).to_string();
    let req = inventory::AdjustStockRequest {
        variant_id: variant_id.into(),
        kind: inventory::AdjustmentKind::SET,
        quantity,
        reason: "set by an operator".into(),
    };
    let system = Actor::internal();
    with_actor(&system, async {
        call("inventory", client.adjust_stock(req).await)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    .context("setting stock")?;
    Ok(())
}

/// Grants exactly `permissions` (stable names such as `MANAGE_ORDERS`; empty revokes staff status) to the
/// registered customer with `email`, through the user service listening at `user_addr`. Returns the permissions
/// now held.
pub async fn set_staff_permissions(
    auth: &ServiceAuth,
    user_addr: SocketAddr,
    email: &str,
    permissions: &[String],
) -> anyhow::Result<Vec<String>> {
    let client = build_client!(
        user::UserServiceClientBuilder,
        "user",
        user_addr,
        ClientSettings::default(),
        auth.credentials(Identity::Admin)?
    );
    let req = user::SetPermissionsRequest {
        email: email.to_string().into(),
        permissions: permissions.iter().map(|p| p.clone().into()).collect(),
    };
    let resp = with_actor(&Actor::internal(), async {
        call("user", client.set_permissions(req).await)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
    .context("setting staff permissions")?;
    Ok(resp
        .customer
        .permissions
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_string())
        .collect())
}
