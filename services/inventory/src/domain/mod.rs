//! Pure inventory domain: the stock item of one variant, its events, `decide` and `apply`.
//! No async, no I/O, no wire types.

pub mod item;
pub mod validate;

pub use item::{
    AdjustKind, Command, InventoryEvent, Item, ReservationLine, ReservationState, apply, decide,
    fold,
};
