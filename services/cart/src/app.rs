//! Cart use cases over the event store, the catalog (price snapshots) and inventory (stock checks).
//!
//! - Each cart is a stream `cart-<cart_id>`; its state is the fold of its events. A customer's carts carry the
//!   stream tag `owner:<customer_id>` (set by the creating append) for [`App::list_carts`].
//! - Hot carts live in an LRU of `(state, version)`: reads of a cached cart cost no store read
//!   ([`App::store_loads`] counts the reads that did happen).
//! - Writes are optimistic: decide against the cached version, append with `ExpectedVersion::Exact`, and on a
//!   version conflict reload the stream and decide again (at most [`MAX_ATTEMPTS`] times). The cache never moves
//!   back to an older version.
//! - A cart the caller may not access is reported exactly like an unknown one (`CART_NOT_FOUND`).
//! - A cart created with a guest session carries the stream tag `guest:<guest_id>` so the guest can list it;
//!   it stays a capability (anyone holding its id may use it) until it belongs to a customer.
//! - At sign-in ([`App::merge_guest_carts`]) the guest's open carts are merged into the customer's cart or
//!   adopted by the customer; from then on only that customer may reach them.
use std::{
    collections::{HashMap, HashSet},
    future::Future,
    num::NonZeroUsize,
    sync::atomic::{AtomicU64, Ordering},
};

use lru::LruCache;
use parking_lot::Mutex;
use shop_kernel::{Actor, Error, Page, PageRequest, Result, ids};
use shop_rpc::shop_telemetry::Metrics;
use shop_store::{EventStore, ExpectedVersion, StoreError};

use crate::{
    domain::{
        Attribute, BuyerIdentity, Cart, CartStatus, Command, LineChange, LineRequest, Merchandise,
        Warning, apply, decide, validate,
    },
    events,
};

/// Retries of a write after version conflicts.
pub const MAX_ATTEMPTS: usize = 5;
/// Default page size of `list_carts`.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
const STREAM_PREFIX: &str = "cart-";

/// Price snapshots from the catalog.
pub trait Catalog: Send + Sync + 'static {
    /// Snapshots of the given variants; unknown variants are omitted. One batched call per mutation.
    fn merchandise(
        &self,
        variant_ids: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Merchandise>>> + Send;
}

/// Stock levels from inventory.
pub trait Stock: Send + Sync + 'static {
    /// Available quantity per variant; variants without a stock record are omitted.
    fn available(
        &self,
        variant_ids: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, i64>>> + Send;
}

/// A cart and its stream version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub cart: Cart,
    pub version: u64,
}

/// The result of a mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    pub snapshot: Snapshot,
    pub warnings: Vec<Warning>,
}

/// A line to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub variant_id: String,
    pub quantity: i64,
    pub attributes: Option<Vec<Attribute>>,
}

/// A change to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineUpdateInput {
    pub line_id: String,
    pub quantity: Option<i64>,
    pub variant_id: Option<String>,
    pub attributes: Option<Vec<Attribute>>,
}

/// Everything a new cart may start with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateInput {
    pub lines: Vec<LineInput>,
    pub note: Option<String>,
    pub attributes: Vec<Attribute>,
    pub discount_codes: Vec<String>,
    pub buyer_identity: Option<BuyerIdentity>,
}

/// The stream of a cart.
pub fn stream_name(cart_id: &str) -> String {
    format!("{STREAM_PREFIX}{cart_id}")
}

fn owner_tag(customer_id: &str) -> String {
    format!("owner:{customer_id}")
}

fn guest_tag(guest_id: &str) -> String {
    format!("guest:{guest_id}")
}

/// What happens to a guest's open carts at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Lines go into the customer's most recently updated open cart (created if none); guest carts close.
    Merge,
    /// The guest carts become the customer's.
    KeepSeparate,
}

