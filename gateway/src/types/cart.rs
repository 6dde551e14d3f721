//! Cart types.
use async_graphql::{Context, Enum, ID, Object, SimpleObject, connection::Connection};
use shop_idl::{cart, common};

use crate::{
    ctx::{self, PageArgs},
    error::{GqlResult, gql},
    gid::{self, GidType},
    scalars::{DateTime, MoneyV2},
    types::{catalog::ProductVariant, order::Order},
};

/// A key/value pair.
#[derive(SimpleObject, Debug, Clone)]
pub struct Attribute {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Option<String>,
}

impl Attribute {
    /// From the wire type.
    pub fn from_wire(a: &common::Attribute) -> Self {
        Attribute {
            key: a.key.to_string(),
            value: Some(a.value.to_string()),
        }
    }
}

fn attributes(list: &[common::Attribute]) -> Vec<Attribute> {
    list.iter().map(Attribute::from_wire).collect()
}

fn attribute(list: &[common::Attribute], key: &str) -> Option<Attribute> {
    list.iter().find(|a| a.key == key).map(Attribute::from_wire)
}

/// Status of a cart.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum CartStatus {
    /// The cart can be changed and checked out.
    OPEN,
    /// A checkout of the cart is in progress.
    CHECKING_OUT,
    /// The cart was bought.
    PURCHASED,
    /// A guest cart whose lines were merged into the customer's cart at sign-in (`mergedInto`); closed.
    MERGED,
}

impl CartStatus {
    /// From the wire enum (unknown values read as `OPEN`).
    pub fn from_wire(s: cart::CartStatus) -> Self {
        match s {
            cart::CartStatus::CHECKING_OUT => CartStatus::CHECKING_OUT,
            cart::CartStatus::PURCHASED => CartStatus::PURCHASED,
            cart::CartStatus::MERGED => CartStatus::MERGED,
            _ => CartStatus::OPEN,
        }
    }
}

/// Codes of cart warnings.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum CartWarningCode {
    /// A quantity was reduced to what is available.
    MERCHANDISE_NOT_ENOUGH_STOCK,
    /// The merchandise is out of stock.
    MERCHANDISE_OUT_OF_STOCK,
    /// A discount code does not apply to this cart.
    DISCOUNT_CODE_NOT_APPLICABLE,
    /// Merging a guest cart at sign-in: a line was capped at the largest quantity a line holds.
    MERCHANDISE_QUANTITY_LIMIT_REACHED,
    /// Merging a guest cart at sign-in: the cart already holds as many lines as it may; a line was not merged.
    CART_LINE_LIMIT_REACHED,
    /// Merging a guest cart at sign-in: the merchandise is no longer sold (or is priced in another currency);
    /// it was not merged.
    MERCHANDISE_NOT_MERGED,
    /// Signing in: the guest access token is invalid, expired or already used; no guest cart was moved.
    GUEST_ACCESS_TOKEN_INVALID,
    /// Any other warning.
    OTHER,
}

impl CartWarningCode {
    /// From a service warning code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "MERCHANDISE_NOT_ENOUGH_STOCK" => CartWarningCode::MERCHANDISE_NOT_ENOUGH_STOCK,
            "MERCHANDISE_OUT_OF_STOCK" => CartWarningCode::MERCHANDISE_OUT_OF_STOCK,
            "DISCOUNT_CODE_NOT_APPLICABLE" | "INVALID_DISCOUNT_CODE" => {
                CartWarningCode::DISCOUNT_CODE_NOT_APPLICABLE
            }
            "MERCHANDISE_QUANTITY_LIMIT_REACHED" => {
                CartWarningCode::MERCHANDISE_QUANTITY_LIMIT_REACHED
            }
            "CART_LINE_LIMIT_REACHED" => CartWarningCode::CART_LINE_LIMIT_REACHED,
            "MERCHANDISE_NOT_FOUND" | "CURRENCY_MISMATCH" => {
                CartWarningCode::MERCHANDISE_NOT_MERGED
            }
            "GUEST_ACCESS_TOKEN_INVALID" => CartWarningCode::GUEST_ACCESS_TOKEN_INVALID,
            _ => CartWarningCode::OTHER,
        }
    }
}

