// Shared types for every thriftshop service contract.
namespace rs shop.common

/// The one error vocabulary, from domain to Thrift exception to GraphQL `extensions.code`.
enum ErrorKind {
    INVALID_ARGUMENT = 1,
    NOT_FOUND = 2,
    CONFLICT = 3,
    FAILED_PRECONDITION = 4,
    UNAUTHENTICATED = 5,
    PERMISSION_DENIED = 6,
    RESOURCE_EXHAUSTED = 7,
    UNAVAILABLE = 8,
    INTERNAL = 9,
}

/// Thrown by every method. `code` is stable (e.g. CART_NOT_FOUND); `message` is for humans.
exception ShopError {
    1: required ErrorKind kind,
    2: required string code,
    3: required string message,
    /// Path of the offending input field, when the error is about one.
    4: optional list<string> field,
}

/// An amount in minor units (cents) of an ISO-4217 currency.
struct Money {
    1: required i64 amount_minor,
    2: required string currency,
}

/// Relay-style paging. Cursors are opaque strings produced by the service.
struct PageRequest {
    1: optional i32 first,
    2: optional string after,
    3: optional i32 last,
    4: optional string before,
}

struct PageInfo {
    1: required bool has_next_page,
    2: required bool has_previous_page,
    3: optional string start_cursor,
    4: optional string end_cursor,
}

/// A string key/value pair (cart and line attributes).
struct Attribute {
    1: required string key,
    2: required string value,
}