/// The result of [`App::merge_guest_carts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// Merge: the customer's cart that received the lines (`None` when the guest had no open cart).
    pub cart: Option<Snapshot>,
    /// Merge: the guest carts this call closed or whose lines it merged.
    pub merged_cart_ids: Vec<String>,
    /// Keep separate: the carts now owned by the customer.
    pub adopted: Vec<Snapshot>,
    /// Lines reduced or skipped while merging.
    pub warnings: Vec<Warning>,
}

fn cart_not_found() -> Error {
    Error::not_found("CART_NOT_FOUND", "no such cart")
}

fn require_system(actor: &Actor) -> Result<()> {
    if actor.system {
        Ok(())
    } else {
        Err(Error::permission_denied(
            "CALLER_NOT_ALLOWED",
            "only internal callers may run checkout steps",
        ))
    }
}

fn f(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// The cart application service.
pub struct App<S, C, I> {
    store: S,
    catalog: C,
    stock: I,
    cache: Mutex<LruCache<String, Snapshot>>,
    loads: AtomicU64,
    default_currency: String,
    /// Cache hits/misses, store loads and carts created are counted here (`thriftshop_cart_*`).
    metrics: Metrics,
}

impl<S: EventStore, C: Catalog, I: Stock> App<S, C, I> {
    /// A cart service with an LRU of `cache_capacity` carts (at least 1); empty carts are priced in `default_currency`.
    pub fn new(
        store: S,
        catalog: C,
        stock: I,
        cache_capacity: usize,
        default_currency: impl Into<String>,
    ) -> Self {
        let cap = NonZeroUsize::new(cache_capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            store,
            catalog,
            stock,
            cache: Mutex::new(LruCache::new(cap)),
            loads: AtomicU64::new(0),
            default_currency: default_currency.into(),
            metrics: Metrics::new(),
        }
    }

    /// Counts into `metrics` (the process registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The event store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many times a cart stream was read from the store (cache misses and conflict reloads).
    pub fn store_loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    fn remember(&self, snap: &Snapshot) {
        let mut cache = self.cache.lock();
        let newer = cache
            .peek(&snap.cart.id)
            .is_none_or(|c| c.version <= snap.version);
        if newer {
            cache.put(snap.cart.id.clone(), snap.clone());
        }
    }

    async fn load(&self, cart_id: &str) -> Result<Option<Snapshot>> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.metrics.cart_store_load();
        let recs = self.store.load(&stream_name(cart_id)).await?;
        let mut state = None;
        let mut version = 0;
        for r in &recs {
            apply(
                &mut state,
                &events::decode(&r.event)?,
                r.event.occurred_at_ms,
            );
            version = r.seq;
        }
        let snap = state.map(|cart| Snapshot { cart, version });
        if let Some(s) = &snap {
            self.remember(s);
        }
        Ok(snap)
    }

    /// The cart if it exists (cache first), whoever owns it.
    async fn fetch(&self, cart_id: &str) -> Result<Option<Snapshot>> {
        if let Some(hit) = self.cache.lock().get(cart_id).cloned() {
            self.metrics.cart_cache_hit();
            return Ok(Some(hit));
        }
        self.metrics.cart_cache_miss();
        self.load(cart_id).await
    }

    /// The cart if it exists and `actor` may access it; otherwise `CART_NOT_FOUND`.
    async fn accessible(&self, actor: &Actor, cart_id: &str) -> Result<Snapshot> {
        if !ids::is_valid_token(cart_id) {
            return Err(cart_not_found());
        }
        match self.fetch(cart_id).await? {
            Some(s) if actor.may_access(s.cart.customer_id.as_deref()) => Ok(s),
            _ => Err(cart_not_found()),
        }
    }

    /// Decides `cmd` on the cart and appends its events, reloading and retrying after version conflicts.
    async fn execute(&self, actor: &Actor, snap: Snapshot, cmd: &Command) -> Result<Mutation> {
        self.execute_tagged(actor, snap, cmd, Vec::new()).await
    }

    /// [`App::execute`], attaching `tags` to the stream with the events.
    async fn execute_tagged(
        &self,
        actor: &Actor,
        mut snap: Snapshot,
        cmd: &Command,
        tags: Vec<String>,
    ) -> Result<Mutation> {
        for _ in 0..MAX_ATTEMPTS {
            let now = shop_kernel::now_ms();
            let state = Some(snap.cart.clone());
            let decision = decide(&state, cmd, now)?;
            if decision.events.is_empty() {
                return Ok(Mutation {
                    snapshot: snap,
                    warnings: decision.warnings,
                });
            }
            let new = decision
                .events
                .iter()
                .map(|e| events::encode(e, now))
                .collect();
            let cart_id = snap.cart.id.clone();
            match self
                .store
                .append(
                    &stream_name(&cart_id),
                    ExpectedVersion::Exact(snap.version),
                    new,
                    tags.clone(),
                )
                .await
            {
                Ok(version) => {
                    let mut state = state;
                    for e in &decision.events {
                        apply(&mut state, e, now);
                    }
                    let cart = state
                        .ok_or_else(|| Error::internal("cart vanished while applying events"))?;
                    let snapshot = Snapshot { cart, version };
                    self.remember(&snapshot);
                    return Ok(Mutation {
                        snapshot,
                        warnings: decision.warnings,
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    snap = match self.load(&cart_id).await? {
                        Some(s) if actor.may_access(s.cart.customer_id.as_deref()) => s,
                        _ => return Err(cart_not_found()),
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::conflict(
            "CONCURRENT_MODIFICATION",
            "the cart changed concurrently; try again",
        ))
    }

    fn validate_line_inputs(lines: &[LineInput]) -> Result<()> {
        if lines.len() > validate::MAX_LINES {
            return Err(Error::invalid(
                "TOO_MANY_LINES",
                format!("at most {} lines", validate::MAX_LINES),
            )
            .with_field(["lines"]));
        }
        for (i, l) in lines.iter().enumerate() {
            let idx = i.to_string();
            validate::merchandise_id(&l.variant_id, &f(&["lines", &idx, "merchandiseId"]))?;
            validate::quantity(l.quantity, false, &f(&["lines", &idx, "quantity"]))?;
            if let Some(a) = &l.attributes {
                validate::attributes(a, &f(&["lines", &idx, "attributes"]))?;
            }
        }
        Ok(())
    }

    /// Catalog snapshots and availability of `variant_ids` (one batched call each).
    async fn lookup(
        &self,
        variant_ids: Vec<String>,
    ) -> Result<(HashMap<String, Merchandise>, HashMap<String, i64>)> {
        if variant_ids.is_empty() {
            return Ok((HashMap::new(), HashMap::new()));
        }
        let mut unique: Vec<String> = variant_ids;
        let mut seen = HashSet::new();
        unique.retain(|v| seen.insert(v.clone()));
        let (merch, stock) = tokio::join!(
            self.catalog.merchandise(unique.clone()),
            self.stock.available(unique)
        );
        let merch = merch?
            .into_iter()
            .map(|m| (m.variant_id.clone(), m))
            .collect();
        Ok((merch, stock?))
    }

    async fn resolve_lines(&self, lines: &[LineInput]) -> Result<Vec<LineRequest>> {
        Self::validate_line_inputs(lines)?;
        let (merch, stock) = self
            .lookup(lines.iter().map(|l| l.variant_id.clone()).collect())
            .await?;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let m = merch.get(&l.variant_id).ok_or_else(|| {
                    Error::invalid(
                        "MERCHANDISE_NOT_FOUND",
                        format!("no merchandise {}", l.variant_id),
                    )
                    .with_field(f(&["lines", &i.to_string(), "merchandiseId"]))
                })?;
                Ok(LineRequest {
                    new_line_id: ids::new_id(),
                    merchandise: m.clone(),
                    quantity: l.quantity,
                    attributes: l.attributes.clone().unwrap_or_default(),
                    available: stock.get(&l.variant_id).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    fn check_buyer_identity(actor: &Actor, b: &BuyerIdentity) -> Result<()> {
        validate::buyer_identity(b)?;
        if let Some(c) = &b.customer_id
            && !actor.system
            && actor.customer_id.as_ref() != Some(c)
        {
            return Err(Error::invalid(
                "INVALID_CUSTOMER_ID",
                "the buyer must be the signed-in customer",
            )
            .with_field(["buyerIdentity", "customerId"]));
        }
        Ok(())
    }

    /// Creates a cart owned by the calling customer (or a guest cart).
    pub async fn create_cart(&self, actor: &Actor, input: CreateInput) -> Result<Mutation> {
        validate::note(input.note.as_deref())?;
        validate::attributes(&input.attributes, &f(&["attributes"]))?;
        validate::discount_codes(&input.discount_codes)?;
        if let Some(b) = &input.buyer_identity {
            Self::check_buyer_identity(actor, b)?;
        }
        let lines = self.resolve_lines(&input.lines).await?;
        let cart_id = ids::secret_token(16);
        self.create_with_id(
            actor,
            cart_id,
            input.note,
            input.attributes,
            input.discount_codes,
            input.buyer_identity,
            lines,
        )
        .await
    }

    /// Appends the creation of cart `cart_id` for `actor` (a customer's, a guest session's or an anonymous
    /// cart); `CART_EXISTS` (conflict) when the stream exists.
    #[allow(clippy::too_many_arguments)]
    async fn create_with_id(
        &self,
        actor: &Actor,
        cart_id: String,
        note: Option<String>,
        attributes: Vec<Attribute>,
        discount_codes: Vec<String>,
        buyer_identity: Option<BuyerIdentity>,
        lines: Vec<LineRequest>,
    ) -> Result<Mutation> {
        let now = shop_kernel::now_ms();
        let guest_id = match &actor.customer_id {
            Some(_) => None,
            None => actor.guest_id.clone(),
        };
        let cmd = Command::Create {
            cart_id: cart_id.clone(),
            customer_id: actor.customer_id.clone(),
            guest_id: guest_id.clone(),
            default_currency: self.default_currency.clone(),
            lines,
            note,
            attributes,
            discount_codes,
            buyer_identity,
        };
        let decision = decide(&None, &cmd, now)?;
        let tags = actor
            .customer_id
            .iter()
            .map(|c| owner_tag(c))
            .chain(guest_id.iter().map(|g| guest_tag(g)))
            .collect();
        let new = decision
            .events
            .iter()
            .map(|e| events::encode(e, now))
            .collect();
        let version = self
            .store
            .append(&stream_name(&cart_id), ExpectedVersion::NoStream, new, tags)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { .. } => {
                    Error::conflict("CART_EXISTS", "the cart already exists")
                }
                other => other.into(),
            })?;
        self.metrics.cart_created();
        let mut state = None;
        for e in &decision.events {
            apply(&mut state, e, now);
        }
        let cart = state.ok_or_else(|| Error::internal("created cart has no state"))?;
        let snapshot = Snapshot { cart, version };
        self.remember(&snapshot);
        Ok(Mutation {
            snapshot,
            warnings: decision.warnings,
        })
    }

    /// The cart, if the caller may see it.
    pub async fn get_cart(&self, actor: &Actor, cart_id: &str) -> Result<Snapshot> {
        self.accessible(actor, cart_id).await
    }

    /// The calling customer's carts (or the calling guest session's carts that no customer owns yet),
    /// newest first, optionally filtered by status; anonymous callers have none.
    pub async fn list_carts(
        &self,
        actor: &Actor,
        page: &PageRequest,
        statuses: Option<&[CartStatus]>,
    ) -> Result<Page<Snapshot>> {
        page.validate()?;
        let carts: Vec<Snapshot> = self
            .owned_carts(actor)
            .await?
            .into_iter()
            .filter(|s| statuses.is_none_or(|st| st.contains(&s.cart.status)))
            .collect();
        page.apply(&carts, DEFAULT_PAGE_SIZE)
    }

    /// The carts of the caller's customer (or, for a guest, of the guest session), newest tagging first.
    async fn owned_carts(&self, actor: &Actor) -> Result<Vec<Snapshot>> {
        let owns = |cart: &Cart| match (&actor.customer_id, &actor.guest_id) {
            (Some(c), _) => cart.customer_id.as_ref() == Some(c),
            (None, Some(g)) => cart.customer_id.is_none() && cart.guest_id.as_ref() == Some(g),
            (None, None) => false,
        };
        let tag = match (&actor.customer_id, &actor.guest_id) {
            (Some(c), _) => owner_tag(c),
            (None, Some(g)) => guest_tag(g),
            (None, None) => return Ok(Vec::new()),
        };
        let streams = self.store.streams_by_tag(&tag).await?;
        let mut carts = Vec::with_capacity(streams.len());
        for s in streams {
            let Some(id) = s.strip_prefix(STREAM_PREFIX) else {
                continue;
            };
            if let Some(snap) = self.fetch(id).await?
                && owns(&snap.cart)
            {
                carts.push(snap);
            }
        }
        Ok(carts)
    }

    /// Moves the open carts of the caller's guest session to the caller's customer (both must be in the
    /// caller's identity: the gateway sets them after checking the password and the guest token).
    ///
    /// - [`MergeMode::Merge`]: each open guest cart is first closed as merged into the customer's most recently
    ///   updated open cart (or a new one) — from then on it belongs to the customer and cannot change — and
    ///   then its lines, as they were when it closed, are added (re-priced, quantities summed and capped, see
    ///   [`Command::MergeFrom`]) into that cart, which records the source (`LinesMerged`).
    /// - [`MergeMode::KeepSeparate`]: each open guest cart is adopted by the customer.
    ///
    /// Carts being checked out or purchased stay as they are. Idempotent and resumable: a closed guest cart
    /// whose lines no cart of the customer has recorded yet (a failure in between) is merged by the next call,
    /// and one already recorded is never merged again; a cart created for the merge has an id derived from
    /// the guest and the customer, so concurrent sign-ins create it once.
    pub async fn merge_guest_carts(&self, actor: &Actor, mode: MergeMode) -> Result<MergeOutcome> {
        let (Some(customer), Some(guest)) = (&actor.customer_id, &actor.guest_id) else {
            return Err(Error::permission_denied(
                "CALLER_NOT_ALLOWED",
                "merging guest carts needs a signed-in customer and a guest session",
            ));
        };
        // Every cart the guest created: open ones still the guest's, and closed ones merged for this customer.
        let streams = self.store.streams_by_tag(&guest_tag(guest)).await?;
        let mut open = Vec::new();
        let mut closed = Vec::new();
        for s in streams {
            let Some(id) = s.strip_prefix(STREAM_PREFIX) else {
                continue;
            };
            let Some(snap) = self.fetch(id).await? else {
                continue;
            };
            if snap.cart.guest_id.as_ref() != Some(guest) {
                continue;
            }
            match (snap.cart.status, snap.cart.customer_id.as_deref()) {
                (CartStatus::Open, None) => open.push(snap),
                (CartStatus::Merged, Some(c)) if c == customer && mode == MergeMode::Merge => {
                    closed.push(snap)
                }
                _ => {}
            }
        }
        let mut out = MergeOutcome::default();
        if mode == MergeMode::KeepSeparate {
            for src in open {
                let cmd = Command::Adopt {
                    customer_id: customer.clone(),
                };
                let m = self
                    .execute_tagged(actor, src, &cmd, vec![owner_tag(customer)])
                    .await?;
                out.adopted.push(m.snapshot);
            }
            return Ok(out);
        }
        let customer_actor = Actor::customer(customer.clone());
        let mine = self.owned_carts(&customer_actor).await?;
        let mut recorded: HashSet<String> = mine
            .iter()
            .flat_map(|c| c.cart.merged_sources.iter().cloned())
            .collect();
        closed.retain(|c| !recorded.contains(&c.cart.id));
        if open.is_empty() && closed.is_empty() {
            return Ok(out);
        }
        let target = self.merge_target(customer, guest, &mine).await?;
        // Close first: the lines merged are exactly those of the closed cart, whatever the guest did meanwhile.
        for src in open {
            let close = Command::MarkMerged {
                into_cart_id: target.cart.id.clone(),
                customer_id: customer.clone(),
            };
            let m = self.execute(actor, src, &close).await?;
            out.merged_cart_ids.push(m.snapshot.cart.id.clone());
            closed.push(m.snapshot);
        }
        let variants = closed
            .iter()
            .flat_map(|s| s.cart.lines.iter())
            .map(|l| l.merchandise.variant_id.clone())
            .collect();
        let (merch, stock) = self.lookup(variants).await?;
        let mut target = Some(target);
        for src in closed {
            if !recorded.insert(src.cart.id.clone()) {
                continue;
            }
            let lines = src
                .cart
                .lines
                .iter()
                .filter_map(|l| {
                    let Some(m) = merch.get(&l.merchandise.variant_id) else {
                        out.warnings.push(Warning {
                            code: "MERCHANDISE_NOT_FOUND".into(),
                            message: format!(
                                "{} is no longer sold; it was not merged",
                                l.merchandise.title
                            ),
                            target: l.merchandise.variant_id.clone(),
                        });
                        return None;
                    };
                    Some(LineRequest {
                        new_line_id: ids::new_id(),
                        merchandise: m.clone(),
                        quantity: l.quantity,
                        attributes: l.attributes.clone(),
                        available: stock.get(&l.merchandise.variant_id).copied().unwrap_or(0),
                    })
                })
                .collect();
            // The cart the source was closed into; if it cannot take lines any more (checked out meanwhile),
            // the customer's current merge target.
            let into = src.cart.merged_into.clone().unwrap_or_default();
            let dest = match target.take() {
                Some(t) if t.cart.id == into => t,
                _ => self.accessible(&customer_actor, &into).await?,
            };
            let dest = if dest.cart.status == CartStatus::Open {
                dest
            } else {
                let mine = self.owned_carts(&customer_actor).await?;
                self.merge_target(customer, guest, &mine).await?
            };
            let merge = Command::MergeFrom {
                source_cart_id: src.cart.id.clone(),
                lines,
            };
            let m = self.execute(&customer_actor, dest, &merge).await?;
            if !out.merged_cart_ids.contains(&src.cart.id) {
                out.merged_cart_ids.push(src.cart.id.clone());
            }
            out.warnings.extend(m.warnings);
            target = Some(m.snapshot);
        }
        out.cart = target;
        Ok(out)
    }

    /// The customer's cart that receives a guest's lines: the most recently updated open one among `mine`
    /// (the customer's carts, newest first), else a new empty cart.
    async fn merge_target(
        &self,
        customer: &str,
        guest: &str,
        mine: &[Snapshot],
    ) -> Result<Snapshot> {
        let customer_actor = Actor::customer(customer.to_string());
        // `mine` is newest first: on equal update times the newest cart wins.
        let latest = mine
            .iter()
            .filter(|c| c.cart.status == CartStatus::Open)
            .fold(None::<&Snapshot>, |best, c| match best {
                Some(b) if b.cart.updated_at_ms >= c.cart.updated_at_ms => Some(b),
                _ => Some(c),
            });
        if let Some(c) = latest {
            return Ok(c.clone());
        }
        // Not a capability (only the customer may reach it), so the id may be derived: concurrent sign-ins of
        // the same guest create the same cart once.
        let id =
            ids::sha256_hex(format!("guest-merge:{guest}:{customer}").as_bytes())[..32].to_string();
        match self
            .create_with_id(
                &customer_actor,
                id.clone(),
                None,
                Vec::new(),
                Vec::new(),
                None,
                Vec::new(),
            )
            .await
        {
            Ok(m) => return Ok(m.snapshot),
            Err(e) if e.code == "CART_EXISTS" => {
                let existing = self.accessible(&customer_actor, &id).await?;
                if existing.cart.status == CartStatus::Open {
                    return Ok(existing);
                }
            }
            Err(e) => return Err(e),
        }
        // The derived cart was bought meanwhile: a fresh one.
        let m = self
            .create_with_id(
                &customer_actor,
                ids::secret_token(16),
                None,
                Vec::new(),
                Vec::new(),
                None,
                Vec::new(),
            )
            .await?;
        Ok(m.snapshot)
    }

    /// Adds lines (merging with lines of the same variant and attributes).
    pub async fn add_lines(
        &self,
        actor: &Actor,
        cart_id: &str,
        lines: Vec<LineInput>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        if snap.cart.status != CartStatus::Open {
            return Err(Error::precondition(
                "CART_NOT_OPEN",
                "the cart can no longer be changed",
            ));
        }
        if lines.is_empty() {
            return Err(Error::invalid("NO_LINES", "give at least one line").with_field(["lines"]));
        }
        let lines = self.resolve_lines(&lines).await?;
        self.execute(actor, snap, &Command::AddLines { lines })
            .await
    }

    /// Changes quantities (0 removes), variants or attributes of lines.
    pub async fn update_lines(
        &self,
        actor: &Actor,
        cart_id: &str,
        updates: Vec<LineUpdateInput>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        if snap.cart.status != CartStatus::Open {
            return Err(Error::precondition(
                "CART_NOT_OPEN",
                "the cart can no longer be changed",
            ));
        }
        if updates.len() > validate::MAX_LINES {
            return Err(Error::invalid(
                "TOO_MANY_LINES",
                format!("at most {} lines", validate::MAX_LINES),
            )
            .with_field(["lines"]));
        }
        for (i, u) in updates.iter().enumerate() {
            let idx = i.to_string();
            if !ids::is_valid_token(&u.line_id) {
                return Err(Error::invalid("LINE_NOT_FOUND", "no such line in the cart")
                    .with_field(f(&["lines", &idx, "id"])));
            }
            if let Some(q) = u.quantity {
                validate::quantity(q, true, &f(&["lines", &idx, "quantity"]))?;
            }
            if let Some(v) = &u.variant_id {
                validate::merchandise_id(v, &f(&["lines", &idx, "merchandiseId"]))?;
            }
            if let Some(a) = &u.attributes {
                validate::attributes(a, &f(&["lines", &idx, "attributes"]))?;
            }
        }
        // The variant each line will hold afterwards (for the stock check), and the new variants to price.
        let target = |u: &LineUpdateInput| {
            u.variant_id.clone().or_else(|| {
                snap.cart
                    .lines
                    .iter()
                    .find(|l| l.id == u.line_id)
                    .map(|l| l.merchandise.variant_id.clone())
            })
        };
        let needed: Vec<String> = updates
            .iter()
            .filter(|u| u.quantity != Some(0))
            .filter_map(target)
            .collect();
        let (merch, stock) = self.lookup(needed).await?;
        let mut changes = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            let merchandise = match &u.variant_id {
                Some(v) if u.quantity != Some(0) => {
                    Some(merch.get(v).cloned().ok_or_else(|| {
                        Error::invalid("MERCHANDISE_NOT_FOUND", format!("no merchandise {v}"))
                            .with_field(f(&["lines", &i.to_string(), "merchandiseId"]))
                    })?)
                }
                _ => None,
            };
            let available = target(u).and_then(|v| stock.get(&v).copied()).unwrap_or(0);
            changes.push(LineChange {
                line_id: u.line_id.clone(),
                quantity: u.quantity,
                merchandise,
                attributes: u.attributes.clone(),
                available,
            });
        }
        self.execute(actor, snap, &Command::UpdateLines { changes })
            .await
    }

    /// Removes lines.
    pub async fn remove_lines(
        &self,
        actor: &Actor,
        cart_id: &str,
        line_ids: Vec<String>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        if line_ids.len() > validate::MAX_LINES {
            return Err(Error::invalid(
                "TOO_MANY_LINES",
                format!("at most {} lines", validate::MAX_LINES),
            )
            .with_field(["lineIds"]));
        }
        let mut seen = HashSet::new();
        for (i, id) in line_ids.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                return Err(Error::invalid(
                    "DUPLICATE_LINE",
                    "a line may be removed once per request",
                )
                .with_field(f(&["lineIds", &i.to_string()])));
            }
        }
        self.execute(actor, snap, &Command::RemoveLines { line_ids })
            .await
    }

    /// Sets or clears the note.
    pub async fn update_note(
        &self,
        actor: &Actor,
        cart_id: &str,
        note: Option<String>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        validate::note(note.as_deref())?;
        self.execute(actor, snap, &Command::UpdateNote { note })
            .await
    }

    /// Replaces the cart attributes.
    pub async fn update_attributes(
        &self,
        actor: &Actor,
        cart_id: &str,
        attributes: Vec<Attribute>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        validate::attributes(&attributes, &f(&["attributes"]))?;
        self.execute(actor, snap, &Command::UpdateAttributes { attributes })
            .await
    }

    /// Replaces the discount codes (stored, not applied).
    pub async fn update_discount_codes(
        &self,
        actor: &Actor,
        cart_id: &str,
        codes: Vec<String>,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        validate::discount_codes(&codes)?;
        self.execute(
            actor,
            snap,
            &Command::UpdateDiscountCodes {
                discount_codes: codes,
            },
        )
        .await
    }

    /// Replaces the buyer identity.
    pub async fn update_buyer_identity(
        &self,
        actor: &Actor,
        cart_id: &str,
        b: BuyerIdentity,
    ) -> Result<Mutation> {
        let snap = self.accessible(actor, cart_id).await?;
        Self::check_buyer_identity(actor, &b)?;
        self.execute(
            actor,
            snap,
            &Command::UpdateBuyerIdentity { buyer_identity: b },
        )
        .await
    }

    async fn checkout_step(
        &self,
        actor: &Actor,
        cart_id: &str,
        order_id: &str,
        cmd: Command,
    ) -> Result<Mutation> {
        require_system(actor)?;
        if !ids::is_valid_token(order_id) {
            return Err(
                Error::invalid("INVALID_ORDER_ID", "the order id is malformed")
                    .with_field(["orderId"]),
            );
        }
        let snap = self.accessible(actor, cart_id).await?;
        self.execute(actor, snap, &cmd).await
    }

    /// OPEN → CHECKING_OUT for `order_id` (system callers only).
    pub async fn begin_checkout(
        &self,
        actor: &Actor,
        cart_id: &str,
        order_id: &str,
    ) -> Result<Mutation> {
        self.checkout_step(
            actor,
            cart_id,
            order_id,
            Command::BeginCheckout {
                order_id: order_id.to_string(),
            },
        )
        .await
    }

    /// CHECKING_OUT → PURCHASED for `order_id` (system callers only).
    pub async fn complete_checkout(
        &self,
        actor: &Actor,
        cart_id: &str,
        order_id: &str,
    ) -> Result<Mutation> {
        self.checkout_step(
            actor,
            cart_id,
            order_id,
            Command::CompleteCheckout {
                order_id: order_id.to_string(),
            },
        )
        .await
    }

    /// CHECKING_OUT → OPEN for `order_id` (system callers only).
    pub async fn abort_checkout(
        &self,
        actor: &Actor,
        cart_id: &str,
        order_id: &str,
    ) -> Result<Mutation> {
        self.checkout_step(
            actor,
            cart_id,
            order_id,
            Command::AbortCheckout {
                order_id: order_id.to_string(),
            },
        )
        .await
    }
}
