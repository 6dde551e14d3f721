//! Mapping of kernel errors to GraphQL: top-level errors with `extensions.code`, and mutation `userErrors`.
use async_graphql::{Enum, ErrorExtensions, SimpleObject};
use shop_kernel::{Error, ErrorKind};

/// Result of a resolver.
pub type GqlResult<T> = async_graphql::Result<T>;

/// A top-level GraphQL error for a kernel error: `extensions.code` is the kind name, `extensions.errorCode` the
/// stable service code; internal details never reach the client.
pub fn gql(e: Error) -> async_graphql::Error {
    if e.kind == ErrorKind::Internal {
        tracing::error!(code = %e.code, detail = %e.message, "internal error");
    }
    let mut err = async_graphql::Error::new(e.public_message().to_string());
    let code = e.code.to_string();
    let kind = e.kind.as_str();
    let field = e.field.clone();
    err = err.extend_with(|_, ext| {
        ext.set("code", kind);
        ext.set("errorCode", code.clone());
        if !field.is_empty() {
            ext.set("field", field.clone());
        }
    });
    err
}

/// Calls a service and turns failures into top-level GraphQL errors.
pub fn rpc<T, E: Into<shop_idl::common::ShopError>>(
    service: &'static str,
    result: Result<volo_thrift::MaybeException<T, E>, volo_thrift::ClientError>,
) -> GqlResult<T> {
    shop_rpc::call(service, result).map_err(gql)
}

/// Is this a business failure, reported as a `userError` rather than a top-level error?
pub fn is_user_error(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::InvalidArgument
            | ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::FailedPrecondition
            | ErrorKind::PermissionDenied
            | ErrorKind::Unauthenticated
    )
}

/// `snake_case` → `camelCase`.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Translates a service field path to GraphQL input names, e.g. `["lines","0","variant_id"]` →
/// `["lines","0","merchandiseId"]`. `args` are the mutation's argument names; when the path does not start with
/// one of them it is prefixed with `default_arg` (if any), like Shopify (`["input","lines","0","quantity"]`).
pub fn translate_field(field: &[String], args: &[&str], default_arg: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = field
        .iter()
        .map(|seg| match seg.as_str() {
            "variant_id" => "merchandiseId".to_string(),
            "new_password" => "password".to_string(),
            "line_id" => "id".to_string(),
            "customer_access_token" | "token" if args.contains(&"customerAccessToken") => {
                "customerAccessToken".into()
            }
            other => camel(other),
        })
        .collect();
    if out.is_empty() {
        return out;
    }
    let starts_with_arg = args.contains(&out[0].as_str());
    if let Some(def) = default_arg
        && !starts_with_arg
    {
        out.insert(0, def.to_string());
    }
    out
}

/// Where a mutation's arguments are, for [`translate_field`].
#[derive(Debug, Clone, Copy)]
pub struct ArgPaths {
    /// The mutation's argument names.
    pub args: &'static [&'static str],
    /// The argument that unprefixed service paths belong to.
    pub default_arg: Option<&'static str>,
}

impl ArgPaths {
    /// Translates `field` for this mutation (`None` when the error is not about a field).
    pub fn field(&self, field: &[String]) -> Option<Vec<String>> {
        if field.is_empty() {
            None
        } else {
            Some(translate_field(field, self.args, self.default_arg))
        }
    }
}

macro_rules! error_code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),* $(,)? } aliases { $($alias:literal => $target:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum $name { INVALID, $($variant,)* }

        impl $name {
            /// The enum value for a service error code; unknown codes map to `INVALID`.
            pub fn from_code(code: &str) -> Self {
                match code {
                    $(stringify!($variant) => $name::$variant,)*
                    $($alias => $name::$target,)*
                    _ => $name::INVALID,
                }
            }
        }
    };
}

