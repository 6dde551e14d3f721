//! Pure customer domain: the customer record, its validation rules and the changes that emit events.
//! No async, no I/O, no wire types.

pub mod customer;
pub mod reset;
pub mod validate;

pub use customer::{
    Address, AddressInput, Customer, PasswordChangeReason, ProfilePatch, Registration, UserEvent,
    register,
};
pub use reset::ResetToken;
