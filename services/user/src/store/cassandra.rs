//! Cassandra / ScyllaDB customer store: customers are kept on the [`CassandraEventStore`] of the service's
//! keyspace (which is also the outbox the relay reads), with an LWT claim row per email and one state row per
//! committed change.
//!
//! # Schema (next to the event store's tables; migrations `user_0001…` in `schema_migrations`)
//!
//! ```text
//! customer_emails (email text PRIMARY KEY, customer_id, nonce, password_hash, claimed_at_ms)  -- claim (LWT)
//! customer_states (customer_id text, event_id text, version, email, first_name, last_name, phone,
//!                  accepts_marketing, default_address_id, created_at_ms, updated_at_ms, permissions,
//!                  addresses frozen<list<tuple<text × 11>>>, password_hash, PRIMARY KEY (customer_id, event_id))
//! password_resets (customer_id text PRIMARY KEY, nonce, token_hash, issued_at_ms, expires_at_ms, used) -- LWT only
//! ```
//!
//! # Atomicity
//!
//! **The stream is the truth.** A customer exists iff its stream (stream id = customer id) holds events, and
//! its state is the `customer_states` row keyed by the id of the stream's *last* event. Every change writes its
//! state row (keyed by the id of the last event it appends) *before* appending its events; the append — one
//! Paxos batch in the event store, with its outbox marker written first — is the commit point: it makes the new
//! row current and records the events together, so a change is never visible without its events nor the
//! reverse. Rows of changes that did not commit are never selected by a stream and stay invisible. The state
//! is never folded from event payloads (they do not carry it all, and `user.registered.v1` may not even decode
//! with the pinned pilota): nothing here decodes a payload.
//!
//! - **create:** claim the email (`customer_emails … IF NOT EXISTS`, with a fresh nonce, the customer id and
//!   the password hash; a CAS whose outcome is unknown is settled by a SERIAL read of the nonce, never blindly
//!   retried), write the state row, then append the events with [`ExpectedVersion::NoStream`]. The claim row is
//!   invisible until the claimed customer's first event exists: [`CustomerStore::credentials`] returns it only
//!   then. A claim held by someone else means [`CreateOutcome::EmailTaken`] — unless it is *abandoned*: older
//!   than [`CassandraCustomerStore::claim_grace`] and its customer's stream still empty. Such a claim is first
//!   fenced with [`CassandraEventStore::seal_empty_stream`] (which fails if the stream has events), so that the
//!   abandoned registration's append can never commit, even if its process wakes up later; then it is taken
//!   over with `UPDATE … IF nonce = <theirs>` (one taker wins). An append that conflicts (a sealed or existing
//!   stream) releases our claim (`DELETE … IF nonce = ours`) and our state row, and reports `EmailTaken`.
//! - **update:** read the current state (last event → state row); a different version is a
//!   [`StoreError::Conflict`]. Write the new state row, then append with [`ExpectedVersion::Exact`] of the
//!   stream version that was read, so a concurrent change makes this one conflict and write nothing visible.
//!   After the commit the superseded row is deleted (a reader that raced with it reads the new head again).
//! - **password hash:** set at registration in the claim row, which is written before the events and read
//!   only for a customer whose stream exists. A password change writes the new hash into the change's state
//!   row (committed by its `user.password_changed.v1` append like any change); every later state row carries
//!   it forward, and [`CustomerStore::credentials`] prefers the current state row's hash to the claim row's.
//!   It is never in an event or a returned [`Customer`]. (Upgrade note: a binary older than
//!   `user_0003_state_password` writes state rows without the hash; do not run one against a keyspace in which
//!   passwords have been changed, or those customers fall back to their registration password.)
//! - **reset tokens:** one row per customer, written only by lightweight transactions keyed by a fresh nonce
//!   (issue: `INSERT … IF NOT EXISTS` or `UPDATE … IF nonce = <read>`; consume: `UPDATE … SET used = true IF
//!   token_hash = ? AND used = false`), read at SERIAL; an unknown CAS outcome is settled by a SERIAL read of
//!   the nonce. Issuing stores the token (its SHA-256 only) before appending the mail event on the stream
//!   `password-reset-<customer id>`, so no mail goes out for a token that is not stored. A reset consumes the
//!   token (the single-use decision) and then commits the new password as a change: if the process dies in
//!   between, the token is spent and the password unchanged (fails closed: ask for a new link).
//!
//! An append whose outcome stays unknown is reported as an error and leaves its rows: they are current iff the
//! append happened. A registration lost that way holds its email until the claim grace period is over.
use std::{sync::Arc, time::Duration};

