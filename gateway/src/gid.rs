//! Global ids: `gid://thriftshop/<Type>/<id>`.
use std::fmt;

use shop_kernel::Error;

/// Prefix of every global id.
pub const GID_PREFIX: &str = "gid://thriftshop/";

/// The object types that have a global id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GidType {
    Product,
    ProductVariant,
    Collection,
    Cart,
    CartLine,
    Order,
    Customer,
    MailingAddress,
}

impl GidType {
    /// Every type, in a stable order.
    pub const ALL: [GidType; 8] = [
        GidType::Product,
        GidType::ProductVariant,
        GidType::Collection,
        GidType::Cart,
        GidType::CartLine,
        GidType::Order,
        GidType::Customer,
        GidType::MailingAddress,
    ];

    /// The type name as it appears in a global id.
    pub fn as_str(self) -> &'static str {
        match self {
            GidType::Product => "Product",
            GidType::ProductVariant => "ProductVariant",
            GidType::Collection => "Collection",
            GidType::Cart => "Cart",
            GidType::CartLine => "CartLine",
            GidType::Order => "Order",
            GidType::Customer => "Customer",
            GidType::MailingAddress => "MailingAddress",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        GidType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for GidType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed global id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gid {
    pub ty: GidType,
    pub id: String,
}

impl Gid {
    /// The global id of object `id` of type `ty`.
    pub fn new(ty: GidType, id: impl Into<String>) -> Self {
        Self { ty, id: id.into() }
    }

    /// Parses any global id (type and id are validated).
    pub fn parse(s: &str) -> Result<Gid, Error> {
        let rest = s.strip_prefix(GID_PREFIX).ok_or_else(|| malformed(s))?;
        let (ty, id) = rest.split_once('/').ok_or_else(|| malformed(s))?;
        let ty = GidType::from_name(ty).ok_or_else(|| malformed(s))?;
        if !shop_kernel::ids::is_valid_token(id) {
            return Err(malformed(s));
        }
        Ok(Gid {
            ty,
            id: id.to_string(),
        })
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{GID_PREFIX}{}/{}", self.ty, self.id)
    }
}

fn malformed(s: &str) -> Error {
    let shown: String = s.chars().take(80).collect();
    Error::invalid("INVALID_ID", format!("`{shown}` is not a valid global id"))
}

/// The global id string of object `id` of type `ty`.
pub fn encode(ty: GidType, id: &str) -> String {
    format!("{GID_PREFIX}{ty}/{id}")
}

/// Parses a global id that must be of type `ty`, returning the bare id.
pub fn parse_as(ty: GidType, s: &str) -> Result<String, Error> {
    let gid = Gid::parse(s)?;
    if gid.ty != ty {
        let shown: String = s.chars().take(80).collect();
        return Err(Error::invalid(
            "INVALID_ID",
            format!("`{shown}` is not a {ty} id"),
        ));
    }
    Ok(gid.id)
}
