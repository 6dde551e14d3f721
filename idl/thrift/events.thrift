// Asynchronous contracts: every domain event the services emit. An event travels in an Envelope whose
// payload is the Thrift compact encoding of the aggregate's event union below.
// Topics: shop.<aggregate>.v1 (shop.cart.v1, shop.inventory.v1, shop.order.v1, shop.user.v1, shop.session.v1,
// shop.catalog.v1, shop.email.v1); partition key = stream id; type names like `order.placed.v1`.
namespace rs shop.events
include "common.thrift"

struct Envelope {
    1: required string event_id,
    2: required string event_type,
    3: required string stream_id,
    4: required i64 seq,
    5: required i64 occurred_at_ms,
    6: optional string traceparent,
    7: required binary payload,
}

struct LineSnapshot {
    1: required string line_id,
    2: required string variant_id,
    3: required string product_id,
    4: required i64 quantity,
    5: required list<common.Attribute> attributes,
    6: required common.Money unit_price,
    7: optional common.Money compare_at_unit_price,
    8: required string title,
    9: required string sku,
}

// ---- cart (topic shop.cart.v1) ----
struct CartCreated {
    1: required string cart_id,
    2: optional string customer_id,
    3: required string currency,
    4: required i64 expires_at_ms,
    /// The guest session that owns the cart (carts created with a guest access token).
    5: optional string guest_id,
}
struct CartLineAdded { 1: required LineSnapshot line }
struct CartLineUpdated { 1: required LineSnapshot line }
struct CartLineRemoved { 1: required string line_id }
struct CartNoteUpdated { 1: optional string note }
struct CartAttributesUpdated { 1: required list<common.Attribute> attributes }
struct CartDiscountCodesUpdated { 1: required list<string> discount_codes }
struct CartBuyerIdentityUpdated {
    1: optional string email,
    2: optional string phone,
    3: optional string country_code,
    4: optional string customer_id,
}
struct CartCheckoutStarted { 1: required string order_id }
struct CartPurchased { 1: required string order_id }
struct CartCheckoutAborted { 1: required string order_id }
/// A guest cart was given to the customer who signed in (sign-in with KEEP_SEPARATE).
struct CartAdopted { 1: required string customer_id }
/// The lines of guest cart `source_cart_id` were merged into this cart (after the line events of the merge).
struct CartLinesMerged { 1: required string source_cart_id }
/// This guest cart was merged into `into_cart_id` of `customer_id` at sign-in and is closed.
struct CartMerged { 1: required string into_cart_id, 2: required string customer_id }

union CartEvent {
    1: CartCreated created,
    2: CartLineAdded line_added,
    3: CartLineUpdated line_updated,
    4: CartLineRemoved line_removed,
    5: CartNoteUpdated note_updated,
    6: CartAttributesUpdated attributes_updated,
    7: CartDiscountCodesUpdated discount_codes_updated,
    8: CartBuyerIdentityUpdated buyer_identity_updated,
    9: CartCheckoutStarted checkout_started,
    10: CartPurchased purchased,
    11: CartCheckoutAborted checkout_aborted,
    12: CartAdopted adopted,
    13: CartLinesMerged lines_merged,
    14: CartMerged merged,
}

// ---- inventory (topic shop.inventory.v1; one stream per variant) ----
struct StockAdjusted { 1: required string variant_id, 2: required i64 delta, 3: required string kind, 4: required string reason }
struct StockReserved { 1: required string variant_id, 2: required string reservation_id, 3: required i64 quantity, 4: optional i64 expires_at_ms }
struct ReservationReleased { 1: required string variant_id, 2: required string reservation_id, 3: required i64 quantity, 4: required string reason }
struct ReservationCommitted { 1: required string variant_id, 2: required string reservation_id, 3: required i64 quantity }
struct ReservationReturned { 1: required string variant_id, 2: required string reservation_id, 3: required i64 quantity, 4: required string reason }

union InventoryEvent {
    1: StockAdjusted adjusted,
    2: StockReserved reserved,
    3: ReservationReleased released,
    4: ReservationCommitted committed,
    5: ReservationReturned returned,
}

// ---- order (topic shop.order.v1) ----
struct OrderLineSnapshot {
    1: required string line_id,
    2: required string variant_id,
    3: required string product_id,
    4: required string title,
    5: required string sku,
    6: required i64 quantity,
    7: required common.Money unit_price,
}
struct OrderCreated {
    1: required string order_id,
    2: required i64 number,
    3: required string cart_id,
    4: optional string customer_id,
    5: optional string email,
    6: required list<OrderLineSnapshot> lines,
    7: required string currency,
    8: required string idempotency_fingerprint,
    /// The payment provider and its payment method id (never a card number).
    9: optional string payment_provider,
    10: optional string payment_method,
}
struct OrderStockReserved { 1: required string reservation_id }
struct OrderPaymentAuthorized { 1: required string provider, 2: required string authorization_id, 3: required common.Money amount }
struct OrderPaymentCaptured { 1: required string authorization_id }
/// order.placed.v1: the order is paid and its stock committed. Projections (history, co-purchase) read it.
struct OrderPlaced {
    1: required string order_id,
    2: optional string customer_id,
    3: required list<OrderLineSnapshot> lines,
    4: required common.Money total,
}
struct OrderFailed { 1: required string code, 2: required string message }
/// order.cancelled.v1: a paid order was cancelled; the refund and the restock follow.
struct OrderCancelled { 1: required string reason }
struct OrderPaymentRefunded { 1: required string authorization_id }
struct OrderStockReturned { 1: required string reservation_id }
struct OrderFulfilled { 1: optional string note }

