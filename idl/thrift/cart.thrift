// Cart: carts with lines, totals, notes/attributes and status. Owned by a customer or by a guest
// (a guest cart's id is an unguessable capability). The caller's identity travels in TTHeader metadata.
namespace rs shop.cart
include "common.thrift"

enum CartStatus {
    OPEN = 1,
    CHECKING_OUT = 2,
    PURCHASED = 3,
    /// A guest cart whose lines were merged into a customer's cart at sign-in (closed).
    MERGED = 4,
}

struct BuyerIdentity {
    1: optional string email,
    2: optional string phone,
    3: optional string country_code,
    4: optional string customer_id,
}

struct CartLine {
    1: required string id,
    2: required string variant_id,
    3: required string product_id,
    4: required i64 quantity,
    5: required list<common.Attribute> attributes,
    6: required common.Money unit_price,
    7: optional common.Money compare_at_unit_price,
    8: required common.Money subtotal,
    9: required string title,
    10: required string sku,
}

struct Cart {
    1: required string id,
    2: optional string customer_id,
    3: required CartStatus status,
    4: required list<CartLine> lines,
    5: optional string note,
    6: required list<common.Attribute> attributes,
    7: required list<string> discount_codes,
    8: required BuyerIdentity buyer_identity,
    9: required string currency,
    10: required common.Money subtotal,
    11: required common.Money total,
    12: required common.Money total_tax,
    13: required i64 total_quantity,
    14: required i64 created_at_ms,
    15: required i64 updated_at_ms,
    16: required i64 expires_at_ms,
    17: required i64 version,
    18: optional string order_id,
    /// The cart a MERGED cart's lines went into.
    19: optional string merged_into_cart_id,
}

/// A non-fatal note about a mutation, e.g. MERCHANDISE_NOT_ENOUGH_STOCK when a quantity was reduced.
struct CartWarning {
    1: required string code,
    2: required string message,
    3: required string target,
}

struct CartLineInput {
    1: required string variant_id,
    2: required i64 quantity,
    3: optional list<common.Attribute> attributes,
}

struct CartLineUpdate {
    1: required string line_id,
    2: optional i64 quantity,
    3: optional string variant_id,
    4: optional list<common.Attribute> attributes,
}

struct CartMutationResponse {
    1: required Cart cart,
    2: required list<CartWarning> warnings,
}

struct CreateCartRequest {
    1: required list<CartLineInput> lines,
    2: optional string note,
    3: optional list<common.Attribute> attributes,
    4: optional list<string> discount_codes,
    5: optional BuyerIdentity buyer_identity,
}

struct GetCartRequest { 1: required string cart_id }
struct GetCartResponse { 1: optional Cart cart }

/// Carts owned by the calling customer, newest first.
struct ListCartsRequest {
    1: required common.PageRequest page,
    2: optional list<CartStatus> statuses,
}
struct ListCartsResponse {
    1: required list<Cart> carts,
    2: required list<string> cursors,
    3: required common.PageInfo page_info,
}

struct AddLinesRequest { 1: required string cart_id, 2: required list<CartLineInput> lines }
struct UpdateLinesRequest { 1: required string cart_id, 2: required list<CartLineUpdate> lines }
struct RemoveLinesRequest { 1: required string cart_id, 2: required list<string> line_ids }
struct UpdateNoteRequest { 1: required string cart_id, 2: optional string note }
struct UpdateAttributesRequest { 1: required string cart_id, 2: required list<common.Attribute> attributes }
struct UpdateDiscountCodesRequest { 1: required string cart_id, 2: required list<string> discount_codes }
struct UpdateBuyerIdentityRequest { 1: required string cart_id, 2: required BuyerIdentity buyer_identity }

/// Checkout steps, called by the order service. OPEN -> CHECKING_OUT -> PURCHASED, or back to OPEN.
struct BeginCheckoutRequest { 1: required string cart_id, 2: required string order_id }
struct CompleteCheckoutRequest { 1: required string cart_id, 2: required string order_id }
struct AbortCheckoutRequest { 1: required string cart_id, 2: required string order_id }

/// What happens to a guest's open carts when the guest signs in.
enum CartMergeMode {
    /// Their lines are added into the customer's most recently updated open cart (created if none); the
    /// guest carts end MERGED.
    MERGE = 1,
    /// The guest carts become the customer's.
    KEEP_SEPARATE = 2,
}

/// Moves the calling guest's open carts to the calling customer: the caller's metadata must carry both the
/// customer and the guest session (the gateway sets both after checking the password and the guest token).
/// Idempotent: carts already merged or adopted are skipped.
struct MergeGuestCartsRequest { 1: required CartMergeMode mode }
struct MergeGuestCartsResponse {
    /// MERGE: the customer's cart that received the lines (absent when the guest had no open cart).
    1: optional Cart cart,
    /// MERGE: the guest carts this call closed or whose lines it merged.
    2: required list<string> merged_cart_ids,
    /// KEEP_SEPARATE: the carts now owned by the customer.
    3: required list<Cart> adopted,
    /// Lines reduced or skipped while merging.
    4: required list<CartWarning> warnings,
}

service CartService {
    CartMutationResponse create_cart(1: CreateCartRequest req) throws (1: common.ShopError err),
    GetCartResponse get_cart(1: GetCartRequest req) throws (1: common.ShopError err),
    ListCartsResponse list_carts(1: ListCartsRequest req) throws (1: common.ShopError err),
    CartMutationResponse add_lines(1: AddLinesRequest req) throws (1: common.ShopError err),
    CartMutationResponse update_lines(1: UpdateLinesRequest req) throws (1: common.ShopError err),
    CartMutationResponse remove_lines(1: RemoveLinesRequest req) throws (1: common.ShopError err),
    CartMutationResponse update_note(1: UpdateNoteRequest req) throws (1: common.ShopError err),
    CartMutationResponse update_attributes(1: UpdateAttributesRequest req) throws (1: common.ShopError err),
    CartMutationResponse update_discount_codes(1: UpdateDiscountCodesRequest req) throws (1: common.ShopError err),
    CartMutationResponse update_buyer_identity(1: UpdateBuyerIdentityRequest req) throws (1: common.ShopError err),
    CartMutationResponse begin_checkout(1: BeginCheckoutRequest req) throws (1: common.ShopError err),
    CartMutationResponse complete_checkout(1: CompleteCheckoutRequest req) throws (1: common.ShopError err),
    CartMutationResponse abort_checkout(1: AbortCheckoutRequest req) throws (1: common.ShopError err),
    MergeGuestCartsResponse merge_guest_carts(1: MergeGuestCartsRequest req) throws (1: common.ShopError err),
}
