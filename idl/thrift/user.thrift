// User: customer registration (argon2id), credentials, profiles and addresses.
namespace rs shop.user
include "common.thrift"

struct Address {
    1: required string id,
    2: optional string first_name,
    3: optional string last_name,
    4: optional string company,
    5: required string address1,
    6: optional string address2,
    7: required string city,
    8: optional string province,
    9: required string country_code,
    10: required string zip,
    11: optional string phone,
}

struct AddressInput {
    1: optional string first_name,
    2: optional string last_name,
    3: optional string company,
    4: required string address1,
    5: optional string address2,
    6: required string city,
    7: optional string province,
    8: required string country_code,
    9: required string zip,
    10: optional string phone,
}

struct Customer {
    1: required string id,
    2: required string email,
    3: optional string first_name,
    4: optional string last_name,
    5: optional string phone,
    6: required bool accepts_marketing,
    7: required list<Address> addresses,
    8: optional string default_address_id,
    9: required i64 created_at_ms,
    10: required i64 updated_at_ms,
    /// Staff permissions (MANAGE_PRODUCTS, MANAGE_ORDERS); empty for customers who are not staff.
    11: optional list<string> permissions,
}

struct RegisterRequest {
    1: required string email,
    2: required string password,
    3: optional string first_name,
    4: optional string last_name,
    5: optional string phone,
    6: required bool accepts_marketing,
}
struct RegisterResponse { 1: required Customer customer }

/// Checks credentials; a wrong email and a wrong password fail the same way (UNAUTHENTICATED).
struct AuthenticateRequest { 1: required string email, 2: required string password }
struct AuthenticateResponse { 1: required Customer customer }

struct GetCustomersRequest { 1: required list<string> ids }
struct GetCustomersResponse { 1: required list<Customer> customers }

struct UpdateProfileRequest {
    1: required string customer_id,
    2: optional string first_name,
    3: optional string last_name,
    4: optional string phone,
    5: optional bool accepts_marketing,
}
struct UpdateProfileResponse { 1: required Customer customer }

struct AddAddressRequest { 1: required string customer_id, 2: required AddressInput address, 3: required bool make_default }
struct UpdateAddressRequest { 1: required string customer_id, 2: required string address_id, 3: required AddressInput address }
struct DeleteAddressRequest { 1: required string customer_id, 2: required string address_id }
struct CustomerResponse { 1: required Customer customer }

/// Grants exactly `permissions` to the customer with this email (empty: no longer staff). Internal callers only.
struct SetPermissionsRequest { 1: required string email, 2: required list<string> permissions }

/// Changes the signed-in customer's password (the caller's identity comes from metadata). A wrong
/// `current_password` is UNAUTHENTICATED `CURRENT_PASSWORD_INVALID`; the new one follows the registration policy.
struct ChangePasswordRequest { 1: required string current_password, 2: required string new_password }

/// Starts a password reset for `email` (internal callers only). The answer is the same, in about the same time,
/// whether or not an account has this email; for one that has, a reset link goes out as an `email` event.
struct RequestPasswordResetRequest { 1: required string email }
struct RequestPasswordResetResponse {}

/// Sets a new password with a reset token (internal callers only). An unknown, expired, used or mismatched
/// token is UNAUTHENTICATED `TOKEN_INVALID`.
struct ResetPasswordRequest { 1: required string customer_id, 2: required string reset_token, 3: required string new_password }

service UserService {
    RegisterResponse register(1: RegisterRequest req) throws (1: common.ShopError err),
    AuthenticateResponse authenticate(1: AuthenticateRequest req) throws (1: common.ShopError err),
    GetCustomersResponse get_customers(1: GetCustomersRequest req) throws (1: common.ShopError err),
    UpdateProfileResponse update_profile(1: UpdateProfileRequest req) throws (1: common.ShopError err),
    CustomerResponse add_address(1: AddAddressRequest req) throws (1: common.ShopError err),
    CustomerResponse update_address(1: UpdateAddressRequest req) throws (1: common.ShopError err),
    CustomerResponse delete_address(1: DeleteAddressRequest req) throws (1: common.ShopError err),
    CustomerResponse set_permissions(1: SetPermissionsRequest req) throws (1: common.ShopError err),
    CustomerResponse change_password(1: ChangePasswordRequest req) throws (1: common.ShopError err),
    RequestPasswordResetResponse request_password_reset(1: RequestPasswordResetRequest req) throws (1: common.ShopError err),
    CustomerResponse reset_password(1: ResetPasswordRequest req) throws (1: common.ShopError err),
}
