//! Thrift edge of the cart service: conversions, and the catalog/inventory ports implemented with Thrift clients.
use std::{collections::HashMap, sync::Arc};

use shop_idl::{
    cart as t,
    catalog::{self as cat, CatalogServiceClient},
    common,
    inventory::{self as inv, InventoryServiceClient},
};
use shop_kernel::{Error, Money, Page, PageRequest, Result};
use shop_rpc::{ServerResult, call, current_actor, reply};
use shop_store::EventStore;

use crate::{
    app::{
        App, Catalog, CreateInput, LineInput, LineUpdateInput, MergeMode, Mutation, Snapshot, Stock,
    },
    domain::{Attribute, BuyerIdentity, CartStatus, Merchandise},
};

/// The catalog port over the Thrift catalog client.
pub struct ThriftCatalog {
    client: CatalogServiceClient,
}

impl ThriftCatalog {
    /// Uses `client`.
    pub fn new(client: CatalogServiceClient) -> Self {
        Self { client }
    }
}

fn money(m: common::Money) -> Money {
    Money::new(m.amount_minor, m.currency.to_string())
}

fn money_to_wire(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

impl Catalog for ThriftCatalog {
    async fn merchandise(&self, variant_ids: Vec<String>) -> Result<Vec<Merchandise>> {
        let req = cat::GetVariantsRequest {
            ids: variant_ids.into_iter().map(Into::into).collect(),
        };
        let variants = call("catalog", self.client.get_variants(req).await)?.variants;
        let mut product_ids: Vec<pilota::FastStr> =
            variants.iter().map(|v| v.product_id.clone()).collect();
        product_ids.sort();
        product_ids.dedup();
        let titles: HashMap<String, String> = if product_ids.is_empty() {
            HashMap::new()
        } else {
            call(
                "catalog",
                self.client
                    .get_products(cat::GetProductsRequest { ids: product_ids })
                    .await,
            )?
            .products
            .into_iter()
            .map(|p| (p.id.to_string(), p.title.to_string()))
            .collect()
        };
        Ok(variants
            .into_iter()
            .map(|v| {
                let title = match titles.get(v.product_id.as_str()) {
                    Some(p) => format!("{p} / {}", v.title),
                    None => v.title.to_string(),
                };
                Merchandise {
                    variant_id: v.id.to_string(),
                    product_id: v.product_id.to_string(),
                    title,
                    sku: v.sku.to_string(),
                    unit_price: money(v.price),
                    compare_at_unit_price: v.compare_at_price.map(money),
                }
            })
            .collect())
    }
}

/// The stock port over the Thrift inventory client.
pub struct ThriftStock {
    client: InventoryServiceClient,
}

impl ThriftStock {
    /// Uses `client`.
    pub fn new(client: InventoryServiceClient) -> Self {
        Self { client }
    }
}

impl Stock for ThriftStock {
    async fn available(&self, variant_ids: Vec<String>) -> Result<HashMap<String, i64>> {
        let req = inv::GetStockRequest {
            variant_ids: variant_ids.into_iter().map(Into::into).collect(),
        };
        let levels = call("inventory", self.client.get_stock(req).await)?.levels;
        Ok(levels
            .into_iter()
            .map(|l| (l.variant_id.to_string(), l.available))
            .collect())
    }
}

/// The `CartService` implementation.
pub struct CartRpc<S, C, I> {
    app: Arc<App<S, C, I>>,
}

impl<S, C, I> CartRpc<S, C, I> {
    /// Serves `app`.
    pub fn new(app: Arc<App<S, C, I>>) -> Self {
        Self { app }
    }
}

fn attrs(a: Vec<common::Attribute>) -> Vec<Attribute> {
    a.into_iter()
        .map(|a| Attribute {
            key: a.key.to_string(),
            value: a.value.to_string(),
        })
        .collect()
}

fn attrs_to_wire(a: &[Attribute]) -> Vec<common::Attribute> {
    a.iter()
        .map(|a| common::Attribute {
            key: a.key.clone().into(),
            value: a.value.clone().into(),
        })
        .collect()
}

fn opt(s: Option<pilota::FastStr>) -> Option<String> {
    s.map(|s| s.to_string())
}

fn opt_to_wire(s: &Option<String>) -> Option<pilota::FastStr> {
    s.clone().map(Into::into)
}

fn buyer(b: t::BuyerIdentity) -> BuyerIdentity {
    BuyerIdentity {
        email: opt(b.email),
        phone: opt(b.phone),
        country_code: opt(b.country_code),
        customer_id: opt(b.customer_id),
    }
}

fn status_to_wire(s: CartStatus) -> t::CartStatus {
    match s {
        CartStatus::Open => t::CartStatus::OPEN,
        CartStatus::CheckingOut => t::CartStatus::CHECKING_OUT,
        CartStatus::Purchased => t::CartStatus::PURCHASED,
        CartStatus::Merged => t::CartStatus::MERGED,
    }
}

fn status_from_wire(s: t::CartStatus) -> Result<CartStatus> {
    match s {
        t::CartStatus::OPEN => Ok(CartStatus::Open),
        t::CartStatus::CHECKING_OUT => Ok(CartStatus::CheckingOut),
        t::CartStatus::PURCHASED => Ok(CartStatus::Purchased),
        t::CartStatus::MERGED => Ok(CartStatus::Merged),
        _ => Err(Error::invalid("INVALID_STATUS", "unknown cart status").with_field(["statuses"])),
    }
}

fn line_input(l: t::CartLineInput) -> LineInput {
    LineInput {
        variant_id: l.variant_id.to_string(),
        quantity: l.quantity,
        attributes: l.attributes.map(attrs),
    }
}

fn cart_to_wire(s: &Snapshot) -> Result<t::Cart> {
    let c = &s.cart;
    let subtotal = c.subtotal()?;
    let lines = c
        .lines
        .iter()
        .map(|l| {
            Ok(t::CartLine {
                id: l.id.clone().into(),
                variant_id: l.merchandise.variant_id.clone().into(),
                product_id: l.merchandise.product_id.clone().into(),
                quantity: l.quantity,
                attributes: attrs_to_wire(&l.attributes),
                unit_price: money_to_wire(&l.merchandise.unit_price),
                compare_at_unit_price: l
                    .merchandise
                    .compare_at_unit_price
                    .as_ref()
                    .map(money_to_wire),
                subtotal: money_to_wire(&l.subtotal()?),
                title: l.merchandise.title.clone().into(),
                sku: l.merchandise.sku.clone().into(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(t::Cart {
        id: c.id.clone().into(),
        customer_id: opt_to_wire(&c.customer_id),
        status: status_to_wire(c.status),
        lines,
        note: opt_to_wire(&c.note),
        attributes: attrs_to_wire(&c.attributes),
        discount_codes: c.discount_codes.iter().map(|d| d.clone().into()).collect(),
        buyer_identity: t::BuyerIdentity {
            email: opt_to_wire(&c.buyer_identity.email),
            phone: opt_to_wire(&c.buyer_identity.phone),
            country_code: opt_to_wire(&c.buyer_identity.country_code),
            customer_id: opt_to_wire(&c.buyer_identity.customer_id),
        },
        currency: c.currency.clone().into(),
        total: money_to_wire(&subtotal),
        total_tax: money_to_wire(&Money::zero(c.currency.clone())),
        subtotal: money_to_wire(&subtotal),
        total_quantity: c.total_quantity(),
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
        expires_at_ms: c.expires_at_ms(),
        version: i64::try_from(s.version).unwrap_or(i64::MAX),
        order_id: opt_to_wire(&c.order_id),
        merged_into_cart_id: opt_to_wire(&c.merged_into),
    })
}

fn warnings_to_wire(w: Vec<crate::domain::Warning>) -> Vec<t::CartWarning> {
    w.into_iter()
        .map(|w| t::CartWarning {
            code: w.code.into(),
            message: w.message.into(),
            target: w.target.into(),
        })
        .collect()
}

fn mutation(r: Result<Mutation>) -> Result<t::CartMutationResponse> {
    let m = r?;
    Ok(t::CartMutationResponse {
        cart: cart_to_wire(&m.snapshot)?,
        warnings: warnings_to_wire(m.warnings),
    })
}

fn page_request(p: common::PageRequest) -> PageRequest {
    PageRequest {
        first: p.first.map(i64::from),
        after: opt(p.after),
        last: p.last.map(i64::from),
        before: opt(p.before),
    }
}

fn list_response(page: Page<Snapshot>) -> Result<t::ListCartsResponse> {
    Ok(t::ListCartsResponse {
        carts: page
            .items
            .iter()
            .map(cart_to_wire)
            .collect::<Result<Vec<_>>>()?,
        page_info: common::PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: page.cursors.first().cloned().map(Into::into),
            end_cursor: page.cursors.last().cloned().map(Into::into),
        },
        cursors: page.cursors.into_iter().map(Into::into).collect(),
    })
}

impl<S: EventStore, C: Catalog, I: Stock> t::CartService for CartRpc<S, C, I> {
    async fn create_cart(
        &self,
        req: t::CreateCartRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceCreateCartException> {
        let actor = current_actor();
        let input = CreateInput {
            lines: req.lines.into_iter().map(line_input).collect(),
            note: opt(req.note),
            attributes: req.attributes.map(attrs).unwrap_or_default(),
            discount_codes: req
                .discount_codes
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.to_string())
                .collect(),
            buyer_identity: req.buyer_identity.map(buyer),
        };
        reply(mutation(self.app.create_cart(&actor, input).await))
    }

    async fn get_cart(
        &self,
        req: t::GetCartRequest,
    ) -> ServerResult<t::GetCartResponse, t::CartServiceGetCartException> {
        let actor = current_actor();
        let r = self.app.get_cart(&actor, &req.cart_id).await;
        reply(r.and_then(|s| {
            Ok(t::GetCartResponse {
                cart: Some(cart_to_wire(&s)?),
            })
        }))
    }

    async fn list_carts(
        &self,
        req: t::ListCartsRequest,
    ) -> ServerResult<t::ListCartsResponse, t::CartServiceListCartsException> {
        let actor = current_actor();
        let result = async {
            let statuses = req
                .statuses
                .map(|s| {
                    s.into_iter()
                        .map(status_from_wire)
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?;
            let page = self
                .app
                .list_carts(&actor, &page_request(req.page), statuses.as_deref())
                .await?;
            list_response(page)
        }
        .await;
        reply(result)
    }

    async fn add_lines(
        &self,
        req: t::AddLinesRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceAddLinesException> {
        let actor = current_actor();
        let lines = req.lines.into_iter().map(line_input).collect();
        reply(mutation(
            self.app.add_lines(&actor, &req.cart_id, lines).await,
        ))
    }

    async fn update_lines(
        &self,
        req: t::UpdateLinesRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceUpdateLinesException> {
        let actor = current_actor();
        let updates = req
            .lines
            .into_iter()
            .map(|u| LineUpdateInput {
                line_id: u.line_id.to_string(),
                quantity: u.quantity,
                variant_id: opt(u.variant_id),
                attributes: u.attributes.map(attrs),
            })
            .collect();
        reply(mutation(
            self.app.update_lines(&actor, &req.cart_id, updates).await,
        ))
    }

    async fn remove_lines(
        &self,
        req: t::RemoveLinesRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceRemoveLinesException> {
        let actor = current_actor();
        let ids = req.line_ids.into_iter().map(|l| l.to_string()).collect();
        reply(mutation(
            self.app.remove_lines(&actor, &req.cart_id, ids).await,
        ))
    }

    async fn update_note(
        &self,
        req: t::UpdateNoteRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceUpdateNoteException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .update_note(&actor, &req.cart_id, opt(req.note))
                .await,
        ))
    }

    async fn update_attributes(
        &self,
        req: t::UpdateAttributesRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceUpdateAttributesException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .update_attributes(&actor, &req.cart_id, attrs(req.attributes))
                .await,
        ))
    }

    async fn update_discount_codes(
        &self,
        req: t::UpdateDiscountCodesRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceUpdateDiscountCodesException> {
        let actor = current_actor();
        let codes = req
            .discount_codes
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        reply(mutation(
            self.app
                .update_discount_codes(&actor, &req.cart_id, codes)
                .await,
        ))
    }

    async fn update_buyer_identity(
        &self,
        req: t::UpdateBuyerIdentityRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceUpdateBuyerIdentityException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .update_buyer_identity(&actor, &req.cart_id, buyer(req.buyer_identity))
                .await,
        ))
    }

    async fn begin_checkout(
        &self,
        req: t::BeginCheckoutRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceBeginCheckoutException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .begin_checkout(&actor, &req.cart_id, &req.order_id)
                .await,
        ))
    }

    async fn complete_checkout(
        &self,
        req: t::CompleteCheckoutRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceCompleteCheckoutException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .complete_checkout(&actor, &req.cart_id, &req.order_id)
                .await,
        ))
    }

    async fn abort_checkout(
        &self,
        req: t::AbortCheckoutRequest,
    ) -> ServerResult<t::CartMutationResponse, t::CartServiceAbortCheckoutException> {
        let actor = current_actor();
        reply(mutation(
            self.app
                .abort_checkout(&actor, &req.cart_id, &req.order_id)
                .await,
        ))
    }

    async fn merge_guest_carts(
        &self,
        req: t::MergeGuestCartsRequest,
    ) -> ServerResult<t::MergeGuestCartsResponse, t::CartServiceMergeGuestCartsException> {
        let actor = current_actor();
        let result = async {
            let mode = match req.mode {
                t::CartMergeMode::MERGE => MergeMode::Merge,
                t::CartMergeMode::KEEP_SEPARATE => MergeMode::KeepSeparate,
                _ => {
                    return Err(
                        Error::invalid("INVALID_MERGE_MODE", "unknown cart merge mode")
                            .with_field(["mode"]),
                    );
                }
            };
            let out = self.app.merge_guest_carts(&actor, mode).await?;
            Ok(t::MergeGuestCartsResponse {
                cart: out.cart.as_ref().map(cart_to_wire).transpose()?,
                merged_cart_ids: out.merged_cart_ids.into_iter().map(Into::into).collect(),
                adopted: out
                    .adopted
                    .iter()
                    .map(cart_to_wire)
                    .collect::<Result<Vec<_>>>()?,
                warnings: warnings_to_wire(out.warnings),
            })
        }
        .await;
        reply(result)
    }
}
