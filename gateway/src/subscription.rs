//! Subscription root: order status changes, by polling the order service.
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_graphql::{Context, ID, Subscription};
use futures::{StreamExt, stream::BoxStream};
use shop_idl::order as worder;
use shop_kernel::{Actor, Error, ErrorKind};

use crate::{
    clients::Clients,
    ctx,
    error::{GqlResult, gql},
    gid::GidType,
    query::arg_id,
    types::order::{Order, OrderStatus},
};

/// How often the order is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a subscription lives at most.
pub const MAX_LIFETIME: Duration = Duration::from_secs(600);
/// Consecutive poll failures (service unavailable) tolerated before giving up.
const MAX_FAILURES: u32 = 20;

struct Poll {
    clients: Arc<Clients>,
    actor: Actor,
    order_id: String,
    last: Option<OrderStatus>,
    deadline: Instant,
    failures: u32,
    done: bool,
    first: bool,
}

async fn fetch(p: &Poll) -> Result<Option<worder::Order>, Error> {
    let req = worder::GetOrdersRequest {
        ids: vec![p.order_id.clone().into()],
    };
    let resp = shop_rpc::with_actor(&p.actor, async {
        shop_rpc::call("order", p.clients.order.get_orders(req).await)
    })
    .await;
    match resp {
        Ok(r) => Ok(r.orders.into_iter().find(|o| o.id == p.order_id.as_str())),
        Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::PermissionDenied => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The next emission of a poll: waits for a status change, the end, or an error.
async fn next(mut p: Poll) -> Option<(GqlResult<Order>, Poll)> {
    loop {
        if p.done || Instant::now() >= p.deadline {
            return None;
        }
        if !p.first {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        p.first = false;
        match fetch(&p).await {
            Ok(Some(order)) => {
                p.failures = 0;
                let status = OrderStatus::from_wire(order.status);
                if p.last != Some(status) {
                    p.last = Some(status);
                    p.done = status.is_terminal();
                    return Some((Ok(Order(order)), p));
                }
            }
            Ok(None) => {
                p.done = true;
                return Some((
                    Err(gql(Error::not_found("ORDER_NOT_FOUND", "no such order"))),
                    p,
                ));
            }
            Err(e) if e.kind == ErrorKind::Unavailable && p.failures < MAX_FAILURES => {
                p.failures += 1
            }
            Err(e) => {
                p.done = true;
                return Some((Err(gql(e)), p));
            }
        }
    }
}

/// The subscription root.
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The order each time its status changes (first the current state); ends after a terminal status
    /// (PAID, FAILED, CANCELLED, FULFILLED) or after 10 minutes.
    async fn order_status_changed(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
    ) -> async_graphql::Result<BoxStream<'static, GqlResult<Order>>> {
        let order_id = arg_id(GidType::Order, &order_id, "orderId")?;
        let poll = Poll {
            clients: ctx::clients(ctx)?.clone(),
            actor: ctx::actor(ctx),
            order_id,
            last: None,
            deadline: Instant::now() + MAX_LIFETIME,
            failures: 0,
            done: false,
            first: true,
        };
        Ok(futures::stream::unfold(poll, next).boxed())
    }
}
