//! Mutation root: Shopify-style payloads with `userErrors` for business failures.
use async_graphql::{
    Context, ErrorExtensions, ID, InputObject, MaybeUndefined, Object, SimpleObject,
};
use shop_idl::{
    cart as wcart, catalog as wcatalog, common, inventory, order as worder, session, user,
};
use shop_kernel::{Actor, Error, ErrorKind, Permission};

use crate::{
    ctx,
    error::{
        ArgPaths, CartUserError, CheckoutUserError, CustomerUserError, GqlResult,
        InventoryUserError, OrderUserError, Outcome, ProductUserError, UserErrorType, outcome,
    },
    gid::{self, GidType},
    scalars::{DateTime, Decimal},
    types::{
        cart::{Cart, CartWarning, CartWarningCode},
        catalog::Product,
        customer::{Customer, MailingAddress},
        order::{Order, OrderStatus},
    },
};

/// Longest access token accepted as input.
const MAX_TOKEN_LEN: usize = 512;

/// Drops a revoked token from this gateway's token cache.
fn forget_token(ctx: &Context<'_>, token: &str) {
    if let Ok(auth) = ctx.data::<std::sync::Arc<crate::auth::Authenticator>>() {
        auth.forget(token);
    }
}

/// Drops every cached token of `customer_id` from this gateway's token cache.
fn forget_customer(ctx: &Context<'_>, customer_id: &str) {
    if let Ok(auth) = ctx.data::<std::sync::Arc<crate::auth::Authenticator>>() {
        auth.forget_customer(customer_id);
    }
}

/// The gateway's limiters and the client's IP address.
fn limits_and_ip<'a>(
    ctx: &Context<'a>,
) -> (
    Option<&'a std::sync::Arc<crate::limits::Limits>>,
    Option<std::net::IpAddr>,
) {
    let limits = ctx.data::<std::sync::Arc<crate::limits::Limits>>().ok();
    let ip = ctx
        .data_opt::<crate::extension::ClientIp>()
        .and_then(|c| c.0);
    (limits, ip)
}

/// The top-level `RESOURCE_EXHAUSTED` error of a spent credential budget.
fn throttled(t: crate::limits::Throttled, error_code: &str, what: &str) -> async_graphql::Error {
    let secs = t.retry_after_secs();
    let error_code = error_code.to_string();
    async_graphql::Error::new(format!("too many {what}; retry after {secs} s")).extend_with(
        move |_, ext| {
            ext.set("code", ErrorKind::ResourceExhausted.as_str());
            ext.set("errorCode", error_code.clone());
            ext.set("retryAfterSeconds", secs);
        },
    )
}

/// Admits a credential attempt (sign-in, current password, reset token) for `account`, or refuses it.
fn admit_attempt(ctx: &Context<'_>, account: &str) -> GqlResult<()> {
    let (limits, ip) = limits_and_ip(ctx);
    if let Some(limits) = limits
        && let Err(t) = limits.login_attempt(ip, account)
    {
        return Err(throttled(t, "LOGIN_THROTTLED", "sign-in attempts"));
    }
    Ok(())
}

/// Counts a failed credential attempt for `account` (and the client's IP).
fn attempt_failed(ctx: &Context<'_>, account: &str) {
    let (limits, ip) = limits_and_ip(ctx);
    if let Some(limits) = limits {
        limits.login_failed(ip, account);
    }
}

/// The sign-in budget key of a reset attempt on customer `customer_id` (emails contain `@`, ids never do).
fn reset_account(customer_id: &str) -> String {
    format!("customer:{customer_id}")
}

/// Signs `customer_id` out everywhere (every token revoked, this gateway's cache of them dropped) and signs
/// them in afresh: the new token.
async fn fresh_session(
    ctx: &Context<'_>,
    customer_id: &str,
) -> Result<session::CreateSessionResponse, Error> {
    let clients = ctx::clients(ctx).map_err(|_| Error::internal("clients missing"))?;
    let system = Actor::internal();
    let revoke = session::RevokeAllRequest {
        customer_id: customer_id.to_string().into(),
    };
    let revoked = shop_rpc::with_actor(&system, async {
        shop_rpc::call("session", clients.session.revoke_all(revoke).await)
    })
    .await;
    forget_customer(ctx, customer_id);
    revoked?;
    let create = session::CreateSessionRequest {
        customer_id: customer_id.to_string().into(),
    };
    shop_rpc::with_actor(&system, async {
        shop_rpc::call("session", clients.session.create_session(create).await)
    })
    .await
}

fn path<I: IntoIterator<Item = S>, S: ToString>(p: I) -> Vec<String> {
    p.into_iter().map(|s| s.to_string()).collect()
}

/// A key/value pair.
#[derive(InputObject, Debug, Clone)]
pub struct AttributeInput {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

fn attrs(v: Vec<AttributeInput>) -> Vec<common::Attribute> {
    v.into_iter()
        .map(|a| common::Attribute {
            key: a.key.into(),
            value: a.value.into(),
        })
        .collect()
}

/// A line to add to a cart.
#[derive(InputObject, Debug, Clone)]
pub struct CartLineInput {
    /// Global id of the product variant.
    pub merchandise_id: ID,
    /// Quantity (default 1).
    #[graphql(default = 1)]
    pub quantity: i32,
    /// Attributes of the line.
    pub attributes: Option<Vec<AttributeInput>>,
}

/// A change to a cart line.
#[derive(InputObject, Debug, Clone)]
pub struct CartLineUpdateInput {
    /// Global id of the cart line.
    pub id: ID,
    /// New quantity (0 removes the line).
    pub quantity: Option<i32>,
    /// New product variant.
    pub merchandise_id: Option<ID>,
    /// New attributes.
    pub attributes: Option<Vec<AttributeInput>>,
}

/// Who is buying.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CartBuyerIdentityInput {
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Country (ISO 3166-1 alpha-2).
    pub country_code: Option<String>,
    /// Access token of the customer the cart should belong to.
    pub customer_access_token: Option<String>,
}

/// A new cart.
#[derive(InputObject, Debug, Clone, Default)]
pub struct CartInput {
    /// Lines to start with.
    pub lines: Option<Vec<CartLineInput>>,
    /// Who is buying.
    pub buyer_identity: Option<CartBuyerIdentityInput>,
    /// A note for the merchant.
    pub note: Option<String>,
    /// Attributes of the cart.
    pub attributes: Option<Vec<AttributeInput>>,
    /// Discount codes.
    pub discount_codes: Option<Vec<String>>,
}

/// How the buyer pays.
#[derive(InputObject, Debug, Clone)]
pub struct PaymentInput {
    /// Payment-method token (with the `sandbox` provider, a test card number).
    pub token: String,
    /// Payment provider (default `sandbox`).
    pub provider: Option<String>,
}

/// A new customer.
#[derive(InputObject, Debug, Clone)]
pub struct CustomerCreateInput {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Does the customer accept marketing email?
    pub accepts_marketing: Option<bool>,
}

/// Changes to the signed-in customer's profile: omitted fields stay; an empty string clears an optional one.
/// Setting `password` needs `currentPassword` (re-authentication); the change signs the customer out
/// everywhere else and the payload carries a fresh `customerAccessToken`.
#[derive(InputObject, Clone, Default)]
pub struct CustomerUpdateInput {
    /// A new password (8–128 characters); needs `currentPassword`.
    pub password: Option<String>,
    /// The current password: required when `password` is set (our addition to Shopify's input).
    pub current_password: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Does the customer accept marketing email?
    pub accepts_marketing: Option<bool>,
}

impl std::fmt::Debug for CustomerUpdateInput {
    /// Never prints passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerUpdateInput")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("phone", &self.phone)
            .field("accepts_marketing", &self.accepts_marketing)
            .finish_non_exhaustive()
    }
}

impl CustomerUpdateInput {
    fn has_profile_changes(&self) -> bool {
        self.first_name.is_some()
            || self.last_name.is_some()
            || self.phone.is_some()
            || self.accepts_marketing.is_some()
    }
}

/// A new password set with a reset token (Shopify's `CustomerResetInput`).
#[derive(InputObject, Clone)]
pub struct CustomerResetInput {
    /// The token from the reset link.
    pub reset_token: String,
    /// The new password (8–128 characters).
    pub password: String,
}

impl std::fmt::Debug for CustomerResetInput {
    /// Never prints the token or the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerResetInput").finish_non_exhaustive()
    }
}

/// Result of `customerRecover`: the same whether or not the email has an account.
#[derive(SimpleObject)]
pub struct CustomerRecoverPayload {
    /// Why the request was refused (a malformed email).
    pub customer_user_errors: Vec<CustomerUserError>,
    /// Why the request was refused (same as `customerUserErrors`).
    pub user_errors: Vec<CustomerUserError>,
}

macro_rules! reset_payload {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject)]
        pub struct $name {
            /// The customer whose password was reset.
            pub customer: Option<Customer>,
            /// A fresh access token (every earlier token of the customer is revoked).
            pub customer_access_token: Option<CustomerAccessToken>,
            /// Why the reset failed (`TOKEN_INVALID` for any unusable link or token).
            pub customer_user_errors: Vec<CustomerUserError>,
            /// Why the reset failed (same as `customerUserErrors`).
            pub user_errors: Vec<CustomerUserError>,
        }

        impl $name {
            fn failed(e: CustomerUserError) -> Self {
                Self {
                    customer: None,
                    customer_access_token: None,
                    customer_user_errors: vec![e.clone()],
                    user_errors: vec![e],
                }
            }
        }
    };
}

