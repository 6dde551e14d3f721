//! Cassandra / ScyllaDB session store: sessions are event-sourced on the [`CassandraEventStore`] of the
//! service's keyspace (which is also the outbox the relay reads), with LWT claim rows for uniqueness and
//! lookup rows for the token hash and the customer.
//!
//! # Schema (next to the event store's tables; migrations `session_0001…` in `schema_migrations`)
//!
//! ```text
//! session_ids (session_id text PRIMARY KEY, nonce text)                       -- id claim (LWT)
//! session_tokens (token_hash text PRIMARY KEY, session_id, nonce, kind, customer_id, created_at_ms,
//!                 expires_at_ms)                                              -- token claim (LWT) + fields
//! sessions_by_customer (customer_id, session_id, token_hash, kind, created_at_ms, expires_at_ms,
//!                       PRIMARY KEY (customer_id, session_id))                -- lookup
//! session_replacements (shard int, session_id text, …, PRIMARY KEY (shard, session_id))  -- replace intents
//! ```
//!
//! # Atomicity
//!
//! **The stream is the truth.** A session exists iff its stream (stream id = session id) holds its
//! `session.created.v1` event, and it is revoked iff the stream holds a second event (`session.revoked.v1`,
//! whose `occurred_at_ms` is set to the revocation time). The immutable fields (token hash, kind, customer,
//! times) live in the claim/lookup rows, which are written *before* the events; a row whose stream is empty
//! (a crash or a conflict in between) is invisible to every read. Since the state change *is* the event append
//! (one Paxos batch in the event store, with its outbox marker written first), a state change can never be
//! visible without its event, nor the reverse.
//!
//! - **insert:** claim the session id (`session_ids … IF NOT EXISTS`) and the token hash (`session_tokens … IF
//!   NOT EXISTS`), each with a fresh nonce; a CAS whose outcome is unknown is settled by a SERIAL read of the
//!   nonce (never blindly retried). A taken claim is a [`StoreError::Conflict`]: the claims already made are
//!   released (`DELETE … IF nonce = ours`) and nothing is visible. Then the customer lookup row, then the append
//!   with [`ExpectedVersion::NoStream`] — the commit point.
//! - **revoke:** per session, append the revocation with [`ExpectedVersion::Exact`]`(1)`: it applies only if the
//!   stream holds just its creation, so a session is revoked (and its event recorded) at most once, even under
//!   concurrent revocations. Each session of a batch commits on its own (there are no multi-partition
//!   transactions); a batch cut short by a failure is completed by retrying it, which skips the sessions
//!   already revoked.
//! - **replace:** the new session's claims and lookup rows are written first, then an *intent* row (old id,
//!   the revocation's event id, the new session's events), then the old session's revocation is appended with
//!   `Exact(1)` — the commit point — then the new session's events with `NoStream`, then the intent is deleted.
//!   If the revocation loses (the old session was revoked meanwhile) the claims and the intent are removed and
//!   nothing is visible. If the process dies after the commit point, the intent completes the replacement:
//!   [`CassandraSessionStore::complete_replacements`] (run at connect and then periodically) looks at intents
//!   older than a grace period, reads the old stream's second event at SERIAL consistency and, if it is this
//!   intent's revocation, appends the new session's events (a `NoStream` conflict means it was done), otherwise
//!   releases the claims; then it deletes the intent. The new token reaches its caller only once both appends
//!   succeeded, so nobody can use it in between.
//!
//! Claims orphaned by a crash before the commit point stay behind, invisible; ids and token hashes are random
//! (128 and 256 bits), so they are never asked for again.
use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use futures::{TryStreamExt, future};
use scylla::{DeserializeRow, statement::prepared::PreparedStatement};
use shop_store::{
    EventStore, ExpectedVersion, NewEvent, StoreError,
    cassandra::{
        CassandraEventStore, CassandraSettings, LwtOutcome, SHARDS, apply_migrations,
        outcome_unknown, shard_of,
    },
};

use super::{Revocation, SessionStore, duplicate};
use crate::domain::{Session, SessionKind};

