//! Thrift edge of the order service: conversions only, plus the Thrift-backed [`Peers`].
use shop_idl::{cart as cart_wire, common, inventory as inv_wire, order as wire};
use shop_kernel::{Money, PageRequest, Result};
use shop_rpc::{ServerResult, as_system, call, current_actor, reply};
use shop_store::EventStore;

use crate::{
    app::{CartSnapshot, CheckoutInput, OrderApp, Peers},
    domain::{FinancialStatus, Line, Order, Status},
    payments::PaymentProvider,
};

/// The generated `OrderService` implemented over [`OrderApp`].
pub struct OrderRpc<S, P, Y> {
    app: std::sync::Arc<OrderApp<S, P, Y>>,
}

impl<S, P, Y> OrderRpc<S, P, Y> {
    /// Serves `app`.
    pub fn new(app: std::sync::Arc<OrderApp<S, P, Y>>) -> Self {
        Self { app }
    }
}

fn money(m: &Money) -> common::Money {
    common::Money {
        amount_minor: m.amount_minor,
        currency: m.currency.clone().into(),
    }
}

fn status(s: Status) -> wire::OrderStatus {
    match s {
        Status::Pending => wire::OrderStatus::PENDING,
        Status::Paid => wire::OrderStatus::PAID,
        Status::Failed => wire::OrderStatus::FAILED,
        Status::Cancelled => wire::OrderStatus::CANCELLED,
        Status::Fulfilled => wire::OrderStatus::FULFILLED,
    }
}