error_code_enum!(
    /// Why a cart mutation failed.
    CartErrorCode {
        CART_NOT_FOUND, CART_NOT_OPEN, CART_EMPTY, CART_CHECKOUT_IN_PROGRESS, CART_ALREADY_PURCHASED,
        MERCHANDISE_NOT_FOUND, MERCHANDISE_OUT_OF_STOCK, INVALID_QUANTITY, TOO_MANY_LINES, INVALID_ATTRIBUTE,
        NOTE_TOO_LONG, INVALID_DISCOUNT_CODE, CURRENCY_MISMATCH, LINE_NOT_FOUND, INVALID_EMAIL, INVALID_TOKEN,
        CUSTOMER_NOT_FOUND,
    }
    aliases { "INVALID_LINE" => LINE_NOT_FOUND, "CART_LINE_NOT_FOUND" => LINE_NOT_FOUND }
);

error_code_enum!(
    /// Why a customer mutation failed.
    CustomerErrorCode {
        BLANK, INVALID_EMAIL, TAKEN, TOO_SHORT, TOO_LONG, UNIDENTIFIED_CUSTOMER, INVALID_TOKEN, CUSTOMER_NOT_FOUND,
        ADDRESS_NOT_FOUND, TOO_MANY_ADDRESSES, INVALID_COUNTRY_CODE, INVALID_CHARACTERS, TOKEN_INVALID,
        CURRENT_PASSWORD_INVALID,
    }
    aliases {
        "FIELD_REQUIRED" => BLANK, "FIELD_TOO_LONG" => TOO_LONG,
        "EMAIL_TAKEN" => TAKEN, "PASSWORD_TOO_SHORT" => TOO_SHORT, "PASSWORD_TOO_LONG" => TOO_LONG,
        "INVALID_CREDENTIALS" => UNIDENTIFIED_CUSTOMER,
        "SESSION_NOT_FOUND" => INVALID_TOKEN, "SESSION_EXPIRED" => INVALID_TOKEN, "SESSION_REVOKED" => INVALID_TOKEN,
    }
);

error_code_enum!(
    /// Why a checkout failed.
    CheckoutErrorCode {
        CART_NOT_FOUND, CART_NOT_OPEN, CART_EMPTY, CART_CHECKOUT_IN_PROGRESS, CART_ALREADY_PURCHASED,
        MERCHANDISE_NOT_FOUND, MERCHANDISE_OUT_OF_STOCK, CURRENCY_MISMATCH, INSUFFICIENT_STOCK, CARD_DECLINED,
        INSUFFICIENT_FUNDS, CAPTURE_FAILED, PAYMENT_FAILED, INVALID_PAYMENT_TOKEN, UNKNOWN_PAYMENT_PROVIDER, IDEMPOTENCY_KEY_REUSED,
        IDEMPOTENCY_KEY_IN_USE, INVALID_IDEMPOTENCY_KEY, ORDER_NOT_FOUND,
    }
    aliases {}
);

error_code_enum!(
    /// Why an order could not be changed.
    OrderErrorCode {
        ORDER_NOT_FOUND, ORDER_NOT_CANCELLABLE, ORDER_NOT_FULFILLABLE, ORDER_ALREADY_FULFILLED, INVALID_REASON,
    }
    aliases {}
);

error_code_enum!(
    /// Why a stock adjustment failed.
    InventoryErrorCode {
        VARIANT_NOT_FOUND, INVALID_QUANTITY, INVALID_REASON, INSUFFICIENT_STOCK, STOCK_BELOW_RESERVED,
        STOCK_TOO_LARGE,
    }
    aliases { "INVALID_VARIANT_ID" => VARIANT_NOT_FOUND }
);

error_code_enum!(
    /// Why a product could not be created or changed.
    ProductErrorCode {
        PRODUCT_NOT_FOUND, VARIANT_NOT_FOUND, COLLECTION_NOT_FOUND, HANDLE_TAKEN, SKU_TAKEN, INVALID_HANDLE,
        INVALID_PRICE, INVALID_COMPARE_AT_PRICE, BLANK, TOO_LONG, INVALID_CHARACTERS, TOO_MANY_TAGS, INVALID_TAG,
        TOO_MANY_COLLECTIONS, VARIANTS_REQUIRED, TOO_MANY_VARIANTS, INVALID_SKU, INVALID_OPTIONS,
        DUPLICATE_VARIANT, INVALID_VARIANT, VERSION_CONFLICT,
    }
    aliases {}
);

/// A failed product mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProductUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<ProductErrorCode>,
}