union OrderEvent {
    1: OrderCreated created,
    2: OrderStockReserved stock_reserved,
    3: OrderPaymentAuthorized payment_authorized,
    4: OrderPaymentCaptured payment_captured,
    5: OrderPlaced placed,
    6: OrderFailed failed,
    7: OrderCancelled cancelled,
    8: OrderPaymentRefunded payment_refunded,
    9: OrderStockReturned stock_returned,
    10: OrderFulfilled fulfilled,
}

// ---- user (topic shop.user.v1) ----
struct CustomerRegistered { 1: required string customer_id, 2: required string email, 3: required bool accepts_marketing }
struct CustomerProfileUpdated { 1: required string customer_id }
struct CustomerAddressesChanged { 1: required string customer_id, 2: required i32 address_count }
/// The customer's staff permissions are now exactly `permissions` (empty: no longer staff).
struct CustomerPermissionsChanged { 1: required string customer_id, 2: required list<string> permissions }
/// The customer's password was changed (`reason`: `changed` by the signed-in customer, or `reset` with a link).
struct CustomerPasswordChanged { 1: required string customer_id, 2: required string reason }

union UserEvent {
    1: CustomerRegistered registered,
    2: CustomerProfileUpdated profile_updated,
    3: CustomerAddressesChanged addresses_changed,
    4: CustomerPermissionsChanged permissions_changed,
    5: CustomerPasswordChanged password_changed,
}

// ---- email (topic shop.email.v1): messages for a mailer to send. The payload IS the mail: it carries the
// secret a recipient needs (a reset link), so the topic is as sensitive as a mailbox. Stores keep only hashes.
/// `email.password_reset_requested.v1`: send `to` the link that sets a new password (single use, until expiry).
struct PasswordResetRequested {
    1: required string to,
    2: required string customer_id,
    /// Mail template name, e.g. `customer_password_reset`.
    3: required string template,
    /// The link to put in the mail: `<user.password_reset_url>/<customer id>/<token>`.
    4: required string reset_url,
    /// The raw token (also the last segment of `reset_url`), for mailers that build their own link.
    5: required string reset_token,
    6: required i64 expires_at_ms,
}

union EmailEvent {
    1: PasswordResetRequested password_reset_requested,
}

// ---- session (topic shop.session.v1) ----
struct SessionCreated { 1: required string session_id, 2: optional string customer_id, 3: required string kind, 4: required i64 expires_at_ms }
struct SessionRevoked { 1: required string session_id, 2: required string reason }

union SessionEvent {
    1: SessionCreated created,
    2: SessionRevoked revoked,
}

// ---- catalog (topic shop.catalog.v1) ----
struct ProductPublished { 1: required string product_id, 2: required string handle, 3: required list<string> variant_ids }

struct CatalogImage { 1: required string url, 2: optional string alt_text, 3: optional i32 width, 4: optional i32 height }
struct CatalogOption { 1: required string name, 2: required string value }

struct CatalogVariantSnapshot {
    1: required string id,
    2: required string sku,
    3: required string title,
    4: required common.Money price,
    5: optional common.Money compare_at_price,
    6: required list<CatalogOption> options,
    7: optional CatalogImage image,
    8: required i32 position,
}

/// A product as written, with all its variants: enough for any catalog process to update its read index.
/// `version` is the product stream's sequence number after the write.
struct CatalogProductSnapshot {
    1: required string id,
    2: required string handle,
    3: required string title,
    4: required string description,
    5: required string vendor,
    6: required string product_type,
    7: required list<string> tags,
    8: required list<CatalogImage> images,
    9: required list<string> collection_ids,
    10: required list<CatalogVariantSnapshot> variants,
    11: required i64 created_at_ms,
    12: required i64 updated_at_ms,
    13: required i64 version,
}

/// `catalog.product_created.v1`: staff created a product.
struct ProductCreated { 1: required CatalogProductSnapshot product }
/// `catalog.product_updated.v1`: staff changed a product; `changed` names the changed fields (snake_case).
struct ProductUpdated { 1: required CatalogProductSnapshot product, 2: required list<string> changed }

union CatalogEvent {
    1: ProductPublished product_published,
    2: ProductCreated product_created,
    3: ProductUpdated product_updated,
}

/// Not a service: makes the event types part of the generated code.
service EventContracts {
    Envelope envelope(1: Envelope e),
    CartEvent cart(1: CartEvent e),
    InventoryEvent inventory(1: InventoryEvent e),
    OrderEvent order(1: OrderEvent e),
    UserEvent user(1: UserEvent e),
    SessionEvent session(1: SessionEvent e),
    CatalogEvent catalog(1: CatalogEvent e),
    EmailEvent email(1: EmailEvent e),
}
