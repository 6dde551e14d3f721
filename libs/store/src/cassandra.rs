//! The [`EventStore`] on Apache Cassandra / ScyllaDB (driver: `scylla` 1.9).
//!
//! # Schema (one keyspace per store, created if missing, then versioned CQL migrations)
//!
//! ```text
//! events (stream_id text, seq bigint, version bigint static, published bigint static, tags set<text> static,
//!         event_id text, event_type text, topic text, occurred_at_ms bigint, traceparent text, payload blob,
//!         PRIMARY KEY (stream_id, seq))
//! stream_tags (tag text, stream_id text, tagged_at bigint, PRIMARY KEY (tag, stream_id))
//! outbox (shard int, stream_id text, touched timeuuid, PRIMARY KEY (shard, stream_id, touched))
//! sequences (name text PRIMARY KEY, value bigint)
//! schema_migrations (name text PRIMARY KEY, applied_at bigint)
//! ```
//!
//! A stream is one partition of `events`. Its static `version` is the seq of its last event and is the only
//! thing the optimistic-concurrency check looks at: an append is one *conditional, logged, single-partition*
//! batch `UPDATE … SET version = :new, tags = tags + :tags … IF version = :expected` (`IF version = null` for a
//! new stream) plus one `INSERT` per event, so the events, the new version and the stream's tags commit
//! together or not at all (Paxos). There is no global order over streams: [`RecordedEvent::position`] is the
//! seq, and this store does not implement [`crate::EventLog`].
//!
//! # Outbox
//!
//! `events.published` (static) is the seq of the last event of the stream that reached the bus. The relay finds
//! the streams to look at through `outbox` marker rows, spread over [`SHARDS`] partitions by a stable hash of the
//! stream id. [`EventStore::unpublished`] scans the markers and returns, per marked stream, the events with
//! `seq > published`; [`EventStore::mark_published`] advances `published`. Markers are removed once they are
//! useless, as follows.
//!
//! **Why no appended event is left unpublished.** Every append first writes a marker row of its own (`touched`
//! is a fresh server-side `now()` timeuuid, so no two appends share a row) and only proposes its batch once
//! that write is acknowledged. A marker row is deleted only by a relay that (a) has seen that very row for at
//! least the *grace period* (measured on the relay's own monotonic clock, so clock skew between machines does
//! not matter), and then (b) reads the stream's `version` at SERIAL consistency — which completes any Paxos
//! proposal that a quorum already accepted — and finds `published >= version`. An append re-writes its marker
//! before any retry that would start more than `request_timeout` after its last marker write, so every batch is
//! decided (committed or dead) within `request_timeout + max(request_timeout, server CAS bound)` of its marker
//! becoming visible; the grace period is longer than that. Hence when (b) runs, the batch of the append that
//! wrote the marker has either committed — then its events have `seq <= version <= published`, i.e. they were
//! handed to the bus before `published` moved past them — or it never will. Markers are deleted by exact
//! primary key, so a delete never touches the marker of a concurrent append. A failed or conflicting append
//! leaves a marker that only costs the relay a look. Publication is at least once: a crash between publishing
//! and `mark_published`, two relays, or a lost `published` write all lead to re-publication, never to loss.
//!
//! The *server CAS bound* is the time a coordinator may keep working on a Paxos round after the client
//! sent it: `cas_contention_timeout` + `write_request_timeout` (1 s + 2 s by default); see [`SERVER_CAS_BOUND`].
//!
//! # Tags
//!
//! The stream's tags are kept in the static `tags` set (inside the append's batch, so a failed append tags
//! nothing) and indexed by `stream_tags`, written after the batch succeeded `USING TIMESTAMP` = a value that
//! *decreases* with wall time (and lies in the past, see `tag_write_timestamp`): re-tagging a stream writes an
//! older cell, so the first tagging time wins, as in the SQLite adapter (`INSERT OR IGNORE`). A crash between the batch and the index write is repaired by
//! [`EventStore::mark_published`], which re-writes the index rows of the streams it marks.
//!
//! # Shared with the services' Cassandra adapters
//!
//! A service that keeps tables of its own connects this store (keyspace, event tables), applies its migration
//! list with [`apply_migrations`] on [`CassandraEventStore::session`], prepares with
//! [`CassandraEventStore::prepare`] / [`CassandraEventStore::prepare_serial_read`], reads LWT results with
//! [`LwtOutcome`] and settles timeouts with [`outcome_unknown`] + a SERIAL read, as this store does
//! ([`CassandraEventStore::claim`] runs a nonce claim that way). [`CassandraEventStore::last_event`] tells which
//! state row an adapter's last commit selected, and [`CassandraEventStore::seal_empty_stream`] fences an
//! operation abandoned between its claim and its append.
//! [`CassandraTallies`] are exactly-once counters for projections (units sold, co-purchases).
use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::{TryStreamExt, future};
use parking_lot::Mutex;
use scylla::{
    DeserializeRow,
    client::{
        execution_profile::ExecutionProfile, session::Session, session_builder::SessionBuilder,
    },
    deserialize::DeserializationError,
    errors::{
        DbError, ExecutionError, FirstRowError, IntoRowsResultError, MaybeFirstRowError,
        MetadataError, NewSessionError, NextRowError, PagerExecutionError, PrepareError,
        RequestAttemptError, RowsError, SchemaAgreementError, TypeCheckError, UseKeyspaceError,
    },
    policies::load_balancing::DefaultPolicy,
    response::query_result::QueryResult,
    serialize::{
        SerializationError,
        row::{RowSerializationContext, SerializeRow},
        writers::RowWriter,
    },
    statement::{
        Consistency, SerialConsistency, Statement,
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::{CqlTimeuuid, CqlValue, Row},
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, check_version};

/// Number of `outbox` partitions; a stream's marker lives in `shard_of(stream)`.
pub const SHARDS: i32 = 16;

/// Upper bound on how long a Cassandra coordinator keeps working on a Paxos round after the client sent it
/// (`cas_contention_timeout` 1 s + `write_request_timeout` 2 s, the Cassandra 5 defaults). Raise it together
/// with those server settings.
pub const SERVER_CAS_BOUND: Duration = Duration::from_secs(3);

/// The grace period is never shorter than this.
const MIN_MARKER_GRACE: Duration = Duration::from_secs(5);

/// Attempts for an [`ExpectedVersion::Any`] append that keeps losing races.
const ANY_ATTEMPTS: usize = 8;
/// Attempts of the SERIAL read that settles a CAS whose outcome is unknown.
const SETTLE_ATTEMPTS: usize = 3;
/// Attempts of the LWT loop of [`EventStore::next_sequence`].
const SEQUENCE_ATTEMPTS: usize = 32;
/// Concurrent reads per step of [`EventStore::unpublished`] / [`EventStore::mark_published`].
const FAN_OUT: usize = 16;
/// Client-side timeout of schema changes (slower than data requests, and idempotent here).
const DDL_TIMEOUT: Duration = Duration::from_secs(60);
/// Page size of paged reads (stream loads, marker scans, tag lookups).
const PAGE_SIZE: i32 = 1000;

/// Schema changes, applied once each and in order (recorded in `schema_migrations`). Every statement must be
/// idempotent on its own (`IF NOT EXISTS`): two processes may start at once.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_events",
        "CREATE TABLE IF NOT EXISTS events (
            stream_id text,
            seq bigint,
            version bigint static,
            published bigint static,
            tags set<text> static,
            event_id text,
            event_type text,
            topic text,
            occurred_at_ms bigint,
            traceparent text,
            payload blob,
            PRIMARY KEY (stream_id, seq)
        ) WITH CLUSTERING ORDER BY (seq ASC)",
    ),
    (
        "0002_stream_tags",
        "CREATE TABLE IF NOT EXISTS stream_tags (
            tag text,
            stream_id text,
            tagged_at bigint,
            PRIMARY KEY (tag, stream_id)
        )",
    ),
    // `touched` is a clustering column (one row per append) rather than a regular column of a per-stream row
    // as first designed: a conditional delete `IF touched = :seen` is a Paxos write whose tombstone carries the
    // ballot timestamp, and a concurrent *plain* re-touch that reaches the replicas after the Paxos read but
    // with an older client/coordinator timestamp is shadowed by it (mixing LWT and non-LWT writes on one cell).
    // That append's events would then have no marker. Distinct rows deleted by exact key cannot interfere.
    // Short gc_grace: a resurrected marker is harmless (the relay finds nothing and deletes it again), and the
    // table is a queue, so its tombstones must not pile up for the default 10 days.
    (
        "0003_outbox",
        "CREATE TABLE IF NOT EXISTS outbox (
            shard int,
            stream_id text,
            touched timeuuid,
            PRIMARY KEY (shard, stream_id, touched)
        ) WITH gc_grace_seconds = 3600",
    ),
    (
        "0004_sequences",
        "CREATE TABLE IF NOT EXISTS sequences (name text PRIMARY KEY, value bigint)",
    ),
];

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct CassandraSettings {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// Keyspace of this store (`[A-Za-z][A-Za-z0-9_]{0,47}`); created if missing.
    pub keyspace: String,
    /// Replication factor used when the keyspace is created.
    pub replication_factor: u32,
    /// Client-side timeout of every request.
    pub request_timeout: Duration,
    /// The local datacenter: LOCAL_QUORUM / LOCAL_SERIAL, DC-aware routing and `NetworkTopologyStrategy`.
    /// Without it: QUORUM / SERIAL and `SimpleStrategy` (single-DC and test clusters).
    pub local_datacenter: Option<String>,
}