use futures::future;
use scylla::{DeserializeRow, statement::prepared::PreparedStatement};
use shop_store::{
    EventStore, ExpectedVersion, NewEvent, StoreError,
    cassandra::{CassandraEventStore, CassandraSettings, apply_migrations},
};

use super::{CreateOutcome, Credentials, CustomerStore, permissions_from_csv, version_conflict};
use crate::{
    domain::{Address, Customer, ResetToken},
    events::reset_stream,
};

/// Schema of the user tables, applied after the event store's (names prefixed so they never collide).
pub const USER_MIGRATIONS: &[(&str, &str)] = &[
    (
        "user_0001_emails",
        "CREATE TABLE IF NOT EXISTS customer_emails (
            email text PRIMARY KEY,
            customer_id text,
            nonce text,
            password_hash text,
            claimed_at_ms bigint
        )",
    ),
    (
        "user_0002_states",
        "CREATE TABLE IF NOT EXISTS customer_states (
            customer_id text,
            event_id text,
            version bigint,
            email text,
            first_name text,
            last_name text,
            phone text,
            accepts_marketing boolean,
            default_address_id text,
            created_at_ms bigint,
            updated_at_ms bigint,
            permissions text,
            addresses frozen<list<tuple<text, text, text, text, text, text, text, text, text, text, text>>>,
            PRIMARY KEY (customer_id, event_id)
        )",
    ),
    (
        "user_0003_state_password",
        "ALTER TABLE customer_states ADD password_hash text",
    ),
    (
        "user_0004_password_resets",
        "CREATE TABLE IF NOT EXISTS password_resets (
            customer_id text PRIMARY KEY,
            nonce text,
            token_hash text,
            issued_at_ms bigint,
            expires_at_ms bigint,
            used boolean
        )",
    ),
];

/// Margin added to the event store's marker grace period before an email claim without a customer counts as
/// abandoned, for clock skew between the machine that wrote it (`claimed_at_ms`) and the one reading it.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(30);

/// Attempts to read a consistent (last event, state row) pair while changes supersede rows.
const READ_ATTEMPTS: usize = 3;

/// Concurrent customer reads of one `get_many`.
const FAN_OUT: usize = 16;

/// An address as stored: id, first_name, last_name, company, address1, address2, city, province,
/// country_code, zip, phone.
type AddressTuple = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn to_tuple(a: &Address) -> AddressTuple {
    (
        Some(a.id.clone()),
        a.first_name.clone(),
        a.last_name.clone(),
        a.company.clone(),
        Some(a.address1.clone()),
        a.address2.clone(),
        Some(a.city.clone()),
        a.province.clone(),
        Some(a.country_code.clone()),
        Some(a.zip.clone()),
        a.phone.clone(),
    )
}

fn from_tuple(t: AddressTuple) -> Address {
    Address {
        id: t.0.unwrap_or_default(),
        first_name: t.1,
        last_name: t.2,
        company: t.3,
        address1: t.4.unwrap_or_default(),
        address2: t.5,
        city: t.6.unwrap_or_default(),
        province: t.7,
        country_code: t.8.unwrap_or_default(),
        zip: t.9.unwrap_or_default(),
        phone: t.10,
    }
}

#[derive(DeserializeRow)]
struct StateRow {
    version: Option<i64>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    accepts_marketing: Option<bool>,
    default_address_id: Option<String>,
    created_at_ms: Option<i64>,
    updated_at_ms: Option<i64>,
    permissions: Option<String>,
    addresses: Option<Vec<AddressTuple>>,
    password_hash: Option<String>,
}

impl StateRow {
    fn into_customer(self, id: &str) -> Customer {
        Customer {
            id: id.to_string(),
            email: self.email.unwrap_or_default(),
            first_name: self.first_name,
            last_name: self.last_name,
            phone: self.phone,
            accepts_marketing: self.accepts_marketing.unwrap_or(false),
            addresses: self
                .addresses
                .unwrap_or_default()
                .into_iter()
                .map(from_tuple)
                .collect(),
            default_address_id: self.default_address_id,
            created_at_ms: self.created_at_ms.unwrap_or_default(),
            updated_at_ms: self.updated_at_ms.unwrap_or_default(),
            version: self.version.unwrap_or(0).max(0) as u64,
            permissions: permissions_from_csv(self.permissions.as_deref().unwrap_or_default()),
        }
    }
}