reset_payload!(CustomerResetPayload, "Result of `customerReset`.");
reset_payload!(CustomerResetByUrlPayload, "Result of `customerResetByUrl`.");

/// What a reset produced.
struct ResetParts {
    customer: Option<Customer>,
    token: Option<CustomerAccessToken>,
    errors: Vec<CustomerUserError>,
}

/// The customer id and token of a reset link `<page>/<customer id>/<token>` (query and fragment ignored).
fn parse_reset_url(url: &str) -> Option<(String, String)> {
    if url.len() > 2048 {
        return None;
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let token = segments.next()?;
    let customer_id = segments.next()?;
    (!token.is_empty() && !customer_id.is_empty() && path.contains("://"))
        .then(|| (customer_id.to_string(), token.to_string()))
}

/// The one user error of an unusable reset link or token, on `field`.
fn token_invalid(field: Vec<String>) -> CustomerUserError {
    CustomerUserError::with_code(
        Some(field),
        "the password reset link is invalid or has expired".into(),
        "TOKEN_INVALID",
    )
}

/// Resets `customer_id`'s password with `token`, then signs them out everywhere and in afresh. Attempts with
/// unusable tokens spend the sign-in budgets of the customer and of the client's IP.
async fn reset_with_token(
    ctx: &Context<'_>,
    customer_id: String,
    token: String,
    password: String,
    paths: ArgPaths,
    token_field: Vec<String>,
) -> GqlResult<ResetParts> {
    let account = reset_account(&customer_id);
    admit_attempt(ctx, &account)?;
    let clients = ctx::clients(ctx)?;
    let req = user::ResetPasswordRequest {
        customer_id: customer_id.clone().into(),
        reset_token: token.into(),
        new_password: password.into(),
    };
    let r = shop_rpc::with_actor(&Actor::internal(), async {
        shop_rpc::call("user", clients.user.reset_password(req).await)
    })
    .await;
    let customer = match outcome(r)? {
        Outcome::Ok(resp) => resp.customer,
        Outcome::User(e) => {
            let err = if e.code == "TOKEN_INVALID" {
                attempt_failed(ctx, &account);
                token_invalid(token_field)
            } else {
                CustomerUserError::from_service(&e, paths)
            };
            return Ok(ResetParts {
                customer: None,
                token: None,
                errors: vec![err],
            });
        }
    };
    let session = fresh_session(ctx, &customer_id).await;
    Ok(match outcome(session)? {
        Outcome::Ok(resp) => ResetParts {
            customer: Some(Customer(customer)),
            token: Some(access_token(resp)),
            errors: Vec::new(),
        },
        Outcome::User(e) => ResetParts {
            customer: Some(Customer(customer)),
            token: None,
            errors: vec![CustomerUserError::from_service(&e, paths)],
        },
    })
}

/// A postal address (Shopify's `MailingAddressInput`).
#[derive(InputObject, Debug, Clone)]
pub struct MailingAddressInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    /// Province or state.
    pub province: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `US`.
    pub country_code: String,
    pub zip: String,
    pub phone: Option<String>,
}

impl MailingAddressInput {
    fn into_wire(self) -> user::AddressInput {
        user::AddressInput {
            first_name: self.first_name.map(Into::into),
            last_name: self.last_name.map(Into::into),
            company: self.company.map(Into::into),
            address1: self.address1.into(),
            address2: self.address2.map(Into::into),
            city: self.city.into(),
            province: self.province.map(Into::into),
            country_code: self.country_code.into(),
            zip: self.zip.into(),
            phone: self.phone.map(Into::into),
        }
    }
}

/// Result of a mutation of the signed-in customer (`customerUpdate`, `customerAddressCreate`, …).
#[derive(SimpleObject)]
pub struct CustomerChangePayload {
    /// The customer after the change.
    pub customer: Option<Customer>,
    /// After a password change (`customerUpdate` with `password`): a fresh access token; every other token of
    /// the customer is revoked.
    pub customer_access_token: Option<CustomerAccessToken>,
    /// The address created or changed (address mutations).
    pub customer_address: Option<MailingAddress>,
    /// The id of the address deleted (`customerAddressDelete`).
    pub deleted_customer_address_id: Option<ID>,
    /// Why the mutation failed.
    pub customer_user_errors: Vec<CustomerUserError>,
    /// Why the mutation failed (same as `customerUserErrors`).
    pub user_errors: Vec<CustomerUserError>,
}

impl CustomerChangePayload {
    fn failed(e: CustomerUserError) -> Self {
        Self {
            customer: None,
            customer_access_token: None,
            customer_address: None,
            deleted_customer_address_id: None,
            customer_user_errors: vec![e.clone()],
            user_errors: vec![e],
        }
    }

    fn done(customer: user::Customer, address: Option<MailingAddress>) -> Self {
        Self {
            customer: Some(Customer(customer)),
            customer_access_token: None,
            customer_address: address,
            deleted_customer_address_id: None,
            customer_user_errors: Vec::new(),
            user_errors: Vec::new(),
        }
    }
}

/// The signed-in customer's id, or the user error guests get.
fn signed_in(ctx: &Context<'_>) -> Result<String, CustomerUserError> {
    ctx::actor(ctx).customer_id.ok_or_else(|| {
        CustomerUserError::with_code(
            None,
            "sign in first: this changes the signed-in customer".into(),
            "UNIDENTIFIED_CUSTOMER",
        )
    })
}

/// The signed-in customer's id and the raw id of the address `id` names (the user service decides whether it
/// is theirs).
fn own_address(ctx: &Context<'_>, id: &ID) -> Result<(String, String), CustomerUserError> {
    let customer_id = signed_in(ctx)?;
    let mut errors: Vec<CustomerUserError> = Vec::new();
    match input_id(GidType::MailingAddress, id, path(["id"]), &mut errors) {
        Some(address_id) => Ok((customer_id, address_id)),
        None => Err(errors.remove(0)),
    }
}

/// A customer change's outcome as a payload; `address` picks the address to return from the new state.
fn customer_change(
    r: Result<user::CustomerResponse, Error>,
    paths: ArgPaths,
    address: impl FnOnce(&user::Customer) -> Option<MailingAddress>,
) -> GqlResult<CustomerChangePayload> {
    Ok(match outcome(r)? {
        Outcome::Ok(resp) => {
            let a = address(&resp.customer);
            CustomerChangePayload::done(resp.customer, a)
        }
        Outcome::User(e) => {
            CustomerChangePayload::failed(CustomerUserError::from_service(&e, paths))
        }
    })
}

/// Credentials to sign in with.
#[derive(InputObject, Debug, Clone)]
pub struct CustomerAccessTokenCreateInput {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
    /// The guest access token of the shopper signing in (our addition; from `guestAccessTokenCreate`). When
    /// omitted, a guest token sent as the request's `Authorization` is used. The guest's open carts move to
    /// the customer (see `cartMerge`) and the guest token is revoked. An invalid, expired or already used
    /// guest token does not fail the sign-in: it moves nothing and adds a `GUEST_ACCESS_TOKEN_INVALID` warning.
    pub guest_access_token: Option<String>,
    /// What happens to the guest's open carts (our addition; default `MERGE`).
    pub cart_merge: Option<CartMergeMode>,
}

/// What happens to a guest's open carts when the guest signs in (carts being checked out or purchased stay
/// as they are). Either way the guest's cart ids stop granting access: the carts belong to the customer.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum CartMergeMode {
    /// The guest carts' lines are added into the customer's most recently updated open cart (a new cart when
    /// there is none): quantities of the same merchandise are summed and capped by the line limits and stock
    /// (with warnings); the guest carts end `MERGED`. Retrying the sign-in adds nothing twice.
    MERGE,
    /// The guest carts become the customer's, as they are.
    KEEP_SEPARATE,
}

/// A guest access token: an anonymous shopper's identity. Send it as `Authorization: Bearer <accessToken>`;
/// carts created with it belong to the guest (`carts` lists them) and move to the customer at sign-in
/// (`customerAccessTokenCreate`). It expires after 14 days without use (each use extends it).
#[derive(SimpleObject, Debug, Clone)]
pub struct GuestAccessToken {
    /// The token (shown once; only its hash is stored).
    pub access_token: String,
    /// When it expires unless used again.
    pub expires_at: DateTime,
}

/// Result of `guestAccessTokenCreate`.
#[derive(SimpleObject)]
pub struct GuestAccessTokenCreatePayload {
    /// The new guest token.
    pub guest_access_token: Option<GuestAccessToken>,
    /// Why the mutation failed.
    pub user_errors: Vec<CustomerUserError>,
}

/// Result of `guestAccessTokenDelete`.
#[derive(SimpleObject)]
pub struct GuestAccessTokenDeletePayload {
    /// The revoked token.
    pub deleted_access_token: Option<String>,
    /// Why the mutation failed.
    pub user_errors: Vec<CustomerUserError>,
}

/// A customer access token: send it as `Authorization: Bearer <accessToken>`.
#[derive(SimpleObject, Debug, Clone)]
pub struct CustomerAccessToken {
    /// The token.
    pub access_token: String,
    /// When it expires.
    pub expires_at: DateTime,
}

/// What a cart mutation produced.
struct CartParts {
    cart: Option<Cart>,
    user_errors: Vec<CartUserError>,
    warnings: Vec<CartWarning>,
}

