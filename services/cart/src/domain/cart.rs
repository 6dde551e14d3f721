//! The cart aggregate. State = fold(events) (`None` before `Created`).
use shop_kernel::{Error, Money, Result};

use super::validate::{MAX_LINES, MAX_QUANTITY};

/// How long a cart lives after its last change.
pub const TTL_MS: i64 = 10 * 24 * 60 * 60 * 1000;

/// A cart's lifecycle: OPEN → CHECKING_OUT → PURCHASED, or back to OPEN; a guest's OPEN cart ends MERGED
/// when its lines move into the customer's cart at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CartStatus {
    Open,
    CheckingOut,
    Purchased,
    /// Closed: its lines were merged into another cart (`Cart::merged_into`).
    Merged,
}

/// A key/value attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// Who is buying (informational).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuyerIdentity {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country_code: Option<String>,
    pub customer_id: Option<String>,
}

/// A price snapshot of a variant from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchandise {
    pub variant_id: String,
    pub product_id: String,
    pub title: String,
    pub sku: String,
    pub unit_price: Money,
    pub compare_at_unit_price: Option<Money>,
}

/// A cart line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub id: String,
    pub merchandise: Merchandise,
    pub quantity: i64,
    pub attributes: Vec<Attribute>,
}

impl Line {
    /// unit price × quantity (checked).
    pub fn subtotal(&self) -> Result<Money> {
        self.merchandise.unit_price.checked_mul(self.quantity)
    }
}

/// A cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub id: String,
    /// The customer who owns it; `None` for a guest cart (the id is the capability).
    pub customer_id: Option<String>,
    /// The guest session that created it (`None` for carts created by customers or anonymously).
    pub guest_id: Option<String>,
    pub status: CartStatus,
    /// The cart this one was merged into (status `Merged`).
    pub merged_into: Option<String>,
    /// Guest carts whose lines were merged into this one (each at most once).
    pub merged_sources: Vec<String>,
    /// The order checking this cart out (or that bought it).
    pub order_id: Option<String>,
    pub lines: Vec<Line>,
    pub note: Option<String>,
    pub attributes: Vec<Attribute>,
    pub discount_codes: Vec<String>,
    pub buyer_identity: BuyerIdentity,
    pub currency: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Cart {
    /// Σ line subtotals (checked), in the cart currency.
    pub fn subtotal(&self) -> Result<Money> {
        self.lines
            .iter()
            .try_fold(Money::zero(self.currency.clone()), |acc, l| {
                acc.checked_add(&l.subtotal()?)
            })
    }
    /// Σ quantities.
    pub fn total_quantity(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
    /// When an untouched cart expires.
    pub fn expires_at_ms(&self) -> i64 {
        self.updated_at_ms.saturating_add(TTL_MS)
    }
    fn line(&self, id: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.id == id)
    }
}

/// A domain event of a cart stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartEvent {
    Created {
        cart_id: String,
        customer_id: Option<String>,
        /// The guest session owning the cart, for a cart created by a guest.
        guest_id: Option<String>,
        currency: String,
        expires_at_ms: i64,
    },
    LineAdded(Line),
    LineUpdated(Line),
    LineRemoved {
        line_id: String,
    },
    NoteUpdated {
        note: Option<String>,
    },
    AttributesUpdated {
        attributes: Vec<Attribute>,
    },
    DiscountCodesUpdated {
        discount_codes: Vec<String>,
    },
    BuyerIdentityUpdated(BuyerIdentity),
    CheckoutStarted {
        order_id: String,
    },
    Purchased {
        order_id: String,
    },
    CheckoutAborted {
        order_id: String,
    },
    /// A guest cart now belongs to the customer who signed in (sign-in with KEEP_SEPARATE).
    Adopted {
        customer_id: String,
    },
    /// The lines of guest cart `source_cart_id` were merged into this cart (recorded after its line events,
    /// so merging the same source again adds nothing).
    LinesMerged {
        source_cart_id: String,
    },
    /// This guest cart was merged into `into_cart_id` of `customer_id` at sign-in; it is closed and belongs
    /// to that customer from now on.
    MergedInto {
        into_cart_id: String,
        customer_id: String,
    },
}

/// A line to add, resolved against the catalog and inventory by the application layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    /// Id for the line if it becomes a new one.
    pub new_line_id: String,
    pub merchandise: Merchandise,
    pub quantity: i64,
    pub attributes: Vec<Attribute>,
    /// Stock available for the variant (0 when it has no stock record).
    pub available: i64,
}

/// A change to an existing line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    pub line_id: String,
    /// 0 removes the line.
    pub quantity: Option<i64>,
    /// A different variant (resolved snapshot).
    pub merchandise: Option<Merchandise>,
    pub attributes: Option<Vec<Attribute>>,
    /// Stock available for the line's resulting variant.
    pub available: i64,
}