fn order_to_wire(o: &Order) -> Result<wire::Order> {
    let lines = o
        .lines
        .iter()
        .map(|l| {
            Ok(wire::OrderLine {
                id: l.line_id.clone().into(),
                variant_id: l.variant_id.clone().into(),
                product_id: l.product_id.clone().into(),
                title: l.title.clone().into(),
                sku: l.sku.clone().into(),
                quantity: l.quantity,
                unit_price: money(&l.unit_price),
                total: money(&l.total()?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(wire::Order {
        id: o.id.clone().into(),
        number: o.number,
        name: o.name().into(),
        customer_id: o.customer_id.clone().map(Into::into),
        cart_id: o.cart_id.clone().into(),
        status: status(o.status),
        financial_status: match o.financial_status {
            FinancialStatus::Pending => wire::FinancialStatus::PENDING,
            FinancialStatus::Authorized => wire::FinancialStatus::AUTHORIZED,
            FinancialStatus::Paid => wire::FinancialStatus::PAID,
            FinancialStatus::Voided => wire::FinancialStatus::VOIDED,
            FinancialStatus::Refunded => wire::FinancialStatus::REFUNDED,
            FinancialStatus::Declined => wire::FinancialStatus::DECLINED,
        },
        fulfillment_status: if o.status == Status::Fulfilled {
            wire::FulfillmentStatus::FULFILLED
        } else {
            wire::FulfillmentStatus::UNFULFILLED
        },
        lines,
        subtotal: money(&o.subtotal()?),
        total_tax: money(&o.total_tax()),
        total: money(&o.total()?),
        created_at_ms: o.created_at_ms,
        processed_at_ms: o.processed_at_ms,
        status_history: o
            .history
            .iter()
            .map(|h| wire::StatusChange {
                status: status(h.status),
                at_ms: h.at_ms,
                reason: h.reason.clone().map(Into::into),
            })
            .collect(),
        email: o.email.clone().map(Into::into),
        failure_code: o.failure.as_ref().map(|f| f.0.clone().into()),
        failure_message: o.failure.as_ref().map(|f| f.1.clone().into()),
    })
}

fn page_from_wire(p: common::PageRequest) -> PageRequest {
    PageRequest {
        first: p.first.map(i64::from),
        after: p.after.map(|s| s.to_string()),
        last: p.last.map(i64::from),
        before: p.before.map(|s| s.to_string()),
    }
}

impl<S: EventStore + Clone, P: Peers, Y: PaymentProvider> wire::OrderService for OrderRpc<S, P, Y> {
    async fn checkout(
        &self,
        req: wire::CheckoutRequest,
    ) -> ServerResult<wire::CheckoutResponse, wire::OrderServiceCheckoutException> {
        let input = CheckoutInput {
            cart_id: req.cart_id.to_string(),
            payment_token: req.payment.token.to_string(),
            provider: req.payment.provider.map(|p| p.to_string()),
            idempotency_key: req.idempotency_key.to_string(),
        };
        let actor = current_actor();
        let result = self
            .app
            .checkout(&actor, input)
            .await
            .and_then(|o| order_to_wire(&o));
        reply(result.map(|order| wire::CheckoutResponse { order }))
    }

    async fn cancel_order(
        &self,
        req: wire::CancelOrderRequest,
    ) -> ServerResult<wire::CancelOrderResponse, wire::OrderServiceCancelOrderException> {
        let result = self
            .app
            .cancel(&current_actor(), &req.order_id, req.reason.as_deref())
            .await
            .and_then(|o| order_to_wire(&o));
        reply(result.map(|order| wire::CancelOrderResponse { order }))
    }

    async fn fulfill_order(
        &self,
        req: wire::FulfillOrderRequest,
    ) -> ServerResult<wire::FulfillOrderResponse, wire::OrderServiceFulfillOrderException> {
        let result = self
            .app
            .fulfill(&current_actor(), &req.order_id)
            .await
            .and_then(|o| order_to_wire(&o));
        reply(result.map(|order| wire::FulfillOrderResponse { order }))
    }

    async fn get_orders(
        &self,
        req: wire::GetOrdersRequest,
    ) -> ServerResult<wire::GetOrdersResponse, wire::OrderServiceGetOrdersException> {
        let ids: Vec<String> = req.ids.iter().map(|s| s.to_string()).collect();
        let result = self
            .app
            .get_orders(&current_actor(), &ids)
            .await
            .and_then(|os| os.iter().map(order_to_wire).collect::<Result<Vec<_>>>());
        reply(result.map(|orders| wire::GetOrdersResponse { orders }))
    }

    async fn list_orders(
        &self,
        req: wire::ListOrdersRequest,
    ) -> ServerResult<wire::ListOrdersResponse, wire::OrderServiceListOrdersException> {
        let result = self
            .app
            .list_orders(&current_actor(), &page_from_wire(req.page))
            .await
            .and_then(|p| {
                Ok(wire::ListOrdersResponse {
                    orders: p
                        .items
                        .iter()
                        .map(order_to_wire)
                        .collect::<Result<Vec<_>>>()?,
                    page_info: common::PageInfo {
                        has_next_page: p.has_next_page,
                        has_previous_page: p.has_previous_page,
                        start_cursor: p.cursors.first().cloned().map(Into::into),
                        end_cursor: p.cursors.last().cloned().map(Into::into),
                    },
                    cursors: p.cursors.into_iter().map(Into::into).collect(),
                })
            });
        reply(result)
    }
}

/// [`Peers`] over the cart and inventory Thrift clients.
pub struct ThriftPeers {
    pub cart: cart_wire::CartServiceClient,
    pub inventory: inv_wire::InventoryServiceClient,
    /// How long a checkout's reservation holds.
    pub reservation_ttl: std::time::Duration,
}

impl Peers for ThriftPeers {
    async fn get_cart(&self, cart_id: &str) -> Result<Option<CartSnapshot>> {
        let req = cart_wire::GetCartRequest {
            cart_id: cart_id.to_string().into(),
        };
        let resp = call("cart", self.cart.get_cart(req).await)?;
        Ok(resp.cart.map(|c| CartSnapshot {
            id: c.id.to_string(),
            open: c.status == cart_wire::CartStatus::OPEN,
            purchased: c.status == cart_wire::CartStatus::PURCHASED,
            email: c.buyer_identity.email.map(|e| e.to_string()),
            currency: c.currency.to_string(),
            lines: c
                .lines
                .iter()
                .map(|l| Line {
                    line_id: l.id.to_string(),
                    variant_id: l.variant_id.to_string(),
                    product_id: l.product_id.to_string(),
                    title: l.title.to_string(),
                    sku: l.sku.to_string(),
                    quantity: l.quantity,
                    unit_price: Money::new(
                        l.unit_price.amount_minor,
                        l.unit_price.currency.to_string(),
                    ),
                })
                .collect(),
        }))
    }

    async fn begin_checkout(&self, cart_id: &str, order_id: &str) -> Result<()> {
        let req = cart_wire::BeginCheckoutRequest {
            cart_id: cart_id.to_string().into(),
            order_id: order_id.to_string().into(),
        };
        as_system(async { call("cart", self.cart.begin_checkout(req).await) })
            .await
            .map(|_| ())
    }

    async fn complete_checkout(&self, cart_id: &str, order_id: &str) -> Result<()> {
        let req = cart_wire::CompleteCheckoutRequest {
            cart_id: cart_id.to_string().into(),
            order_id: order_id.to_string().into(),
        };
        as_system(async { call("cart", self.cart.complete_checkout(req).await) })
            .await
            .map(|_| ())
    }

    async fn abort_checkout(&self, cart_id: &str, order_id: &str) -> Result<()> {
        let req = cart_wire::AbortCheckoutRequest {
            cart_id: cart_id.to_string().into(),
            order_id: order_id.to_string().into(),
        };
        as_system(async { call("cart", self.cart.abort_checkout(req).await) })
            .await
            .map(|_| ())
    }

    async fn reserve(&self, reservation_id: &str, lines: &[(String, i64)]) -> Result<()> {
        let req = inv_wire::ReserveRequest {
            reservation_id: reservation_id.to_string().into(),
            lines: lines
                .iter()
                .map(|(v, q)| inv_wire::StockLine {
                    variant_id: v.clone().into(),
                    quantity: *q,
                })
                .collect(),
            // Outlives any checkout; a crashed saga's stock comes back when it lapses.
            ttl_ms: Some(self.reservation_ttl.as_millis().min(i64::MAX as u128) as i64),
        };
        as_system(async { call("inventory", self.inventory.reserve(req).await) })
            .await
            .map(|_| ())
    }

    async fn release(&self, reservation_id: &str, reason: &str) -> Result<()> {
        let req = inv_wire::ReleaseRequest {
            reservation_id: reservation_id.to_string().into(),
            reason: reason.to_string().into(),
        };
        as_system(async { call("inventory", self.inventory.release(req).await) })
            .await
            .map(|_| ())
    }

    async fn commit(&self, reservation_id: &str) -> Result<()> {
        let req = inv_wire::CommitRequest {
            reservation_id: reservation_id.to_string().into(),
        };
        as_system(async { call("inventory", self.inventory.commit(req).await) })
            .await
            .map(|_| ())
    }

    async fn return_stock(&self, reservation_id: &str, reason: &str) -> Result<()> {
        let req = inv_wire::ReturnStockRequest {
            reservation_id: reservation_id.to_string().into(),
            reason: reason.to_string().into(),
        };
        as_system(async { call("inventory", self.inventory.return_stock(req).await) })
            .await
            .map(|_| ())
    }
}