impl CartParts {
    fn errors(user_errors: Vec<CartUserError>) -> Self {
        Self {
            cart: None,
            user_errors,
            warnings: Vec::new(),
        }
    }
}

macro_rules! cart_payload {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject)]
        pub struct $name {
            /// The cart after the mutation (null when it failed).
            pub cart: Option<Cart>,
            /// Why the mutation failed.
            pub user_errors: Vec<CartUserError>,
            /// Non-fatal notes, e.g. a quantity reduced to what is available.
            pub warnings: Vec<CartWarning>,
        }

        impl From<CartParts> for $name {
            fn from(p: CartParts) -> Self {
                Self {
                    cart: p.cart,
                    user_errors: p.user_errors,
                    warnings: p.warnings,
                }
            }
        }
    };
}

cart_payload!(CartCreatePayload, "Result of `cartCreate`.");
cart_payload!(CartLinesAddPayload, "Result of `cartLinesAdd`.");
cart_payload!(CartLinesUpdatePayload, "Result of `cartLinesUpdate`.");
cart_payload!(CartLinesRemovePayload, "Result of `cartLinesRemove`.");
cart_payload!(
    CartBuyerIdentityUpdatePayload,
    "Result of `cartBuyerIdentityUpdate`."
);
cart_payload!(CartNoteUpdatePayload, "Result of `cartNoteUpdate`.");
cart_payload!(
    CartAttributesUpdatePayload,
    "Result of `cartAttributesUpdate`."
);
cart_payload!(
    CartDiscountCodesUpdatePayload,
    "Result of `cartDiscountCodesUpdate`."
);

/// Result of `cartCheckout`.
#[derive(SimpleObject)]
pub struct CartCheckoutPayload {
    /// The order (also when it failed: see its `status` and `failureCode`).
    pub order: Option<Order>,
    /// Why the checkout failed.
    pub user_errors: Vec<CheckoutUserError>,
}

/// Result of `orderCancel`.
#[derive(SimpleObject)]
pub struct OrderCancelPayload {
    /// The order, CANCELLED (its refund and restock are under way or done: see `financialStatus`).
    pub order: Option<Order>,
    /// Why the order could not be cancelled.
    pub user_errors: Vec<OrderUserError>,
}

/// Result of `orderFulfill`.
#[derive(SimpleObject)]
pub struct OrderFulfillPayload {
    /// The order, FULFILLED.
    pub order: Option<Order>,
    /// Why the order could not be fulfilled.
    pub user_errors: Vec<OrderUserError>,
}

/// How `inventoryAdjust` changes on-hand stock.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum InventoryAdjustmentKind {
    /// Goods received: `quantity` (> 0) is added.
    RECEIVE,
    /// A count: on hand becomes `quantity` (≥ 0).
    SET,
    /// A correction: `quantity` (≠ 0, may be negative) is added.
    CORRECT,
}

/// Input of `inventoryAdjust`.
#[derive(InputObject)]
pub struct InventoryAdjustInput {
    /// The variant whose stock changes.
    pub variant_id: ID,
    /// How `quantity` applies.
    pub kind: InventoryAdjustmentKind,
    /// RECEIVE/CORRECT: the change; SET: the new on-hand count.
    pub quantity: i32,
    /// Why (recorded with the stock event; 1 to 500 characters).
    pub reason: String,
}

/// Stock of one variant.
#[derive(SimpleObject)]
pub struct InventoryLevel {
    /// The variant.
    pub variant_id: ID,
    /// Units on hand (including reserved ones).
    pub on_hand: i64,
    /// Units held by checkouts in progress.
    pub reserved: i64,
    /// Units that can be sold now.
    pub available: i64,
}

/// Result of `inventoryAdjust`.
#[derive(SimpleObject)]
pub struct InventoryAdjustPayload {
    /// The variant's stock after the change.
    pub inventory_level: Option<InventoryLevel>,
    /// Why the stock could not be changed.
    pub user_errors: Vec<InventoryUserError>,
}

/// Result of `customerCreate`.
#[derive(SimpleObject)]
pub struct CustomerCreatePayload {
    /// The new customer.
    pub customer: Option<Customer>,
    /// Why the mutation failed.
    pub customer_user_errors: Vec<CustomerUserError>,
    /// Why the mutation failed (same as `customerUserErrors`).
    pub user_errors: Vec<CustomerUserError>,
}

/// Result of `customerAccessTokenCreate`.
#[derive(SimpleObject)]
pub struct CustomerAccessTokenCreatePayload {
    /// The new token.
    pub customer_access_token: Option<CustomerAccessToken>,
    /// With `cartMerge: MERGE` (our addition): the customer's cart that received the guest's lines (null when
    /// the guest had no open cart).
    pub cart: Option<Cart>,
    /// Notes about the guest's carts (our addition): lines reduced or left out while merging, an unusable guest
    /// token.
    pub warnings: Vec<CartWarning>,
    /// Why the mutation failed.
    pub customer_user_errors: Vec<CustomerUserError>,
    /// Why the mutation failed (same as `customerUserErrors`).
    pub user_errors: Vec<CustomerUserError>,
}

/// Result of `customerAccessTokenRenew`.
#[derive(SimpleObject)]
pub struct CustomerAccessTokenRenewPayload {
    /// The new token (the old one is revoked).
    pub customer_access_token: Option<CustomerAccessToken>,
    /// Why the mutation failed.
    pub user_errors: Vec<CustomerUserError>,
}

/// Result of `customerAccessTokenDelete`.
#[derive(SimpleObject)]
pub struct CustomerAccessTokenDeletePayload {
    /// The revoked token.
    pub deleted_access_token: Option<String>,
    /// Id of the revoked session.
    pub deleted_customer_access_token_id: Option<String>,
    /// Why the mutation failed.
    pub user_errors: Vec<CustomerUserError>,
}

/// An option value of a variant, e.g. `Size` = `M`.
#[derive(InputObject, Debug, Clone)]
pub struct SelectedOptionInput {
    /// Option name (1 to 255 characters, unique within the variant).
    pub name: String,
    /// Option value (1 to 255 characters).
    pub value: String,
}

/// A variant in `productCreate` / `productUpdate`. In an update, a variant with `id` changes that variant of the
/// product (only the given fields); one without `id` is added (then `sku` and `price` are required).
#[derive(InputObject, Debug, Clone)]
pub struct ProductVariantInput {
    /// Update only: the variant to change.
    pub id: Option<ID>,
    /// Stock keeping unit, unique across the catalog (1 to 100 characters).
    pub sku: Option<String>,
    /// Title (default: the option values, or `Default Title`).
    pub title: Option<String>,
    /// Price in the shop currency, greater than 0 and at most 1000000.
    pub price: Option<Decimal>,
    /// Price before a discount, at least `price`; `null` removes it.
    pub compare_at_price: MaybeUndefined<Decimal>,
    /// Option values (at most 3).
    pub options: Option<Vec<SelectedOptionInput>>,
}

/// A new product (staff with MANAGE_PRODUCTS).
#[derive(InputObject, Debug, Clone)]
pub struct ProductCreateInput {
    /// Unique handle (lower-case letters, digits, dashes); derived from the title when absent.
    pub handle: Option<String>,
    /// Title (1 to 255 characters).
    pub title: String,
    /// Description, HTML allowed (at most 65536 characters).
    pub description_html: Option<String>,
    /// Vendor name.
    pub vendor: Option<String>,
    /// Product type.
    pub product_type: Option<String>,
    /// Tags (at most 250).
    pub tags: Option<Vec<String>>,
    /// Collections the product is in (they must exist).
    pub collection_ids: Option<Vec<ID>>,
    /// The variants (1 to 100).
    pub variants: Vec<ProductVariantInput>,
}

/// Changes to a product (staff with MANAGE_PRODUCTS): only the given fields change; lists replace the stored ones.
#[derive(InputObject, Debug, Clone)]
pub struct ProductUpdateInput {
    /// The product to change.
    pub id: ID,
    /// New unique handle.
    pub handle: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New description, HTML allowed.
    pub description_html: Option<String>,
    /// New vendor name.
    pub vendor: Option<String>,
    /// New product type.
    pub product_type: Option<String>,
    /// New tags (replace the current ones).
    pub tags: Option<Vec<String>>,
    /// New collections (replace the current ones).
    pub collection_ids: Option<Vec<ID>>,
    /// Variants to change (with `id`) or add (without); none is removed.
    pub variants: Option<Vec<ProductVariantInput>>,
}

/// Result of `productCreate`.
#[derive(SimpleObject)]
pub struct ProductCreatePayload {
    /// The new product.
    pub product: Option<Product>,
    /// Why the product could not be created.
    pub user_errors: Vec<ProductUserError>,
}

/// Result of `productUpdate`.
#[derive(SimpleObject)]
pub struct ProductUpdatePayload {
    /// The product after the change.
    pub product: Option<Product>,
    /// Why the product could not be changed.
    pub user_errors: Vec<ProductUserError>,
}

const PRODUCT_PATHS: ArgPaths = ArgPaths {
    args: &["product"],
    default_arg: Some("product"),
};

/// A product mutation's user error for a service error: field paths in GraphQL names.
fn product_user_error(e: &Error) -> ProductUserError {
    let mut err = ProductUserError::from_service(e, PRODUCT_PATHS);
    if let Some(f) = &mut err.field {
        for seg in f.iter_mut() {
            if seg == "description" {
                *seg = "descriptionHtml".into();
            }
        }
    }
    err
}