/// The holder of an email claim, as read at SERIAL consistency.
#[derive(DeserializeRow)]
struct HolderRow {
    customer_id: Option<String>,
    nonce: Option<String>,
    claimed_at_ms: Option<i64>,
}

/// A customer as committed: its stream's head and the state row it selects.
struct Current {
    /// Stream version (seq of the last event).
    seq: u64,
    /// Id of the last event = key of the state row.
    event_id: String,
    customer: Customer,
    /// The password hash set by the last password change (`None`: the registration's, in the claim row).
    password_hash: Option<String>,
}

#[derive(DeserializeRow)]
struct ResetRow {
    token_hash: Option<String>,
    issued_at_ms: Option<i64>,
    expires_at_ms: Option<i64>,
    used: Option<bool>,
}

struct Statements {
    claim_email: PreparedStatement,
    take_over_email: PreparedStatement,
    email_nonce_serial: PreparedStatement,
    email_holder_serial: PreparedStatement,
    release_email: PreparedStatement,
    by_email: PreparedStatement,
    write_state: PreparedStatement,
    read_state: PreparedStatement,
    delete_state: PreparedStatement,
    insert_reset: PreparedStatement,
    replace_reset: PreparedStatement,
    consume_reset: PreparedStatement,
    reset_nonce_serial: PreparedStatement,
    reset_serial: PreparedStatement,
}

struct Inner {
    events: CassandraEventStore,
    st: Statements,
}

/// A [`CustomerStore`] on Cassandra / ScyllaDB (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct CassandraCustomerStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CassandraCustomerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraCustomerStore")
            .finish_non_exhaustive()
    }
}

impl CassandraCustomerStore {
    /// Connects the event store of `settings.keyspace` (creating the keyspace and applying its migrations),
    /// then [`CassandraCustomerStore::with_event_store`].
    pub async fn connect(settings: CassandraSettings) -> Result<Self, StoreError> {
        Self::with_event_store(CassandraEventStore::connect(settings).await?).await
    }

    /// A store over a connected event store (its keyspace holds the user tables too): applies
    /// [`USER_MIGRATIONS`] and prepares the statements.
    pub async fn with_event_store(events: CassandraEventStore) -> Result<Self, StoreError> {
        apply_migrations(events.session(), USER_MIGRATIONS).await?;
        let st = Statements::prepare(&events).await?;
        Ok(Self {
            inner: Arc::new(Inner { events, st }),
        })
    }

    /// How old an email claim whose customer has no events must be before a registration may fence and take
    /// it over (module documentation): longer than any registration in flight takes to commit.
    pub fn claim_grace(&self) -> Duration {
        self.inner.events.marker_grace() + CLOCK_SKEW_ALLOWANCE
    }

    fn session(&self) -> &scylla::client::session::Session {
        self.inner.events.session()
    }

