//! Pure cart domain: the cart aggregate, its events, `decide` and `apply`, and input validation.
//! No async, no I/O, no wire types.

pub mod cart;
pub mod validate;

pub use cart::{
    Attribute, BuyerIdentity, Cart, CartEvent, CartStatus, Command, Decision, Line, LineChange,
    LineRequest, Merchandise, Warning, apply, decide, fold,
};