fn variant_inputs(
    variants: Vec<ProductVariantInput>,
    errors: &mut Vec<ProductUserError>,
) -> Vec<wcatalog::VariantInput> {
    variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let id = v.id.as_ref().and_then(|id| {
                input_id(
                    GidType::ProductVariant,
                    id,
                    path(["product", "variants", &i.to_string(), "id"]),
                    errors,
                )
            });
            let (compare_at_price, clear) = match v.compare_at_price {
                MaybeUndefined::Undefined => (None, None),
                MaybeUndefined::Null => (None, Some(true)),
                MaybeUndefined::Value(d) => (Some(d.0.into()), None),
            };
            wcatalog::VariantInput {
                id: id.map(Into::into),
                sku: v.sku.map(Into::into),
                title: v.title.map(Into::into),
                price: v.price.map(|d| d.0.into()),
                compare_at_price,
                options: v.options.map(|o| {
                    o.into_iter()
                        .map(|o| wcatalog::SelectedOption {
                            name: o.name.into(),
                            value: o.value.into(),
                        })
                        .collect()
                }),
                clear_compare_at_price: clear,
            }
        })
        .collect()
}

fn collection_inputs(
    ids: Option<Vec<ID>>,
    errors: &mut Vec<ProductUserError>,
) -> Option<Vec<pilota::FastStr>> {
    ids.map(|ids| {
        ids.iter()
            .enumerate()
            .filter_map(|(i, id)| {
                input_id(
                    GidType::Collection,
                    id,
                    path(["product", "collectionIds", &i.to_string()]),
                    errors,
                )
                .map(Into::into)
            })
            .collect()
    })
}

fn strs(v: Option<Vec<String>>) -> Option<Vec<pilota::FastStr>> {
    v.map(|v| v.into_iter().map(Into::into).collect())
}

/// Parses a global id in mutation input; failures are collected as user errors.
fn input_id<U: UserErrorType>(
    ty: GidType,
    id: &ID,
    field: Vec<String>,
    errors: &mut Vec<U>,
) -> Option<String> {
    match gid::parse_as(ty, id.as_str()) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(U::invalid_id(field, &e));
            None
        }
    }
}

fn line_inputs(
    lines: Vec<CartLineInput>,
    prefix: &[&str],
    errors: &mut Vec<CartUserError>,
) -> Vec<wcart::CartLineInput> {
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.into_iter().enumerate() {
        let field = path(
            prefix
                .iter()
                .map(|s| s.to_string())
                .chain([i.to_string(), "merchandiseId".into()]),
        );
        if let Some(variant_id) =
            input_id(GidType::ProductVariant, &l.merchandise_id, field, errors)
        {
            out.push(wcart::CartLineInput {
                variant_id: variant_id.into(),
                quantity: i64::from(l.quantity),
                attributes: l.attributes.map(attrs),
            });
        }
    }
    out
}

/// Resolves the buyer identity input; a customer access token is validated and becomes the customer id.
async fn resolve_buyer_identity(
    ctx: &Context<'_>,
    input: CartBuyerIdentityInput,
    prefix: &[&str],
) -> GqlResult<Result<(wcart::BuyerIdentity, Option<Actor>), CartUserError>> {
    let mut customer = None;
    if let Some(token) = input.customer_access_token {
        let field = path(prefix.iter().copied().chain(["customerAccessToken"]));
        match crate::auth::validate_token(ctx::clients(ctx)?, &token).await {
            Ok(Some(id)) => customer = Some(id),
            Ok(None) => {
                let msg = "the access token is not a customer's".to_string();
                return Ok(Err(CartUserError::with_code(
                    Some(field),
                    msg,
                    "INVALID_TOKEN",
                )));
            }
            Err(e)
                if e.kind == ErrorKind::Unauthenticated || e.kind == ErrorKind::InvalidArgument =>
            {
                return Ok(Err(CartUserError::with_code(
                    Some(field),
                    e.public_message().to_string(),
                    "INVALID_TOKEN",
                )));
            }
            Err(e) => return Err(crate::error::gql(e)),
        }
    }
    let identity = wcart::BuyerIdentity {
        email: input.email.map(Into::into),
        phone: input.phone.map(Into::into),
        country_code: input.country_code.map(Into::into),
        customer_id: customer.clone().map(Into::into),
    };
    Ok(Ok((identity, customer.map(Actor::customer))))
}

/// Runs a cart service call (under `actor` when given) and classifies the result.
async fn run_cart<F>(actor: Option<Actor>, fut: F, paths: ArgPaths) -> GqlResult<CartParts>
where
    F: std::future::Future<Output = Result<wcart::CartMutationResponse, Error>>,
{
    let r = match actor {
        Some(a) => shop_rpc::with_actor(&a, fut).await,
        None => fut.await,
    };
    Ok(match outcome(r)? {
        Outcome::Ok(resp) => {
            let warnings = resp
                .warnings
                .iter()
                .map(|w| CartWarning::from_wire(w, Some(&resp.cart)))
                .collect();
            CartParts {
                cart: Some(Cart(resp.cart)),
                user_errors: Vec::new(),
                warnings,
            }
        }
        Outcome::User(e) => CartParts::errors(vec![CartUserError::from_service(&e, paths)]),
    })
}

/// Parses the `cartId` argument.
fn cart_id(id: &ID, errors: &mut Vec<CartUserError>) -> Option<String> {
    input_id(GidType::Cart, id, path(["cartId"]), errors)
}

fn token_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN
}

fn access_token(resp: session::CreateSessionResponse) -> CustomerAccessToken {
    CustomerAccessToken {
        access_token: resp.token.to_string(),
        expires_at: DateTime(resp.session.expires_at_ms),
    }
}

const CART_ARGS: &[&str] = &[
    "cartId",
    "lines",
    "lineIds",
    "buyerIdentity",
    "note",
    "attributes",
    "discountCodes",
];

fn cart_paths(default_arg: Option<&'static str>) -> ArgPaths {
    ArgPaths {
        args: CART_ARGS,
        default_arg,
    }
}

