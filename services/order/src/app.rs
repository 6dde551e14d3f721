//! Use cases: checkout (request + the saga), order reads. Other services are reached through [`Peers`], the
//! payment provider through [`PaymentProvider`].
//!
//! Checkout is asynchronous. [`OrderApp::checkout`] validates, derives the order id from (cart, idempotency
//! key), and durably records the request — the order's first event, `order.checkout_requested.v1` (PENDING) —
//! then waits a bounded time for the outcome. The order processor (a consumer group on the order topic) calls
//! [`OrderApp::drive`] for every checkout request: the saga marks the cart CHECKING_OUT → reserves stock (all
//! lines or none, with a TTL) → authorizes payment (keyed by the order id) → captures → commits stock → marks
//! the cart PURCHASED → `order.placed.v1` (PAID). A business failure ends the order FAILED and compensates what
//! was done: release stock, void or refund the payment, return the cart to OPEN.
//!
//! The saga is resumable: each step is recorded on the order stream and every call it makes is idempotent, so
//! `drive` continues from the recorded state after a crash (the processor's delivery is committed only when the
//! order is settled, so a crash redelivers it). A payment call whose outcome is unknown is resolved by looking
//! the authorization up at the provider, never by charging again. Infrastructure errors leave the order
//! PENDING and the processor retries.
use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use parking_lot::Mutex;
use shop_kernel::{Actor, Error, ErrorKind, PageRequest, Permission, Result, ids};
use shop_rpc::shop_telemetry::{Metrics, metrics::outcome};
use shop_store::EventStore;
use tokio::sync::Notify;

use crate::{
    domain::{self, Command, Line, Order, Status, payment},
    payments::{PaymentError, PaymentProvider},
    store::OrderRepo,
};

/// A cart as the order service needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSnapshot {
    pub id: String,
    pub open: bool,
    pub purchased: bool,
    pub email: Option<String>,
    pub currency: String,
    pub lines: Vec<Line>,
}