    /// The committed state of customer `id`: the state row selected by its stream's last event. `None` if the
    /// stream has no events.
    async fn current(&self, id: &str) -> Result<Option<Current>, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            let Some((seq, event_id)) = self.inner.events.last_event(id).await? else {
                return Ok(None);
            };
            let row = self
                .session()
                .execute_unpaged(&self.inner.st.read_state, (id, &event_id))
                .await?
                .into_rows_result()?
                .maybe_first_row::<StateRow>()?;
            if let Some(mut row) = row {
                let password_hash = row.password_hash.take();
                return Ok(Some(Current {
                    seq,
                    event_id,
                    customer: row.into_customer(id),
                    password_hash,
                }));
            }
            // Superseded (and deleted) by a change committed since the head was read: read the head again.
        }
        Err(StoreError::Backend(format!(
            "cassandra: customer {id}: no state row for its last event"
        )))
    }

    /// Writes the state row of `c` (with the password hash set by the latest password change, if any), keyed
    /// by the id of the last event of the change that commits it.
    async fn write_state(
        &self,
        c: &Customer,
        event_id: &str,
        password_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let addresses: Vec<AddressTuple> = c.addresses.iter().map(to_tuple).collect();
        self.session()
            .execute_unpaged(
                &self.inner.st.write_state,
                (
                    &c.id,
                    event_id,
                    c.version as i64,
                    &c.email,
                    &c.first_name,
                    &c.last_name,
                    &c.phone,
                    c.accepts_marketing,
                    &c.default_address_id,
                    c.created_at_ms,
                    c.updated_at_ms,
                    c.permissions.to_csv(),
                    &addresses,
                    password_hash,
                ),
            )
            .await?;
        Ok(())
    }

    /// Deletes a state row that is not (or no longer) current. Best effort: a row left behind is never read.
    async fn delete_state(&self, id: &str, event_id: &str) {
        if let Err(e) = self
            .session()
            .execute_unpaged(&self.inner.st.delete_state, (id, event_id))
            .await
        {
            tracing::warn!(customer_id = id, error = %e, "deleting a stale customer state row failed; it stays, unread");
        }
    }

    /// Removes our email claim (only if still ours). Best effort: a claim left behind without a customer is
    /// taken over once abandoned.
    async fn release_email(&self, email: &str, nonce: &str) {
        if let Err(e) = self
            .session()
            .execute_unpaged(&self.inner.st.release_email, (email, nonce))
            .await
        {
            tracing::warn!(error = %e, "releasing an email claim failed; it stays until taken over");
        }
    }

    /// Claims `c.email` for `c` with `nonce` (taking over an abandoned claim); `Ok(false)` if the email belongs
    /// to someone else (a customer, or a registration that may still commit).
    async fn claim_email(
        &self,
        c: &Customer,
        password_hash: &str,
        nonce: &str,
    ) -> Result<bool, StoreError> {
        let st = &self.inner.st;
        let events = &self.inner.events;
        let email = c.email.as_str();
        for _ in 0..READ_ATTEMPTS {
            let now = shop_kernel::now_ms();
            if events
                .claim(
                    &st.claim_email,
                    (email, &c.id, nonce, password_hash, now),
                    &st.email_nonce_serial,
                    email,
                    nonce,
                )
                .await?
            {
                return Ok(true);
            }
            let holder = self
                .session()
                .execute_unpaged(&st.email_holder_serial, (email,))
                .await?
                .into_rows_result()?
                .maybe_first_row::<HolderRow>()?;
            // Released since our attempt: claim again.
            let Some(holder) = holder else { continue };
            let holder_id = holder.customer_id.unwrap_or_default();
            let holder_nonce = holder.nonce.unwrap_or_default();
            if !self
                .abandoned(&holder_id, holder.claimed_at_ms.unwrap_or(0), now)
                .await?
            {
                return Ok(false);
            }
            // Fenced: the holder's registration can never commit. One taker wins the claim.
            let ours = events
                .claim(
                    &st.take_over_email,
                    (&c.id, nonce, password_hash, now, email, &holder_nonce),
                    &st.email_nonce_serial,
                    email,
                    nonce,
                )
                .await?;
            if ours {
                tracing::info!(abandoned = %holder_id, customer_id = %c.id, "abandoned email claim taken over");
            }
            return Ok(ours);
        }
        Ok(false)
    }

    /// Is the claim of `holder` (written at `claimed_at_ms`) abandoned? If so, its customer's stream is sealed
    /// on return, so that its registration can never commit.
    async fn abandoned(
        &self,
        holder: &str,
        claimed_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if now_ms - claimed_at_ms < self.claim_grace().as_millis() as i64 {
            return Ok(false);
        }
        if self.inner.events.last_event(holder).await?.is_some() {
            return Ok(false);
        }
        self.inner.events.seal_empty_stream(holder).await
    }
}

fn no_events() -> StoreError {
    StoreError::Backend(
        "cassandra: a customer change is committed by its events; none given".into(),
    )
}

impl CustomerStore for CassandraCustomerStore {
    type Events = CassandraEventStore;

    fn events(&self) -> CassandraEventStore {
        self.inner.events.clone()
    }