/// A non-fatal note about a cart mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartWarning {
    /// The warning code.
    pub code: CartWarningCode,
    /// The warning message.
    pub message: String,
    /// The id of the object the warning is about (a cart line or a product variant).
    pub target: ID,
}

impl CartWarning {
    /// From the wire warning; the target becomes a global id when it names a line or a variant of `cart`.
    pub fn from_wire(w: &cart::CartWarning, cart: Option<&cart::Cart>) -> Self {
        let t = w.target.as_str();
        let target = if t.starts_with(crate::gid::GID_PREFIX) {
            t.to_string()
        } else if cart.is_some_and(|c| c.lines.iter().any(|l| l.id == t)) {
            gid::encode(GidType::CartLine, t)
        } else if shop_kernel::ids::is_valid_token(t) {
            gid::encode(GidType::ProductVariant, t)
        } else {
            t.to_string()
        };
        CartWarning {
            code: CartWarningCode::from_code(&w.code),
            message: w.message.to_string(),
            target: ID(target),
        }
    }
}

/// Who is buying.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartBuyerIdentity {
    /// Email address of the buyer.
    pub email: Option<String>,
    /// Phone number of the buyer.
    pub phone: Option<String>,
    /// Country of the buyer (ISO 3166-1 alpha-2).
    pub country_code: Option<String>,
    /// Global id of the customer, when the cart belongs to one.
    pub customer_id: Option<ID>,
}

/// A discount code applied to a cart.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartDiscountCode {
    /// The code.
    pub code: String,
    /// Whether the code applies to the cart.
    pub applicable: bool,
}

/// Costs of a cart.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartCost {
    /// Sum of the line totals before taxes.
    pub subtotal_amount: MoneyV2,
    /// Amount to pay.
    pub total_amount: MoneyV2,
    /// Tax included in the total.
    pub total_tax_amount: Option<MoneyV2>,
    /// Amount charged at checkout.
    pub checkout_charge_amount: MoneyV2,
}

/// Costs of a cart line.
#[derive(SimpleObject, Debug, Clone)]
pub struct CartLineCost {
    /// Price of one unit.
    pub amount_per_quantity: MoneyV2,
    /// Price of one unit before a markdown.
    pub compare_at_amount_per_quantity: Option<MoneyV2>,
    /// Line total before taxes.
    pub subtotal_amount: MoneyV2,
    /// Line total.
    pub total_amount: MoneyV2,
}

/// A line of a cart: a quantity of one variant.
#[derive(Debug, Clone)]
pub struct CartLine(pub cart::CartLine);

#[Object]
impl CartLine {
    /// Globally unique id.
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::CartLine, &self.0.id))
    }
    /// Quantity of the merchandise.
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    /// The variant bought.
    async fn merchandise(&self, ctx: &Context<'_>) -> GqlResult<ProductVariant> {
        crate::types::catalog::load_variant(ctx, &self.0.variant_id)
            .await?
            .ok_or_else(|| {
                gql(shop_kernel::Error::not_found(
                    "MERCHANDISE_NOT_FOUND",
                    "the line's merchandise no longer exists",
                ))
            })
    }
    /// Title of the merchandise when it was added.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// SKU of the merchandise.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// Costs of the line.
    async fn cost(&self) -> CartLineCost {
        CartLineCost {
            amount_per_quantity: MoneyV2::from_wire(&self.0.unit_price),
            compare_at_amount_per_quantity: self
                .0
                .compare_at_unit_price
                .as_ref()
                .map(MoneyV2::from_wire),
            subtotal_amount: MoneyV2::from_wire(&self.0.subtotal),
            total_amount: MoneyV2::from_wire(&self.0.subtotal),
        }
    }
    /// Attributes of the line.
    async fn attributes(&self) -> Vec<Attribute> {
        attributes(&self.0.attributes)
    }
    /// One attribute by key.
    async fn attribute(&self, key: String) -> Option<Attribute> {
        attribute(&self.0.attributes, &key)
    }
}