/// What `unpublished` learnt about a marked stream, kept for `mark_published` and marker clean-up.
#[derive(Debug, Default)]
struct Seen {
    /// Marker rows of the stream and when this process first saw each of them.
    markers: HashMap<Uuid, Instant>,
    /// The stream version read by the last `unpublished` pass.
    version: u64,
    /// The stream's tags (static `tags`), to repair the tag index.
    tags: Vec<String>,
}

struct Statements {
    touch_marker: PreparedStatement,
    scan_markers: PreparedStatement,
    delete_marker: PreparedStatement,
    append_cas: PreparedStatement,
    append_cas_new: PreparedStatement,
    insert_event: PreparedStatement,
    add_tags: PreparedStatement,
    index_tag: PreparedStatement,
    head: PreparedStatement,
    head_serial: PreparedStatement,
    slot_serial: PreparedStatement,
    last_event: PreparedStatement,
    seal: PreparedStatement,
    load: PreparedStatement,
    load_after: PreparedStatement,
    set_published: PreparedStatement,
    by_tag: PreparedStatement,
    sequence_serial: PreparedStatement,
    sequence_create: PreparedStatement,
    sequence_bump: PreparedStatement,
}

struct Inner {
    session: Session,
    st: Statements,
    /// SERIAL or LOCAL_SERIAL: the consistency of reads that must see (and complete) every Paxos write.
    serial_read: Consistency,
    request_timeout: Duration,
    /// Client timeout of the append batch when shorter than `request_timeout` (tests of the settle path).
    cas_timeout: Option<Duration>,
    grace: Duration,
    notify: Arc<Notify>,
    seen: Mutex<HashMap<String, Seen>>,
    next_shard: AtomicUsize,
}

/// The [`EventStore`] on a Cassandra (5.x) or ScyllaDB cluster. Cheap to clone.
#[derive(Clone)]
pub struct CassandraEventStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CassandraEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraEventStore")
            .field("grace", &self.inner.grace)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Driver errors. Their text goes into `StoreError::Backend`, which is logged and never shown to clients
// (`From<StoreError> for shop_kernel::Error` maps it to a generic STORE_UNAVAILABLE).

macro_rules! backend_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(format!("cassandra: {e}"))
            }
        }
    )*};
}

backend_from!(
    NewSessionError,
    DeserializationError,
    ExecutionError,
    PrepareError,
    PagerExecutionError,
    NextRowError,
    TypeCheckError,
    IntoRowsResultError,
    RowsError,
    MaybeFirstRowError,
    FirstRowError,
    SchemaAgreementError,
    UseKeyspaceError,
    MetadataError,
);

/// Did `e` possibly reach the replicas (a CAS whose outcome must be settled), or is it certain that nothing
/// was written? Errors not known to be definite count as unknown. Shared with the services' Cassandra
/// adapters, which settle their own LWTs the same way.
pub fn outcome_unknown(e: &ExecutionError) -> bool {
    match e {
        ExecutionError::BadQuery(_)
        | ExecutionError::EmptyPlan
        | ExecutionError::PrepareError(_)
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::UseKeyspaceError(_) => false,
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_)
            | RequestAttemptError::UnableToAllocStreamId => false,
            RequestAttemptError::DbError(db, _) => !matches!(
                db,
                DbError::SyntaxError
                    | DbError::Invalid
                    | DbError::AlreadyExists { .. }
                    | DbError::FunctionFailure { .. }
                    | DbError::AuthenticationError
                    | DbError::Unauthorized
                    | DbError::ConfigError
                    | DbError::Unavailable { .. }
                    | DbError::Overloaded
                    | DbError::IsBootstrapping
                    | DbError::TruncateError
                    | DbError::Unprepared { .. }
                    | DbError::ProtocolError
                    | DbError::RateLimitReached { .. }
            ),
            _ => true,
        },
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Rows.

#[derive(DeserializeRow)]
struct HeadRow {
    version: Option<i64>,
    published: Option<i64>,
    tags: Option<Vec<String>>,
}

struct Head {
    version: u64,
    published: u64,
    tags: Vec<String>,
}

impl From<Option<HeadRow>> for Head {
    fn from(row: Option<HeadRow>) -> Self {
        let row = row.unwrap_or(HeadRow {
            version: None,
            published: None,
            tags: None,
        });
        Head {
            version: row.version.unwrap_or(0).max(0) as u64,
            published: row.published.unwrap_or(0).max(0) as u64,
            tags: row.tags.unwrap_or_default(),
        }
    }
}

#[derive(DeserializeRow)]
struct EventRow {
    seq: Option<i64>,
    event_id: Option<String>,
    event_type: Option<String>,
    topic: Option<String>,
    occurred_at_ms: Option<i64>,
    traceparent: Option<String>,
    payload: Option<Vec<u8>>,
}

impl EventRow {
    /// `None` for the static-only row of a partition without events.
    fn into_recorded(self, stream: &str) -> Option<RecordedEvent> {
        let seq = self.seq?;
        Some(RecordedEvent {
            position: seq,
            stream_id: stream.to_string(),
            seq: seq as u64,
            event: NewEvent {
                event_id: self.event_id.unwrap_or_default(),
                event_type: self.event_type.unwrap_or_default(),
                topic: self.topic.unwrap_or_default(),
                occurred_at_ms: self.occurred_at_ms.unwrap_or_default(),
                traceparent: self.traceparent,
                payload: Bytes::from(self.payload.unwrap_or_default()),
            },
        })
    }
}

/// Values of one statement of the append batch (the batch mixes two statement shapes).
enum AppendRow<'a> {
    /// `UPDATE events SET version = ?, tags = tags + ? WHERE stream_id = ? IF version = ?` (the last value is
    /// absent for the `IF version = null` variant).
    Cas {
        new_version: i64,
        tags: &'a BTreeSet<String>,
        stream: &'a str,
        expected: Option<i64>,
    },
    /// `INSERT INTO events (stream_id, seq, event_id, …) VALUES (…)`.
    Event {
        stream: &'a str,
        seq: i64,
        event: &'a NewEvent,
    },
}

impl SerializeRow for AppendRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        match *self {
            AppendRow::Cas {
                new_version,
                tags,
                stream,
                expected: Some(expected),
            } => (new_version, tags, stream, expected).serialize(ctx, writer),
            AppendRow::Cas {
                new_version,
                tags,
                stream,
                expected: None,
            } => (new_version, tags, stream).serialize(ctx, writer),
            AppendRow::Event { stream, seq, event } => (
                stream,
                seq,
                event.event_id.as_str(),
                event.event_type.as_str(),
                event.topic.as_str(),
                event.occurred_at_ms,
                event.traceparent.as_deref(),
                &event.payload,
            )
                .serialize(ctx, writer),
        }
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// The outcome of a lightweight transaction (a single conditional statement or a conditional batch): whether
/// it applied and, when it did not, the current rows the server returned for its conditions.
#[derive(Debug)]
pub struct LwtOutcome {
    /// The `[applied]` flag.
    pub applied: bool,
    /// Column names of `rows` (the first is `[applied]`).
    pub columns: Vec<String>,
    /// The rows returned: for a failed condition, the current values of the rows the conditions looked at
    /// (one row per existing conditioned row of a batch).
    pub rows: Vec<Row>,
}