    async fn create(
        &self,
        customer: Customer,
        password_hash: String,
        events: Vec<NewEvent>,
    ) -> Result<CreateOutcome, StoreError> {
        let Some(key) = events.last().map(|e| e.event_id.clone()) else {
            return Err(no_events());
        };
        let nonce = shop_kernel::ids::new_id();
        if !self.claim_email(&customer, &password_hash, &nonce).await? {
            return Ok(CreateOutcome::EmailTaken);
        }
        if let Err(e) = self.write_state(&customer, &key, None).await {
            self.release_email(&customer.email, &nonce).await;
            return Err(e);
        }
        // The commit point.
        match self
            .inner
            .events
            .append(&customer.id, ExpectedVersion::NoStream, events, vec![])
            .await
        {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(StoreError::Conflict { .. }) => {
                // Sealed (our claim was taken over as abandoned) or the id exists: nothing of ours is visible.
                self.release_email(&customer.email, &nonce).await;
                self.delete_state(&customer.id, &key).await;
                Ok(CreateOutcome::EmailTaken)
            }
            // The outcome may be unknown: keep the claim and the row (current iff the append happened).
            Err(e) => Err(e),
        }
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let row = self
            .session()
            .execute_unpaged(&self.inner.st.by_email, (email,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<(Option<String>, Option<String>)>()?;
        let Some((Some(customer_id), password_hash)) = row else {
            return Ok(None);
        };
        // Invisible until the customer's first event exists; a changed password is in the current state row.
        let Some(current) = self.current(&customer_id).await? else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            customer_id,
            password_hash: current.password_hash.or(password_hash).unwrap_or_default(),
        }))
    }

    async fn get(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        Ok(self.current(id).await?.map(|c| c.customer))
    }

    async fn get_many(&self, ids: &[String]) -> Result<Vec<Customer>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FAN_OUT) {
            found.extend(future::try_join_all(chunk.iter().map(|id| self.current(id))).await?);
        }
        Ok(found.into_iter().flatten().map(|c| c.customer).collect())
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
        let st = &self.inner.st;
        let mut stored = false;
        for _ in 0..READ_ATTEMPTS {
            let held = self
                .session()
                .execute_unpaged(&st.reset_nonce_serial, (customer_id,))
                .await?
                .into_rows_result()?
                .maybe_first_row::<(Option<String>,)>()?;
            let nonce = shop_kernel::ids::new_id();
            stored = match held {
                None => {
                    self.inner
                        .events
                        .claim(
                            &st.insert_reset,
                            (
                                customer_id,
                                &nonce,
                                &token.token_hash,
                                token.issued_at_ms,
                                token.expires_at_ms,
                            ),
                            &st.reset_nonce_serial,
                            customer_id,
                            &nonce,
                        )
                        .await?
                }
                Some((old,)) => {
                    self.inner
                        .events
                        .claim(
                            &st.replace_reset,
                            (
                                &nonce,
                                &token.token_hash,
                                token.issued_at_ms,
                                token.expires_at_ms,
                                customer_id,
                                old,
                            ),
                            &st.reset_nonce_serial,
                            customer_id,
                            &nonce,
                        )
                        .await?
                }
            };
            if stored {
                break;
            }
        }
        if !stored {
            return Err(StoreError::Backend(format!(
                "cassandra: reset token of {customer_id}: kept losing to concurrent requests"
            )));
        }
        // The mail goes out only for a stored token.
        self.inner
            .events
            .append(
                &reset_stream(customer_id),
                ExpectedVersion::Any,
                events,
                vec![],
            )
            .await?;
        Ok(())
    }

    async fn reset_token(&self, customer_id: &str) -> Result<Option<ResetToken>, StoreError> {
        let row = self
            .session()
            .execute_unpaged(&self.inner.st.reset_serial, (customer_id,))
            .await?
            .into_rows_result()?
            .maybe_first_row::<ResetRow>()?;
        Ok(row.and_then(|r| {
            Some(ResetToken {
                token_hash: r.token_hash?,
                issued_at_ms: r.issued_at_ms.unwrap_or_default(),
                expires_at_ms: r.expires_at_ms.unwrap_or_default(),
                used: r.used.unwrap_or(true),
            })
        }))
    }

    async fn consume_reset(&self, customer_id: &str, token_hash: &str) -> Result<bool, StoreError> {
        let nonce = shop_kernel::ids::new_id();
        self.inner
            .events
            .claim(
                &self.inner.st.consume_reset,
                (&nonce, customer_id, token_hash),
                &self.inner.st.reset_nonce_serial,
                customer_id,
                &nonce,
            )
            .await
    }
}

