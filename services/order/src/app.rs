//! Use cases: checkout (the saga), order reads. Other services are reached through [`Peers`].
//!
//! Checkout: validate → derive the order id from (cart, idempotency key) → create the order (PENDING) →
//! mark the cart CHECKING_OUT → reserve stock (all lines or none) → authorize payment → capture → commit stock →
//! mark the cart PURCHASED → `order.placed.v1` (PAID). Any failure after the order exists ends it FAILED and
//! compensates what was done: release stock, void the authorization, return the cart to OPEN.
//! A retried checkout with the same key finds the same order id and replays its outcome.
use std::future::Future;

use shop_kernel::{Actor, Error, PageRequest, Result, ids};
use shop_store::EventStore;

use crate::{
    domain::{self, Command, Line, Order, Status, payment},
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
pub struct OrderApp<S, P> {
    repo: OrderRepo<S>,
    peers: P,
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

impl<S: EventStore + Clone, P: Peers> OrderApp<S, P> {
    /// The app over an event store and peers.
    pub fn new(store: S, peers: P) -> Self {
        Self {
            repo: OrderRepo::new(store),
            peers,
        }
    }

    /// Checks out a cart. Business outcomes (declines, missing stock) come back as a FAILED order;
    /// invalid input and unusable carts are errors and write nothing.
    pub async fn checkout(&self, actor: &Actor, input: CheckoutInput) -> Result<Order> {
        validate(&input)?;
        let order_id = order_id_for(&input.cart_id, &input.idempotency_key);
        let fp = fingerprint(&input);
        if let Some(existing) = self.repo.load(&order_id).await? {
            return replay(actor, existing, &fp);
        }
        let cart = self.peers.get_cart(&input.cart_id).await?.ok_or_else(|| {
            Error::not_found("CART_NOT_FOUND", "cart not found").with_field(["cartId"])
        })?;
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
        };
        let order = match self.repo.append(None, vec![created], now).await {
            Ok(o) => o,
            Err(e) if e.code == "VERSION_CONFLICT" => {
                // A concurrent request with the same key created it first.
                let existing = self
                    .repo
                    .load(&order_id)
                    .await?
                    .ok_or_else(|| Error::internal("order vanished"))?;
                return replay(actor, existing, &fp);
            }
            Err(e) => return Err(e),
        };
        Ok(self.run_saga(order, &input).await)
    }

    async fn run_saga(&self, order: Order, input: &CheckoutInput) -> Order {
        let lines: Vec<(String, i64)> = order
            .lines
            .iter()
            .map(|l| (l.variant_id.clone(), l.quantity))
            .collect();
        if let Err(e) = self.peers.begin_checkout(&order.cart_id, &order.id).await {
            return self.fail(order, &e.code, &e.message).await;
        }
        if let Err(e) = self.peers.reserve(&order.id, &lines).await {
            self.undo_cart(&order).await;
            return self.fail(order, &e.code, &e.message).await;
        }
        let reservation = Command::RecordReservation {
            reservation_id: order.id.clone(),
        };
        let order = match self.step(order, reservation).await {
            Ok(o) => o,
            Err((o, e)) => return self.compensate(o, &e).await,
        };
        match payment::authorize(&input.payment_token) {
            payment::Authorization::Refused { code, message } => {
                self.release(&order, code).await;
                self.undo_cart(&order).await;
                return self.fail(order, code, message).await;
            }
            payment::Authorization::Approved => {}
        }
        let auth = Command::RecordAuthorization {
            provider: "sandbox".into(),
            authorization_id: format!("auth_{}", ids::new_id()),
        };
        let order = match self.step(order, auth).await {
            Ok(o) => o,
            Err((o, e)) => return self.compensate(o, &e).await,
        };
        let order = match self.step(order, Command::RecordCapture).await {
            Ok(o) => o,
            Err((o, e)) => return self.compensate(o, &e).await,
        };
        if let Err(e) = self.peers.commit(&order.id).await {
            return self.compensate(order, &e).await;
        }
        if let Err(e) = self
            .peers
            .complete_checkout(&order.cart_id, &order.id)
            .await
        {
            tracing::warn!(order = %order.id, error = %e, "cart could not be marked purchased");
        }
        match self.step(order, Command::Place).await {
            Ok(o) => o,
            Err((o, e)) => {
                tracing::error!(order = %o.id, error = %e, "could not record a placed order");
                o
            }
        }
    }

    async fn step(&self, order: Order, cmd: Command) -> std::result::Result<Order, (Order, Error)> {
        let evs = match domain::decide(&order, cmd) {
            Ok(evs) => evs,
            Err(e) => return Err((order, e)),
        };
        match self
            .repo
            .append(Some(&order), evs, shop_kernel::now_ms())
            .await
        {
            Ok(o) => Ok(o),
            Err(e) => Err((order, e)),
        }
    }

    async fn compensate(&self, order: Order, cause: &Error) -> Order {
        tracing::warn!(order = %order.id, error = %cause, "checkout step failed; compensating");
        self.release(&order, "checkout failed").await;
        self.undo_cart(&order).await;
        self.fail(
            order,
            "PAYMENT_FAILED",
            "the checkout could not be completed; nothing was charged",
        )
        .await
    }

    async fn release(&self, order: &Order, reason: &str) {
        if let Err(e) = self.peers.release(&order.id, reason).await {
            tracing::warn!(order = %order.id, error = %e, "releasing stock failed");
        }
    }

    async fn undo_cart(&self, order: &Order) {
        if let Err(e) = self.peers.abort_checkout(&order.cart_id, &order.id).await {
            tracing::warn!(order = %order.id, error = %e, "returning the cart to OPEN failed");
        }
    }

    async fn fail(&self, order: Order, code: &str, message: &str) -> Order {
        let cmd = Command::Fail {
            code: code.to_string(),
            message: message.to_string(),
        };
        match self.step(order, cmd).await {
            Ok(o) => o,
            Err((o, e)) => {
                tracing::error!(order = %o.id, error = %e, "could not record a failed order");
                o
            }
        }
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
                && actor.may_access(o.customer_id.as_deref())
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

/// The outcome of a checkout retried with a key seen before.
fn replay(actor: &Actor, existing: Order, fp: &str) -> Result<Order> {
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
    if existing.status == Status::Pending {
        return Err(Error::conflict(
            "IDEMPOTENCY_KEY_IN_USE",
            "a checkout with this idempotency key is in progress",
        )
        .with_field(["idempotencyKey"]));
    }
    Ok(existing)
}
