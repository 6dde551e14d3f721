//! Order types.
use async_graphql::{Context, Enum, ID, Object, SimpleObject, connection::Connection};
use shop_idl::order;
use shop_kernel::ErrorKind;

use crate::{
    ctx::{self, PageArgs},
    error::{GqlResult, gql},
    gid::{self, GidType},
    scalars::{DateTime, MoneyV2},
    types::{catalog::ProductVariant, customer::Customer},
};

/// Fetches one order under the caller's identity; `None` when it does not exist or is not the caller's.
pub async fn fetch_order(ctx: &Context<'_>, id: &str) -> GqlResult<Option<Order>> {
    let clients = ctx::clients(ctx)?;
    let r = shop_rpc::call(
        "order",
        clients
            .order
            .get_orders(order::GetOrdersRequest {
                ids: vec![id.to_string().into()],
            })
            .await,
    );
    match r {
        Ok(resp) => Ok(resp.orders.into_iter().find(|o| o.id == id).map(Order)),
        Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::PermissionDenied => {
            Ok(None)
        }
        Err(e) => Err(gql(e)),
    }
}

/// Status of an order.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum OrderStatus {
    PENDING,
    PAID,
    FAILED,
    CANCELLED,
    FULFILLED,
}

impl OrderStatus {
    /// From the wire enum (unknown values read as `PENDING`).
    pub fn from_wire(s: order::OrderStatus) -> Self {
        match s {
            order::OrderStatus::PAID => OrderStatus::PAID,
            order::OrderStatus::FAILED => OrderStatus::FAILED,
            order::OrderStatus::CANCELLED => OrderStatus::CANCELLED,
            order::OrderStatus::FULFILLED => OrderStatus::FULFILLED,
            _ => OrderStatus::PENDING,
        }
    }

    /// Does the order stay in this status for good (as far as the checkout pipeline goes)?
    pub fn is_terminal(self) -> bool {
        !matches!(self, OrderStatus::PENDING)
    }
}

/// Payment status of an order.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum OrderFinancialStatus {
    PENDING,
    AUTHORIZED,
    PAID,
    VOIDED,
    REFUNDED,
    DECLINED,
}

impl OrderFinancialStatus {
    fn from_wire(s: order::FinancialStatus) -> Self {
        match s {
            order::FinancialStatus::AUTHORIZED => Self::AUTHORIZED,
            order::FinancialStatus::PAID => Self::PAID,
            order::FinancialStatus::VOIDED => Self::VOIDED,
            order::FinancialStatus::REFUNDED => Self::REFUNDED,
            order::FinancialStatus::DECLINED => Self::DECLINED,
            _ => Self::PENDING,
        }
    }
}

/// Fulfillment status of an order.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum OrderFulfillmentStatus {
    UNFULFILLED,
    FULFILLED,
}

/// A change of an order's status.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrderStatusChange {
    /// The new status.
    pub status: OrderStatus,
    /// When it changed.
    pub at: DateTime,
    /// Why, when known.
    pub reason: Option<String>,
}

/// A line of an order.
#[derive(Debug, Clone)]
pub struct OrderLineItem(pub order::OrderLine);

#[Object]
impl OrderLineItem {
    /// Title of the product and variant at purchase time.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Units bought.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    /// Stock keeping unit.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// The variant bought, when it still exists.
    async fn variant(&self, ctx: &Context<'_>) -> GqlResult<Option<ProductVariant>> {
        crate::types::catalog::load_variant(ctx, &self.0.variant_id).await
    }
    /// Price of one unit at purchase time.
    async fn original_unit_price(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.unit_price)
    }
    /// Line total at purchase time.
    async fn original_total_price(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.total)
    }
}

/// An order placed by checking out a cart.
#[derive(Debug, Clone)]
pub struct Order(pub order::Order);

#[Object]
impl Order {
    /// Globally unique id (for a guest order, an unguessable capability).
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::Order, &self.0.id))
    }
    /// Display name, e.g. `#1001`.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Sequential order number.
    async fn order_number(&self) -> i64 {
        self.0.number
    }
    /// When the order was placed.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }
    /// When the order was processed (placed, if not yet processed).
    async fn processed_at(&self) -> DateTime {
        DateTime(self.0.processed_at_ms.unwrap_or(self.0.created_at_ms))
    }
    /// Status of the order.
    async fn status(&self) -> OrderStatus {
        OrderStatus::from_wire(self.0.status)
    }
    /// Payment status.
    async fn financial_status(&self) -> OrderFinancialStatus {
        OrderFinancialStatus::from_wire(self.0.financial_status)
    }
    /// Fulfillment status.
    async fn fulfillment_status(&self) -> OrderFulfillmentStatus {
        if self.0.fulfillment_status == order::FulfillmentStatus::FULFILLED {
            OrderFulfillmentStatus::FULFILLED
        } else {
            OrderFulfillmentStatus::UNFULFILLED
        }
    }
    /// Why the order failed, when it did (e.g. `CARD_DECLINED`).
    async fn failure_code(&self) -> Option<String> {
        self.0.failure_code.as_ref().map(|s| s.to_string())
    }
    /// Human-readable reason of the failure.
    async fn failure_message(&self) -> Option<String> {
        self.0.failure_message.as_ref().map(|s| s.to_string())
    }
    /// Email address of the buyer.
    async fn email(&self) -> Option<String> {
        self.0.email.as_ref().map(|s| s.to_string())
    }
    /// Lines of the order.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn line_items(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, OrderLineItem>> {
        ctx::connection_from_list(
            &self.0.lines,
            &PageArgs::new(first, after, last, before),
            OrderLineItem,
        )
    }
    /// Sum of the lines before taxes.
    async fn subtotal_price(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.subtotal)
    }
    /// Tax included in the total.
    async fn total_tax(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.total_tax)
    }
    /// Amount charged.
    async fn total_price(&self) -> MoneyV2 {
        MoneyV2::from_wire(&self.0.total)
    }
    /// The customer who placed the order (null for guest orders).
    async fn customer(&self, ctx: &Context<'_>) -> GqlResult<Option<Customer>> {
        match &self.0.customer_id {
            Some(id) => crate::types::customer::fetch_customer(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Every status the order went through, oldest first.
    async fn status_history(&self) -> Vec<OrderStatusChange> {
        self.0
            .status_history
            .iter()
            .map(|c| OrderStatusChange {
                status: OrderStatus::from_wire(c.status),
                at: DateTime(c.at_ms),
                reason: c.reason.as_ref().map(|s| s.to_string()),
            })
            .collect()
    }
}