impl LwtOutcome {
    /// Reads the outcome of an LWT from its result.
    pub fn from_result(result: QueryResult) -> Result<Self, StoreError> {
        let rows = result.into_rows_result()?;
        let columns: Vec<String> = rows
            .column_specs()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        if columns.first().map(String::as_str) != Some("[applied]") {
            return Err(StoreError::Backend(
                "cassandra: LWT result without [applied]".into(),
            ));
        }
        let rows: Vec<Row> = rows.rows::<Row>()?.collect::<Result<_, _>>()?;
        let applied = matches!(
            rows.first().and_then(|r| r.columns.first()),
            Some(Some(CqlValue::Boolean(true)))
        );
        Ok(Self {
            applied,
            columns,
            rows,
        })
    }

    /// The value of `column` in row `row` (`None` when absent or null).
    pub fn value(&self, row: usize, column: &str) -> Option<&CqlValue> {
        let at = self.columns.iter().position(|c| c == column)?;
        self.rows.get(row)?.columns.get(at)?.as_ref()
    }

    /// A text column of row `row`.
    pub fn text(&self, row: usize, column: &str) -> Option<&str> {
        match self.value(row, column)? {
            CqlValue::Text(t) | CqlValue::Ascii(t) => Some(t),
            _ => None,
        }
    }

    /// A `bigint` column of row `row`.
    pub fn bigint(&self, row: usize, column: &str) -> Option<i64> {
        match self.value(row, column)? {
            CqlValue::BigInt(v) => Some(*v),
            _ => None,
        }
    }
}

/// The `[applied]` flag of an LWT result and the current value of `column` (present when not applied).
fn lwt_outcome(result: QueryResult, column: &str) -> Result<(bool, Option<i64>), StoreError> {
    let outcome = LwtOutcome::from_result(result)?;
    let value = outcome.bigint(0, column);
    Ok((outcome.applied, value))
}

// ---------------------------------------------------------------------------------------------------------
// Helpers.

/// Stable shard (`0..SHARDS`) of a stream or key (FNV-1a over its bytes); must never change once data exists.
pub fn shard_of(stream: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in stream.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % SHARDS as u32) as i32
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// 2024-01-01T00:00:00Z in microseconds.
const TAG_EPOCH_MICROS: i64 = 1_704_067_200_000_000;

/// Write timestamp of tag index rows: decreases with wall time, so the first tagging of a stream wins.
///
/// It mirrors wall time around [`TAG_EPOCH_MICROS`] (`2·epoch − now`), so it always lies in the *past* (before
/// 2024) rather than in the future (the first idea was `i64::MAX / 2 − now`): a future-dated cell can never be
/// removed by an ordinary `DELETE`, which would make erasing a customer's index rows impossible. The price: a
/// row deleted with a normal timestamp stays deleted even if the stream is tagged again. Stays positive
/// until about 2078.
fn tag_write_timestamp() -> i64 {
    (2 * TAG_EPOCH_MICROS - now_micros()).max(1)
}

/// A short random-ish pause (1..=`max_ms` ms) against LWT contention; no RNG dependency needed for this.
pub async fn jitter(max_ms: u64) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let ms = u64::from(nanos.wrapping_mul(2_654_435_761) >> 8) % max_ms.max(1);
    tokio::time::sleep(Duration::from_millis(ms + 1)).await;
}

