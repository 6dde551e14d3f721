// Order: checkout turns a cart into an order (reserve stock -> authorize payment -> purchase cart -> PAID).
namespace rs shop.order
include "common.thrift"

enum OrderStatus {
    PENDING = 1,
    PAID = 2,
    FAILED = 3,
    CANCELLED = 4,
    FULFILLED = 5,
}

enum FinancialStatus {
    PENDING = 1,
    AUTHORIZED = 2,
    PAID = 3,
    VOIDED = 4,
    REFUNDED = 5,
    DECLINED = 6,
}

enum FulfillmentStatus {
    UNFULFILLED = 1,
    FULFILLED = 2,
}

struct OrderLine {
    1: required string id,
    2: required string variant_id,
    3: required string product_id,
    4: required string title,
    5: required string sku,
    6: required i64 quantity,
    7: required common.Money unit_price,
    8: required common.Money total,
}

struct StatusChange {
    1: required OrderStatus status,
    2: required i64 at_ms,
    3: optional string reason,
}

struct Order {
    1: required string id,
    2: required i64 number,
    3: required string name,
    4: optional string customer_id,
    5: required string cart_id,
    6: required OrderStatus status,
    7: required FinancialStatus financial_status,
    8: required FulfillmentStatus fulfillment_status,
    9: required list<OrderLine> lines,
    10: required common.Money subtotal,
    11: required common.Money total_tax,
    12: required common.Money total,
    13: required i64 created_at_ms,
    14: optional i64 processed_at_ms,
    15: required list<StatusChange> status_history,
    16: optional string email,
    /// Why the order failed (e.g. CARD_DECLINED), when it did.
    17: optional string failure_code,
    18: optional string failure_message,
}

struct Payment {
    1: required string token,
    2: optional string provider,
}

/// A retried checkout with the same idempotency_key returns the first outcome.
struct CheckoutRequest {
    1: required string cart_id,
    2: required Payment payment,
    3: required string idempotency_key,
}
struct CheckoutResponse { 1: required Order order }

struct GetOrdersRequest { 1: required list<string> ids }
struct GetOrdersResponse { 1: required list<Order> orders }

/// Orders of the calling customer, newest first.
struct ListOrdersRequest { 1: required common.PageRequest page }
struct ListOrdersResponse {
    1: required list<Order> orders,
    2: required list<string> cursors,
    3: required common.PageInfo page_info,
}

/// Cancels a paid, unfulfilled order: the payment is refunded and the stock put back (the owning customer or
/// an internal caller; idempotent).
struct CancelOrderRequest { 1: required string order_id, 2: optional string reason }
struct CancelOrderResponse { 1: required Order order }

/// Marks a paid order fulfilled (internal callers only).
struct FulfillOrderRequest { 1: required string order_id }
struct FulfillOrderResponse { 1: required Order order }

service OrderService {
    CheckoutResponse checkout(1: CheckoutRequest req) throws (1: common.ShopError err),
    GetOrdersResponse get_orders(1: GetOrdersRequest req) throws (1: common.ShopError err),
    ListOrdersResponse list_orders(1: ListOrdersRequest req) throws (1: common.ShopError err),
    CancelOrderResponse cancel_order(1: CancelOrderRequest req) throws (1: common.ShopError err),
    FulfillOrderResponse fulfill_order(1: FulfillOrderRequest req) throws (1: common.ShopError err),
}
