// Session: customer access tokens (random, stored hashed), expiry, revoke, renew; guest sessions.
namespace rs shop.session
include "common.thrift"

enum SessionKind {
    CUSTOMER = 1,
    GUEST = 2,
}

struct Session {
    1: required string session_id,
    2: required SessionKind kind,
    3: optional string customer_id,
    4: required i64 created_at_ms,
    5: required i64 expires_at_ms,
}

struct CreateSessionRequest { 1: required string customer_id }
/// The token is returned once; only its hash is stored.
struct CreateSessionResponse { 1: required string token, 2: required Session session }

struct CreateGuestSessionRequest {}

struct ValidateRequest { 1: required string token }
/// UNAUTHENTICATED when the token is unknown, expired or revoked.
struct ValidateResponse { 1: required Session session }

struct RevokeRequest { 1: required string token }
struct RevokeResponse { 1: required Session session }

struct RevokeAllRequest { 1: required string customer_id }
struct RevokeAllResponse { 1: required i64 revoked }

/// Issues a fresh token with a new expiry and revokes the old one.
struct RenewRequest { 1: required string token }

service SessionService {
    CreateSessionResponse create_session(1: CreateSessionRequest req) throws (1: common.ShopError err),
    CreateSessionResponse create_guest_session(1: CreateGuestSessionRequest req) throws (1: common.ShopError err),
    ValidateResponse validate(1: ValidateRequest req) throws (1: common.ShopError err),
    RevokeResponse revoke(1: RevokeRequest req) throws (1: common.ShopError err),
    RevokeAllResponse revoke_all(1: RevokeAllRequest req) throws (1: common.ShopError err),
    CreateSessionResponse renew(1: RenewRequest req) throws (1: common.ShopError err),
}