/// The other services the saga calls. Every call acts as the system on behalf of the current caller.
pub trait Peers: Send + Sync + 'static {
    /// The cart, if the caller may see it.
    fn get_cart(&self, cart_id: &str) -> impl Future<Output = Result<Option<CartSnapshot>>> + Send;
    fn begin_checkout(
        &self,
        cart_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn complete_checkout(
        &self,
        cart_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn abort_checkout(
        &self,
        cart_id: &str,
        order_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Reserves every (variant, quantity) or none.
    fn reserve(
        &self,
        reservation_id: &str,
        lines: &[(String, i64)],
    ) -> impl Future<Output = Result<()>> + Send;
    fn release(
        &self,
        reservation_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn commit(&self, reservation_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Puts a committed reservation's stock back on hand (idempotent).
    fn return_stock(
        &self,
        reservation_id: &str,
        reason: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// A checkout request, as received.
#[derive(Debug, Clone)]
pub struct CheckoutInput {
    pub cart_id: String,
    pub payment_token: String,
    pub provider: Option<String>,
    pub idempotency_key: String,
}

/// The order service's use cases.
pub struct OrderApp<S, P, Y> {
    repo: OrderRepo<S>,
    peers: P,
    payments: Y,
    /// How long `checkout` waits for the saga's outcome before answering PENDING.
    wait: Duration,
    /// Per-order: serialises `drive` and wakes checkouts waiting for the outcome.
    orders: Mutex<HashMap<String, Arc<OrderSignal>>>,
    /// Checkout outcomes, orders placed and revenue are counted here.
    metrics: Metrics,
}

/// Per-order coordination between the processor and waiting checkouts.
#[derive(Default)]
struct OrderSignal {
    running: tokio::sync::Mutex<()>,
    settled: Notify,
}

/// Errors worth retrying later (the saga stays where it is) rather than failing the order.
fn is_transient(e: &Error) -> bool {
    matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal)
        || e.code == "VERSION_CONFLICT"
        || e.code == "CONCURRENT_MODIFICATION"
        || e.code == "RESERVATION_IN_PROGRESS"
}

/// The `outcome` label of a checkout that failed with `code`.
pub fn failure_outcome(code: &str) -> &'static str {
    match code {
        "INSUFFICIENT_STOCK" => outcome::OUT_OF_STOCK,
        payment::DECLINED
        | payment::INSUFFICIENT_FUNDS
        | payment::CAPTURE_FAILED
        | "PAYMENT_FAILED" => outcome::PAYMENT_FAILED,
        c if c.starts_with("CART_") => outcome::CONFLICT,
        _ => outcome::ERROR,
    }
}

/// What a saga step led to.
enum Step {
    /// The order moved on (or settled).
    Next(Box<Order>),
    /// Try again later; the order is unchanged.
    Retry(Error),
}

fn validate(input: &CheckoutInput) -> Result<()> {
    if !ids::is_valid_token(&input.cart_id) {
        return Err(Error::not_found("CART_NOT_FOUND", "cart not found").with_field(["cartId"]));
    }
    let key = &input.idempotency_key;
    if key.is_empty() || key.len() > 255 || key.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "INVALID_IDEMPOTENCY_KEY",
            "idempotencyKey must be 1 to 255 printable characters",
        )
        .with_field(["idempotencyKey"]));
    }
    match input.provider.as_deref() {
        None | Some("sandbox") => {}
        Some(_) => {
            return Err(
                Error::invalid("UNKNOWN_PAYMENT_PROVIDER", "unknown payment provider")
                    .with_field(["payment", "provider"]),
            );
        }
    }
    if !payment::is_card_number(&input.payment_token) {
        return Err(Error::invalid(
            "INVALID_PAYMENT_TOKEN",
            "the payment token is not a valid card number",
        )
        .with_field(["payment", "token"]));
    }
    Ok(())
}

/// The order id for a checkout: unguessable because the cart id is.
fn order_id_for(cart_id: &str, key: &str) -> String {
    ids::sha256_hex(format!("order\0{cart_id}\0{key}").as_bytes())[..32].to_string()
}

fn fingerprint(input: &CheckoutInput) -> String {
    ids::sha256_hex(
        format!(
            "{}\0{}",
            input.provider.as_deref().unwrap_or("sandbox"),
            input.payment_token
        )
        .as_bytes(),
    )
}

impl<S: EventStore + Clone, P: Peers, Y: PaymentProvider> OrderApp<S, P, Y> {
    /// The app over an event store, peers and a payment provider; `checkout` waits up to `wait` for outcomes.
    pub fn new(store: S, peers: P, payments: Y, wait: Duration) -> Self {
        Self {
            repo: OrderRepo::new(store),
            peers,
            payments,
            wait,
            orders: Mutex::default(),
            metrics: Metrics::new(),
        }
    }

    /// Counts into `metrics` (the process registry) instead of a private one.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Counts a checkout that settled with this append (`before` → `after`). Called only after the append of
    /// the settling event succeeded — the stream's expected version lets one writer win — so every order is
    /// counted once, never on replays or redeliveries.
    fn count_settlement(&self, before: &Order, after: &Order) {
        if before.status != Status::Pending || after.status == Status::Pending {
            return;
        }
        match after.status {
            Status::Paid => {
                self.metrics.checkout_outcome(outcome::PLACED);
                match after.total() {
                    Ok(total) => self.metrics.order_placed(
                        total.currency,
                        u64::try_from(total.amount_minor).unwrap_or(0),
                    ),
                    Err(e) => {
                        tracing::warn!(order = %after.id, error = %e, "order total overflows")
                    }
                }
            }
            Status::Failed => {
                let code = after.failure.as_ref().map_or("", |(code, _)| code.as_str());
                self.metrics.checkout_outcome(failure_outcome(code));
            }
            _ => {}
        }
    }

    /// The payment provider.
    pub fn payments(&self) -> &Y {
        &self.payments
    }

    fn signal(&self, order_id: &str) -> Arc<OrderSignal> {
        self.orders
            .lock()
            .entry(order_id.to_string())
            .or_default()
            .clone()
    }

    fn forget_signal(&self, order_id: &str, signal: &Arc<OrderSignal>) {
        let mut orders = self.orders.lock();
        // Only the map and the caller hold it: nobody else waits or drives.
        if Arc::strong_count(signal) <= 2 {
            orders.remove(order_id);
        }
    }

    /// Requests a checkout and waits (bounded) for its outcome. Business outcomes (declines, missing stock)
    /// come back as a FAILED order; an order still being processed comes back PENDING. Invalid input and
    /// unusable carts are errors and write nothing.
    pub async fn checkout(&self, actor: &Actor, input: CheckoutInput) -> Result<Order> {
        validate(&input)?;
        let order_id = order_id_for(&input.cart_id, &input.idempotency_key);
        let fp = fingerprint(&input);
        if let Some(existing) = self.repo.load(&order_id).await? {
            return self.replay(actor, existing, &fp);
        }
        let cart = self.peers.get_cart(&input.cart_id).await?.ok_or_else(|| {
            Error::not_found("CART_NOT_FOUND", "cart not found").with_field(["cartId"])
        })?;
        if !cart.open || cart.purchased {
            // A concurrent request with this key may have created the order (and closed the cart) after the
            // first look: its outcome, not the cart's state, is the answer.
            if let Some(existing) = self.repo.load(&order_id).await? {
                return self.replay(actor, existing, &fp);
            }
        }
        if cart.purchased {
            return Err(Error::precondition(
                "CART_ALREADY_PURCHASED",
                "the cart was already purchased",
            )
            .with_field(["cartId"]));
        }
        if !cart.open {
            return Err(Error::conflict(
                "CART_CHECKOUT_IN_PROGRESS",
                "the cart is already being checked out",
            )
            .with_field(["cartId"]));
        }
        if cart.lines.is_empty() {
            return Err(
                Error::precondition("CART_EMPTY", "the cart has no lines").with_field(["cartId"])
            );
        }
        let now = shop_kernel::now_ms();
        let number = self.repo.next_number().await?;
        let created = domain::Event::Created {
            order_id: order_id.clone(),
            number,
            cart_id: cart.id.clone(),
            customer_id: actor.customer_id.clone(),
            email: cart.email.clone(),
            lines: cart.lines.clone(),
            currency: cart.currency.clone(),
            fingerprint: fp.clone(),
            payment_provider: self.payments.name().to_string(),
            payment_method: payment::sandbox_method(&input.payment_token),
        };
        match self.repo.append(None, vec![created], now).await {
            Ok(order) => self.await_outcome(order).await,
            Err(e) if e.code == "VERSION_CONFLICT" => {
                // A concurrent request with the same key created it first.
                let existing = self
                    .repo
                    .load(&order_id)
                    .await?
                    .ok_or_else(|| Error::internal("order vanished"))?;
                self.replay(actor, existing, &fp)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the order settles or the wait runs out; returns its latest state.
    async fn await_outcome(&self, order: Order) -> Result<Order> {
        if order.status.is_settled() {
            return Ok(order);
        }
        let signal = self.signal(&order.id);
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut latest = order;
        loop {
            let notified = signal.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(o) = self.repo.load(&latest.id).await? {
                latest = o;
            }
            let now = tokio::time::Instant::now();
            if latest.status.is_settled() || now >= deadline {
                break;
            }
            // The processor may run in another process: poll as well as listen.
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep((deadline - now).min(Duration::from_millis(100))) => {}
            }
        }
        self.forget_signal(&latest.id, &signal);
        Ok(latest)
    }

    /// The outcome of a checkout retried with a key seen before: the first outcome; an error when the key was
    /// used with other parameters or its checkout is still in flight (Stripe semantics).
    fn replay(&self, actor: &Actor, existing: Order, fp: &str) -> Result<Order> {
        if !actor.may_access(existing.customer_id.as_deref()) {
            return Err(Error::not_found("CART_NOT_FOUND", "cart not found").with_field(["cartId"]));
        }
        if existing.fingerprint != fp {
            return Err(Error::conflict(
                "IDEMPOTENCY_KEY_REUSED",
                "this idempotency key was already used with different parameters",
            )
            .with_field(["idempotencyKey"]));
        }
        if !existing.status.is_settled() {
            return Err(Error::conflict(
                "IDEMPOTENCY_KEY_IN_USE",
                "a checkout with this idempotency key is in progress",
            )
            .with_field(["idempotencyKey"]));
        }
        Ok(existing)
    }

    /// Runs the saga of `order_id` from its recorded state until the order settles. Idempotent; safe to call
    /// concurrently (calls for one order are serialised). An `Err` means "not settled yet, try again".
    pub async fn drive(&self, order_id: &str) -> Result<()> {
        let signal = self.signal(order_id);
        let result = {
            let _running = signal.running.lock().await;
            self.drive_locked(order_id).await
        };
        if result.is_ok() {
            signal.settled.notify_waiters();
        }
        self.forget_signal(order_id, &signal);
        result
    }

    async fn drive_locked(&self, order_id: &str) -> Result<()> {
        let Some(mut order) = self.repo.load(order_id).await? else {
            return Ok(());
        };
        while order.needs_work() {
            order = match self.advance(order).await? {
                Step::Next(o) => *o,
                Step::Retry(e) => return Err(e),
            };
        }
        Ok(())
    }

    /// Performs the next saga step of an order that needs work.
    async fn advance(&self, order: Order) -> Result<Step> {
        if order.status == Status::Cancelled {
            return self.finish_cancellation(order).await;
        }
        if order.reservation_id.is_none() {
            return self.reserve_stock(order).await;
        }
        match order.financial_status {
            domain::FinancialStatus::Pending => self.authorize(order).await,
            domain::FinancialStatus::Authorized => self.capture(order).await,
            domain::FinancialStatus::Paid => self.complete(order).await,
            // Voided/refunded/declined orders are failed, hence settled; recording that failed before.
            _ => {
                self.fail(
                    order,
                    "PAYMENT_FAILED",
                    "the checkout could not be completed",
                )
                .await
            }
        }
    }

    async fn reserve_stock(&self, order: Order) -> Result<Step> {
        if let Err(e) = self.peers.begin_checkout(&order.cart_id, &order.id).await {
            if is_transient(&e) {
                return Ok(Step::Retry(e));
            }
            return self.fail(order, &e.code, &e.message).await;
        }
        let lines: Vec<(String, i64)> = order
            .lines
            .iter()
            .map(|l| (l.variant_id.clone(), l.quantity))
            .collect();
        if let Err(e) = self.peers.reserve(&order.id, &lines).await {
            if is_transient(&e) {
                return Ok(Step::Retry(e));
            }
            if let Some(retry) = self.undo_cart(&order).await {
                return Ok(retry);
            }
            return self.fail(order, &e.code, &e.message).await;
        }
        let reservation = Command::RecordReservation {
            reservation_id: order.id.clone(),
        };
        self.record(order, reservation).await
    }

    async fn authorize(&self, order: Order) -> Result<Step> {
        let amount = order.total()?;
        let outcome = match self
            .payments
            .authorize(&order.id, &order.payment_method, &amount)
            .await
        {
            Err(PaymentError::Timeout) => {
                // Unknown outcome: look it up; never authorize blindly again.
                match self.payments.find_authorization(&order.id).await {
                    Ok(Some(auth)) => Ok(auth),
                    Ok(None) => Err(PaymentError::Unavailable(
                        "authorization outcome unknown".into(),
                    )),
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match outcome {
            Ok(auth) => {
                let cmd = Command::RecordAuthorization {
                    provider: self.payments.name().to_string(),
                    authorization_id: auth.id,
                };
                self.record(order, cmd).await
            }
            Err(PaymentError::Refused { code, message }) => {
                self.compensate(order, code, message).await
            }
            Err(PaymentError::Timeout | PaymentError::Unavailable(_)) => Ok(Step::Retry(
                Error::unavailable("PAYMENT_UNAVAILABLE", "the payment provider is unavailable"),
            )),
        }
    }

    async fn capture(&self, order: Order) -> Result<Step> {
        let Some(auth) = order.authorization_id.clone() else {
            return Err(Error::internal("authorized order without authorization id"));
        };
        match self.payments.capture(&auth).await {
            Ok(()) => self.record(order, Command::RecordCapture).await,
            Err(PaymentError::Refused { code, message }) => {
                self.compensate(order, code, message).await
            }
            Err(PaymentError::Timeout | PaymentError::Unavailable(_)) => Ok(Step::Retry(
                Error::unavailable("PAYMENT_UNAVAILABLE", "the payment provider is unavailable"),
            )),
        }
    }

    async fn complete(&self, order: Order) -> Result<Step> {
        if let Err(e) = self.peers.commit(&order.id).await {
            if is_transient(&e) {
                return Ok(Step::Retry(e));
            }
            // e.g. the reservation lapsed before the payment completed: give the money back.
            return self
                .compensate(
                    order,
                    "PAYMENT_FAILED",
                    "the checkout could not be completed; the payment was refunded",
                )
                .await;
        }
        if let Err(e) = self
            .peers
            .complete_checkout(&order.cart_id, &order.id)
            .await
        {
            if is_transient(&e) {
                return Ok(Step::Retry(e));
            }
            tracing::warn!(order = %order.id, error = %e, "cart could not be marked purchased");
        }
        self.record(order, Command::Place).await
    }

    /// Undoes what the saga did (stock, payment, cart) and records the failure.
    async fn compensate(&self, order: Order, code: &str, message: &str) -> Result<Step> {
        tracing::info!(order = %order.id, %code, "checkout failed; compensating");
        if let Err(e) = self.peers.release(&order.id, code).await {
            if is_transient(&e) {
                return Ok(Step::Retry(e));
            }
            tracing::warn!(order = %order.id, error = %e, "releasing stock failed");
        }
        if let Some(auth) = &order.authorization_id {
            let undone = match order.financial_status {
                domain::FinancialStatus::Paid => self.payments.refund(auth).await,
                _ => self.payments.void(auth).await,
            };
            if let Err(e) = undone {
                return Ok(Step::Retry(Error::unavailable(
                    "PAYMENT_UNAVAILABLE",
                    format!("undoing the payment failed: {e:?}"),
                )));
            }
        }
        if let Some(retry) = self.undo_cart(&order).await {
            return Ok(retry);
        }
        self.fail(order, code, message).await
    }

    /// Returns the cart to OPEN; `Some(retry)` when that must be tried again later.
    async fn undo_cart(&self, order: &Order) -> Option<Step> {
        match self.peers.abort_checkout(&order.cart_id, &order.id).await {
            Ok(()) => None,
            Err(e) if is_transient(&e) => Some(Step::Retry(e)),
            Err(e) => {
                // e.g. another checkout owns the cart: it is not ours to reopen.
                tracing::warn!(order = %order.id, error = %e, "returning the cart to OPEN failed");
                None
            }
        }
    }

    async fn fail(&self, order: Order, code: &str, message: &str) -> Result<Step> {
        let cmd = Command::Fail {
            code: code.to_string(),
            message: message.to_string(),
        };
        self.record(order, cmd).await
    }

    /// Records a saga step; a store failure leaves the order as it was, to retry.
    async fn record(&self, order: Order, cmd: Command) -> Result<Step> {
        let evs = domain::decide(&order, cmd)?;
        match self
            .repo
            .append(Some(&order), evs, shop_kernel::now_ms())
            .await
        {
            Ok(o) => {
                self.count_settlement(&order, &o);
                Ok(Step::Next(Box::new(o)))
            }
            Err(e) => Ok(Step::Retry(e)),
        }
    }

    /// Refunds and restocks a cancelled order, one recorded step at a time.
    async fn finish_cancellation(&self, order: Order) -> Result<Step> {
        if order.financial_status == domain::FinancialStatus::Paid {
            let Some(auth) = order.authorization_id.clone() else {
                return Err(Error::internal("paid order without authorization id"));
            };
            return match self.payments.refund(&auth).await {
                Ok(()) => self.record(order, Command::RecordRefund).await,
                Err(e) => Ok(Step::Retry(Error::unavailable(
                    "PAYMENT_UNAVAILABLE",
                    format!("the refund failed: {e:?}"),
                ))),
            };
        }
        let Some(reservation) = order.reservation_id.clone() else {
            return Err(Error::internal("cancelled order without reservation"));
        };
        match self
            .peers
            .return_stock(&reservation, "order cancelled")
            .await
        {
            Ok(()) => self.record(order, Command::RecordStockReturn).await,
            Err(e) if is_transient(&e) => Ok(Step::Retry(e)),
            Err(e) => Err(e),
        }
    }

    /// An order the caller may change: the owning customer, staff with MANAGE_ORDERS, or an internal caller.
    /// Others get NOT_FOUND.
    async fn owned_order(&self, actor: &Actor, order_id: &str) -> Result<Order> {
        let not_found =
            || Error::not_found("ORDER_NOT_FOUND", "order not found").with_field(["orderId"]);
        if !ids::is_valid_token(order_id) {
            return Err(not_found());
        }
        let order = self.repo.load(order_id).await?.ok_or_else(not_found)?;
        let owner = order.customer_id.as_deref();
        let allowed = actor.may(Permission::ManageOrders)
            || (owner.is_some() && actor.customer_id.as_deref() == owner);
        if allowed { Ok(order) } else { Err(not_found()) }
    }

    /// Cancels a paid, unfulfilled order: refund and restock follow (now, or by the processor after a crash).
    /// Idempotent. `reason` is free text (at most 500 characters).
    pub async fn cancel(
        &self,
        actor: &Actor,
        order_id: &str,
        reason: Option<&str>,
    ) -> Result<Order> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_some_and(|r| r.chars().count() > 500 || r.chars().any(char::is_control)) {
            return Err(Error::invalid(
                "INVALID_REASON",
                "reason must be at most 500 printable characters",
            )
            .with_field(["reason"]));
        }
        let order = self.owned_order(actor, order_id).await?;
        let evs = domain::decide(
            &order,
            Command::Cancel {
                reason: reason.unwrap_or("cancelled by request").to_string(),
            },
        )?;
        if !evs.is_empty() {
            self.repo
                .append(Some(&order), evs, shop_kernel::now_ms())
                .await?;
        }
        // Finish now when possible; a failure here is finished by the processor.
        if let Err(e) = self.drive(order_id).await {
            tracing::warn!(order = %order_id, error = %e, "cancellation will be finished later");
        }
        self.repo
            .load(order_id)
            .await?
            .ok_or_else(|| Error::internal("order vanished"))
    }

    /// Marks a paid order fulfilled (staff with MANAGE_ORDERS and internal callers). Idempotent.
    pub async fn fulfill(&self, actor: &Actor, order_id: &str) -> Result<Order> {
        if !actor.may(Permission::ManageOrders) {
            return Err(Error::permission_denied(
                "CALLER_NOT_ALLOWED",
                "only staff with MANAGE_ORDERS may fulfil orders",
            ));
        }
        let order = self.owned_order(actor, order_id).await?;
        let evs = domain::decide(&order, Command::Fulfill)?;
        if evs.is_empty() {
            return Ok(order);
        }
        self.repo
            .append(Some(&order), evs, shop_kernel::now_ms())
            .await
    }

    /// Orders by id that the caller may see, in request order (others omitted).
    pub async fn get_orders(&self, actor: &Actor, ids_in: &[String]) -> Result<Vec<Order>> {
        if ids_in.len() > 250 {
            return Err(Error::invalid("TOO_MANY_IDS", "at most 250 ids").with_field(["ids"]));
        }
        let mut out = Vec::new();
        for id in ids_in {
            if !ids::is_valid_token(id) || out.iter().any(|o: &Order| &o.id == id) {
                continue;
            }
            if let Some(o) = self.repo.load(id).await?
                && (actor.may_access(o.customer_id.as_deref())
                    || actor.may(Permission::ManageOrders))
            {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// The calling customer's orders, newest first.
    pub async fn list_orders(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<shop_kernel::Page<Order>> {
        page.validate()?;
        let Some(customer) = &actor.customer_id else {
            return page.apply(&[], 20);
        };
        let ids_all = self.repo.customer_order_ids(customer).await?;
        let ids_page = page.apply(&ids_all, 20)?;
        let mut items = Vec::with_capacity(ids_page.items.len());
        for id in &ids_page.items {
            if let Some(o) = self.repo.load(id).await? {
                items.push(o);
            }
        }
        Ok(shop_kernel::Page {
            items,
            cursors: ids_page.cursors,
            has_next_page: ids_page.has_next_page,
            has_previous_page: ids_page.has_previous_page,
        })
    }

    /// The store, for the relay.
    pub fn store(&self) -> &S {
        self.repo.store()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use shop_kernel::Money;
    use shop_store::memory::MemoryEventStore;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::payments::SandboxProvider;

    /// Peers whose first `get_cart` waits at a gate, so a test can run another checkout inside that window.
    struct GatedPeers {
        cart_open: AtomicBool,
        get_cart_calls: AtomicUsize,
        first_call_entered: Notify,
        gate: Semaphore,
    }

    impl Peers for Arc<GatedPeers> {
        async fn get_cart(&self, cart_id: &str) -> Result<Option<CartSnapshot>> {
            if self.get_cart_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                self.first_call_entered.notify_one();
                let _pass = self.gate.acquire().await.expect("gate open");
            }
            Ok(Some(CartSnapshot {
                id: cart_id.to_string(),
                open: self.cart_open.load(Ordering::SeqCst),
                purchased: false,
                email: None,
                currency: "USD".into(),
                lines: vec![Line {
                    line_id: "l1".into(),
                    variant_id: "v1".into(),
                    product_id: "p1".into(),
                    title: "Tee".into(),
                    sku: "TEE-1".into(),
                    quantity: 1,
                    unit_price: Money {
                        amount_minor: 1000,
                        currency: "USD".into(),
                    },
                }],
            }))
        }
        async fn begin_checkout(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn complete_checkout(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn abort_checkout(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn reserve(&self, _: &str, _: &[(String, i64)]) -> Result<()> {
            Ok(())
        }
        async fn release(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn commit(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn return_stock(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
    }

    fn input(key: &str) -> CheckoutInput {
        CheckoutInput {
            cart_id: "cart1".into(),
            payment_token: "4242424242424242".into(),
            provider: None,
            idempotency_key: key.into(),
        }
    }

    /// Retry B looks for the key's order before A records it, and sees the cart only after A's saga closed it:
    /// B is told the key is in use, not that the cart is busy.
    #[tokio::test]
    async fn a_retry_that_finds_the_cart_closed_by_its_own_key_reports_the_key_in_use() {
        let peers = Arc::new(GatedPeers {
            cart_open: AtomicBool::new(true),
            get_cart_calls: AtomicUsize::new(0),
            first_call_entered: Notify::new(),
            gate: Semaphore::new(0),
        });
        let app = Arc::new(OrderApp::new(
            MemoryEventStore::new(),
            peers.clone(),
            SandboxProvider::new(),
            Duration::from_millis(20),
        ));
        let entered = peers.first_call_entered.notified();
        let retry = tokio::spawn({
            let app = app.clone();
            async move { app.checkout(&Actor::guest(), input("same")).await }
        });
        entered.await;
        let first = app
            .checkout(&Actor::guest(), input("same"))
            .await
            .expect("first checkout recorded");
        assert_eq!(first.status, Status::Pending, "no processor runs here");
        // The saga marks the cart CHECKING_OUT before the retry's look at the cart completes.
        peers.cart_open.store(false, Ordering::SeqCst);
        peers.gate.add_permits(1);
        let err = retry
            .await
            .unwrap()
            .expect_err("the key's checkout is in flight");
        assert_eq!(err.code, "IDEMPOTENCY_KEY_IN_USE");
        // Another key on the busy cart is still refused for the cart.
        let other = app
            .checkout(&Actor::guest(), input("other"))
            .await
            .expect_err("cart busy");
        assert_eq!(other.code, "CART_CHECKOUT_IN_PROGRESS");
    }
}
