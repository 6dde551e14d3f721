//! The SQLite adapter: the generic event store over `<dir>/cart.db`.
use std::path::Path;

use shop_store::{
    StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration, SqliteEventStore},
};

/// Service-specific migrations (none: carts are purely event-sourced).
pub const MIGRATIONS: &[Migration] = &[];

/// Opens (creating if needed) the event store database at `path`.
pub fn open(path: &Path) -> Result<SqliteEventStore, StoreError> {
    Ok(SqliteEventStore::new(Db::open(
        path,
        &[EVENT_STORE_MIGRATIONS, MIGRATIONS],
    )?))
}
