//! SQLite session store: a `sessions` table (token hashes only) next to the event store (outbox) in one database.
use std::path::Path;

use rusqlite::{OptionalExtension, Transaction, params};
use shop_store::{
    ExpectedVersion, NewEvent, StoreError,
    sqlite::{Db, EVENT_STORE_MIGRATIONS, Migration, SqliteEventStore, append_in_tx},
};

use super::{Revocation, SessionStore, duplicate};
use crate::domain::{Session, SessionKind};

/// Schema of the session service.
pub const SESSION_MIGRATIONS: &[Migration] = &[Migration {
    name: "session_v1",
    sql: "
        CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            customer_id TEXT,
            created_at_ms INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL,
            revoked_at_ms INTEGER
        );
        CREATE INDEX sessions_by_customer ON sessions (customer_id, created_at_ms);
    ",
}];

/// A [`SessionStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteSessionStore {
    db: Db,
    events: SqliteEventStore,
}

impl SqliteSessionStore {
    /// Opens (creating and migrating) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self::new(Db::open(
            path,
            &[EVENT_STORE_MIGRATIONS, SESSION_MIGRATIONS],
        )?))
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Ok(Self::new(Db::open_in_memory(&[
            EVENT_STORE_MIGRATIONS,
            SESSION_MIGRATIONS,
        ])?))
    }

    fn new(db: Db) -> Self {
        Self {
            events: SqliteEventStore::new(db.clone()),
            db,
        }
    }
}

const COLUMNS: &str =
    "session_id, token_hash, kind, customer_id, created_at_ms, expires_at_ms, revoked_at_ms";

fn row_to_session(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let kind: String = r.get(2)?;
    let kind = SessionKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown kind {kind}").into(),
        )
    })?;
    Ok(Session {
        session_id: r.get(0)?,
        token_hash: r.get(1)?,
        kind,
        customer_id: r.get(3)?,
        created_at_ms: r.get(4)?,
        expires_at_ms: r.get(5)?,
        revoked_at_ms: r.get(6)?,
    })
}

fn insert_session(tx: &Transaction<'_>, s: &Session) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            s.session_id,
            s.token_hash,
            s.kind.as_str(),
            s.customer_id,
            s.created_at_ms,
            s.expires_at_ms,
            s.revoked_at_ms
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            duplicate(&s.session_id)
        }
        other => other.into(),
    })?;
    Ok(())
}

/// Marks one session revoked if it is not yet; records its event only then.
fn revoke_in_tx(
    tx: &Transaction<'_>,
    r: &Revocation,
    revoked_at_ms: i64,
) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "UPDATE sessions SET revoked_at_ms = ?1 WHERE session_id = ?2 AND revoked_at_ms IS NULL",
        params![revoked_at_ms, r.session_id],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    append_in_tx(
        tx,
        &r.session_id,
        ExpectedVersion::Any,
        std::slice::from_ref(&r.event),
        &[],
    )?;
    Ok(true)
}

impl SessionStore for SqliteSessionStore {
    type Events = SqliteEventStore;

    fn events(&self) -> SqliteEventStore {
        self.events.clone()
    }

    async fn insert(&self, session: Session, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                insert_session(tx, &session)?;
                append_in_tx(tx, &session.session_id, ExpectedVersion::Any, &events, &[])?;
                Ok(())
            })
            .await?;
        self.events.notify_appended();
        Ok(())
    }

    async fn find_by_token_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let token_hash = token_hash.to_string();
        self.db
            .call(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sessions WHERE token_hash = ?1"
                ))?
                .query_row([token_hash], row_to_session)
                .optional()?)
            })
            .await
    }

    async fn active_for_customer(
        &self,
        customer_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let customer_id = customer_id.to_string();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sessions
                     WHERE customer_id = ?1 AND revoked_at_ms IS NULL AND expires_at_ms > ?2
                     ORDER BY created_at_ms, session_id"
                ))?;
                let rows = stmt
                    .query_map(params![customer_id, now_ms], row_to_session)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn revoke(
        &self,
        revocations: Vec<Revocation>,
        revoked_at_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let revoked = self
            .db
            .write(move |tx| {
                let mut revoked = Vec::new();
                for r in &revocations {
                    if revoke_in_tx(tx, r, revoked_at_ms)? {
                        revoked.push(r.session_id.clone());
                    }
                }
                Ok(revoked)
            })
            .await?;
        if !revoked.is_empty() {
            self.events.notify_appended();
        }
        Ok(revoked)
    }

    async fn extend(&self, session: &Session, expires_at_ms: i64) -> Result<bool, StoreError> {
        let session_id = session.session_id.clone();
        let changed = self
            .db
            .write(move |tx| {
                Ok(tx.execute(
                    "UPDATE sessions SET expires_at_ms = ?1
                     WHERE session_id = ?2 AND revoked_at_ms IS NULL AND expires_at_ms < ?1",
                    params![expires_at_ms, session_id],
                )?)
            })
            .await?;
        Ok(changed > 0)
    }

    async fn replace(
        &self,
        old: Revocation,
        revoked_at_ms: i64,
        new: Session,
        new_events: Vec<NewEvent>,
    ) -> Result<bool, StoreError> {
        let replaced = self
            .db
            .write(move |tx| {
                if !revoke_in_tx(tx, &old, revoked_at_ms)? {
                    return Ok(false);
                }
                insert_session(tx, &new)?;
                append_in_tx(tx, &new.session_id, ExpectedVersion::Any, &new_events, &[])?;
                Ok(true)
            })
            .await?;
        if replaced {
            self.events.notify_appended();
        }
        Ok(replaced)
    }
}