impl CassandraCustomerStore {
    /// A change of the record (and, with `password_hash`, of the password) committed by its events' append.
    async fn replace(
        &self,
        customer: Customer,
        expected_version: u64,
        password_hash: Option<String>,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        let Some(key) = events.last().map(|e| e.event_id.clone()) else {
            return Err(no_events());
        };
        let Some(current) = self.current(&customer.id).await? else {
            return Err(version_conflict(&customer.id, expected_version, 0));
        };
        if current.customer.version != expected_version {
            return Err(version_conflict(
                &customer.id,
                expected_version,
                current.customer.version,
            ));
        }
        // Email and creation time never change (as in the other adapters).
        let next = Customer {
            email: current.customer.email,
            created_at_ms: current.customer.created_at_ms,
            ..customer
        };
        let password_hash = password_hash.or(current.password_hash);
        self.write_state(&next, &key, password_hash.as_deref())
            .await?;
        // The commit point: only if nothing was appended since `current` was read.
        match self
            .inner
            .events
            .append(
                &next.id,
                ExpectedVersion::Exact(current.seq),
                events,
                vec![],
            )
            .await
        {
            Ok(_) => {
                self.delete_state(&next.id, &current.event_id).await;
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => {
                self.delete_state(&next.id, &key).await;
                let actual = match self.current(&next.id).await {
                    Ok(Some(c)) => c.customer.version,
                    _ => expected_version + 1,
                };
                Err(version_conflict(&next.id, expected_version, actual))
            }
            // The outcome may be unknown: keep the row (current iff the append happened).
            Err(e) => Err(e),
        }
    }
}

impl Statements {
    async fn prepare(es: &CassandraEventStore) -> Result<Self, StoreError> {
        Ok(Self {
            claim_email: es
                .prepare(
                    "INSERT INTO customer_emails (email, customer_id, nonce, password_hash, claimed_at_ms)
                     VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
                    false,
                )
                .await?,
            take_over_email: es
                .prepare(
                    "UPDATE customer_emails SET customer_id = ?, nonce = ?, password_hash = ?, claimed_at_ms = ?
                     WHERE email = ? IF nonce = ?",
                    false,
                )
                .await?,
            email_nonce_serial: es
                .prepare_serial_read("SELECT nonce FROM customer_emails WHERE email = ?")
                .await?,
            email_holder_serial: es
                .prepare_serial_read(
                    "SELECT customer_id, nonce, claimed_at_ms FROM customer_emails WHERE email = ?",
                )
                .await?,
            release_email: es
                .prepare(
                    "DELETE FROM customer_emails WHERE email = ? IF nonce = ?",
                    false,
                )
                .await?,
            by_email: es
                .prepare(
                    "SELECT customer_id, password_hash FROM customer_emails WHERE email = ?",
                    true,
                )
                .await?,
            write_state: es
                .prepare(
                    "INSERT INTO customer_states (customer_id, event_id, version, email, first_name, last_name,
                     phone, accepts_marketing, default_address_id, created_at_ms, updated_at_ms, permissions,
                     addresses, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    true,
                )
                .await?,
            read_state: es
                .prepare(
                    "SELECT version, email, first_name, last_name, phone, accepts_marketing, default_address_id,
                     created_at_ms, updated_at_ms, permissions, addresses, password_hash
                     FROM customer_states WHERE customer_id = ? AND event_id = ?",
                    true,
                )
                .await?,
            delete_state: es
                .prepare(
                    "DELETE FROM customer_states WHERE customer_id = ? AND event_id = ?",
                    true,
                )
                .await?,
            insert_reset: es
                .prepare(
                    "INSERT INTO password_resets (customer_id, nonce, token_hash, issued_at_ms, expires_at_ms, used)
                     VALUES (?, ?, ?, ?, ?, false) IF NOT EXISTS",
                    false,
                )
                .await?,
            replace_reset: es
                .prepare(
                    "UPDATE password_resets SET nonce = ?, token_hash = ?, issued_at_ms = ?, expires_at_ms = ?,
                     used = false WHERE customer_id = ? IF nonce = ?",
                    false,
                )
                .await?,
            consume_reset: es
                .prepare(
                    "UPDATE password_resets SET used = true, nonce = ? WHERE customer_id = ?
                     IF token_hash = ? AND used = false",
                    false,
                )
                .await?,
            reset_nonce_serial: es
                .prepare_serial_read("SELECT nonce FROM password_resets WHERE customer_id = ?")
                .await?,
            reset_serial: es
                .prepare_serial_read(
                    "SELECT token_hash, issued_at_ms, expires_at_ms, used FROM password_resets WHERE customer_id = ?",
                )
                .await?,
        })
    }
}