/// Schema of the session tables, applied after the event store's (names prefixed so they never collide).
pub const SESSION_MIGRATIONS: &[(&str, &str)] = &[
    (
        "session_0001_ids",
        "CREATE TABLE IF NOT EXISTS session_ids (session_id text PRIMARY KEY, nonce text)",
    ),
    (
        "session_0002_tokens",
        "CREATE TABLE IF NOT EXISTS session_tokens (
            token_hash text PRIMARY KEY,
            session_id text,
            nonce text,
            kind text,
            customer_id text,
            created_at_ms bigint,
            expires_at_ms bigint
        )",
    ),
    (
        "session_0003_by_customer",
        "CREATE TABLE IF NOT EXISTS sessions_by_customer (
            customer_id text,
            session_id text,
            token_hash text,
            kind text,
            created_at_ms bigint,
            expires_at_ms bigint,
            PRIMARY KEY (customer_id, session_id)
        )",
    ),
    (
        "session_0004_replacements",
        "CREATE TABLE IF NOT EXISTS session_replacements (
            shard int,
            session_id text,
            token_hash text,
            customer_id text,
            nonce text,
            old_session_id text,
            revoke_event_id text,
            written_at_ms bigint,
            events frozen<list<tuple<text, text, text, bigint, text, blob>>>,
            PRIMARY KEY (shard, session_id)
        )",
    ),
];

/// Margin added to the event store's marker grace period before an intent is settled, for clock skew between
/// the machine that wrote it (`written_at_ms`) and the one settling it.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(30);

/// An event as stored in an intent row.
type EventTuple = (String, String, String, i64, Option<String>, Vec<u8>);

fn to_tuple(e: &NewEvent) -> EventTuple {
    (
        e.event_id.clone(),
        e.event_type.clone(),
        e.topic.clone(),
        e.occurred_at_ms,
        e.traceparent.clone(),
        e.payload.to_vec(),
    )
}

fn from_tuple(t: EventTuple) -> NewEvent {
    NewEvent {
        event_id: t.0,
        event_type: t.1,
        topic: t.2,
        occurred_at_ms: t.3,
        traceparent: t.4,
        payload: t.5.into(),
    }
}

struct Statements {
    claim_id: PreparedStatement,
    id_nonce_serial: PreparedStatement,
    release_id: PreparedStatement,
    claim_token: PreparedStatement,
    token_nonce_serial: PreparedStatement,
    release_token: PreparedStatement,
    by_token: PreparedStatement,
    extend: PreparedStatement,
    index_customer: PreparedStatement,
    unindex_customer: PreparedStatement,
    by_customer: PreparedStatement,
    write_intent: PreparedStatement,
    delete_intent: PreparedStatement,
    intents: PreparedStatement,
}

struct Inner {
    events: CassandraEventStore,
    st: Statements,
}

/// A [`SessionStore`] on Cassandra / ScyllaDB (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct CassandraSessionStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CassandraSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraSessionStore")
            .finish_non_exhaustive()
    }
}

#[derive(DeserializeRow)]
struct TokenRow {
    session_id: Option<String>,
    kind: Option<String>,
    customer_id: Option<String>,
    created_at_ms: Option<i64>,
    expires_at_ms: Option<i64>,
}

#[derive(DeserializeRow)]
struct CustomerRow {
    session_id: String,
    token_hash: Option<String>,
    kind: Option<String>,
    created_at_ms: Option<i64>,
    expires_at_ms: Option<i64>,
}

#[derive(DeserializeRow)]
struct IntentRow {
    shard: i32,
    session_id: String,
    token_hash: Option<String>,
    customer_id: Option<String>,
    nonce: Option<String>,
    old_session_id: Option<String>,
    revoke_event_id: Option<String>,
    written_at_ms: Option<i64>,
    events: Option<Vec<EventTuple>>,
}

fn parse_kind(kind: Option<String>) -> Result<SessionKind, StoreError> {
    let kind = kind.unwrap_or_default();
    SessionKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("cassandra: unknown session kind {kind:?}")))
}

/// What the stream says about a session.
enum Status {
    /// No creation event: the session does not exist (or is not committed).
    Missing,
    Active,
    Revoked(i64),
}

