//! SQLite customer store: `customers` and `addresses` tables next to the event store (outbox) in one database.
use std::path::Path;

use rusqlite::{OptionalExtension, Transaction, params};
use shop_store::{
    ExpectedVersion, NewEvent, StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration, SqliteEventStore, append_in_tx},
};

use super::{CreateOutcome, Credentials, CustomerStore, permissions_from_csv, version_conflict};

use crate::{
    domain::{Address, Customer, ResetToken},
    events::reset_stream,
};

/// Schema of the user service.
pub const USER_MIGRATIONS: &[Migration] = &[
    Migration {
        name: "user_v1",
        sql: "
        CREATE TABLE customers (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            first_name TEXT,
            last_name TEXT,
            phone TEXT,
            accepts_marketing INTEGER NOT NULL,
            default_address_id TEXT,
            created_at_ms INTEGER NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            version INTEGER NOT NULL
        );
        CREATE TABLE addresses (
            id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            first_name TEXT,
            last_name TEXT,
            company TEXT,
            address1 TEXT NOT NULL,
            address2 TEXT,
            city TEXT NOT NULL,
            province TEXT,
            country_code TEXT NOT NULL,
            zip TEXT NOT NULL,
            phone TEXT
        );
        CREATE INDEX addresses_by_customer ON addresses (customer_id, position);
    ",
    },
    Migration {
        name: "user_v2_permissions",
        sql: "ALTER TABLE customers ADD COLUMN permissions TEXT NOT NULL DEFAULT '';",
    },
    Migration {
        name: "user_v3_password_resets",
        sql: "
        CREATE TABLE password_resets (
            customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL,
            issued_at_ms INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0
        );
    ",
    },
];

/// A [`CustomerStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteCustomerStore {
    db: Db,
    events: SqliteEventStore,
}

impl SqliteCustomerStore {
    /// Opens (creating and migrating) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::new(Db::open(
            path,
            &[EVENT_STORE_MIGRATIONS, USER_MIGRATIONS],
        )?))
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(Self::new(Db::open_in_memory(&[
            EVENT_STORE_MIGRATIONS,
            USER_MIGRATIONS,
        ])?))
    }

    fn new(db: Db) -> Self {
        Self {
            events: SqliteEventStore::new(db.clone()),
            db,
        }
    }
}

const CUSTOMER_COLUMNS: &str = "id, email, first_name, last_name, phone, accepts_marketing, default_address_id, \
                                created_at_ms, updated_at_ms, version, permissions";

fn row_to_customer(r: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        email: r.get(1)?,
        first_name: r.get(2)?,
        last_name: r.get(3)?,
        phone: r.get(4)?,
        accepts_marketing: r.get(5)?,
        default_address_id: r.get(6)?,
        created_at_ms: r.get(7)?,
        updated_at_ms: r.get(8)?,
        version: r.get::<_, i64>(9)? as u64,
        permissions: permissions_from_csv(&r.get::<_, String>(10)?),
        addresses: Vec::new(),
    })
}