/// A command on a cart. Field shapes are validated beforehand ([`super::validate`]); `decide` checks rules
/// that depend on the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create {
        cart_id: String,
        customer_id: Option<String>,
        guest_id: Option<String>,
        /// Currency of a cart created without lines.
        default_currency: String,
        lines: Vec<LineRequest>,
        note: Option<String>,
        attributes: Vec<Attribute>,
        discount_codes: Vec<String>,
        buyer_identity: Option<BuyerIdentity>,
    },
    AddLines {
        lines: Vec<LineRequest>,
    },
    UpdateLines {
        changes: Vec<LineChange>,
    },
    RemoveLines {
        line_ids: Vec<String>,
    },
    UpdateNote {
        note: Option<String>,
    },
    UpdateAttributes {
        attributes: Vec<Attribute>,
    },
    UpdateDiscountCodes {
        discount_codes: Vec<String>,
    },
    UpdateBuyerIdentity {
        buyer_identity: BuyerIdentity,
    },
    BeginCheckout {
        order_id: String,
    },
    CompleteCheckout {
        order_id: String,
    },
    AbortCheckout {
        order_id: String,
    },
    /// Gives a guest cart to `customer_id` (a no-op if it already is theirs).
    Adopt {
        customer_id: String,
    },
    /// Adds the lines of guest cart `source_cart_id` into this cart, leniently: quantities are summed and
    /// capped (line limit, stock), lines that cannot be taken are skipped with a warning. A no-op when the
    /// source was merged before.
    MergeFrom {
        source_cart_id: String,
        lines: Vec<LineRequest>,
    },
    /// Closes this guest cart as merged into `into_cart_id` of `customer_id` (a no-op when it already is).
    MarkMerged {
        into_cart_id: String,
        customer_id: String,
    },
}

/// A non-fatal note about a mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub code: String,
    pub message: String,
    /// The line id concerned.
    pub target: String,
}

/// What a command decided: events to append and warnings for the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub events: Vec<CartEvent>,
    pub warnings: Vec<Warning>,
}

fn not_found() -> Error {
    Error::not_found("CART_NOT_FOUND", "no such cart")
}

fn not_open() -> Error {
    Error::precondition("CART_NOT_OPEN", "the cart can no longer be changed")
}