/// The mutation root.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a cart.
    async fn cart_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] input: CartInput,
    ) -> GqlResult<CartCreatePayload> {
        let mut errors = Vec::new();
        let lines = line_inputs(
            input.lines.unwrap_or_default(),
            &["input", "lines"],
            &mut errors,
        );
        let (identity, actor) = match input.buyer_identity {
            Some(b) => match resolve_buyer_identity(ctx, b, &["input", "buyerIdentity"]).await? {
                Ok((i, a)) => (Some(i), a),
                Err(e) => {
                    errors.push(e);
                    (None, None)
                }
            },
            None => (None, None),
        };
        if !errors.is_empty() {
            return Ok(CartParts::errors(errors).into());
        }
        let clients = ctx::clients(ctx)?;
        let req = wcart::CreateCartRequest {
            lines,
            note: input.note.map(Into::into),
            attributes: input.attributes.map(attrs),
            discount_codes: input
                .discount_codes
                .map(|v| v.into_iter().map(Into::into).collect()),
            buyer_identity: identity,
        };
        let fut = async { shop_rpc::call("cart", clients.cart.create_cart(req).await) };
        Ok(run_cart(
            actor,
            fut,
            ArgPaths {
                args: &["input"],
                default_arg: Some("input"),
            },
        )
        .await?
        .into())
    }

    /// Adds lines to a cart (quantities of an existing variant are merged).
    async fn cart_lines_add(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        lines: Vec<CartLineInput>,
    ) -> GqlResult<CartLinesAddPayload> {
        let mut errors = Vec::new();
        let id = cart_id_arg(&cart_id, &mut errors);
        let lines = line_inputs(lines, &["lines"], &mut errors);
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::AddLinesRequest {
            cart_id: id.into(),
            lines,
        };
        let fut = async { shop_rpc::call("cart", clients.cart.add_lines(req).await) };
        Ok(run_cart(None, fut, cart_paths(None)).await?.into())
    }

    /// Changes quantities (0 removes), variants or attributes of cart lines.
    async fn cart_lines_update(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        lines: Vec<CartLineUpdateInput>,
    ) -> GqlResult<CartLinesUpdatePayload> {
        let mut errors = Vec::new();
        let id = cart_id_arg(&cart_id, &mut errors);
        let mut updates = Vec::with_capacity(lines.len());
        for (i, l) in lines.into_iter().enumerate() {
            let line_id = input_id(
                GidType::CartLine,
                &l.id,
                path(["lines", &i.to_string(), "id"]),
                &mut errors,
            );
            let variant_id = match &l.merchandise_id {
                Some(m) => input_id(
                    GidType::ProductVariant,
                    m,
                    path(["lines", &i.to_string(), "merchandiseId"]),
                    &mut errors,
                ),
                None => None,
            };
            if let Some(line_id) = line_id {
                updates.push(wcart::CartLineUpdate {
                    line_id: line_id.into(),
                    quantity: l.quantity.map(i64::from),
                    variant_id: variant_id.map(Into::into),
                    attributes: l.attributes.map(attrs),
                });
            }
        }
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::UpdateLinesRequest {
            cart_id: id.into(),
            lines: updates,
        };
        let fut = async { shop_rpc::call("cart", clients.cart.update_lines(req).await) };
        Ok(run_cart(None, fut, cart_paths(None)).await?.into())
    }

    /// Removes lines from a cart.
    async fn cart_lines_remove(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        line_ids: Vec<ID>,
    ) -> GqlResult<CartLinesRemovePayload> {
        let mut errors = Vec::new();
        let id = cart_id_arg(&cart_id, &mut errors);
        let ids: Vec<pilota::FastStr> = line_ids
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                input_id(
                    GidType::CartLine,
                    l,
                    path(["lineIds", &i.to_string()]),
                    &mut errors,
                )
            })
            .map(Into::into)
            .collect();
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::RemoveLinesRequest {
            cart_id: id.into(),
            line_ids: ids,
        };
        let fut = async { shop_rpc::call("cart", clients.cart.remove_lines(req).await) };
        Ok(run_cart(
            None,
            fut,
            ArgPaths {
                args: CART_ARGS,
                default_arg: Some("lineIds"),
            },
        )
        .await?
        .into())
    }

    /// Sets who is buying; a `customerAccessToken` makes the cart the customer's.
    async fn cart_buyer_identity_update(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        buyer_identity: CartBuyerIdentityInput,
    ) -> GqlResult<CartBuyerIdentityUpdatePayload> {
        let mut errors = Vec::new();
        let id = cart_id_arg(&cart_id, &mut errors);
        let (identity, actor) =
            match resolve_buyer_identity(ctx, buyer_identity, &["buyerIdentity"]).await? {
                Ok(v) => v,
                Err(e) => return Ok(CartParts::errors(vec![e]).into()),
            };
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::UpdateBuyerIdentityRequest {
            cart_id: id.into(),
            buyer_identity: identity,
        };
        let fut = async { shop_rpc::call("cart", clients.cart.update_buyer_identity(req).await) };
        Ok(run_cart(actor, fut, cart_paths(Some("buyerIdentity")))
            .await?
            .into())
    }

    /// Sets or clears the cart note.
    async fn cart_note_update(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        note: Option<String>,
    ) -> GqlResult<CartNoteUpdatePayload> {
        let mut errors = Vec::new();
        let Some(id) = cart_id_arg(&cart_id, &mut errors) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::UpdateNoteRequest {
            cart_id: id.into(),
            note: note.map(Into::into),
        };
        let fut = async { shop_rpc::call("cart", clients.cart.update_note(req).await) };
        Ok(run_cart(None, fut, cart_paths(Some("note"))).await?.into())
    }

    /// Replaces the cart attributes.
    async fn cart_attributes_update(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        attributes: Vec<AttributeInput>,
    ) -> GqlResult<CartAttributesUpdatePayload> {
        let mut errors = Vec::new();
        let Some(id) = cart_id_arg(&cart_id, &mut errors) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::UpdateAttributesRequest {
            cart_id: id.into(),
            attributes: attrs(attributes),
        };
        let fut = async { shop_rpc::call("cart", clients.cart.update_attributes(req).await) };
        Ok(run_cart(None, fut, cart_paths(Some("attributes")))
            .await?
            .into())
    }

    /// Replaces the cart discount codes.
    async fn cart_discount_codes_update(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        #[graphql(default)] discount_codes: Vec<String>,
    ) -> GqlResult<CartDiscountCodesUpdatePayload> {
        let mut errors = Vec::new();
        let Some(id) = cart_id_arg(&cart_id, &mut errors) else {
            return Ok(CartParts::errors(errors).into());
        };
        let clients = ctx::clients(ctx)?;
        let req = wcart::UpdateDiscountCodesRequest {
            cart_id: id.into(),
            discount_codes: discount_codes.into_iter().map(Into::into).collect(),
        };
        let fut = async { shop_rpc::call("cart", clients.cart.update_discount_codes(req).await) };
        Ok(run_cart(None, fut, cart_paths(Some("discountCodes")))
            .await?
            .into())
    }

    /// Checks a cart out: reserves stock, takes the payment and places the order. A retry with the same
    /// `idempotencyKey` returns the first outcome. A failed payment gives the FAILED order and a user error.
    async fn cart_checkout(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        payment: PaymentInput,
        idempotency_key: String,
    ) -> GqlResult<CartCheckoutPayload> {
        let paths = ArgPaths {
            args: &["cartId", "payment", "idempotencyKey"],
            default_arg: None,
        };
        let mut errors: Vec<CheckoutUserError> = Vec::new();
        let Some(id) = input_id(GidType::Cart, &cart_id, path(["cartId"]), &mut errors) else {
            return Ok(CartCheckoutPayload {
                order: None,
                user_errors: errors,
            });
        };
        let clients = ctx::clients(ctx)?;
        let req = worder::CheckoutRequest {
            cart_id: id.into(),
            payment: worder::Payment {
                token: payment.token.into(),
                provider: payment.provider.map(Into::into),
            },
            idempotency_key: idempotency_key.into(),
        };
        Ok(
            match outcome(shop_rpc::call("order", clients.order.checkout(req).await))? {
                Outcome::Ok(resp) => {
                    let order = resp.order;
                    let mut user_errors = Vec::new();
                    if OrderStatus::from_wire(order.status) == OrderStatus::FAILED {
                        let code = order
                            .failure_code
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "INVALID".into());
                        let message = order
                            .failure_message
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| format!("the order failed: {code}"));
                        user_errors.push(CheckoutUserError::with_code(None, message, &code));
                    }
                    CartCheckoutPayload {
                        order: Some(Order(order)),
                        user_errors,
                    }
                }
                Outcome::User(e) => CartCheckoutPayload {
                    order: None,
                    user_errors: vec![CheckoutUserError::from_service(&e, paths)],
                },
            },
        )
    }

    /// Cancels a paid, unfulfilled order — one of the signed-in customer's, or any order for staff with
    /// MANAGE_ORDERS: the payment is refunded in full and the stock goes back on hand. Idempotent.
    async fn order_cancel(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        reason: Option<String>,
    ) -> GqlResult<OrderCancelPayload> {
        let paths = ArgPaths {
            args: &["orderId", "reason"],
            default_arg: None,
        };
        let mut errors: Vec<OrderUserError> = Vec::new();
        let Some(id) = input_id(GidType::Order, &order_id, path(["orderId"]), &mut errors) else {
            return Ok(OrderCancelPayload {
                order: None,
                user_errors: errors,
            });
        };
        let clients = ctx::clients(ctx)?;
        let req = worder::CancelOrderRequest {
            order_id: id.into(),
            reason: reason.map(Into::into),
        };
        Ok(
            match outcome(shop_rpc::call(
                "order",
                clients.order.cancel_order(req).await,
            ))? {
                Outcome::Ok(resp) => OrderCancelPayload {
                    order: Some(Order(resp.order)),
                    user_errors: vec![],
                },
                Outcome::User(e) => OrderCancelPayload {
                    order: None,
                    user_errors: vec![OrderUserError::from_service(&e, paths)],
                },
            },
        )
    }

    /// Marks a paid order fulfilled (staff with MANAGE_ORDERS). Idempotent.
    async fn order_fulfill(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
    ) -> GqlResult<OrderFulfillPayload> {
        ctx::require(ctx, Permission::ManageOrders)?;
        let paths = ArgPaths {
            args: &["orderId"],
            default_arg: None,
        };
        let mut errors: Vec<OrderUserError> = Vec::new();
        let Some(id) = input_id(GidType::Order, &order_id, path(["orderId"]), &mut errors) else {
            return Ok(OrderFulfillPayload {
                order: None,
                user_errors: errors,
            });
        };
        let clients = ctx::clients(ctx)?;
        let req = worder::FulfillOrderRequest {
            order_id: id.into(),
        };
        Ok(
            match outcome(shop_rpc::call(
                "order",
                clients.order.fulfill_order(req).await,
            ))? {
                Outcome::Ok(resp) => OrderFulfillPayload {
                    order: Some(Order(resp.order)),
                    user_errors: vec![],
                },
                Outcome::User(e) => OrderFulfillPayload {
                    order: None,
                    user_errors: vec![OrderUserError::from_service(&e, paths)],
                },
            },
        )
    }

    /// Changes a variant's on-hand stock (staff with MANAGE_PRODUCTS), recording the reason with the stock event.
    /// Never below what checkouts hold.
    async fn inventory_adjust(
        &self,
        ctx: &Context<'_>,
        input: InventoryAdjustInput,
    ) -> GqlResult<InventoryAdjustPayload> {
        ctx::require(ctx, Permission::ManageProducts)?;
        let paths = ArgPaths {
            args: &["variantId", "kind", "quantity", "reason"],
            default_arg: Some("input"),
        };
        let fail = |errors: Vec<InventoryUserError>| InventoryAdjustPayload {
            inventory_level: None,
            user_errors: errors,
        };
        let mut errors: Vec<InventoryUserError> = Vec::new();
        let field = path(["input", "variantId"]);
        let Some(variant_id) = input_id(
            GidType::ProductVariant,
            &input.variant_id,
            field.clone(),
            &mut errors,
        ) else {
            return Ok(fail(errors));
        };
        // Stock exists only for variants the catalog sells.
        if crate::types::catalog::load_variant(ctx, &variant_id)
            .await?
            .is_none()
        {
            return Ok(fail(vec![InventoryUserError::with_code(
                Some(field),
                "no such product variant".into(),
                "VARIANT_NOT_FOUND",
            )]));
        }
        let kind = match input.kind {
            InventoryAdjustmentKind::RECEIVE => inventory::AdjustmentKind::RECEIVE,
            InventoryAdjustmentKind::SET => inventory::AdjustmentKind::SET,
            InventoryAdjustmentKind::CORRECT => inventory::AdjustmentKind::CORRECT,
        };
        let req = inventory::AdjustStockRequest {
            variant_id: variant_id.clone().into(),
            kind,
            quantity: i64::from(input.quantity),
            reason: input.reason.into(),
        };
        let clients = ctx::clients(ctx)?;
        Ok(
            match outcome(shop_rpc::call(
                "inventory",
                clients.inventory.adjust_stock(req).await,
            ))? {
                Outcome::Ok(resp) => InventoryAdjustPayload {
                    inventory_level: Some(InventoryLevel {
                        variant_id: ID(gid::encode(GidType::ProductVariant, &variant_id)),
                        on_hand: resp.level.on_hand,
                        reserved: resp.level.reserved,
                        available: resp.level.available,
                    }),
                    user_errors: vec![],
                },
                Outcome::User(e) => fail(vec![InventoryUserError::from_service(&e, paths)]),
            },
        )
    }

    /// Creates a product with its variants (staff with MANAGE_PRODUCTS). Business failures (a taken handle or
    /// SKU, a bad price, an unknown collection, …) are `userErrors` and create nothing.
    async fn product_create(
        &self,
        ctx: &Context<'_>,
        product: ProductCreateInput,
    ) -> GqlResult<ProductCreatePayload> {
        ctx::require(ctx, Permission::ManageProducts)?;
        let mut errors: Vec<ProductUserError> = Vec::new();
        let collection_ids = collection_inputs(product.collection_ids, &mut errors);
        let variants = variant_inputs(product.variants, &mut errors);
        if !errors.is_empty() {
            return Ok(ProductCreatePayload {
                product: None,
                user_errors: errors,
            });
        }
        let req = wcatalog::CreateProductRequest {
            handle: product.handle.map(Into::into),
            title: product.title.into(),
            description: product.description_html.map(Into::into),
            vendor: product.vendor.map(Into::into),
            product_type: product.product_type.map(Into::into),
            tags: strs(product.tags),
            collection_ids,
            variants,
        };
        let clients = ctx::clients(ctx)?;
        Ok(
            match outcome(shop_rpc::call(
                "catalog",
                clients.catalog.create_product(req).await,
            ))? {
                Outcome::Ok(resp) => ProductCreatePayload {
                    product: Some(Product(resp.product)),
                    user_errors: vec![],
                },
                Outcome::User(e) => ProductCreatePayload {
                    product: None,
                    user_errors: vec![product_user_error(&e)],
                },
            },
        )
    }

    /// Changes a product (staff with MANAGE_PRODUCTS): only the given fields change; variants are changed by id
    /// or added. Business failures are `userErrors` and change nothing.
    async fn product_update(
        &self,
        ctx: &Context<'_>,
        product: ProductUpdateInput,
    ) -> GqlResult<ProductUpdatePayload> {
        ctx::require(ctx, Permission::ManageProducts)?;
        let mut errors: Vec<ProductUserError> = Vec::new();
        let id = input_id(
            GidType::Product,
            &product.id,
            path(["product", "id"]),
            &mut errors,
        );
        let collection_ids = collection_inputs(product.collection_ids, &mut errors);
        let variants = product.variants.map(|v| variant_inputs(v, &mut errors));
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(ProductUpdatePayload {
                product: None,
                user_errors: errors,
            });
        };
        let req = wcatalog::UpdateProductRequest {
            id: id.into(),
            handle: product.handle.map(Into::into),
            title: product.title.map(Into::into),
            description: product.description_html.map(Into::into),
            vendor: product.vendor.map(Into::into),
            product_type: product.product_type.map(Into::into),
            tags: strs(product.tags),
            collection_ids,
            variants,
        };
        let clients = ctx::clients(ctx)?;
        Ok(
            match outcome(shop_rpc::call(
                "catalog",
                clients.catalog.update_product(req).await,
            ))? {
                Outcome::Ok(resp) => ProductUpdatePayload {
                    product: Some(Product(resp.product)),
                    user_errors: vec![],
                },
                Outcome::User(e) => ProductUpdatePayload {
                    product: None,
                    user_errors: vec![product_user_error(&e)],
                },
            },
        )
    }

    /// Registers a customer.
    async fn customer_create(
        &self,
        ctx: &Context<'_>,
        input: CustomerCreateInput,
    ) -> GqlResult<CustomerCreatePayload> {
        let clients = ctx::clients(ctx)?;
        let req = user::RegisterRequest {
            email: input.email.into(),
            password: input.password.into(),
            first_name: input.first_name.map(Into::into),
            last_name: input.last_name.map(Into::into),
            phone: input.phone.map(Into::into),
            accepts_marketing: input.accepts_marketing.unwrap_or(false),
        };
        let paths = ArgPaths {
            args: &["input"],
            default_arg: Some("input"),
        };
        Ok(
            match outcome(shop_rpc::call("user", clients.user.register(req).await))? {
                Outcome::Ok(resp) => CustomerCreatePayload {
                    customer: Some(Customer(resp.customer)),
                    customer_user_errors: Vec::new(),
                    user_errors: Vec::new(),
                },
                Outcome::User(e) => {
                    let errs = vec![CustomerUserError::from_service(&e, paths)];
                    CustomerCreatePayload {
                        customer: None,
                        customer_user_errors: errs.clone(),
                        user_errors: errs,
                    }
                }
            },
        )
    }

    /// Changes the signed-in customer's profile and, with `password` + `currentPassword`, their password.
    /// A wrong current password changes nothing and counts as a failed sign-in; a password change revokes every
    /// other token of the customer and returns a fresh `customerAccessToken`.
    async fn customer_update(
        &self,
        ctx: &Context<'_>,
        customer: CustomerUpdateInput,
    ) -> GqlResult<CustomerChangePayload> {
        let id = match signed_in(ctx) {
            Ok(id) => id,
            Err(e) => return Ok(CustomerChangePayload::failed(e)),
        };
        let paths = ArgPaths {
            args: &["customer"],
            default_arg: Some("customer"),
        };
        let clients = ctx::clients(ctx)?;
        let mut changed: Option<user::Customer> = None;
        let mut fresh_token = None;
        if let Some(new_password) = customer.password.clone() {
            let Some(current) = customer.current_password.clone().filter(|c| !c.is_empty()) else {
                return Ok(CustomerChangePayload::failed(CustomerUserError::with_code(
                    Some(path(["customer", "currentPassword"])),
                    "currentPassword is required to change the password".into(),
                    "BLANK",
                )));
            };
            // The sign-in budgets of the customer's email (and of the client's IP) cover this guess too.
            let lookup = user::GetCustomersRequest {
                ids: vec![id.clone().into()],
            };
            let me = shop_rpc::call("user", clients.user.get_customers(lookup).await)
                .map_err(crate::error::gql)?;
            let account = me
                .customers
                .first()
                .map(|c| crate::limits::account_key(&c.email))
                .unwrap_or_else(|| reset_account(&id));
            admit_attempt(ctx, &account)?;
            let req = user::ChangePasswordRequest {
                current_password: current.into(),
                new_password: new_password.into(),
            };
            let r = shop_rpc::call("user", clients.user.change_password(req).await);
            match outcome(r)? {
                Outcome::Ok(resp) => changed = Some(resp.customer),
                Outcome::User(e) => {
                    if e.code == "CURRENT_PASSWORD_INVALID" {
                        attempt_failed(ctx, &account);
                    }
                    return Ok(CustomerChangePayload::failed(
                        CustomerUserError::from_service(&e, paths),
                    ));
                }
            }
            match outcome(fresh_session(ctx, &id).await)? {
                Outcome::Ok(resp) => fresh_token = Some(access_token(resp)),
                Outcome::User(e) => {
                    let mut p =
                        CustomerChangePayload::failed(CustomerUserError::from_service(&e, paths));
                    p.customer = changed.map(Customer);
                    return Ok(p);
                }
            }
        }
        if customer.has_profile_changes() || changed.is_none() {
            let req = user::UpdateProfileRequest {
                customer_id: id.into(),
                first_name: customer.first_name.map(Into::into),
                last_name: customer.last_name.map(Into::into),
                phone: customer.phone.map(Into::into),
                accepts_marketing: customer.accepts_marketing,
            };
            let r = shop_rpc::call("user", clients.user.update_profile(req).await).map(|r| {
                user::CustomerResponse {
                    customer: r.customer,
                }
            });
            let mut payload = customer_change(r, paths, |_| None)?;
            if payload.customer.is_none() {
                // The password did change: say so with the state after it.
                payload.customer = changed.map(Customer);
            }
            payload.customer_access_token = fresh_token;
            return Ok(payload);
        }
        let mut payload = CustomerChangePayload::done(
            changed.ok_or_else(|| crate::error::gql(Error::internal("no customer")))?,
            None,
        );
        payload.customer_access_token = fresh_token;
        Ok(payload)
    }

    /// Sends a password-reset link to `email` (as an `email.password_reset_requested.v1` event) if an account
    /// has it. The answer is the same, in about the same time, either way; requests are budgeted per email and
    /// per IP address.
    async fn customer_recover(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> GqlResult<CustomerRecoverPayload> {
        let (limits, ip) = limits_and_ip(ctx);
        let account = crate::limits::account_key(&email);
        if let Some(limits) = limits
            && let Err(t) = limits.recover_attempt(ip, &account)
        {
            return Err(throttled(t, "RECOVER_THROTTLED", "password reset requests"));
        }
        let clients = ctx::clients(ctx)?;
        let req = user::RequestPasswordResetRequest {
            email: email.into(),
        };
        let r = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("user", clients.user.request_password_reset(req).await)
        })
        .await;
        let paths = ArgPaths {
            args: &["email"],
            default_arg: None,
        };
        Ok(match outcome(r)? {
            Outcome::Ok(_) => CustomerRecoverPayload {
                customer_user_errors: Vec::new(),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => {
                let errs = vec![CustomerUserError::from_service(&e, paths)];
                CustomerRecoverPayload {
                    customer_user_errors: errs.clone(),
                    user_errors: errs,
                }
            }
        })
    }

    /// Sets a new password with the token of a reset link for customer `id`; signs the customer out everywhere
    /// and returns a fresh `customerAccessToken`. Any unusable token (unknown, expired, used, another
    /// customer's) is `TOKEN_INVALID` and counts as a failed sign-in.
    async fn customer_reset(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CustomerResetInput,
    ) -> GqlResult<CustomerResetPayload> {
        let paths = ArgPaths {
            args: &["id", "input"],
            default_arg: Some("input"),
        };
        let Ok(customer_id) = gid::parse_as(GidType::Customer, &id) else {
            return Ok(CustomerResetPayload::failed(token_invalid(path(["id"]))));
        };
        let parts = reset_with_token(
            ctx,
            customer_id,
            input.reset_token,
            input.password,
            paths,
            path(["input", "resetToken"]),
        )
        .await?;
        Ok(CustomerResetPayload {
            customer: parts.customer,
            customer_access_token: parts.token,
            customer_user_errors: parts.errors.clone(),
            user_errors: parts.errors,
        })
    }

    /// Sets a new password with a reset link (`<page>/<customer id>/<token>`, as mailed); otherwise like
    /// `customerReset`.
    async fn customer_reset_by_url(
        &self,
        ctx: &Context<'_>,
        reset_url: String,
        password: String,
    ) -> GqlResult<CustomerResetByUrlPayload> {
        let paths = ArgPaths {
            args: &["resetUrl", "password"],
            default_arg: None,
        };
        let Some((customer_id, token)) = parse_reset_url(&reset_url) else {
            return Ok(CustomerResetByUrlPayload::failed(token_invalid(path([
                "resetUrl",
            ]))));
        };
        let parts =
            reset_with_token(ctx, customer_id, token, password, paths, path(["resetUrl"])).await?;
        Ok(CustomerResetByUrlPayload {
            customer: parts.customer,
            customer_access_token: parts.token,
            customer_user_errors: parts.errors.clone(),
            user_errors: parts.errors,
        })
    }

    /// Adds an address to the signed-in customer's address book (the first one, or with `makeDefault`,
    /// becomes the default).
    async fn customer_address_create(
        &self,
        ctx: &Context<'_>,
        address: MailingAddressInput,
        make_default: Option<bool>,
    ) -> GqlResult<CustomerChangePayload> {
        let id = match signed_in(ctx) {
            Ok(id) => id,
            Err(e) => return Ok(CustomerChangePayload::failed(e)),
        };
        let req = user::AddAddressRequest {
            customer_id: id.into(),
            address: address.into_wire(),
            make_default: make_default.unwrap_or(false),
        };
        let clients = ctx::clients(ctx)?;
        let r = shop_rpc::call("user", clients.user.add_address(req).await);
        let paths = ArgPaths {
            args: &["address"],
            default_arg: Some("address"),
        };
        customer_change(r, paths, |c| {
            c.addresses.last().cloned().map(MailingAddress)
        })
    }

    /// Replaces one of the signed-in customer's addresses (an address of someone else is not found).
    async fn customer_address_update(
        &self,
        ctx: &Context<'_>,
        id: ID,
        address: MailingAddressInput,
    ) -> GqlResult<CustomerChangePayload> {
        let (customer_id, address_id) = match own_address(ctx, &id) {
            Ok(ids) => ids,
            Err(e) => return Ok(CustomerChangePayload::failed(e)),
        };
        let req = user::UpdateAddressRequest {
            customer_id: customer_id.into(),
            address_id: address_id.clone().into(),
            address: address.into_wire(),
        };
        let clients = ctx::clients(ctx)?;
        let r = shop_rpc::call("user", clients.user.update_address(req).await);
        let paths = ArgPaths {
            args: &["address", "id"],
            default_arg: Some("address"),
        };
        customer_change(r, paths, |c| {
            c.addresses
                .iter()
                .find(|a| a.id == address_id.as_str())
                .cloned()
                .map(MailingAddress)
        })
    }

    /// Deletes one of the signed-in customer's addresses (if it was the default, the first remaining one
    /// becomes the default).
    async fn customer_address_delete(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<CustomerChangePayload> {
        let (customer_id, address_id) = match own_address(ctx, &id) {
            Ok(ids) => ids,
            Err(e) => return Ok(CustomerChangePayload::failed(e)),
        };
        let req = user::DeleteAddressRequest {
            customer_id: customer_id.into(),
            address_id: address_id.into(),
        };
        let clients = ctx::clients(ctx)?;
        let r = shop_rpc::call("user", clients.user.delete_address(req).await);
        let paths = ArgPaths {
            args: &["id"],
            default_arg: Some("id"),
        };
        let mut payload = customer_change(r, paths, |_| None)?;
        if payload.customer.is_some() {
            payload.deleted_customer_address_id = Some(id);
        }
        Ok(payload)
    }

    /// Signs the signed-in customer out everywhere: every access token of theirs is revoked (other gateways
    /// stop accepting them within `gateway.token_cache_ms`).
    async fn customer_access_token_delete_all(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<CustomerChangePayload> {
        let id = match signed_in(ctx) {
            Ok(id) => id,
            Err(e) => return Ok(CustomerChangePayload::failed(e)),
        };
        let clients = ctx::clients(ctx)?;
        let req = session::RevokeAllRequest {
            customer_id: id.clone().into(),
        };
        let r = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("session", clients.session.revoke_all(req).await)
        })
        .await;
        if let Some(token) = ctx.data_opt::<crate::auth::PresentedToken>() {
            forget_token(ctx, &token.0);
        }
        forget_customer(ctx, &id);
        Ok(match outcome(r)? {
            Outcome::Ok(_) => CustomerChangePayload {
                customer: None,
                customer_access_token: None,
                customer_address: None,
                deleted_customer_address_id: None,
                customer_user_errors: Vec::new(),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => CustomerChangePayload::failed(CustomerUserError::from_service(
                &e,
                ArgPaths {
                    args: &[],
                    default_arg: None,
                },
            )),
        })
    }

    /// Signs a customer in: returns an access token.
    async fn customer_access_token_create(
        &self,
        ctx: &Context<'_>,
        input: CustomerAccessTokenCreateInput,
    ) -> GqlResult<CustomerAccessTokenCreatePayload> {
        let clients = ctx::clients(ctx)?;
        let paths = ArgPaths {
            args: &["input"],
            default_arg: Some("input"),
        };
        let fail = |errs: Vec<CustomerUserError>| CustomerAccessTokenCreatePayload {
            customer_access_token: None,
            cart: None,
            warnings: Vec::new(),
            customer_user_errors: errs.clone(),
            user_errors: errs,
        };
        // Every execution of this field is one attempt, however many aliases or batched operations carry it.
        let account = crate::limits::account_key(&input.email);
        admit_attempt(ctx, &account)?;
        let req = user::AuthenticateRequest {
            email: input.email.into(),
            password: input.password.into(),
        };
        let auth = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("user", clients.user.authenticate(req).await)
        })
        .await;
        let customer = match outcome(auth)? {
            Outcome::Ok(resp) => resp.customer,
            Outcome::User(e) => {
                if e.kind == ErrorKind::Unauthenticated {
                    attempt_failed(ctx, &account);
                }
                let mut err = CustomerUserError::from_service(&e, paths);
                if e.kind == ErrorKind::Unauthenticated {
                    err.code = Some(crate::error::CustomerErrorCode::UNIDENTIFIED_CUSTOMER);
                    err.field = None;
                }
                return Ok(fail(vec![err]));
            }
        };
        let guest_token = input.guest_access_token.or_else(|| {
            ctx::actor(ctx)
                .guest_id
                .and(ctx.data_opt::<crate::auth::PresentedToken>())
                .map(|t| t.0.clone())
        });
        let mode = input.cart_merge.unwrap_or(CartMergeMode::MERGE);
        let (cart, warnings) = match guest_token {
            Some(token) => move_guest_carts(ctx, customer.id.as_str(), &token, mode).await?,
            None => (None, Vec::new()),
        };
        let req = session::CreateSessionRequest {
            customer_id: customer.id,
        };
        let created = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("session", clients.session.create_session(req).await)
        })
        .await;
        Ok(match outcome(created)? {
            Outcome::Ok(resp) => CustomerAccessTokenCreatePayload {
                customer_access_token: Some(access_token(resp)),
                cart,
                warnings,
                customer_user_errors: Vec::new(),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => fail(vec![CustomerUserError::from_service(&e, paths)]),
        })
    }

    /// Gives an anonymous shopper a guest identity (our addition; Shopify keeps guests in cookies): a guest
    /// access token to send as `Authorization: Bearer <accessToken>`. Carts created with it belong to the
    /// guest and are listed by `carts`; signing in with it (`customerAccessTokenCreate`) moves them to the
    /// customer. Guest cart ids stay capabilities: `cart(id:)` works with or without the token.
    async fn guest_access_token_create(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<GuestAccessTokenCreatePayload> {
        let clients = ctx::clients(ctx)?;
        let created = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call(
                "session",
                clients
                    .session
                    .create_guest_session(session::CreateGuestSessionRequest {})
                    .await,
            )
        })
        .await;
        Ok(match outcome(created)? {
            Outcome::Ok(resp) => GuestAccessTokenCreatePayload {
                guest_access_token: Some(GuestAccessToken {
                    access_token: resp.token.to_string(),
                    expires_at: DateTime(resp.session.expires_at_ms),
                }),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => GuestAccessTokenCreatePayload {
                guest_access_token: None,
                user_errors: vec![CustomerUserError::from_service(
                    &e,
                    ArgPaths {
                        args: &[],
                        default_arg: None,
                    },
                )],
            },
        })
    }

    /// Revokes a guest access token (our addition). The guest's carts stay reachable by their ids.
    async fn guest_access_token_delete(
        &self,
        ctx: &Context<'_>,
        guest_access_token: String,
    ) -> GqlResult<GuestAccessTokenDeletePayload> {
        let fail = |e: CustomerUserError| GuestAccessTokenDeletePayload {
            deleted_access_token: None,
            user_errors: vec![e],
        };
        let invalid = || {
            CustomerUserError::with_code(
                Some(path(["guestAccessToken"])),
                "invalid guest access token".into(),
                "INVALID_TOKEN",
            )
        };
        if !token_ok(&guest_access_token) {
            return Ok(fail(invalid()));
        }
        let clients = ctx::clients(ctx)?;
        // Only guest tokens: a customer token is revoked with `customerAccessTokenDelete`.
        match crate::auth::validate_session(clients, &guest_access_token).await {
            Ok(crate::auth::TokenOwner::Guest(_)) => {}
            Ok(crate::auth::TokenOwner::Customer(_)) => return Ok(fail(invalid())),
            Err(e) if e.kind == ErrorKind::Unauthenticated => return Ok(fail(invalid())),
            Err(e) => return Err(crate::error::gql(e)),
        }
        let req = session::RevokeRequest {
            token: guest_access_token.clone().into(),
        };
        let r = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("session", clients.session.revoke(req).await)
        })
        .await;
        if r.is_ok() {
            forget_token(ctx, &guest_access_token);
        }
        let paths = ArgPaths {
            args: &["guestAccessToken"],
            default_arg: Some("guestAccessToken"),
        };
        Ok(match outcome(r)? {
            Outcome::Ok(_) => GuestAccessTokenDeletePayload {
                deleted_access_token: Some(guest_access_token),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => fail(token_error(&e, paths)),
        })
    }

    /// Issues a fresh token and revokes the old one.
    async fn customer_access_token_renew(
        &self,
        ctx: &Context<'_>,
        customer_access_token: String,
    ) -> GqlResult<CustomerAccessTokenRenewPayload> {
        let paths = ArgPaths {
            args: &["customerAccessToken"],
            default_arg: Some("customerAccessToken"),
        };
        if !token_ok(&customer_access_token) {
            let e = CustomerUserError::with_code(
                Some(path(["customerAccessToken"])),
                "invalid access token".into(),
                "INVALID_TOKEN",
            );
            return Ok(CustomerAccessTokenRenewPayload {
                customer_access_token: None,
                user_errors: vec![e],
            });
        }
        let clients = ctx::clients(ctx)?;
        let req = session::RenewRequest {
            token: customer_access_token.clone().into(),
        };
        let r = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("session", clients.session.renew(req).await)
        })
        .await;
        if r.is_ok() {
            forget_token(ctx, &customer_access_token);
        }
        Ok(match outcome(r)? {
            Outcome::Ok(resp) => CustomerAccessTokenRenewPayload {
                customer_access_token: Some(access_token(resp)),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => CustomerAccessTokenRenewPayload {
                customer_access_token: None,
                user_errors: vec![token_error(&e, paths)],
            },
        })
    }

    /// Revokes a token (signs out).
    async fn customer_access_token_delete(
        &self,
        ctx: &Context<'_>,
        customer_access_token: String,
    ) -> GqlResult<CustomerAccessTokenDeletePayload> {
        let paths = ArgPaths {
            args: &["customerAccessToken"],
            default_arg: Some("customerAccessToken"),
        };
        let fail = |e: CustomerUserError| CustomerAccessTokenDeletePayload {
            deleted_access_token: None,
            deleted_customer_access_token_id: None,
            user_errors: vec![e],
        };
        if !token_ok(&customer_access_token) {
            return Ok(fail(CustomerUserError::with_code(
                Some(path(["customerAccessToken"])),
                "invalid access token".into(),
                "INVALID_TOKEN",
            )));
        }
        let clients = ctx::clients(ctx)?;
        let req = session::RevokeRequest {
            token: customer_access_token.clone().into(),
        };
        let r = shop_rpc::with_actor(&Actor::internal(), async {
            shop_rpc::call("session", clients.session.revoke(req).await)
        })
        .await;
        if r.is_ok() {
            forget_token(ctx, &customer_access_token);
        }
        Ok(match outcome(r)? {
            Outcome::Ok(resp) => CustomerAccessTokenDeletePayload {
                deleted_access_token: Some(customer_access_token),
                deleted_customer_access_token_id: Some(resp.session.session_id.to_string()),
                user_errors: Vec::new(),
            },
            Outcome::User(e) => fail(token_error(&e, paths)),
        })
    }
}