fn load_addresses(
    conn: &rusqlite::Connection,
    customer_id: &str,
) -> Result<Vec<Address>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, first_name, last_name, company, address1, address2, city, province, country_code, zip, phone
         FROM addresses WHERE customer_id = ?1 ORDER BY position",
    )?;
    let rows = stmt
        .query_map([customer_id], |r| {
            Ok(Address {
                id: r.get(0)?,
                first_name: r.get(1)?,
                last_name: r.get(2)?,
                company: r.get(3)?,
                address1: r.get(4)?,
                address2: r.get(5)?,
                city: r.get(6)?,
                province: r.get(7)?,
                country_code: r.get(8)?,
                zip: r.get(9)?,
                phone: r.get(10)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn load_customer(conn: &rusqlite::Connection, id: &str) -> Result<Option<Customer>, StoreError> {
    let customer = conn
        .prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"
        ))?
        .query_row([id], row_to_customer)
        .optional()?;
    match customer {
        None => Ok(None),
        Some(mut c) => {
            c.addresses = load_addresses(conn, id)?;
            Ok(Some(c))
        }
    }
}

fn insert_addresses(tx: &Transaction<'_>, customer: &Customer) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO addresses (id, customer_id, position, first_name, last_name, company, address1, address2, city,
                                province, country_code, zip, phone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (i, a) in customer.addresses.iter().enumerate() {
        stmt.execute(params![
            a.id,
            customer.id,
            i as i64,
            a.first_name,
            a.last_name,
            a.company,
            a.address1,
            a.address2,
            a.city,
            a.province,
            a.country_code,
            a.zip,
            a.phone
        ])?;
    }
    Ok(())
}

fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

impl CustomerStore for SqliteCustomerStore {
    type Events = SqliteEventStore;

    fn events(&self) -> SqliteEventStore {
        self.events.clone()
    }

    async fn create(
        &self,
        customer: Customer,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<CreateOutcome, StoreError> {
        let outcome = self
            .db
            .write(move |tx| {
                let inserted = tx.execute(
                    "INSERT INTO customers (id, email, password_hash, first_name, last_name, phone, accepts_marketing,
                                            default_address_id, created_at_ms, updated_at_ms, version, permissions)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        customer.id,
                        customer.email,
                        password_hash,
                        customer.first_name,
                        customer.last_name,
                        customer.phone,
                        customer.accepts_marketing,
                        customer.default_address_id,
                        customer.created_at_ms,
                        customer.updated_at_ms,
                        customer.version as i64,
                        customer.permissions.to_csv()
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    // The unique email index decides races between concurrent registrations.
                    Err(e) if is_constraint_violation(&e) => return Ok(CreateOutcome::EmailTaken),
                    Err(e) => return Err(e.into()),
                }
                insert_addresses(tx, &customer)?;
                append_in_tx(tx, &customer.id, ExpectedVersion::Any, &events, &[])?;
                Ok(CreateOutcome::Created)
            })
            .await?;
        if outcome == CreateOutcome::Created {
            self.events.notify_appended();
        }
        Ok(outcome)
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let email = email.to_string();
        self.db
            .call(move |c| {
                Ok(
                    c.prepare_cached("SELECT id, password_hash FROM customers WHERE email = ?1")?
                        .query_row([email], |r| {
                            Ok(Credentials {
                                customer_id: r.get(0)?,
                                password_hash: r.get(1)?,
                            })
                        })
                        .optional()?,
                )
            })
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        let id = id.to_string();
        self.db.call(move |c| load_customer(c, &id)).await
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<Customer>, StoreError> {
        let ids = ids.to_vec();
        self.db
            .call(move |c| {
                let mut out = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(customer) = load_customer(c, id)? {
                        out.push(customer);
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn update(
        &self,
        customer: Customer,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.replace(customer, expected_version, None, events).await
    }

    async fn update_password(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.replace(customer, expected_version, Some(password_hash), events)
            .await
    }

    async fn issue_reset(
        &self,
        customer_id: &str,
        token: ResetToken,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let customer_id = customer_id.to_string();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO password_resets (customer_id, token_hash, issued_at_ms, expires_at_ms, used)
                     VALUES (?1, ?2, ?3, ?4, 0)
                     ON CONFLICT (customer_id) DO UPDATE SET token_hash = excluded.token_hash,
                        issued_at_ms = excluded.issued_at_ms, expires_at_ms = excluded.expires_at_ms, used = 0",
                    params![customer_id, token.token_hash, token.issued_at_ms, token.expires_at_ms],
                )?;
                append_in_tx(tx, &reset_stream(&customer_id), ExpectedVersion::Any, &events, &[])?;
                Ok(())
            })
            .await?;
        self.events.notify_appended();
        Ok(())
    }

    async fn reset_token(&self, customer_id: &str) -> Result<Option<ResetToken>, StoreError> {
        let customer_id = customer_id.to_string();
        self.db
            .call(move |c| {
                Ok(c.prepare_cached(
                    "SELECT token_hash, issued_at_ms, expires_at_ms, used FROM password_resets WHERE customer_id = ?1",
                )?
                .query_row([customer_id], |r| {
                    Ok(ResetToken {
                        token_hash: r.get(0)?,
                        issued_at_ms: r.get(1)?,
                        expires_at_ms: r.get(2)?,
                        used: r.get(3)?,
                    })
                })
                .optional()?)
            })
            .await
    }

    async fn consume_reset(&self, customer_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let (customer_id, token_hash) = (customer_id.to_string(), token_hash.to_string());
        self.db
            .write(move |tx| {
                Ok(tx.execute(
                    "UPDATE password_resets SET used = 1 WHERE customer_id = ?1 AND token_hash = ?2 AND used = 0",
                    params![customer_id, token_hash],
                )? == 1)
            })
            .await
    }
}

impl SqliteCustomerStore {
    async fn replace(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: Option<String>,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let changed = tx.execute(
                    "UPDATE customers SET first_name = ?1, last_name = ?2, phone = ?3, accepts_marketing = ?4,
                            default_address_id = ?5, updated_at_ms = ?6, version = ?7, permissions = ?10,
                            password_hash = COALESCE(?11, password_hash)
                     WHERE id = ?8 AND version = ?9",
                    params![
                        customer.first_name,
                        customer.last_name,
                        customer.phone,
                        customer.accepts_marketing,
                        customer.default_address_id,
                        customer.updated_at_ms,
                        customer.version as i64,
                        customer.id,
                        expected_version as i64,
                        customer.permissions.to_csv(),
                        password_hash
                    ],
                )?;
                if changed == 0 {
                    let actual: i64 = tx
                        .query_row("SELECT version FROM customers WHERE id = ?1", [&customer.id], |r| r.get(0))
                        .optional()?
                        .unwrap_or(0);
                    return Err(version_conflict(&customer.id, expected_version, actual as u64));
                }
                tx.execute("DELETE FROM addresses WHERE customer_id = ?1", [&customer.id])?;
                insert_addresses(tx, &customer)?;
                append_in_tx(tx, &customer.id, ExpectedVersion::Any, &events, &[])?;
                Ok(())
            })
            .await?;
        self.events.notify_appended();
        Ok(())
    }
}