fn valid_keyspace(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn conflict(stream: &str, expected: ExpectedVersion, actual: u64) -> StoreError {
    StoreError::Conflict {
        stream: stream.to_string(),
        expected,
        actual,
    }
}

/// The grace period of outbox markers for a given client timeout (see the module documentation).
fn marker_grace(request_timeout: Duration) -> Duration {
    (request_timeout + request_timeout.max(SERVER_CAS_BOUND) + Duration::from_secs(1))
        .max(MIN_MARKER_GRACE)
}

// ---------------------------------------------------------------------------------------------------------

/// Connects a session to `settings`' cluster with its execution profile (QUORUM/SERIAL, or LOCAL_QUORUM/
/// LOCAL_SERIAL with DC-aware routing when a local datacenter is set; token-aware routing), creates the keyspace
/// if missing, switches to it, applies `migrations` and refreshes the metadata (token-aware routing needs the new
/// keyspace's replication). Returns the session and its serial consistency. Shared by every Cassandra adapter.
pub async fn open_session(
    settings: &CassandraSettings,
    migrations: &[(&str, &str)],
) -> Result<(Session, SerialConsistency), StoreError> {
    // Unquoted CQL identifiers are case-insensitive (folded to lower case): use the folded name throughout.
    let ks = settings.keyspace.to_ascii_lowercase();
    let ks = ks.as_str();
    if !valid_keyspace(ks) {
        return Err(StoreError::Backend(format!(
            "cassandra: invalid keyspace name {ks:?}"
        )));
    }
    if settings.nodes.is_empty() {
        return Err(StoreError::Backend("cassandra: no contact points".into()));
    }
    let (consistency, serial, replication) = match &settings.local_datacenter {
        Some(dc) => (
            Consistency::LocalQuorum,
            SerialConsistency::LocalSerial,
            format!(
                "{{'class': 'NetworkTopologyStrategy', '{}': {}}}",
                dc.replace('\'', "''"),
                settings.replication_factor
            ),
        ),
        None => (
            Consistency::Quorum,
            SerialConsistency::Serial,
            format!(
                "{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
                settings.replication_factor
            ),
        ),
    };
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &settings.local_datacenter {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(consistency)
        .serial_consistency(Some(serial))
        .request_timeout(Some(settings.request_timeout))
        .load_balancing_policy(policy.build())
        .build();
    let session = SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .keyspaces_to_fetch([ks.to_string()])
        .build()
        .await?;
    ddl(
        &session,
        format!("CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}"),
    )
    .await?;
    session.use_keyspace(ks, false).await?;
    apply_migrations(&session, migrations).await?;
    session.refresh_metadata().await?;
    Ok((session, serial))
}

impl CassandraEventStore {
    /// Connects, creates the keyspace if missing, applies [`MIGRATIONS`] and prepares every statement.
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        let (session, serial) = open_session(&settings, MIGRATIONS).await?;
        let serial_read = match serial {
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
            SerialConsistency::Serial => Consistency::Serial,
        };
        let st = Statements::prepare(&session, serial_read).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                session,
                st,
                serial_read,
                request_timeout: settings.request_timeout,
                cas_timeout: None,
                grace: marker_grace(settings.request_timeout),
                notify: Arc::new(Notify::new()),
                seen: Mutex::new(HashMap::new()),
                next_shard: AtomicUsize::new(0),
            }),
        })
    }

    /// Test hook: gives the append batch a (short) client timeout of its own, so that tests can drive appends
    /// into the "outcome unknown" path that is settled by a SERIAL read. Call it right after `connect`, before
    /// the store is cloned (otherwise it has no effect). Not for production use.
    #[doc(hidden)]
    pub fn with_cas_timeout(mut self, timeout: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.cas_timeout = Some(timeout.min(inner.request_timeout));
        }
        self
    }

    /// How long an outbox marker must have been seen before the relay may delete it.
    pub fn marker_grace(&self) -> Duration {
        self.inner.grace
    }

    /// Number of outbox marker rows (streams that may have unpublished events, plus markers not yet
    /// cleaned up). For monitoring and tests; scans every shard.
    pub async fn outbox_markers(&self) -> Result<usize, StoreError> {
        let scans = (0..SHARDS).map(|shard| self.scan_shard(shard));
        Ok(future::try_join_all(scans)
            .await?
            .into_iter()
            .map(|rows| rows.len())
            .sum())
    }

    /// The underlying driver session (for operations tooling and tests, and for the services' adapters that
    /// keep tables of their own next to the events, see [`apply_migrations`]).
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The request timeout this store was connected with.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Prepares `cql` on this store's session (keyspace, execution profile), marked idempotent or not. Only
    /// statements that may safely be sent twice (reads, plain overwrites) may be marked idempotent: the driver
    /// retries and speculatively executes only those.
    pub async fn prepare(
        &self,
        cql: &str,
        idempotent: bool,
    ) -> Result<PreparedStatement, StoreError> {
        let mut st = self.inner.session.prepare(cql).await?;
        st.set_is_idempotent(idempotent);
        Ok(st)
    }

    /// Prepares an idempotent read at SERIAL (LOCAL_SERIAL with a local datacenter) consistency: it sees every
    /// committed Paxos write and completes any proposal a quorum already accepted, which is how an LWT whose
    /// outcome is unknown is settled.
    pub async fn prepare_serial_read(&self, cql: &str) -> Result<PreparedStatement, StoreError> {
        let mut st = self.prepare(cql, true).await?;
        st.set_consistency(self.inner.serial_read);
        Ok(st)
    }

    /// The id of the event at `seq` of `stream`, read at SERIAL consistency (so an append in flight is either
    /// completed or known not to have happened). `None` if there is no event at that seq.
    pub async fn event_id_at(&self, stream: &str, seq: u64) -> Result<Option<String>, StoreError> {
        let rows = self
            .inner
            .session
            .execute_unpaged(&self.inner.st.slot_serial, (stream, seq as i64))
            .await?
            .into_rows_result()?;
        Ok(rows
            .maybe_first_row::<(Option<String>,)>()?
            .and_then(|(id,)| id))
    }

    /// The seq and id of the last event of `stream`, by a plain (QUORUM / LOCAL_QUORUM) read; `None` for a
    /// stream without events. The services' adapters that keep state rows keyed by the event that commits them
    /// (the user store) find the current row with it.
    pub async fn last_event(&self, stream: &str) -> Result<Option<(u64, String)>, StoreError> {
        let rows = self
            .inner
            .session
            .execute_unpaged(&self.inner.st.last_event, (stream,))
            .await?
            .into_rows_result()?;
        // The static-only row of a partition without events has a null seq.
        Ok(
            match rows.maybe_first_row::<(Option<i64>, Option<String>)>()? {
                Some((Some(seq), id)) => Some((seq.max(0) as u64, id.unwrap_or_default())),
                _ => None,
            },
        )
    }

    /// Makes a stream that has no events unable to ever get any: sets its version to 0 with
    /// `IF version = null`, after which every append to it conflicts (`NoStream` and `Exact` expect no version,
    /// `Any` retries against 0 and gives up). `Ok(true)` if the stream is sealed (now or before), `Ok(false)`
    /// if it has events. A CAS whose outcome is unknown is settled by a SERIAL read of the version (repeating the
    /// seal only if that read finds the stream untouched: sealing twice is sealing once). Services use it to
    /// fence an operation abandoned between a claim and the append that commits it (the user store's email
    /// claims): once sealed, a late append of that operation can only fail.
    pub async fn seal_empty_stream(&self, stream: &str) -> Result<bool, StoreError> {
        let st = &self.inner.st;
        let mut last_err = None;
        for attempt in 0..SETTLE_ATTEMPTS {
            if attempt > 0 {
                jitter(100 * attempt as u64).await;
            }
            match self
                .inner
                .session
                .execute_unpaged(&st.seal, (stream,))
                .await
            {
                Ok(result) => {
                    return Ok(match lwt_outcome(result, "version")? {
                        (true, _) => true,
                        (false, version) => version.unwrap_or(0) <= 0,
                    });
                }
                Err(e) if outcome_unknown(&e) => {
                    tracing::warn!(stream, error = %e, "seal outcome unknown; settling with a SERIAL read");
                    let head = self
                        .inner
                        .session
                        .execute_unpaged(&st.head_serial, (stream,))
                        .await?
                        .into_rows_result()?
                        .maybe_first_row::<HeadRow>()?;
                    match head.and_then(|h| h.version) {
                        Some(version) => return Ok(version <= 0),
                        None => last_err = Some(StoreError::from(e)),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last_err.unwrap_or_else(|| StoreError::Backend("cassandra: seal failed".into())))
    }

    /// Runs a *claim*: an LWT that writes `nonce` into the row of `key` (`INSERT … IF NOT EXISTS`, or a
    /// takeover `UPDATE … IF nonce = <theirs>`). `Ok(true)` if the row is now ours. A CAS whose outcome is
    /// unknown is settled by `serial_nonce` (a [`CassandraEventStore::prepare_serial_read`] selecting only the
    /// row's nonce, bound to `key`), never retried blindly.
    pub async fn claim(
        &self,
        lwt: &PreparedStatement,
        values: impl SerializeRow,
        serial_nonce: &PreparedStatement,
        key: &str,
        nonce: &str,
    ) -> Result<bool, StoreError> {
        match self.inner.session.execute_unpaged(lwt, values).await {
            Ok(result) => Ok(LwtOutcome::from_result(result)?.applied),
            Err(e) if outcome_unknown(&e) => {
                tracing::warn!(key, error = %e, "claim outcome unknown; settling with a SERIAL read");
                let current = self
                    .inner
                    .session
                    .execute_unpaged(serial_nonce, (key,))
                    .await?
                    .into_rows_result()?
                    .maybe_first_row::<(Option<String>,)>()?;
                match current {
                    Some((n,)) => Ok(n.as_deref() == Some(nonce)),
                    None => Err(StoreError::Backend(format!(
                        "cassandra: claim {key}: outcome unknown ({e})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn scan_shard(&self, shard: i32) -> Result<Vec<(String, Uuid)>, StoreError> {
        let mut rows = self
            .inner
            .session
            .execute_iter(self.inner.st.scan_markers.clone(), (shard,))
            .await?
            .rows_stream::<(String, CqlTimeuuid)>()?;
        let mut out = Vec::new();
        while let Some((stream, touched)) = rows.try_next().await? {
            out.push((stream, *touched.as_ref()));
        }
        Ok(out)
    }

    async fn read_head(&self, stream: &str, serial: bool) -> Result<Head, StoreError> {
        let st = if serial {
            &self.inner.st.head_serial
        } else {
            &self.inner.st.head
        };
        let result = self
            .inner
            .session
            .execute_unpaged(st, (stream,))
            .await?
            .into_rows_result()?;
        Ok(Head::from(result.maybe_first_row::<HeadRow>()?))
    }

    async fn write_marker(&self, stream: &str) -> Result<(), StoreError> {
        self.inner
            .session
            .execute_unpaged(&self.inner.st.touch_marker, (shard_of(stream), stream))
            .await?;
        Ok(())
    }

    /// Writes the tag index rows of `stream` (the first tagging time of a row wins).
    async fn index_tags(&self, stream: &str, tags: &[String]) -> Result<(), StoreError> {
        let now = shop_kernel::now_ms();
        let ts = tag_write_timestamp();
        let writes = tags.iter().map(|tag| {
            self.inner
                .session
                .execute_unpaged(&self.inner.st.index_tag, (tag, stream, now, ts))
        });
        future::try_join_all(writes).await?;
        Ok(())
    }

    /// One conditional batch: the stream must be at version `current`. Returns the new version.
    async fn try_append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        current: u64,
        events: &[NewEvent],
        tags: &BTreeSet<String>,
    ) -> Result<u64, StoreError> {
        let st = &self.inner.st;
        let new_version = current + events.len() as u64;
        let mut batch = Batch::new(BatchType::Logged);
        if self.inner.cas_timeout.is_some() {
            batch.set_request_timeout(self.inner.cas_timeout);
        }
        let mut values = Vec::with_capacity(events.len() + 1);
        if current == 0 {
            batch.append_statement(st.append_cas_new.clone());
        } else {
            batch.append_statement(st.append_cas.clone());
        }
        values.push(AppendRow::Cas {
            new_version: new_version as i64,
            tags,
            stream,
            expected: (current > 0).then_some(current as i64),
        });
        for (i, event) in events.iter().enumerate() {
            batch.append_statement(st.insert_event.clone());
            values.push(AppendRow::Event {
                stream,
                seq: (current + 1 + i as u64) as i64,
                event,
            });
        }
        match self.inner.session.batch(&batch, values).await {
            Ok(result) => match lwt_outcome(result, "version")? {
                (true, _) => Ok(new_version),
                (false, actual) => Err(conflict(
                    stream,
                    expected,
                    actual.unwrap_or(0).max(0) as u64,
                )),
            },
            Err(e) if outcome_unknown(&e) => {
                tracing::warn!(stream, error = %e, "append outcome unknown; settling with a SERIAL read");
                self.settle(stream, expected, current, &events[0].event_id, e)
                    .await
                    .map(|()| new_version)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Decides a CAS whose outcome is unknown: our first event at seq `current + 1` means it applied.
    async fn settle(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        current: u64,
        our_first_event: &str,
        cause: ExecutionError,
    ) -> Result<(), StoreError> {
        let slot = (current + 1) as i64;
        let mut last_err = None;
        for attempt in 0..SETTLE_ATTEMPTS {
            if attempt > 0 {
                jitter(100 * attempt as u64).await;
            }
            let read = async {
                let rows = self
                    .inner
                    .session
                    .execute_unpaged(&self.inner.st.slot_serial, (stream, slot))
                    .await?
                    .into_rows_result()?;
                Ok::<_, StoreError>(rows.maybe_first_row::<(Option<String>,)>()?)
            };
            match read.await {
                Ok(Some((Some(id),))) if id == our_first_event => return Ok(()),
                Ok(Some(_)) => {
                    // Someone else's event holds the slot: ours can never apply.
                    let actual = match self.read_head(stream, false).await {
                        Ok(head) => head.version.max(current + 1),
                        Err(_) => current + 1,
                    };
                    return Err(conflict(stream, expected, actual));
                }
                Ok(None) => {
                    // Nothing at the slot after a SERIAL read. The SERIAL read finished any proposal a quorum
                    // had accepted, so ours most likely failed, but a coordinator still retrying could apply
                    // it later: report the outcome as unknown rather than as a conflict the caller may retry.
                    return Err(StoreError::Backend(format!(
                        "cassandra: append to {stream} at seq {slot}: outcome unknown ({cause})"
                    )));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| StoreError::Backend("cassandra: settle failed".into())))
    }

    /// Deletes the stream's markers that this process has seen for the grace period, if everything up to the
    /// stream's (SERIAL-read) version is published. `published` is a seq known to be published.
    async fn clear_markers(&self, stream: &str, published: u64) -> Result<(), StoreError> {
        let old: Vec<Uuid> = {
            let seen = self.inner.seen.lock();
            match seen.get(stream) {
                // Already known to be behind: no need for the SERIAL read.
                Some(s) if s.version > published => return Ok(()),
                Some(s) => s
                    .markers
                    .iter()
                    .filter(|(_, first)| first.elapsed() >= self.inner.grace)
                    .map(|(m, _)| *m)
                    .collect(),
                None => return Ok(()),
            }
        };
        if old.is_empty() {
            return Ok(());
        }
        let head = self.read_head(stream, true).await?;
        if head.version > published {
            return Ok(());
        }
        let shard = shard_of(stream);
        let deletes = old.iter().map(|m| {
            self.inner.session.execute_unpaged(
                &self.inner.st.delete_marker,
                (shard, stream, CqlTimeuuid::from(*m)),
            )
        });
        future::try_join_all(deletes).await?;
        let mut seen = self.inner.seen.lock();
        if let Some(s) = seen.get_mut(stream) {
            for m in &old {
                s.markers.remove(m);
            }
            if s.markers.is_empty() {
                seen.remove(stream);
            }
        }
        Ok(())
    }

    /// `mark_published` for one stream: advance `published`, repair the tag index, clean up markers.
    async fn mark_stream(&self, stream: &str, seq: u64) -> Result<(), StoreError> {
        self.inner
            .session
            .execute_unpaged(&self.inner.st.set_published, (seq as i64, stream))
            .await?;
        let tags = self.inner.seen.lock().get(stream).map(|s| s.tags.clone());
        let tags = match tags {
            Some(tags) => tags,
            None => self.read_head(stream, false).await?.tags,
        };
        self.index_tags(stream, &tags).await?;
        if let Err(e) = self.clear_markers(stream, seq).await {
            tracing::warn!(stream, error = %e, "outbox marker clean-up failed");
        }
        Ok(())
    }

    /// The pending events of one marked stream (at most `limit`) and its head.
    async fn pending_of(
        &self,
        stream: &str,
        limit: usize,
    ) -> Result<(Head, Vec<RecordedEvent>), StoreError> {
        let head = self.read_head(stream, false).await?;
        if head.version <= head.published || limit == 0 {
            return Ok((head, Vec::new()));
        }
        let take = limit.min((head.version - head.published) as usize);
        let rows = self
            .inner
            .session
            .execute_unpaged(
                &self.inner.st.load_after,
                (stream, head.published as i64, take as i32),
            )
            .await?
            .into_rows_result()?;
        let events = rows
            .rows::<EventRow>()?
            .filter_map(|r| r.map(|r| r.into_recorded(stream)).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Backend(format!("cassandra: {e}")))?;
        Ok((head, events))
    }

    async fn append_without_events(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        tags: &BTreeSet<String>,
    ) -> Result<u64, StoreError> {
        let head = self.read_head(stream, true).await?;
        check_version(stream, expected, head.version)?;
        // Tags of a stream without events are not kept (there is no partition to hold them).
        if !tags.is_empty() && head.version > 0 {
            self.inner
                .session
                .execute_unpaged(&self.inner.st.add_tags, (tags, stream))
                .await?;
            let tags: Vec<String> = tags.iter().cloned().collect();
            self.index_tags(stream, &tags).await?;
        }
        Ok(head.version)
    }
}

impl Statements {
    async fn prepare(session: &Session, serial_read: Consistency) -> Result<Self, StoreError> {
        let prepare = |cql: &'static str, idempotent: bool| async move {
            let mut st = session.prepare(cql).await?;
            st.set_is_idempotent(idempotent);
            Ok::<_, StoreError>(st)
        };
        let serial = |mut st: PreparedStatement| {
            st.set_consistency(serial_read);
            st
        };
        let mut scan_markers = prepare(
            "SELECT stream_id, touched FROM outbox WHERE shard = ?",
            true,
        )
        .await?;
        scan_markers.set_page_size(PAGE_SIZE);
        let mut load = prepare(
            "SELECT seq, event_id, event_type, topic, occurred_at_ms, traceparent, payload
             FROM events WHERE stream_id = ?",
            true,
        )
        .await?;
        load.set_page_size(PAGE_SIZE);
        let mut by_tag = prepare(
            "SELECT stream_id, tagged_at FROM stream_tags WHERE tag = ?",
            true,
        )
        .await?;
        by_tag.set_page_size(PAGE_SIZE);
        Ok(Self {
            // A retried marker write only adds a harmless extra marker row.
            touch_marker: prepare(
                "INSERT INTO outbox (shard, stream_id, touched) VALUES (?, ?, now())",
                true,
            )
            .await?,
            scan_markers,
            delete_marker: prepare(
                "DELETE FROM outbox WHERE shard = ? AND stream_id = ? AND touched = ?",
                true,
            )
            .await?,
            append_cas: prepare(
                "UPDATE events SET version = ?, tags = tags + ? WHERE stream_id = ? IF version = ?",
                false,
            )
            .await?,
            append_cas_new: prepare(
                "UPDATE events SET version = ?, tags = tags + ? WHERE stream_id = ? IF version = null",
                false,
            )
            .await?,
            insert_event: prepare(
                "INSERT INTO events (stream_id, seq, event_id, event_type, topic, occurred_at_ms,
                 traceparent, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                false,
            )
            .await?,
            add_tags: prepare(
                "UPDATE events SET tags = tags + ? WHERE stream_id = ?",
                true,
            )
            .await?,
            index_tag: prepare(
                "INSERT INTO stream_tags (tag, stream_id, tagged_at) VALUES (?, ?, ?) USING TIMESTAMP ?",
                true,
            )
            .await?,
            head: prepare(
                "SELECT version, published, tags FROM events WHERE stream_id = ? LIMIT 1",
                true,
            )
            .await?,
            head_serial: serial(
                prepare(
                    "SELECT version, published, tags FROM events WHERE stream_id = ? LIMIT 1",
                    true,
                )
                .await?,
            ),
            slot_serial: serial(
                prepare(
                    "SELECT event_id FROM events WHERE stream_id = ? AND seq = ?",
                    true,
                )
                .await?,
            ),
            last_event: prepare(
                "SELECT seq, event_id FROM events WHERE stream_id = ? ORDER BY seq DESC LIMIT 1",
                true,
            )
            .await?,
            seal: prepare(
                "UPDATE events SET version = 0 WHERE stream_id = ? IF version = null",
                false,
            )
            .await?,
            load,
            load_after: prepare(
                "SELECT seq, event_id, event_type, topic, occurred_at_ms, traceparent, payload
                 FROM events WHERE stream_id = ? AND seq > ? LIMIT ?",
                true,
            )
            .await?,
            set_published: prepare(
                "UPDATE events SET published = ? WHERE stream_id = ?",
                true,
            )
            .await?,
            by_tag,
            sequence_serial: serial(
                prepare("SELECT value FROM sequences WHERE name = ?", true).await?,
            ),
            sequence_create: prepare(
                "INSERT INTO sequences (name, value) VALUES (?, 1) IF NOT EXISTS",
                false,
            )
            .await?,
            sequence_bump: prepare(
                "UPDATE sequences SET value = ? WHERE name = ? IF value = ?",
                false,
            )
            .await?,
        })
    }
}

/// Runs an idempotent schema change and waits until every node agrees on the schema.
async fn ddl(session: &Session, cql: String) -> Result<(), StoreError> {
    let mut statement = Statement::new(cql);
    statement.set_request_timeout(Some(DDL_TIMEOUT));
    statement.set_is_idempotent(true);
    session.query_unpaged(statement, ()).await?;
    session.await_schema_agreement().await?;
    Ok(())
}

/// Creates `schema_migrations` (if missing) in the session's keyspace and applies the `migrations` not yet
/// recorded there, in order, recording each by name. Every statement must be idempotent on its own
/// (`IF NOT EXISTS`), since two processes may start at once. The event store applies its own list with it;
/// a service storing more tables in the same keyspace applies its list (with names of its own, e.g.
/// `session_0001_claims`) after connecting the event store.
pub async fn apply_migrations(
    session: &Session,
    migrations: &[(&str, &str)],
) -> Result<(), StoreError> {
    ddl(
        session,
        "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at bigint)"
            .into(),
    )
    .await?;
    let mut check = session
        .prepare("SELECT name FROM schema_migrations WHERE name = ?")
        .await?;
    check.set_is_idempotent(true);
    let mut record = session
        .prepare("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)")
        .await?;
    record.set_is_idempotent(true);
    for (name, cql) in migrations {
        let done = session
            .execute_unpaged(&check, (name,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<(String,)>()?
            .is_some();
        if done {
            continue;
        }
        ddl(session, cql.to_string()).await?;
        session
            .execute_unpaged(&record, (name, shop_kernel::now_ms()))
            .await?;
        tracing::info!(migration = name, "cassandra migration applied");
    }
    Ok(())
}

impl EventStore for CassandraEventStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        tags: Vec<String>,
    ) -> Result<u64, StoreError> {
        let tags: BTreeSet<String> = tags.into_iter().collect();
        if events.is_empty() {
            return self.append_without_events(stream, expected, &tags).await;
        }
        // (1) The marker goes first: whatever happens after it, the relay will look at this stream.
        self.write_marker(stream).await?;
        let mut marker_at = Instant::now();
        // (2) The conditional batch.
        let version = match expected {
            ExpectedVersion::NoStream => {
                self.try_append(stream, expected, 0, &events, &tags).await?
            }
            ExpectedVersion::Exact(v) => {
                self.try_append(stream, expected, v, &events, &tags).await?
            }
            ExpectedVersion::Any => {
                // A LOCAL_QUORUM read is enough to pick the version to try: the CAS re-checks it and a lost race
                // returns the current version, so the SERIAL round the design suggested here would only add a
                // Paxos round-trip to every `Any` append.
                let mut current = self.read_head(stream, false).await?.version;
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match self
                        .try_append(stream, expected, current, &events, &tags)
                        .await
                    {
                        Ok(v) => break v,
                        Err(StoreError::Conflict { actual, .. }) if attempt < ANY_ATTEMPTS => {
                            current = actual;
                            jitter(10 * attempt as u64).await;
                            // Keep "batch decided within the grace period of its marker" (module docs).
                            if marker_at.elapsed() > self.inner.request_timeout {
                                self.write_marker(stream).await?;
                                marker_at = Instant::now();
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        // (3) The tag index. The append has happened: a failure here must not report it as failed; the next
        // `mark_published` of this stream re-writes the index from the static `tags`.
        if !tags.is_empty() {
            let tags: Vec<String> = tags.into_iter().collect();
            if let Err(e) = self.index_tags(stream, &tags).await {
                tracing::warn!(stream, error = %e, "tag index write failed; the relay will repair it");
            }
        }
        self.inner.notify.notify_waiters();
        Ok(version)
    }

    async fn load(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut rows = self
            .inner
            .session
            .execute_iter(self.inner.st.load.clone(), (stream,))
            .await?
            .rows_stream::<EventRow>()?;
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            out.extend(row.into_recorded(stream));
        }
        Ok(out)
    }

    async fn streams_by_tag(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let mut rows = self
            .inner
            .session
            .execute_iter(self.inner.st.by_tag.clone(), (tag,))
            .await?
            .rows_stream::<(String, Option<i64>)>()?;
        let mut found = Vec::new();
        while let Some((stream, tagged_at)) = rows.try_next().await? {
            found.push((tagged_at.unwrap_or(0), stream));
        }
        found.sort_unstable_by(|a, b| b.cmp(a));
        Ok(found.into_iter().map(|(_, s)| s).collect())
    }

    async fn unpublished(&self, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        // Markers of every shard, starting at a rotating shard so no shard is starved by `limit`.
        let start = self.inner.next_shard.fetch_add(1, Ordering::Relaxed);
        let shards = (0..SHARDS).map(|i| (start as i32 + i).rem_euclid(SHARDS));
        let scanned = future::try_join_all(shards.map(|s| self.scan_shard(s))).await?;
        let mut marked: Vec<(String, Vec<Uuid>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (stream, touched) in scanned.into_iter().flatten() {
            let at = *index.entry(stream.clone()).or_insert_with(|| {
                marked.push((stream, Vec::new()));
                marked.len() - 1
            });
            marked[at].1.push(touched);
        }
        {
            let now = Instant::now();
            let mut seen = self.inner.seen.lock();
            seen.retain(|s, _| index.contains_key(s));
            for (stream, markers) in &marked {
                let entry = seen.entry(stream.clone()).or_default();
                entry.markers = markers
                    .iter()
                    .map(|m| (*m, entry.markers.get(m).copied().unwrap_or(now)))
                    .collect();
            }
        }

        let mut out = Vec::new();
        let mut idle = Vec::new();
        for chunk in marked.chunks(FAN_OUT) {
            if out.len() >= limit {
                break;
            }
            let room = limit - out.len();
            let reads = chunk.iter().map(|(s, _)| self.pending_of(s, room));
            let results = future::try_join_all(reads).await?;
            for ((stream, _), (head, events)) in chunk.iter().zip(results) {
                if let Some(s) = self.inner.seen.lock().get_mut(stream) {
                    s.version = head.version;
                    s.tags = head.tags.clone();
                }
                if events.is_empty() {
                    idle.push((stream.clone(), head.published));
                }
                let room = limit - out.len();
                out.extend(events.into_iter().take(room));
            }
        }

        // Streams with nothing pending: drop their markers once the grace period is over. Best effort.
        for chunk in idle.chunks(FAN_OUT) {
            future::join_all(chunk.iter().map(|(stream, published)| async move {
                if let Err(e) = self.clear_markers(stream, *published).await {
                    tracing::warn!(stream, error = %e, "outbox marker clean-up failed");
                }
            }))
            .await;
        }
        Ok(out)
    }

    async fn mark_published(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let mut last: Vec<(&str, u64)> = Vec::new();
        for e in events {
            match last.iter_mut().find(|(s, _)| *s == e.stream_id) {
                Some((_, seq)) => *seq = (*seq).max(e.seq),
                None => last.push((&e.stream_id, e.seq)),
            }
        }
        for chunk in last.chunks(FAN_OUT) {
            future::try_join_all(
                chunk
                    .iter()
                    .map(|(stream, seq)| self.mark_stream(stream, *seq)),
            )
            .await?;
        }
        Ok(())
    }

    async fn next_sequence(&self, name: &str) -> Result<i64, StoreError> {
        let st = &self.inner.st;
        let read = || async {
            let rows = self
                .inner
                .session
                .execute_unpaged(&st.sequence_serial, (name,))
                .await?
                .into_rows_result()?;
            Ok::<_, StoreError>(rows.maybe_first_row::<(Option<i64>,)>()?.and_then(|r| r.0))
        };
        let mut current = read().await?;
        for attempt in 0..SEQUENCE_ATTEMPTS {
            if attempt > 0 {
                jitter(5 + 5 * attempt as u64).await;
            }
            let result = match current {
                None => {
                    self.inner
                        .session
                        .execute_unpaged(&st.sequence_create, (name,))
                        .await
                }
                Some(v) => {
                    self.inner
                        .session
                        .execute_unpaged(&st.sequence_bump, (v + 1, name, v))
                        .await
                }
            };
            match result {
                Ok(r) => match lwt_outcome(r, "value")? {
                    (true, _) => return Ok(current.map_or(1, |v| v + 1)),
                    (false, value) => current = value,
                },
                // Gap-tolerant: if the lost write did apply, its value is simply skipped.
                Err(e) if outcome_unknown(&e) => current = read().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Backend(format!(
            "cassandra: sequence {name}: too much contention"
        )))
    }

    fn appended(&self) -> Arc<Notify> {
        self.inner.notify.clone()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Exactly-once tallies (projections that count).

/// Schema of [`CassandraTallies`], applied by [`CassandraTallies::new`] with [`apply_migrations`].
pub const TALLY_MIGRATIONS: &[(&str, &str)] = &[
    // kind 0: a total (`item` = what is counted); kind 1: the marker of an event applied to the group (`item` =
    // event id), written with a TTL. Both kinds share the group's partition so that one conditional batch can
    // check and change them together.
    (
        "tally_0001_tallies",
        "CREATE TABLE IF NOT EXISTS tallies (
            grp text,
            kind int,
            item text,
            total bigint,
            PRIMARY KEY (grp, kind, item)
        ) WITH CLUSTERING ORDER BY (kind ASC, item ASC)",
    ),
    (
        "tally_0002_processed",
        "CREATE TABLE IF NOT EXISTS tally_processed (event_id text PRIMARY KEY, nonce text, processed_at_ms bigint)",
    ),
];

/// How long the per-group marker of an applied event is kept. An event whose processing stopped half-way
/// (crash) must be redelivered within this time to be completed exactly once; the consumers redeliver on
/// restart (at-least-once, offsets stored after processing), i.e. within minutes.
pub const TALLY_MARKER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Attempts of the optimistic loop of one group (lost races against concurrent events on the same group).
const TALLY_ATTEMPTS: usize = 64;

struct TallyStatements {
    totals_of: PreparedStatement,
    marker_serial: PreparedStatement,
    add_marker: PreparedStatement,
    set_total: PreparedStatement,
    create_total: PreparedStatement,
    group: PreparedStatement,
    group_limit: PreparedStatement,
    processed: PreparedStatement,
    processed_serial: PreparedStatement,
    mark_processed: PreparedStatement,
}

/// Exactly-once counters grouped in partitions, for projections that count what events report (units sold,
/// co-purchases): each event is applied at most once per group and reported as new exactly once.
///
/// # Mechanism
///
/// A *group* (one partition of `tallies`) holds totals (rows of kind 0) and, for every event applied to it, a
/// marker row (kind 1, TTL [`TALLY_MARKER_TTL`]). Applying an event to a group is one *conditional batch* on
/// that partition: `INSERT marker IF NOT EXISTS` plus, per counted item, `UPDATE total = old + n IF total =
/// old` (`IF total = null` for a new item), with the `old` values just read. Paxos makes the batch all or
/// nothing: the marker and the new totals commit together, a second application of the same event to the
/// group is refused by the marker, and a concurrent change of a total makes the batch fail and the loop re-read
/// and retry. A batch whose outcome is unknown (timeout) is settled by a SERIAL read of the marker; retrying is
/// safe because the retry carries the same marker condition.
///
/// [`CassandraTallies::apply_once`] first reads `tally_processed` (an event already processed changes nothing
/// and reports `false`), applies the event to each of its groups as above, and only then marks it processed
/// with `INSERT … IF NOT EXISTS` carrying a nonce: the caller whose mark applied (settled by a SERIAL read of the
/// nonce on a timeout) reports `true`, everyone else `false`. There is no transaction across groups: a crash
/// half-way leaves some groups applied and the event unmarked, and the redelivery of the event (at-least-once
/// consumers) completes it — the markers skip the groups already done. So "marked processed" always implies
/// "applied to every group", and no group is ever counted twice as long as the redelivery comes within the
/// marker TTL.
#[derive(Clone)]
pub struct CassandraTallies {
    store: CassandraEventStore,
    st: Arc<TallyStatements>,
}

impl std::fmt::Debug for CassandraTallies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraTallies").finish_non_exhaustive()
    }
}

/// Values of one statement of a tally batch.
enum TallyRow<'a> {
    /// `INSERT INTO tallies (grp, kind, item) VALUES (?, 1, ?) IF NOT EXISTS USING TTL ?`.
    Marker {
        grp: &'a str,
        event_id: &'a str,
        ttl: i32,
    },
    /// `UPDATE tallies SET total = ? WHERE grp = ? AND kind = 0 AND item = ? IF total = ?` (no last value
    /// for the `IF total = null` variant).
    Total {
        new: i64,
        grp: &'a str,
        item: &'a str,
        old: Option<i64>,
    },
}

impl SerializeRow for TallyRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        match *self {
            TallyRow::Marker { grp, event_id, ttl } => (grp, event_id, ttl).serialize(ctx, writer),
            TallyRow::Total {
                new,
                grp,
                item,
                old: Some(old),
            } => (new, grp, item, old).serialize(ctx, writer),
            TallyRow::Total {
                new,
                grp,
                item,
                old: None,
            } => (new, grp, item).serialize(ctx, writer),
        }
    }

    fn is_empty(&self) -> bool {
        false
    }
}

impl CassandraTallies {
    /// Applies [`TALLY_MIGRATIONS`] in `store`'s keyspace and prepares the statements.
    pub async fn new(store: &CassandraEventStore) -> Result<Self, StoreError> {
        apply_migrations(store.session(), TALLY_MIGRATIONS).await?;
        let mut group = store
            .prepare(
                "SELECT item, total FROM tallies WHERE grp = ? AND kind = 0",
                true,
            )
            .await?;
        group.set_page_size(PAGE_SIZE);
        let st = TallyStatements {
            totals_of: store
                .prepare(
                    "SELECT item, total FROM tallies WHERE grp = ? AND kind = 0 AND item IN ?",
                    true,
                )
                .await?,
            marker_serial: store
                .prepare_serial_read(
                    "SELECT item FROM tallies WHERE grp = ? AND kind = 1 AND item = ?",
                )
                .await?,
            add_marker: store
                .prepare(
                    "INSERT INTO tallies (grp, kind, item) VALUES (?, 1, ?) IF NOT EXISTS USING TTL ?",
                    false,
                )
                .await?,
            set_total: store
                .prepare(
                    "UPDATE tallies SET total = ? WHERE grp = ? AND kind = 0 AND item = ? IF total = ?",
                    false,
                )
                .await?,
            create_total: store
                .prepare(
                    "UPDATE tallies SET total = ? WHERE grp = ? AND kind = 0 AND item = ? IF total = null",
                    false,
                )
                .await?,
            group,
            group_limit: store
                .prepare(
                    "SELECT item, total FROM tallies WHERE grp = ? AND kind = 0 LIMIT ?",
                    true,
                )
                .await?,
            processed: store
                .prepare(
                    "SELECT nonce FROM tally_processed WHERE event_id = ?",
                    true,
                )
                .await?,
            processed_serial: store
                .prepare_serial_read("SELECT nonce FROM tally_processed WHERE event_id = ?")
                .await?,
            mark_processed: store
                .prepare(
                    "INSERT INTO tally_processed (event_id, nonce, processed_at_ms) VALUES (?, ?, ?) IF NOT EXISTS",
                    false,
                )
                .await?,
        };
        Ok(Self {
            store: store.clone(),
            st: Arc::new(st),
        })
    }

    fn session(&self) -> &Session {
        self.store.session()
    }

    /// Applies `event_id` once: adds each group's increments `(item, n)` (see the type's documentation).
    /// Returns `false`, changing nothing, when the event was already processed.
    pub async fn apply_once(
        &self,
        event_id: &str,
        groups: Vec<(String, Vec<(String, i64)>)>,
    ) -> Result<bool, StoreError> {
        if self.processed_nonce(event_id, false).await?.is_some() {
            return Ok(false);
        }
        let groups: Vec<(String, Vec<(String, i64)>)> = groups
            .into_iter()
            .map(|(g, inc)| (g, merge_increments(inc)))
            .filter(|(_, inc)| !inc.is_empty())
            .collect();
        for chunk in groups.chunks(FAN_OUT) {
            future::try_join_all(
                chunk
                    .iter()
                    .map(|(grp, inc)| self.add_to_group(event_id, grp, inc)),
            )
            .await?;
        }
        self.mark_processed(event_id).await
    }

    /// The totals of a group, by item.
    pub async fn totals(&self, grp: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut rows = self
            .session()
            .execute_iter(self.st.group.clone(), (grp,))
            .await?
            .rows_stream::<(String, Option<i64>)>()?;
        let mut out = Vec::new();
        while let Some((item, total)) = rows.try_next().await? {
            out.push((item, total.unwrap_or(0)));
        }
        Ok(out)
    }

    /// The first `limit` totals of a group, by item.
    pub async fn first_totals(
        &self,
        grp: &str,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows = self
            .session()
            .execute_unpaged(&self.st.group_limit, (grp, limit))
            .await?
            .into_rows_result()?;
        Ok(rows
            .rows::<(String, Option<i64>)>()?
            .map(|r| r.map(|(item, total)| (item, total.unwrap_or(0))))
            .collect::<Result<_, _>>()?)
    }

    async fn processed_nonce(
        &self,
        event_id: &str,
        serial: bool,
    ) -> Result<Option<String>, StoreError> {
        let st = if serial {
            &self.st.processed_serial
        } else {
            &self.st.processed
        };
        let rows = self
            .session()
            .execute_unpaged(st, (event_id,))
            .await?
            .into_rows_result()?;
        Ok(rows
            .maybe_first_row::<(Option<String>,)>()?
            .map(|(n,)| n.unwrap_or_default()))
    }

    /// Marks `event_id` processed; `true` if this call's mark is the one that applied.
    async fn mark_processed(&self, event_id: &str) -> Result<bool, StoreError> {
        let nonce = Uuid::new_v4().to_string();
        let result = self
            .session()
            .execute_unpaged(
                &self.st.mark_processed,
                (event_id, nonce.as_str(), shop_kernel::now_ms()),
            )
            .await;
        match result {
            Ok(r) => Ok(LwtOutcome::from_result(r)?.applied),
            Err(e) if outcome_unknown(&e) => {
                tracing::warn!(event_id, error = %e, "processed mark outcome unknown; settling with a SERIAL read");
                match self.processed_nonce(event_id, true).await? {
                    Some(n) => Ok(n == nonce),
                    None => Err(StoreError::Backend(format!(
                        "cassandra: marking {event_id} processed: outcome unknown ({e})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `inc` (merged, non-empty) to group `grp` unless `event_id` was already applied to it.
    async fn add_to_group(
        &self,
        event_id: &str,
        grp: &str,
        inc: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let items: Vec<&str> = inc.iter().map(|(i, _)| i.as_str()).collect();
        let ttl = TALLY_MARKER_TTL.as_secs() as i32;
        for attempt in 0..TALLY_ATTEMPTS {
            if attempt > 0 {
                jitter(5 + 5 * attempt.min(20) as u64).await;
            }
            let current: HashMap<String, i64> = self
                .session()
                .execute_unpaged(&self.st.totals_of, (grp, &items))
                .await?
                .into_rows_result()?
                .rows::<(String, Option<i64>)>()?
                .map(|r| r.map(|(item, total)| (item, total.unwrap_or(0))))
                .collect::<Result<_, _>>()?;
            let mut batch = Batch::new(BatchType::Logged);
            let mut values = Vec::with_capacity(inc.len() + 1);
            batch.append_statement(self.st.add_marker.clone());
            values.push(TallyRow::Marker { grp, event_id, ttl });
            for (item, n) in inc {
                let old = current.get(item).copied();
                batch.append_statement(if old.is_some() {
                    self.st.set_total.clone()
                } else {
                    self.st.create_total.clone()
                });
                values.push(TallyRow::Total {
                    new: old.unwrap_or(0).saturating_add(*n),
                    grp,
                    item,
                    old,
                });
            }
            match self.session().batch(&batch, values).await {
                Ok(result) => {
                    let outcome = LwtOutcome::from_result(result)?;
                    if outcome.applied {
                        return Ok(());
                    }
                    // The marker row among the current rows: this event was applied to the group already.
                    let applied_before = (0..outcome.rows.len()).any(|r| {
                        matches!(outcome.value(r, "kind"), Some(CqlValue::Int(1)))
                            && outcome.text(r, "item") == Some(event_id)
                    });
                    if applied_before {
                        return Ok(());
                    }
                }
                Err(e) if outcome_unknown(&e) => {
                    tracing::warn!(grp, event_id, error = %e, "tally outcome unknown; settling with a SERIAL read");
                    let marked = self
                        .session()
                        .execute_unpaged(&self.st.marker_serial, (grp, event_id))
                        .await?
                        .into_rows_result()?
                        .maybe_first_row::<(String,)>()?
                        .is_some();
                    if marked {
                        return Ok(());
                    }
                    // Not applied (or still in flight: the retry carries the same marker condition, so at most
                    // one of them can apply).
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Backend(format!(
            "cassandra: tally group {grp}: too much contention"
        )))
    }
}

/// Sums increments per item (a batch must not condition the same row twice); drops zero sums.
fn merge_increments(inc: Vec<(String, i64)>) -> Vec<(String, i64)> {
    let mut merged: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for (item, n) in inc {
        let e = merged.entry(item).or_insert(0);
        *e = e.saturating_add(n);
    }
    merged.into_iter().filter(|(_, n)| *n != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        // Changing the hash would orphan existing markers: pin a few values.
        assert_eq!(shard_of(""), (0x811c_9dc5u32 % 16) as i32);
        for s in ["a", "cart-1", "order-42", "s-out-a"] {
            let sh = shard_of(s);
            assert!((0..SHARDS).contains(&sh));
            assert_eq!(sh, shard_of(s));
        }
    }

    #[test]
    fn keyspace_names() {
        assert!(valid_keyspace("thriftshop"));
        assert!(valid_keyspace("conformance_0123abcd"));
        assert!(!valid_keyspace("1abc"));
        assert!(!valid_keyspace("a-b"));
        assert!(!valid_keyspace("x; DROP KEYSPACE y"));
        assert!(!valid_keyspace(&"a".repeat(49)));
    }

    #[test]
    fn tag_timestamps_decrease() {
        let a = tag_write_timestamp();
        std::thread::sleep(Duration::from_millis(2));
        assert!(tag_write_timestamp() < a);
        assert!(
            a > 0 && a < now_micros(),
            "in the past, so ordinary deletes win"
        );
    }

    #[test]
    fn grace_covers_the_cas_window() {
        assert_eq!(marker_grace(Duration::from_secs(1)), MIN_MARKER_GRACE);
        assert_eq!(marker_grace(Duration::from_secs(2)), Duration::from_secs(6));
        assert_eq!(
            marker_grace(Duration::from_secs(10)),
            Duration::from_secs(21)
        );
    }
}

/// Checks that a cluster answers, for readiness probes: one session (no keyspace), connected on first use and
/// reconnected by the driver after an outage.
#[derive(Clone)]
pub struct ClusterProbe {
    nodes: Vec<String>,
    timeout: Duration,
    session: Arc<tokio::sync::OnceCell<Session>>,
}

impl ClusterProbe {
    /// A probe of the cluster at `nodes`; each ping waits at most `timeout`.
    pub fn new(nodes: Vec<String>, timeout: Duration) -> Self {
        Self {
            nodes,
            timeout,
            session: Default::default(),
        }
    }

    /// Reads the coordinator's `system.local` row.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let session = self
            .session
            .get_or_try_init(|| async {
                SessionBuilder::new()
                    .known_nodes(&self.nodes)
                    .connection_timeout(self.timeout)
                    .keyspaces_to_fetch(Vec::<String>::new())
                    .build()
                    .await
            })
            .await?;
        let mut statement = Statement::new("SELECT release_version FROM system.local");
        statement.set_request_timeout(Some(self.timeout));
        statement.set_is_idempotent(true);
        session.query_unpaged(statement, ()).await?;
        Ok(())
    }
}