fn field(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Applies `ev` to the simulated cart and records it.
fn push(sim: &mut Option<Cart>, out: &mut Decision, ev: CartEvent, now: i64) {
    apply(sim, &ev, now);
    out.events.push(ev);
}

fn check_stock(
    quantity: i64,
    available: i64,
    line_id: &str,
    variant_id: &str,
    merch_field: Vec<String>,
    warnings: &mut Vec<Warning>,
) -> Result<i64> {
    if available <= 0 {
        return Err(Error::invalid(
            "MERCHANDISE_OUT_OF_STOCK",
            format!("variant {variant_id} is out of stock"),
        )
        .with_field(merch_field));
    }
    if quantity > available {
        warnings.push(Warning {
            code: "MERCHANDISE_NOT_ENOUGH_STOCK".into(),
            message: format!("only {available} available; the quantity was reduced"),
            target: line_id.to_string(),
        });
        return Ok(available);
    }
    Ok(quantity)
}

fn add_lines(
    sim: &mut Option<Cart>,
    out: &mut Decision,
    lines: &[LineRequest],
    now: i64,
) -> Result<()> {
    for (i, req) in lines.iter().enumerate() {
        let idx = i.to_string();
        let cart = sim.as_ref().ok_or_else(not_found)?;
        if !cart.lines.is_empty() && req.merchandise.unit_price.currency != cart.currency {
            return Err(Error::invalid(
                "CURRENCY_MISMATCH",
                "a cart holds items of one currency only",
            )
            .with_field(field(&["lines", &idx, "merchandiseId"])));
        }
        let existing = cart.lines.iter().find(|l| {
            l.merchandise.variant_id == req.merchandise.variant_id && l.attributes == req.attributes
        });
        let desired = existing
            .map_or(0, |l| l.quantity)
            .saturating_add(req.quantity);
        if !(1..=MAX_QUANTITY).contains(&desired) {
            return Err(Error::invalid(
                "INVALID_QUANTITY",
                format!("a line holds 1 to {MAX_QUANTITY} items"),
            )
            .with_field(field(&["lines", &idx, "quantity"])));
        }
        let line_id = existing.map_or(req.new_line_id.clone(), |l| l.id.clone());
        let quantity = check_stock(
            desired,
            req.available,
            &line_id,
            &req.merchandise.variant_id,
            field(&["lines", &idx, "merchandiseId"]),
            &mut out.warnings,
        )?;
        let line = Line {
            id: line_id,
            merchandise: req.merchandise.clone(),
            quantity,
            attributes: req.attributes.clone(),
        };
        let ev = if existing.is_some() {
            CartEvent::LineUpdated(line)
        } else {
            CartEvent::LineAdded(line)
        };
        push(sim, out, ev, now);
    }
    Ok(())
}

fn update_lines(
    sim: &mut Option<Cart>,
    out: &mut Decision,
    changes: &[LineChange],
    now: i64,
) -> Result<()> {
    for (i, ch) in changes.iter().enumerate() {
        let idx = i.to_string();
        if changes[..i].iter().any(|c| c.line_id == ch.line_id) {
            return Err(
                Error::invalid("DUPLICATE_LINE", "a line may be updated once per request")
                    .with_field(field(&["lines", &idx, "id"])),
            );
        }
        let cart = sim.as_ref().ok_or_else(not_found)?;
        let line = cart.line(&ch.line_id).ok_or_else(|| {
            Error::invalid("LINE_NOT_FOUND", "no such line in the cart")
                .with_field(field(&["lines", &idx, "id"]))
        })?;
        if ch.quantity == Some(0) {
            push(
                sim,
                out,
                CartEvent::LineRemoved {
                    line_id: ch.line_id.clone(),
                },
                now,
            );
            continue;
        }
        let mut new = line.clone();
        if let Some(q) = ch.quantity {
            if !(1..=MAX_QUANTITY).contains(&q) {
                return Err(Error::invalid(
                    "INVALID_QUANTITY",
                    format!("a line holds 1 to {MAX_QUANTITY} items"),
                )
                .with_field(field(&["lines", &idx, "quantity"])));
            }
            new.quantity = q;
        }
        if let Some(m) = &ch.merchandise {
            if m.unit_price.currency != cart.currency {
                return Err(Error::invalid(
                    "CURRENCY_MISMATCH",
                    "a cart holds items of one currency only",
                )
                .with_field(field(&["lines", &idx, "merchandiseId"])));
            }
            new.merchandise = m.clone();
        }
        if let Some(a) = &ch.attributes {
            new.attributes = a.clone();
        }
        let grows = new.quantity > line.quantity
            || new.merchandise.variant_id != line.merchandise.variant_id;
        if grows {
            new.quantity = check_stock(
                new.quantity,
                ch.available,
                &new.id,
                &new.merchandise.variant_id,
                field(&["lines", &idx, "merchandiseId"]),
                &mut out.warnings,
            )?;
        }
        push(sim, out, CartEvent::LineUpdated(new), now);
    }
    Ok(())
}

fn warn(out: &mut Decision, code: &str, message: String, target: &str) {
    out.warnings.push(Warning {
        code: code.into(),
        message,
        target: target.to_string(),
    });
}

/// Adds merged lines leniently: what cannot be taken is skipped or reduced, with a warning, never an error.
fn merge_lines(sim: &mut Option<Cart>, out: &mut Decision, lines: &[LineRequest], now: i64) {
    for req in lines {
        let Some(cart) = sim.as_ref() else { return };
        let variant = &req.merchandise.variant_id;
        if !cart.lines.is_empty() && req.merchandise.unit_price.currency != cart.currency {
            warn(
                out,
                "CURRENCY_MISMATCH",
                format!(
                    "{} is priced in another currency; it was not merged",
                    req.merchandise.title
                ),
                variant,
            );
            continue;
        }
        let existing = cart
            .lines
            .iter()
            .find(|l| l.merchandise.variant_id == *variant && l.attributes == req.attributes);
        let had = existing.map_or(0, |l| l.quantity);
        let line_id = existing.map_or(req.new_line_id.clone(), |l| l.id.clone());
        if existing.is_none() && cart.lines.len() >= MAX_LINES {
            warn(
                out,
                "CART_LINE_LIMIT_REACHED",
                format!(
                    "a cart holds at most {MAX_LINES} lines; {} was not merged",
                    req.merchandise.title
                ),
                variant,
            );
            continue;
        }
        let mut quantity = had.saturating_add(req.quantity.max(0));
        if quantity > MAX_QUANTITY {
            quantity = MAX_QUANTITY;
            warn(
                out,
                "MERCHANDISE_QUANTITY_LIMIT_REACHED",
                format!("a line holds at most {MAX_QUANTITY} items; the quantity was reduced"),
                &line_id,
            );
        }
        if req.available <= 0 && existing.is_none() {
            warn(
                out,
                "MERCHANDISE_OUT_OF_STOCK",
                format!(
                    "{} is out of stock; it was not merged",
                    req.merchandise.title
                ),
                variant,
            );
            continue;
        }
        if quantity > req.available {
            // Never below what the customer's line already held.
            quantity = req.available.max(had);
            warn(
                out,
                "MERCHANDISE_NOT_ENOUGH_STOCK",
                format!("only {} available; the quantity was reduced", req.available),
                &line_id,
            );
        }
        if quantity <= had {
            continue;
        }
        let ev = match existing {
            Some(l) => CartEvent::LineUpdated(Line {
                quantity,
                ..l.clone()
            }),
            None => CartEvent::LineAdded(Line {
                id: line_id,
                merchandise: req.merchandise.clone(),
                quantity,
                attributes: req.attributes.clone(),
            }),
        };
        push(sim, out, ev, now);
    }
}

/// Gives an open guest cart to `customer_id`.
fn adopt(
    cart: &Cart,
    customer_id: &str,
    sim: &mut Option<Cart>,
    mut out: Decision,
    now: i64,
) -> Result<Decision> {
    match cart.customer_id.as_deref() {
        Some(c) if c == customer_id => return Ok(out),
        Some(_) => return Err(not_found()),
        None => {}
    }
    if cart.status != CartStatus::Open {
        return Err(not_open());
    }
    push(
        sim,
        &mut out,
        CartEvent::Adopted {
            customer_id: customer_id.to_string(),
        },
        now,
    );
    Ok(out)
}

/// Rules every resulting cart must satisfy.
fn check_result(sim: &Option<Cart>) -> Result<()> {
    if let Some(cart) = sim {
        if cart.lines.len() > MAX_LINES {
            return Err(Error::invalid(
                "TOO_MANY_LINES",
                format!("a cart holds at most {MAX_LINES} lines"),
            )
            .with_field(["lines"]));
        }
        cart.subtotal()?;
    }
    Ok(())
}

/// Decides the events (and warnings) of `cmd` on `state`.
pub fn decide(state: &Option<Cart>, cmd: &Command, now_ms: i64) -> Result<Decision> {
    let mut out = Decision::default();
    let mut sim = state.clone();
    let now = now_ms;
    if let Command::Create {
        cart_id,
        customer_id,
        guest_id,
        default_currency,
        lines,
        note,
        attributes,
        discount_codes,
        buyer_identity,
    } = cmd
    {
        if state.is_some() {
            return Err(Error::conflict("CART_EXISTS", "the cart already exists"));
        }
        let currency = lines.first().map_or(default_currency.clone(), |l| {
            l.merchandise.unit_price.currency.clone()
        });
        let created = CartEvent::Created {
            cart_id: cart_id.clone(),
            customer_id: customer_id.clone(),
            guest_id: if customer_id.is_some() {
                None
            } else {
                guest_id.clone()
            },
            currency,
            expires_at_ms: now.saturating_add(TTL_MS),
        };
        push(&mut sim, &mut out, created, now);
        add_lines(&mut sim, &mut out, lines, now)?;
        if note.is_some() {
            push(
                &mut sim,
                &mut out,
                CartEvent::NoteUpdated { note: note.clone() },
                now,
            );
        }
        if !attributes.is_empty() {
            push(
                &mut sim,
                &mut out,
                CartEvent::AttributesUpdated {
                    attributes: attributes.clone(),
                },
                now,
            );
        }
        if !discount_codes.is_empty() {
            push(
                &mut sim,
                &mut out,
                CartEvent::DiscountCodesUpdated {
                    discount_codes: discount_codes.clone(),
                },
                now,
            );
        }
        if let Some(b) = buyer_identity {
            push(
                &mut sim,
                &mut out,
                CartEvent::BuyerIdentityUpdated(b.clone()),
                now,
            );
        }
        check_result(&sim)?;
        return Ok(out);
    }
    let cart = state.as_ref().ok_or_else(not_found)?;
    match cmd {
        Command::Adopt { customer_id } => {
            return adopt(cart, customer_id, &mut sim, out, now);
        }
        Command::MergeFrom {
            source_cart_id,
            lines,
        } => {
            if cart.merged_sources.contains(source_cart_id) {
                return Ok(out);
            }
            if cart.status != CartStatus::Open {
                return Err(not_open());
            }
            merge_lines(&mut sim, &mut out, lines, now);
            push(
                &mut sim,
                &mut out,
                CartEvent::LinesMerged {
                    source_cart_id: source_cart_id.clone(),
                },
                now,
            );
            check_result(&sim)?;
            return Ok(out);
        }
        Command::MarkMerged {
            into_cart_id,
            customer_id,
        } => {
            if cart.status == CartStatus::Merged && cart.merged_into.as_ref() == Some(into_cart_id)
            {
                return Ok(out);
            }
            if cart.status != CartStatus::Open || cart.customer_id.is_some() {
                return Err(not_open());
            }
            push(
                &mut sim,
                &mut out,
                CartEvent::MergedInto {
                    into_cart_id: into_cart_id.clone(),
                    customer_id: customer_id.clone(),
                },
                now,
            );
            return Ok(out);
        }
        _ => {}
    }
    let is_checkout = matches!(
        cmd,
        Command::BeginCheckout { .. }
            | Command::CompleteCheckout { .. }
            | Command::AbortCheckout { .. }
    );
    if !is_checkout && cart.status != CartStatus::Open {
        return Err(not_open());
    }
    match cmd {
        Command::Create { .. }
        | Command::Adopt { .. }
        | Command::MergeFrom { .. }
        | Command::MarkMerged { .. } => {}
        Command::AddLines { lines } => add_lines(&mut sim, &mut out, lines, now)?,
        Command::UpdateLines { changes } => update_lines(&mut sim, &mut out, changes, now)?,
        Command::RemoveLines { line_ids } => {
            for (i, id) in line_ids.iter().enumerate() {
                let exists = sim.as_ref().is_some_and(|c| c.line(id).is_some());
                if !exists {
                    return Err(Error::invalid("LINE_NOT_FOUND", "no such line in the cart")
                        .with_field(field(&["lineIds", &i.to_string()])));
                }
                push(
                    &mut sim,
                    &mut out,
                    CartEvent::LineRemoved {
                        line_id: id.clone(),
                    },
                    now,
                );
            }
        }
        Command::UpdateNote { note } => push(
            &mut sim,
            &mut out,
            CartEvent::NoteUpdated { note: note.clone() },
            now,
        ),
        Command::UpdateAttributes { attributes } => push(
            &mut sim,
            &mut out,
            CartEvent::AttributesUpdated {
                attributes: attributes.clone(),
            },
            now,
        ),
        Command::UpdateDiscountCodes { discount_codes } => push(
            &mut sim,
            &mut out,
            CartEvent::DiscountCodesUpdated {
                discount_codes: discount_codes.clone(),
            },
            now,
        ),
        Command::UpdateBuyerIdentity { buyer_identity } => push(
            &mut sim,
            &mut out,
            CartEvent::BuyerIdentityUpdated(buyer_identity.clone()),
            now,
        ),
        Command::BeginCheckout { order_id } => match cart.status {
            CartStatus::Open if cart.lines.is_empty() => {
                return Err(Error::precondition(
                    "CART_EMPTY",
                    "an empty cart cannot be checked out",
                ));
            }
            CartStatus::Open => push(
                &mut sim,
                &mut out,
                CartEvent::CheckoutStarted {
                    order_id: order_id.clone(),
                },
                now,
            ),
            CartStatus::CheckingOut if cart.order_id.as_ref() == Some(order_id) => {}
            CartStatus::CheckingOut => {
                return Err(Error::conflict(
                    "CART_CHECKOUT_IN_PROGRESS",
                    "another checkout of this cart is in progress",
                ));
            }
            CartStatus::Purchased => {
                return Err(Error::precondition(
                    "CART_ALREADY_PURCHASED",
                    "the cart was already purchased",
                ));
            }
            CartStatus::Merged => return Err(not_open()),
        },
        Command::CompleteCheckout { order_id } => match cart.status {
            CartStatus::CheckingOut if cart.order_id.as_ref() == Some(order_id) => push(
                &mut sim,
                &mut out,
                CartEvent::Purchased {
                    order_id: order_id.clone(),
                },
                now,
            ),
            CartStatus::Purchased if cart.order_id.as_ref() == Some(order_id) => {}
            CartStatus::Purchased => {
                return Err(Error::precondition(
                    "CART_ALREADY_PURCHASED",
                    "the cart was bought by another order",
                ));
            }
            CartStatus::CheckingOut => {
                return Err(Error::conflict(
                    "CART_CHECKOUT_IN_PROGRESS",
                    "another checkout of this cart is in progress",
                ));
            }
            CartStatus::Open | CartStatus::Merged => {
                return Err(Error::precondition(
                    "CART_NOT_CHECKING_OUT",
                    "the cart is not being checked out",
                ));
            }
        },
        Command::AbortCheckout { order_id } => match cart.status {
            CartStatus::CheckingOut if cart.order_id.as_ref() == Some(order_id) => push(
                &mut sim,
                &mut out,
                CartEvent::CheckoutAborted {
                    order_id: order_id.clone(),
                },
                now,
            ),
            CartStatus::Open | CartStatus::Merged => {}
            CartStatus::CheckingOut => {
                return Err(Error::conflict(
                    "CART_CHECKOUT_IN_PROGRESS",
                    "another checkout of this cart is in progress",
                ));
            }
            CartStatus::Purchased => {
                return Err(Error::precondition(
                    "CART_ALREADY_PURCHASED",
                    "the cart was already purchased",
                ));
            }
        },
    }
    check_result(&sim)?;
    Ok(out)
}

/// Applies one event recorded at `at_ms`. Total: events are facts.
pub fn apply(state: &mut Option<Cart>, event: &CartEvent, at_ms: i64) {
    if let CartEvent::Created {
        cart_id,
        customer_id,
        guest_id,
        currency,
        ..
    } = event
    {
        *state = Some(Cart {
            id: cart_id.clone(),
            customer_id: customer_id.clone(),
            guest_id: guest_id.clone(),
            status: CartStatus::Open,
            merged_into: None,
            merged_sources: Vec::new(),
            order_id: None,
            lines: Vec::new(),
            note: None,
            attributes: Vec::new(),
            discount_codes: Vec::new(),
            buyer_identity: BuyerIdentity::default(),
            currency: currency.clone(),
            created_at_ms: at_ms,
            updated_at_ms: at_ms,
        });
        return;
    }
    let Some(cart) = state.as_mut() else { return };
    cart.updated_at_ms = at_ms;
    match event {
        CartEvent::Created { .. } => {}
        CartEvent::LineAdded(line) => {
            if cart.lines.is_empty() {
                cart.currency = line.merchandise.unit_price.currency.clone();
            }
            cart.lines.push(line.clone());
        }
        CartEvent::LineUpdated(line) => {
            if let Some(l) = cart.lines.iter_mut().find(|l| l.id == line.id) {
                *l = line.clone();
            }
        }
        CartEvent::LineRemoved { line_id } => cart.lines.retain(|l| &l.id != line_id),
        CartEvent::NoteUpdated { note } => cart.note = note.clone(),
        CartEvent::AttributesUpdated { attributes } => cart.attributes = attributes.clone(),
        CartEvent::DiscountCodesUpdated { discount_codes } => {
            cart.discount_codes = discount_codes.clone()
        }
        CartEvent::BuyerIdentityUpdated(b) => cart.buyer_identity = b.clone(),
        CartEvent::CheckoutStarted { order_id } => {
            cart.status = CartStatus::CheckingOut;
            cart.order_id = Some(order_id.clone());
        }
        CartEvent::Purchased { order_id } => {
            cart.status = CartStatus::Purchased;
            cart.order_id = Some(order_id.clone());
        }
        CartEvent::CheckoutAborted { .. } => {
            cart.status = CartStatus::Open;
            cart.order_id = None;
        }
        CartEvent::Adopted { customer_id } => cart.customer_id = Some(customer_id.clone()),
        CartEvent::LinesMerged { source_cart_id } => {
            if !cart.merged_sources.contains(source_cart_id) {
                cart.merged_sources.push(source_cart_id.clone());
            }
        }
        CartEvent::MergedInto {
            into_cart_id,
            customer_id,
        } => {
            cart.status = CartStatus::Merged;
            cart.merged_into = Some(into_cart_id.clone());
            cart.customer_id = Some(customer_id.clone());
        }
    }
}

/// The state after `events` (each with its time).
pub fn fold<'a>(events: impl IntoIterator<Item = (&'a CartEvent, i64)>) -> Option<Cart> {
    let mut state = None;
    for (e, at) in events {
        apply(&mut state, e, at);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn merch(v: &str, price: i64) -> Merchandise {
        Merchandise {
            variant_id: v.into(),
            product_id: format!("p-{v}"),
            title: format!("T {v}"),
            sku: format!("SKU-{v}"),
            unit_price: Money::new(price, "USD"),
            compare_at_unit_price: None,
        }
    }

    fn req(v: &str, q: i64, available: i64) -> LineRequest {
        LineRequest {
            new_line_id: shop_kernel::ids::new_id(),
            merchandise: merch(v, 250),
            quantity: q,
            attributes: vec![],
            available,
        }
    }

    fn create(lines: Vec<LineRequest>) -> Command {
        Command::Create {
            cart_id: "c1".into(),
            customer_id: None,
            guest_id: Some("g1".into()),
            default_currency: "USD".into(),
            lines,
            note: None,
            attributes: vec![],
            discount_codes: vec![],
            buyer_identity: None,
        }
    }

    fn run(state: &mut Option<Cart>, cmd: Command) -> Result<Decision> {
        let d = decide(state, &cmd, 1000)?;
        for e in &d.events {
            apply(state, e, 1000);
        }
        Ok(d)
    }

    #[test]
    fn create_merges_and_totals() {
        let mut s = None;
        run(&mut s, create(vec![req("a", 2, 10), req("b", 1, 10)])).unwrap();
        run(
            &mut s,
            Command::AddLines {
                lines: vec![req("a", 3, 10)],
            },
        )
        .unwrap();
        let c = s.as_ref().unwrap();
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines[0].quantity, 5);
        assert_eq!(c.total_quantity(), 6);
        assert_eq!(c.subtotal().unwrap(), Money::new(1500, "USD"));
        assert_eq!(c.expires_at_ms(), 1000 + TTL_MS);
    }

    #[test]
    fn stock_limits_quantities() {
        let mut s = None;
        let d = run(&mut s, create(vec![req("a", 5, 3)])).unwrap();
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.warnings[0].code, "MERCHANDISE_NOT_ENOUGH_STOCK");
        assert_eq!(s.as_ref().unwrap().lines[0].quantity, 3);
        assert_eq!(d.warnings[0].target, s.as_ref().unwrap().lines[0].id);
        let e = run(
            &mut s,
            Command::AddLines {
                lines: vec![req("b", 1, 0)],
            },
        )
        .unwrap_err();
        assert_eq!(e.code, "MERCHANDISE_OUT_OF_STOCK");
        assert_eq!(e.field, ["lines", "0", "merchandiseId"]);
    }

    #[test]
    fn quantity_and_line_limits() {
        let mut s = None;
        run(&mut s, create(vec![req("a", 1000, 5000)])).unwrap();
        let e = run(
            &mut s,
            Command::AddLines {
                lines: vec![req("a", 1, 5000)],
            },
        )
        .unwrap_err();
        assert_eq!(
            (e.code.as_ref(), e.field.as_slice()),
            (
                "INVALID_QUANTITY",
                ["lines", "0", "quantity"].map(String::from).as_slice()
            )
        );
        let many: Vec<_> = (0..100).map(|i| req(&format!("v{i}"), 1, 5)).collect();
        assert_eq!(
            run(&mut s, Command::AddLines { lines: many })
                .unwrap_err()
                .code,
            "TOO_MANY_LINES"
        );
        assert_eq!(s.as_ref().unwrap().lines.len(), 1);
    }

    #[test]
    fn update_and_remove_lines() {
        let mut s = None;
        run(&mut s, create(vec![req("a", 2, 10), req("b", 1, 10)])).unwrap();
        let ids: Vec<String> = s
            .as_ref()
            .unwrap()
            .lines
            .iter()
            .map(|l| l.id.clone())
            .collect();
        let ch = |id: &str, q| LineChange {
            line_id: id.into(),
            quantity: Some(q),
            merchandise: None,
            attributes: None,
            available: 4,
        };
        let d = run(
            &mut s,
            Command::UpdateLines {
                changes: vec![ch(&ids[0], 9), ch(&ids[1], 0)],
            },
        )
        .unwrap();
        assert_eq!(d.warnings.len(), 1);
        let c = s.as_ref().unwrap();
        assert_eq!((c.lines.len(), c.lines[0].quantity), (1, 4));
        let e = run(
            &mut s,
            Command::UpdateLines {
                changes: vec![ch("zz", 1)],
            },
        )
        .unwrap_err();
        assert_eq!(e.code, "LINE_NOT_FOUND");
        let e = run(
            &mut s,
            Command::RemoveLines {
                line_ids: vec!["zz".into()],
            },
        )
        .unwrap_err();
        assert_eq!(e.field, ["lineIds", "0"]);
        run(
            &mut s,
            Command::RemoveLines {
                line_ids: vec![ids[0].clone()],
            },
        )
        .unwrap();
        assert!(s.as_ref().unwrap().lines.is_empty());
    }

    #[test]
    fn currency_is_one_per_cart() {
        let mut s = None;
        run(&mut s, create(vec![req("a", 1, 10)])).unwrap();
        let mut eur = req("b", 1, 10);
        eur.merchandise.unit_price = Money::new(100, "EUR");
        assert_eq!(
            run(
                &mut s,
                Command::AddLines {
                    lines: vec![eur.clone()]
                }
            )
            .unwrap_err()
            .code,
            "CURRENCY_MISMATCH"
        );
        // An empty cart takes the currency of its first line.
        let mut s2 = None;
        run(&mut s2, create(vec![])).unwrap();
        run(&mut s2, Command::AddLines { lines: vec![eur] }).unwrap();
        assert_eq!(s2.as_ref().unwrap().currency, "EUR");
    }

    #[test]
    fn checkout_transitions() {
        let mut s = None;
        run(&mut s, create(vec![])).unwrap();
        let begin = |o: &str| Command::BeginCheckout { order_id: o.into() };
        assert_eq!(run(&mut s, begin("o1")).unwrap_err().code, "CART_EMPTY");
        run(
            &mut s,
            Command::AddLines {
                lines: vec![req("a", 1, 10)],
            },
        )
        .unwrap();
        run(&mut s, begin("o1")).unwrap();
        assert!(run(&mut s, begin("o1")).unwrap().events.is_empty());
        assert_eq!(
            run(&mut s, begin("o2")).unwrap_err().code,
            "CART_CHECKOUT_IN_PROGRESS"
        );
        assert_eq!(
            run(&mut s, Command::UpdateNote { note: None })
                .unwrap_err()
                .code,
            "CART_NOT_OPEN"
        );
        run(
            &mut s,
            Command::AbortCheckout {
                order_id: "o1".into(),
            },
        )
        .unwrap();
        assert!(
            run(
                &mut s,
                Command::AbortCheckout {
                    order_id: "o1".into()
                }
            )
            .unwrap()
            .events
            .is_empty()
        );
        run(&mut s, begin("o3")).unwrap();
        run(
            &mut s,
            Command::CompleteCheckout {
                order_id: "o3".into(),
            },
        )
        .unwrap();
        assert!(
            run(
                &mut s,
                Command::CompleteCheckout {
                    order_id: "o3".into()
                }
            )
            .unwrap()
            .events
            .is_empty()
        );
        assert_eq!(
            run(&mut s, begin("o4")).unwrap_err().code,
            "CART_ALREADY_PURCHASED"
        );
        assert_eq!(s.as_ref().unwrap().status, CartStatus::Purchased);
        assert_eq!(s.as_ref().unwrap().order_id.as_deref(), Some("o3"));
    }

    #[test]
    fn guest_carts_are_adopted_once() {
        let mut s = None;
        run(&mut s, create(vec![req("a", 1, 10)])).unwrap();
        assert_eq!(s.as_ref().unwrap().guest_id.as_deref(), Some("g1"));
        let adopt = |c: &str| Command::Adopt {
            customer_id: c.into(),
        };
        let d = run(&mut s, adopt("u1")).unwrap();
        assert_eq!(d.events.len(), 1);
        assert_eq!(s.as_ref().unwrap().customer_id.as_deref(), Some("u1"));
        assert!(
            run(&mut s, adopt("u1")).unwrap().events.is_empty(),
            "idempotent"
        );
        assert_eq!(run(&mut s, adopt("u2")).unwrap_err().code, "CART_NOT_FOUND");
        // A cart being checked out is not adopted.
        let mut t = None;
        run(&mut t, create(vec![req("a", 1, 10)])).unwrap();
        run(
            &mut t,
            Command::BeginCheckout {
                order_id: "o".into(),
            },
        )
        .unwrap();
        assert_eq!(run(&mut t, adopt("u1")).unwrap_err().code, "CART_NOT_OPEN");
    }

    #[test]
    fn merging_sums_caps_and_is_idempotent() {
        // The customer's cart: a × 2, c × 995.
        let mut target = None;
        let mut cmd = create(vec![req("a", 2, 10), req("c", 995, 5000)]);
        if let Command::Create {
            customer_id,
            guest_id,
            ..
        } = &mut cmd
        {
            *customer_id = Some("u1".into());
            *guest_id = None;
        }
        run(&mut target, cmd).unwrap();
        assert_eq!(target.as_ref().unwrap().guest_id, None);
        let merge = Command::MergeFrom {
            source_cart_id: "g-cart".into(),
            lines: vec![
                req("a", 3, 10),    // summed: 5
                req("b", 4, 3),     // new line, reduced to stock 3
                req("c", 10, 5000), // capped at 1000
                req("d", 1, 0),     // out of stock: skipped
            ],
        };
        let d = run(&mut target, merge.clone()).unwrap();
        let codes: Vec<&str> = d.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "MERCHANDISE_NOT_ENOUGH_STOCK",
                "MERCHANDISE_QUANTITY_LIMIT_REACHED",
                "MERCHANDISE_OUT_OF_STOCK"
            ]
        );
        let q = |c: &Cart, v: &str| {
            c.lines
                .iter()
                .find(|l| l.merchandise.variant_id == v)
                .map(|l| l.quantity)
        };
        let c = target.as_ref().unwrap();
        assert_eq!(
            (q(c, "a"), q(c, "b"), q(c, "c"), q(c, "d")),
            (Some(5), Some(3), Some(1000), None)
        );
        assert_eq!(c.merged_sources, ["g-cart"]);
        assert!(matches!(
            d.events.last(),
            Some(CartEvent::LinesMerged { .. })
        ));
        // The same source again: nothing.
        let again = run(&mut target, merge).unwrap();
        assert!(again.events.is_empty() && again.warnings.is_empty());
        assert_eq!(q(target.as_ref().unwrap(), "a"), Some(5));

        // The source closes as merged, once, and belongs to the customer afterwards.
        let mut source = None;
        run(&mut source, create(vec![req("a", 3, 10)])).unwrap();
        let mark = Command::MarkMerged {
            into_cart_id: "t".into(),
            customer_id: "u1".into(),
        };
        assert_eq!(run(&mut source, mark.clone()).unwrap().events.len(), 1);
        let src = source.as_ref().unwrap();
        assert_eq!(src.status, CartStatus::Merged);
        assert_eq!(
            (src.merged_into.as_deref(), src.customer_id.as_deref()),
            (Some("t"), Some("u1"))
        );
        assert!(run(&mut source, mark).unwrap().events.is_empty());
        // A merged cart takes no changes and cannot be checked out.
        assert_eq!(
            run(&mut source, Command::UpdateNote { note: None })
                .unwrap_err()
                .code,
            "CART_NOT_OPEN"
        );
        assert_eq!(
            run(
                &mut source,
                Command::BeginCheckout {
                    order_id: "o".into()
                }
            )
            .unwrap_err()
            .code,
            "CART_NOT_OPEN"
        );
    }

    #[test]
    fn merging_respects_the_line_limit_and_currency() {
        let mut target = None;
        let many: Vec<_> = (0..MAX_LINES)
            .map(|i| req(&format!("v{i}"), 1, 5))
            .collect();
        run(&mut target, create(many)).unwrap();
        let mut eur = req("e", 1, 5);
        eur.merchandise.unit_price = Money::new(100, "EUR");
        let d = run(
            &mut target,
            Command::MergeFrom {
                source_cart_id: "s".into(),
                lines: vec![req("new", 1, 5), req("v0", 2, 5), eur],
            },
        )
        .unwrap();
        let codes: Vec<&str> = d.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["CART_LINE_LIMIT_REACHED", "CURRENCY_MISMATCH"]);
        let c = target.as_ref().unwrap();
        assert_eq!(c.lines.len(), MAX_LINES);
        assert_eq!(c.lines[0].quantity, 3);
    }

    fn command() -> impl Strategy<Value = Command> {
        let variant = prop_oneof![Just("a"), Just("b"), Just("c")];
        let order = prop_oneof![Just("o1"), Just("o2")].prop_map(String::from);
        prop_oneof![
            3 => proptest::collection::vec((variant, 1i64..600, 0i64..1200), 1..4)
                .prop_map(|ls| Command::AddLines { lines: ls.into_iter().map(|(v, q, a)| req(v, q, a)).collect() }),
            2 => (0usize..4, 0i64..1100, 0i64..1200).prop_map(|(i, q, a)| Command::UpdateLines {
                changes: vec![LineChange { line_id: format!("#{i}"), quantity: Some(q), merchandise: None, attributes: None, available: a }],
            }),
            1 => (0usize..4).prop_map(|i| Command::RemoveLines { line_ids: vec![format!("#{i}")] }),
            1 => order.clone().prop_map(|o| Command::BeginCheckout { order_id: o }),
            1 => order.clone().prop_map(|o| Command::CompleteCheckout { order_id: o }),
            1 => order.prop_map(|o| Command::AbortCheckout { order_id: o }),
        ]
    }

    /// Replaces the `#<i>` placeholders by the id of the cart's i-th line (or an unknown id).
    fn resolve(cmd: Command, cart: &Cart) -> Command {
        let id = |s: &str| {
            s.strip_prefix('#')
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| cart.lines.get(i))
                .map_or("unknown".to_string(), |l| l.id.clone())
        };
        match cmd {
            Command::UpdateLines { changes } => Command::UpdateLines {
                changes: changes
                    .into_iter()
                    .map(|c| LineChange {
                        line_id: id(&c.line_id),
                        ..c
                    })
                    .collect(),
            },
            Command::RemoveLines { line_ids } => Command::RemoveLines {
                line_ids: line_ids.iter().map(|l| id(l)).collect(),
            },
            other => other,
        }
    }

    fn legal(from: CartStatus, to: CartStatus) -> bool {
        use CartStatus::*;
        matches!((from, to), (a, b) if a == b)
            || matches!(
                (from, to),
                (Open, CheckingOut) | (CheckingOut, Open) | (CheckingOut, Purchased)
            )
    }

    proptest! {
        #[test]
        fn cart_invariants_hold(cmds in proptest::collection::vec(command(), 0..40)) {
            let mut s = None;
            let mut log = Vec::new();
            let d = decide(&s, &create(vec![]), 0).unwrap();
            for e in d.events { apply(&mut s, &e, 0); log.push(e); }
            for (t, cmd) in cmds.into_iter().enumerate() {
                let before = s.clone().unwrap();
                let cmd = resolve(cmd, &before);
                if let Ok(d) = decide(&s, &cmd, t as i64) {
                    for e in d.events { apply(&mut s, &e, t as i64); log.push(e); }
                }
                let c = s.as_ref().unwrap();
                prop_assert!(c.lines.len() <= MAX_LINES);
                prop_assert!(c.lines.iter().all(|l| (1..=MAX_QUANTITY).contains(&l.quantity)));
                let sum: i64 = c.lines.iter().map(|l| l.merchandise.unit_price.amount_minor * l.quantity).sum();
                prop_assert_eq!(c.subtotal().unwrap().amount_minor, sum);
                prop_assert_eq!(c.total_quantity(), c.lines.iter().map(|l| l.quantity).sum::<i64>());
                prop_assert!(legal(before.status, c.status), "{:?} -> {:?}", before.status, c.status);
                if c.status != CartStatus::Open { prop_assert!(c.order_id.is_some()); }
                if before.status != CartStatus::Open { prop_assert_eq!(&before.lines, &c.lines); }
            }
            // Replaying the log gives the same lines and status.
            let replay = fold(log.iter().map(|e| (e, 0)));
            let (a, b) = (replay.unwrap(), s.unwrap());
            prop_assert_eq!(a.lines, b.lines);
            prop_assert_eq!(a.status, b.status);
        }
    }
}