/// A cart: what a buyer intends to purchase.
#[derive(Debug, Clone)]
pub struct Cart(pub cart::Cart);

#[Object]
impl Cart {
    /// Globally unique id (for a guest cart, an unguessable capability).
    pub async fn id(&self) -> ID {
        ID(gid::encode(GidType::Cart, &self.0.id))
    }
    /// When the cart was created.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at_ms)
    }
    /// When the cart was last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at_ms)
    }
    /// When the cart expires.
    async fn expires_at(&self) -> DateTime {
        DateTime(self.0.expires_at_ms)
    }
    /// Status of the cart.
    async fn status(&self) -> CartStatus {
        CartStatus::from_wire(self.0.status)
    }
    /// For a `MERGED` guest cart: the customer's cart its lines went into.
    async fn merged_into(&self, ctx: &Context<'_>) -> GqlResult<Option<Cart>> {
        match &self.0.merged_into_cart_id {
            Some(id) => crate::query::fetch_cart(ctx, id).await,
            None => Ok(None),
        }
    }
    /// Sum of the line quantities.
    async fn total_quantity(&self) -> i64 {
        self.0.total_quantity
    }
    /// Lines of the cart.
    #[graphql(complexity = "PageArgs::weight(first, last) * child_complexity")]
    async fn lines(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Connection<String, CartLine>> {
        ctx::connection_from_list(
            &self.0.lines,
            &PageArgs::new(first, after, last, before),
            CartLine,
        )
    }
    /// Costs of the cart.
    async fn cost(&self) -> CartCost {
        CartCost {
            subtotal_amount: MoneyV2::from_wire(&self.0.subtotal),
            total_amount: MoneyV2::from_wire(&self.0.total),
            total_tax_amount: Some(MoneyV2::from_wire(&self.0.total_tax)),
            checkout_charge_amount: MoneyV2::from_wire(&self.0.total),
        }
    }
    /// Who is buying.
    async fn buyer_identity(&self) -> CartBuyerIdentity {
        let b = &self.0.buyer_identity;
        let customer = b.customer_id.as_ref().or(self.0.customer_id.as_ref());
        CartBuyerIdentity {
            email: b.email.as_ref().map(|s| s.to_string()),
            phone: b.phone.as_ref().map(|s| s.to_string()),
            country_code: b.country_code.as_ref().map(|s| s.to_string()),
            customer_id: customer.map(|c| ID(gid::encode(GidType::Customer, c))),
        }
    }
    /// A note for the merchant.
    async fn note(&self) -> Option<String> {
        self.0.note.as_ref().map(|s| s.to_string())
    }
    /// Attributes of the cart.
    async fn attributes(&self) -> Vec<Attribute> {
        attributes(&self.0.attributes)
    }
    /// One attribute by key.
    async fn attribute(&self, key: String) -> Option<Attribute> {
        attribute(&self.0.attributes, &key)
    }
    /// Discount codes applied to the cart.
    async fn discount_codes(&self) -> Vec<CartDiscountCode> {
        self.0
            .discount_codes
            .iter()
            .map(|c| CartDiscountCode {
                code: c.to_string(),
                applicable: true,
            })
            .collect()
    }
    /// The order placed from this cart, once checked out.
    async fn order(&self, ctx: &Context<'_>) -> GqlResult<Option<Order>> {
        match &self.0.order_id {
            Some(id) => crate::types::order::fetch_order(ctx, id).await,
            None => Ok(None),
        }
    }
}
