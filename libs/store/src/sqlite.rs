//! SQLite access: one writer connection in WAL mode, migrations, and the SQLite event store.
use std::{path::Path, sync::Arc};

use bytes::Bytes;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;

use crate::{
    EventLog, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, check_version,
};

/// The relay's checkpoint: position of the last published event.
const PUBLISHED: &str = "relay.published";

/// A named schema change, applied once, in order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
}

/// Tables of the event store (and outbox); every service database includes them.
pub const EVENT_STORE_MIGRATIONS: &[Migration] = &[Migration {
    name: "event_store_v1",
    sql: "
        CREATE TABLE IF NOT EXISTS events (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            stream_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event_id TEXT NOT NULL UNIQUE,
            event_type TEXT NOT NULL,
            topic TEXT NOT NULL,
            occurred_at_ms INTEGER NOT NULL,
            traceparent TEXT,
            payload BLOB NOT NULL,
            UNIQUE (stream_id, seq)
        );
        CREATE TABLE IF NOT EXISTS stream_tags (
            tag TEXT NOT NULL,
            stream_id TEXT NOT NULL,
            tagged_at INTEGER NOT NULL,
            PRIMARY KEY (tag, stream_id)
        );
        CREATE INDEX IF NOT EXISTS stream_tags_by_time ON stream_tags (tag, tagged_at);
        CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    ",
}];

/// A SQLite database with a single serialized connection; blocking work runs off the async runtime.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` in WAL mode and applies `migrations`.
    pub fn open(path: &Path, migrations: &[&[Migration]]) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::setup(conn, migrations)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory(migrations: &[&[Migration]]) -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?, migrations)
    }

    fn setup(mut conn: Connection, migrations: &[&[Migration]]) -> Result<Self, StoreError> {
        // FULL: an acknowledged commit survives power loss, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
        for m in migrations.iter().flat_map(|ms| ms.iter()) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let done: Option<i64> = tx
                .query_row("SELECT 1 FROM _migrations WHERE name = ?1", [m.name], |r| {
                    r.get(0)
                })
                .optional()?;
            if done.is_none() {
                tx.execute_batch(m.sql)?;
                tx.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?1, ?2)",
                    params![m.name, shop_kernel::now_ms()],
                )?;
            }
            tx.commit()?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock()))
            .await
            .map_err(|e| StoreError::Backend(format!("blocking task failed: {e}")))?
    }

    /// Runs `f` inside an immediate (write-locking) transaction, committing if it returns `Ok`.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

/// Appends events inside an open transaction (so state changes and their events commit together).
pub fn append_in_tx(
    tx: &rusqlite::Transaction<'_>,
    stream: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    tags: &[String],
) -> Result<u64, StoreError> {
    let actual: u64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream_id = ?1",
        [stream],
        |r| r.get::<_, i64>(0),
    )? as u64;
    check_version(stream, expected, actual)?;
    let mut seq = actual;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO events (stream_id, seq, event_id, event_type, topic, occurred_at_ms, traceparent, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in events {
        seq += 1;
        stmt.execute(params![
            stream,
            seq as i64,
            e.event_id,
            e.event_type,
            e.topic,
            e.occurred_at_ms,
            e.traceparent,
            e.payload.as_ref()
        ])
        .map_err(|err| match err {
            // A concurrent writer took the same (stream, seq): that is a version conflict.
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict {
                    stream: stream.to_string(),
                    expected,
                    actual: seq,
                }
            }
            other => other.into(),
        })?;
    }
    let now = shop_kernel::now_ms();
    for tag in tags {
        tx.execute(
            "INSERT OR IGNORE INTO stream_tags (tag, stream_id, tagged_at) VALUES (?1, ?2, ?3)",
            params![tag, stream, now],
        )?;
    }
    Ok(seq)
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: r.get(0)?,
        stream_id: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        event: NewEvent {
            event_id: r.get(3)?,
            event_type: r.get(4)?,
            topic: r.get(5)?,
            occurred_at_ms: r.get(6)?,
            traceparent: r.get(7)?,
            payload: Bytes::from(r.get::<_, Vec<u8>>(8)?),
        },
    })
}

const EVENT_COLUMNS: &str =
    "position, stream_id, seq, event_id, event_type, topic, occurred_at_ms, traceparent, payload";

/// The [`EventStore`] on a SQLite [`Db`] (which must include [`EVENT_STORE_MIGRATIONS`]).
#[derive(Clone)]
pub struct SqliteEventStore {
    db: Db,
    notify: Arc<Notify>,
}

impl SqliteEventStore {
    /// An event store over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            notify: Arc::new(Notify::new()),
        }
    }

    /// The underlying database (for services that keep state tables next to their events).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Wakes the relay after a write made through [`append_in_tx`] on this store's database.
    pub fn notify_appended(&self) {
        self.notify.notify_waiters();
    }

    /// Durably remembers `position` under `name` (only ever moves forward).
    async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StoreError> {
        let name = name.to_string();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO checkpoints (name, position) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET position = MAX(position, excluded.position)",
                    params![name, position],
                )?;
                Ok(())
            })
            .await
    }

    /// The position saved under `name`, or 0.
    async fn checkpoint(&self, name: &str) -> Result<i64, StoreError> {
        let name = name.to_string();
        self.db
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT position FROM checkpoints WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
            })
            .await
    }
}

impl EventLog for SqliteEventStore {
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
                ))?;
                let rows = stmt.query_map(params![after, limit as i64], row_to_event)?.collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}

impl EventStore for SqliteEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> Result<u64, StoreError> {
        let stream = stream.to_string();
        let v = self
            .db
            .write(move |tx| append_in_tx(tx, &stream, expected, &events, &tags))
            .await?;
        self.notify.notify_waiters();
        Ok(v)
    }

    async fn load(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.to_string();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ?1 ORDER BY seq"
                ))?;
                let rows = stmt
                    .query_map([stream], row_to_event)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn streams_by_tag(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let tag = tag.to_string();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT stream_id FROM stream_tags WHERE tag = ?1 ORDER BY tagged_at DESC, rowid DESC",
                )?;
                let rows = stmt.query_map([tag], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn unpublished(&self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let after = self.checkpoint(PUBLISHED).await?;
        self.read_all(after, limit).await
    }

    async fn mark_published(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        match events.iter().map(|e| e.position).max() {
            Some(last) => self.save_checkpoint(PUBLISHED, last).await,
            None => Ok(()),
        }
    }

    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        let name = name.to_string();
        self.db
            .write(move |tx| {
                Ok(tx.query_row(
                    "INSERT INTO sequences (name, value) VALUES (?1, 1)
                     ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                    [name],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    fn appended(&self) -> Arc<Notify> {
        self.notify.clone()
    }
}