impl CassandraSessionStore {
    /// Connects the event store of `settings.keyspace` (creating the keyspace and applying its migrations),
    /// then [`CassandraSessionStore::with_event_store`].
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        Self::with_event_store(CassandraEventStore::connect(settings).await?).await
    }

    /// A store over a connected event store (its keyspace holds the session tables too): applies
    /// [`SESSION_MIGRATIONS`], prepares the statements, completes the replacements left by a crash and spawns
    /// a task that keeps doing so (it ends when the last clone of the store is dropped). Must be called within
    /// a Tokio runtime.
    pub async fn with_event_store(events: CassandraEventStore) -> Result<Self, StoreError> {
        apply_migrations(events.session(), SESSION_MIGRATIONS).await?;
        let st = Statements::prepare(&events).await?;
        let store = Self {
            inner: Arc::new(Inner { events, st }),
        };
        if let Err(e) = store.complete_replacements().await {
            tracing::warn!(error = %e, "session replacements: completion failed; will retry");
        }
        tokio::spawn(complete_periodically(Arc::downgrade(&store.inner)));
        Ok(store)
    }

    /// How old a replacement intent must be before [`CassandraSessionStore::complete_replacements`] settles it.
    pub fn intent_grace(&self) -> Duration {
        self.inner.events.marker_grace() + CLOCK_SKEW_ALLOWANCE
    }

    /// Settles the replacement intents older than [`CassandraSessionStore::intent_grace`] (module docs);
    /// returns how many replacements it completed.
    pub async fn complete_replacements(&self) -> Result<usize, StoreError> {
        self.complete_replacements_older_than(self.intent_grace())
            .await
    }

    /// Test hook: [`CassandraSessionStore::complete_replacements`] with another minimum age. Settling an intent
    /// younger than [`CassandraSessionStore::intent_grace`] can release the claims of a replacement still in
    /// flight: not for production use.
    #[doc(hidden)]
    pub async fn complete_replacements_older_than(
        &self,
        age: Duration,
    ) -> Result<usize, StoreError> {
        let grace_ms = age.as_millis() as i64;
        let now = shop_kernel::now_ms();
        let mut completed = 0;
        for shard in 0..SHARDS {
            let mut rows = self
                .session()
                .execute_iter(self.inner.st.intents.clone(), (shard,))
                .await?
                .rows_stream::<IntentRow>()?;
            let mut due = Vec::new();
            while let Some(row) = rows.try_next().await? {
                if now - row.written_at_ms.unwrap_or(0) >= grace_ms {
                    due.push(row);
                }
            }
            for row in due {
                if self.settle_intent(row).await? {
                    completed += 1;
                }
            }
        }
        Ok(completed)
    }

    fn session(&self) -> &scylla::client::session::Session {
        self.inner.events.session()
    }

    async fn settle_intent(&self, row: IntentRow) -> Result<bool, StoreError> {
        let old = row.old_session_id.unwrap_or_default();
        let revoke_id = row.revoke_event_id.unwrap_or_default();
        let nonce = row.nonce.unwrap_or_default();
        let committed = self.inner.events.event_id_at(&old, 2).await? == Some(revoke_id);
        if committed {
            let events: Vec<NewEvent> = row
                .events
                .unwrap_or_default()
                .into_iter()
                .map(from_tuple)
                .collect();
            match self
                .inner
                .events
                .append(&row.session_id, ExpectedVersion::NoStream, events, vec![])
                .await
            {
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            tracing::info!(session_id = %row.session_id, "session replacement completed after a crash");
        } else {
            self.release(
                &row.session_id,
                row.token_hash.as_deref().unwrap_or_default(),
                row.customer_id.as_deref(),
                &nonce,
            )
            .await;
        }
        self.session()
            .execute_unpaged(&self.inner.st.delete_intent, (row.shard, &row.session_id))
            .await?;
        Ok(committed)
    }

    /// The status of a session, from its stream.
    async fn status(&self, session_id: &str) -> Result<Status, StoreError> {
        let events = self.inner.events.load(session_id).await?;
        Ok(match events.as_slice() {
            [] => Status::Missing,
            [_] => Status::Active,
            [_, revoked, ..] => Status::Revoked(revoked.event.occurred_at_ms),
        })
    }

    /// Runs a claim LWT; `Ok(true)` if the claim is ours. A timeout is settled by a SERIAL read of the nonce.
    async fn claim(
        &self,
        insert: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
        serial_read: &PreparedStatement,
        key: &str,
        nonce: &str,
    ) -> Result<bool, StoreError> {
        match self.session().execute_unpaged(insert, values).await {
            Ok(result) => Ok(LwtOutcome::from_result(result)?.applied),
            Err(e) if outcome_unknown(&e) => {
                tracing::warn!(key, error = %e, "session claim outcome unknown; settling with a SERIAL read");
                let current = self
                    .session()
                    .execute_unpaged(serial_read, (key,))
                    .await?
                    .into_rows_result()?
                    .maybe_first_row::<(Option<String>,)>()?;
                match current {
                    Some((n,)) => Ok(n.as_deref() == Some(nonce)),
                    None => Err(StoreError::Backend(format!(
                        "cassandra: session claim {key}: outcome unknown ({e})"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Claims the id and token hash of `s` (releasing the id if the token is taken) and writes its customer
    /// lookup row. A taken claim is a conflict.
    async fn claim_new(&self, s: &Session, nonce: &str) -> Result<(), StoreError> {
        let st = &self.inner.st;
        let id_ours = self
            .claim(
                &st.claim_id,
                (&s.session_id, nonce),
                &st.id_nonce_serial,
                &s.session_id,
                nonce,
            )
            .await?;
        if !id_ours {
            return Err(duplicate(&s.session_id));
        }
        let token_ours = self
            .claim(
                &st.claim_token,
                (
                    &s.token_hash,
                    &s.session_id,
                    nonce,
                    s.kind.as_str(),
                    &s.customer_id,
                    s.created_at_ms,
                    s.expires_at_ms,
                ),
                &st.token_nonce_serial,
                &s.token_hash,
                nonce,
            )
            .await;
        match token_ours {
            Ok(true) => {}
            Ok(false) => {
                self.release(&s.session_id, "", None, nonce).await;
                return Err(duplicate(&s.session_id));
            }
            Err(e) => return Err(e),
        }
        if let Some(customer) = &s.customer_id {
            self.session()
                .execute_unpaged(
                    &st.index_customer,
                    (
                        customer,
                        &s.session_id,
                        &s.token_hash,
                        s.kind.as_str(),
                        s.created_at_ms,
                        s.expires_at_ms,
                    ),
                )
                .await?;
        }
        Ok(())
    }

    /// Removes the claims (only if still ours) and lookup row of a session that was not committed. Best
    /// effort: what stays behind is invisible anyway.
    async fn release(
        &self,
        session_id: &str,
        token_hash: &str,
        customer: Option<&str>,
        nonce: &str,
    ) {
        let st = &self.inner.st;
        let id = self
            .session()
            .execute_unpaged(&st.release_id, (session_id, nonce));
        let token = async {
            if token_hash.is_empty() {
                return Ok(());
            }
            self.session()
                .execute_unpaged(&st.release_token, (token_hash, nonce))
                .await
                .map(|_| ())
        };
        let index = async {
            match customer {
                Some(c) => self
                    .session()
                    .execute_unpaged(&st.unindex_customer, (c, session_id))
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        let (id, token, index) = future::join3(id, token, index).await;
        if let Err(e) = id.map(|_| ()).and(token).and(index) {
            tracing::warn!(session_id, error = %e, "releasing session claims failed; they stay, invisible");
        }
    }

    /// Appends the revocation of `r` if its session exists and is not revoked; `true` if it did.
    async fn revoke_one(&self, r: &Revocation, revoked_at_ms: i64) -> Result<bool, StoreError> {
        if !matches!(self.status(&r.session_id).await?, Status::Active) {
            return Ok(false);
        }
        let event = NewEvent {
            occurred_at_ms: revoked_at_ms,
            ..r.event.clone()
        };
        match self
            .inner
            .events
            .append(
                &r.session_id,
                ExpectedVersion::Exact(1),
                vec![event],
                vec![],
            )
            .await
        {
            Ok(_) => Ok(true),
            // Revoked concurrently.
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Completes crashed replacements every grace period, until the store is dropped.
async fn complete_periodically(inner: Weak<Inner>) {
    loop {
        let grace = match inner.upgrade() {
            Some(inner) => CassandraSessionStore { inner }.intent_grace(),
            None => return,
        };
        tokio::time::sleep(grace).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = (CassandraSessionStore { inner })
            .complete_replacements()
            .await
        {
            tracing::warn!(error = %e, "session replacements: completion failed; will retry");
        }
    }
}

impl SessionStore for CassandraSessionStore {
    type Events = CassandraEventStore;

    fn events(&self) -> CassandraEventStore {
        self.inner.events.clone()
    }

    async fn insert(&self, session: Session, events: Vec<NewEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Err(StoreError::Backend(
                "cassandra: a session is created by its event; none given".into(),
            ));
        }
        let nonce = shop_kernel::ids::new_id();
        self.claim_new(&session, &nonce).await?;
        match self
            .inner
            .events
            .append(
                &session.session_id,
                ExpectedVersion::NoStream,
                events,
                vec![],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e @ StoreError::Conflict { .. }) => {
                // A stream without a claim (written by other means): ours must not stay visible.
                self.release(
                    &session.session_id,
                    &session.token_hash,
                    session.customer_id.as_deref(),
                    &nonce,
                )
                .await;
                Err(e)
            }
            // The outcome may be unknown: keep the claims (invisible unless the append happened).
            Err(e) => Err(e),
        }
    }

    async fn find_by_token_hash(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = self
            .session()
            .execute_unpaged(&self.inner.st.by_token, (token_hash,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<TokenRow>()?;
        let Some(row) = row else { return Ok(None) };
        let Some(session_id) = row.session_id else {
            return Ok(None);
        };
        let revoked_at_ms = match self.status(&session_id).await? {
            Status::Missing => return Ok(None),
            Status::Active => None,
            Status::Revoked(at) => Some(at),
        };
        Ok(Some(Session {
            session_id,
            token_hash: token_hash.to_string(),
            kind: parse_kind(row.kind)?,
            customer_id: row.customer_id,
            created_at_ms: row.created_at_ms.unwrap_or_default(),
            expires_at_ms: row.expires_at_ms.unwrap_or_default(),
            revoked_at_ms,
        }))
    }

    async fn active_for_customer(
        &self,
        customer_id: &str,
        now_ms: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let mut rows = self
            .session()
            .execute_iter(self.inner.st.by_customer.clone(), (customer_id,))
            .await?
            .rows_stream::<CustomerRow>()?;
        let mut candidates = Vec::new();
        while let Some(row) = rows.try_next().await? {
            if row.expires_at_ms.unwrap_or(0) > now_ms {
                candidates.push(row);
            }
        }
        let statuses =
            future::try_join_all(candidates.iter().map(|r| self.status(&r.session_id))).await?;
        let mut out = Vec::new();
        for (row, status) in candidates.into_iter().zip(statuses) {
            if matches!(status, Status::Active) {
                out.push(Session {
                    session_id: row.session_id,
                    token_hash: row.token_hash.unwrap_or_default(),
                    kind: parse_kind(row.kind)?,
                    customer_id: Some(customer_id.to_string()),
                    created_at_ms: row.created_at_ms.unwrap_or_default(),
                    expires_at_ms: row.expires_at_ms.unwrap_or_default(),
                    revoked_at_ms: None,
                });
            }
        }
        out.sort_by(|a, b| (a.created_at_ms, &a.session_id).cmp(&(b.created_at_ms, &b.session_id)));
        Ok(out)
    }

    async fn revoke(
        &self,
        revocations: Vec<Revocation>,
        revoked_at_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut revoked = Vec::new();
        for chunk in revocations.chunks(16) {
            let done =
                future::try_join_all(chunk.iter().map(|r| self.revoke_one(r, revoked_at_ms)))
                    .await?;
            for (r, done) in chunk.iter().zip(done) {
                if done {
                    revoked.push(r.session_id.clone());
                }
            }
        }
        Ok(revoked)
    }

    async fn extend(&self, session: &Session, expires_at_ms: i64) -> Result<bool, StoreError> {
        if !matches!(self.status(&session.session_id).await?, Status::Active) {
            return Ok(false);
        }
        // A conditional update (the claim row was written by an LWT): the expiry only ever moves forward.
        let result = self
            .session()
            .execute_unpaged(
                &self.inner.st.extend,
                (expires_at_ms, &session.token_hash, expires_at_ms),
            )
            .await?;
        Ok(LwtOutcome::from_result(result)?.applied)
    }

    async fn replace(
        &self,
        old: Revocation,
        revoked_at_ms: i64,
        new: Session,
        new_events: Vec<NewEvent>,
    ) -> Result<bool, StoreError> {
        if new_events.is_empty() {
            return Err(StoreError::Backend(
                "cassandra: a session is created by its event; none given".into(),
            ));
        }
        if !matches!(self.status(&old.session_id).await?, Status::Active) {
            return Ok(false);
        }
        let st = &self.inner.st;
        let nonce = shop_kernel::ids::new_id();
        self.claim_new(&new, &nonce).await?;
        let release = || {
            self.release(
                &new.session_id,
                &new.token_hash,
                new.customer_id.as_deref(),
                &nonce,
            )
        };
        let shard = shard_of(&new.session_id);
        let tuples: Vec<EventTuple> = new_events.iter().map(to_tuple).collect();
        if let Err(e) = self
            .session()
            .execute_unpaged(
                &st.write_intent,
                (
                    shard,
                    &new.session_id,
                    &new.token_hash,
                    &new.customer_id,
                    &nonce,
                    &old.session_id,
                    &old.event.event_id,
                    shop_kernel::now_ms(),
                    &tuples,
                ),
            )
            .await
        {
            release().await;
            return Err(e.into());
        }
        // The commit point.
        let revocation = NewEvent {
            occurred_at_ms: revoked_at_ms,
            ..old.event
        };
        match self
            .inner
            .events
            .append(
                &old.session_id,
                ExpectedVersion::Exact(1),
                vec![revocation],
                vec![],
            )
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => {
                release().await;
                self.session()
                    .execute_unpaged(&st.delete_intent, (shard, &new.session_id))
                    .await?;
                return Ok(false);
            }
            // Unknown: the intent settles it after the grace period.
            Err(e) => return Err(e),
        }
        match self
            .inner
            .events
            .append(
                &new.session_id,
                ExpectedVersion::NoStream,
                new_events,
                vec![],
            )
            .await
        {
            // A conflict: the intent was completed meanwhile.
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            // The intent completes it.
            Err(e) => return Err(e),
        }
        if let Err(e) = self
            .session()
            .execute_unpaged(&st.delete_intent, (shard, &new.session_id))
            .await
        {
            tracing::warn!(session_id = %new.session_id, error = %e, "replacement intent left; it will be settled");
        }
        Ok(true)
    }
}

impl Statements {
    async fn prepare(es: &CassandraEventStore) -> Result<Self, StoreError> {
        let mut by_customer = es
            .prepare(
                "SELECT session_id, token_hash, kind, created_at_ms, expires_at_ms
                 FROM sessions_by_customer WHERE customer_id = ?",
                true,
            )
            .await?;
        by_customer.set_page_size(1000);
        let mut intents = es
            .prepare(
                "SELECT shard, session_id, token_hash, customer_id, nonce, old_session_id, revoke_event_id,
                 written_at_ms, events FROM session_replacements WHERE shard = ?",
                true,
            )
            .await?;
        intents.set_page_size(1000);
        Ok(Self {
            claim_id: es
                .prepare(
                    "INSERT INTO session_ids (session_id, nonce) VALUES (?, ?) IF NOT EXISTS",
                    false,
                )
                .await?,
            id_nonce_serial: es
                .prepare_serial_read("SELECT nonce FROM session_ids WHERE session_id = ?")
                .await?,
            release_id: es
                .prepare(
                    "DELETE FROM session_ids WHERE session_id = ? IF nonce = ?",
                    false,
                )
                .await?,
            claim_token: es
                .prepare(
                    "INSERT INTO session_tokens (token_hash, session_id, nonce, kind, customer_id,
                     created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                    false,
                )
                .await?,
            token_nonce_serial: es
                .prepare_serial_read("SELECT nonce FROM session_tokens WHERE token_hash = ?")
                .await?,
            release_token: es
                .prepare(
                    "DELETE FROM session_tokens WHERE token_hash = ? IF nonce = ?",
                    false,
                )
                .await?,
            by_token: es
                .prepare(
                    "SELECT session_id, kind, customer_id, created_at_ms, expires_at_ms
                     FROM session_tokens WHERE token_hash = ?",
                    true,
                )
                .await?,
            extend: es
                .prepare(
                    "UPDATE session_tokens SET expires_at_ms = ? WHERE token_hash = ?
                     IF expires_at_ms < ?",
                    false,
                )
                .await?,
            index_customer: es
                .prepare(
                    "INSERT INTO sessions_by_customer (customer_id, session_id, token_hash, kind,
                     created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            unindex_customer: es
                .prepare(
                    "DELETE FROM sessions_by_customer WHERE customer_id = ? AND session_id = ?",
                    true,
                )
                .await?,
            by_customer,
            write_intent: es
                .prepare(
                    "INSERT INTO session_replacements (shard, session_id, token_hash, customer_id, nonce,
                     old_session_id, revoke_event_id, written_at_ms, events)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            delete_intent: es
                .prepare(
                    "DELETE FROM session_replacements WHERE shard = ? AND session_id = ?",
                    true,
                )
                .await?,
            intents,
        })
    }
}