impl UserErrorType for ProductUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(ProductErrorCode::from_code(code)),
        }
    }
}

/// A failed stock adjustment.
#[derive(SimpleObject, Debug, Clone)]
pub struct InventoryUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<InventoryErrorCode>,
}

impl UserErrorType for InventoryUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(InventoryErrorCode::from_code(code)),
        }
    }
}

/// A failed order mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct OrderUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<OrderErrorCode>,
}

impl UserErrorType for OrderUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(OrderErrorCode::from_code(code)),
        }
    }
}

/// A failed cart mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<CartErrorCode>,
}

/// A failed customer mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct CustomerUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<CustomerErrorCode>,
}

/// A failed checkout.
#[derive(SimpleObject, Debug, Clone)]
pub struct CheckoutUserError {
    /// Path to the input field that caused the error.
    pub field: Option<Vec<String>>,
    /// The error message.
    pub message: String,
    /// The error code.
    pub code: Option<CheckoutErrorCode>,
}

/// Splits a service result into success, a user error (business failure) or a top-level error.
pub enum Outcome<T> {
    Ok(T),
    User(Error),
}

/// Classifies a service result: business failures become [`Outcome::User`], the rest top-level errors.
pub fn outcome<T>(r: Result<T, Error>) -> GqlResult<Outcome<T>> {
    match r {
        Ok(v) => Ok(Outcome::Ok(v)),
        Err(e) if is_user_error(&e) => Ok(Outcome::User(e)),
        Err(e) => Err(gql(e)),
    }
}

/// The user-error types of mutation payloads.
pub trait UserErrorType: Sized {
    /// A user error with a service `code` (mapped into the type's enum; unknown codes become `INVALID`).
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self;

    /// The user error for a business failure of a service call.
    fn from_service(e: &Error, paths: ArgPaths) -> Self {
        Self::with_code(
            paths.field(&e.field),
            e.public_message().to_string(),
            &e.code,
        )
    }

    /// A malformed global id in the mutation input.
    fn invalid_id(field: Vec<String>, e: &Error) -> Self {
        Self::with_code(Some(field), e.public_message().to_string(), "INVALID")
    }
}

impl UserErrorType for CartUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(CartErrorCode::from_code(code)),
        }
    }
}

impl UserErrorType for CustomerUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(CustomerErrorCode::from_code(code)),
        }
    }
}

impl UserErrorType for CheckoutUserError {
    fn with_code(field: Option<Vec<String>>, message: String, code: &str) -> Self {
        Self {
            field,
            message,
            code: Some(CheckoutErrorCode::from_code(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_translated_and_prefixed() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            translate_field(&f(&["lines", "0", "variant_id"]), &["input"], Some("input")),
            f(&["input", "lines", "0", "merchandiseId"])
        );
        assert_eq!(
            translate_field(&f(&["lines", "0", "quantity"]), &["cartId", "lines"], None),
            f(&["lines", "0", "quantity"])
        );
        assert_eq!(
            translate_field(&f(&["discount_codes"]), &["cartId", "discountCodes"], None),
            f(&["discountCodes"])
        );
        assert_eq!(
            translate_field(
                &f(&["email"]),
                &["cartId", "buyerIdentity"],
                Some("buyerIdentity")
            ),
            f(&["buyerIdentity", "email"])
        );
    }

    #[test]
    fn codes_map_with_fallback() {
        assert_eq!(
            CustomerErrorCode::from_code("EMAIL_TAKEN"),
            CustomerErrorCode::TAKEN
        );
        assert_eq!(
            CustomerErrorCode::from_code("INVALID_CREDENTIALS"),
            CustomerErrorCode::UNIDENTIFIED_CUSTOMER
        );
        assert_eq!(
            CartErrorCode::from_code("CART_NOT_OPEN"),
            CartErrorCode::CART_NOT_OPEN
        );
        assert_eq!(
            CartErrorCode::from_code("SOMETHING_NEW"),
            CartErrorCode::INVALID
        );
        assert_eq!(
            CheckoutErrorCode::from_code("CARD_DECLINED"),
            CheckoutErrorCode::CARD_DECLINED
        );
    }
}
