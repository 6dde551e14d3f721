//! GraphQL object types.
pub mod cart;
pub mod catalog;
pub mod customer;
pub mod order;

use async_graphql::{ID, Interface};

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Globally unique id."))]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    Product(catalog::Product),
    ProductVariant(catalog::ProductVariant),
    Collection(catalog::Collection),
    Cart(cart::Cart),
    CartLine(cart::CartLine),
    Order(order::Order),
    Customer(customer::Customer),
    MailingAddress(customer::MailingAddress),
}