/// A warning about the guest's carts at sign-in (no target object).
fn sign_in_warning(code: CartWarningCode, message: &str) -> CartWarning {
    CartWarning {
        code,
        message: message.to_string(),
        target: ID(String::new()),
    }
}

/// At sign-in of `customer_id`: moves the open carts of the guest session of `guest_token` to the customer
/// (`mode`), then revokes the guest token. An unusable guest token, or a cart service that fails, does not fail
/// the sign-in: it is reported as a warning (the move is idempotent, so signing in again with the same guest
/// token completes it).
async fn move_guest_carts(
    ctx: &Context<'_>,
    customer_id: &str,
    guest_token: &str,
    mode: CartMergeMode,
) -> GqlResult<(Option<Cart>, Vec<CartWarning>)> {
    let clients = ctx::clients(ctx)?;
    let invalid = || {
        Ok((
            None,
            vec![sign_in_warning(
                CartWarningCode::GUEST_ACCESS_TOKEN_INVALID,
                "the guest access token is invalid, expired or already used; no guest cart was moved",
            )],
        ))
    };
    if !token_ok(guest_token) {
        return invalid();
    }
    let guest_id = match crate::auth::validate_session(clients, guest_token).await {
        Ok(crate::auth::TokenOwner::Guest(g)) => g,
        Ok(crate::auth::TokenOwner::Customer(_)) => return invalid(),
        Err(e) if e.kind == ErrorKind::Unauthenticated => return invalid(),
        Err(e) => return Err(crate::error::gql(e)),
    };
    let signing_in = Actor {
        guest_id: Some(guest_id),
        ..Actor::customer(customer_id)
    };
    let req = wcart::MergeGuestCartsRequest {
        mode: match mode {
            CartMergeMode::MERGE => wcart::CartMergeMode::MERGE,
            CartMergeMode::KEEP_SEPARATE => wcart::CartMergeMode::KEEP_SEPARATE,
        },
    };
    let merged = shop_rpc::with_actor(&signing_in, async {
        shop_rpc::call("cart", clients.cart.merge_guest_carts(req).await)
    })
    .await;
    let resp = match merged {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(code = %e.code, "moving guest carts at sign-in failed");
            return Ok((
                None,
                vec![sign_in_warning(
                    CartWarningCode::OTHER,
                    "the guest's carts could not be moved now; sign in again with the same guest access token to retry",
                )],
            ));
        }
    };
    // The guest identity ends at sign-in: its carts belong to the customer now.
    let revoke = session::RevokeRequest {
        token: guest_token.to_string().into(),
    };
    let revoked = shop_rpc::with_actor(&Actor::internal(), async {
        shop_rpc::call("session", clients.session.revoke(revoke).await)
    })
    .await;
    match revoked {
        Ok(_) => forget_token(ctx, guest_token),
        Err(e) => tracing::warn!(code = %e.code, "revoking the guest session at sign-in failed"),
    }
    let warnings = resp
        .warnings
        .iter()
        .map(|w| CartWarning::from_wire(w, resp.cart.as_ref()))
        .collect();
    Ok((resp.cart.map(Cart), warnings))
}

/// A token failure: unknown codes of an UNAUTHENTICATED/NOT_FOUND error read as `INVALID_TOKEN`.
fn token_error(e: &Error, paths: ArgPaths) -> CustomerUserError {
    let mut err = CustomerUserError::from_service(e, paths);
    if matches!(e.kind, ErrorKind::Unauthenticated | ErrorKind::NotFound)
        && err.code == Some(crate::error::CustomerErrorCode::INVALID)
    {
        err.code = Some(crate::error::CustomerErrorCode::INVALID_TOKEN);
    }
    err
}

fn cart_id_arg(id: &ID, errors: &mut Vec<CartUserError>) -> Option<String> {
    cart_id(id, errors)
}
